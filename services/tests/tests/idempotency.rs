//! Idempotency-Key: replay with the original answer, 422 on a different body, 409
//! while the first is in flight, keys freed when nothing was accepted, kept (and the
//! same task id re-published) when the publish outcome is unknown, and per-item keys
//! in batches.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_core::store::{IdempotencyState, PlannedTask, ReservationTimes, Store};
use tasklane_core::task::{TaskId, now_rfc3339};
use tasklane_testkit::{FaultProxy, Stack};

fn planned() -> PlannedTask {
    PlannedTask {
        id: TaskId::new(),
        created_at: now_rfc3339(),
    }
}

fn held_for(in_flight: Duration) -> ReservationTimes {
    ReservationTimes {
        in_flight,
        lifetime: Duration::from_secs(120),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_replays_the_original_answer_and_enqueues_once() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let body = r#"{"type":"echo","payload":{"order":42,"items":[1,2]}}"#;

    let first = client.post_task_with_key("order-42", body).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let original: Value = first.json().await.unwrap();

    // Same body, different formatting and key order: still the same request.
    let reformatted = "{ \"payload\": {\"items\": [1, 2], \"order\": 42}, \"type\": \"echo\" }";
    for retry_body in [body, reformatted] {
        let again = client.post_task_with_key("order-42", retry_body).await;
        assert_eq!(again.status(), StatusCode::ACCEPTED);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["location"], location);
        assert_eq!(again.json::<Value>().await.unwrap(), original);
    }
    assert_eq!(
        stack.work_stream_messages().await,
        1,
        "the retries enqueued nothing"
    );
    let metrics = client.metrics().await;
    assert_eq!(
        tasklane_testkit::client::metric_value(&metrics, "api_idempotent_replays_total", &[]),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_a_different_body_is_refused() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    assert_eq!(
        client
            .post_task_with_key("k1", r#"{"payload":1}"#)
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let other = client.post_task_with_key("k1", r#"{"payload":2}"#).await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.headers()["content-type"], "application/problem+json");
    let problem: Value = other.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("#idempotency-mismatch")
    );
    assert_eq!(stack.work_stream_messages().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_while_the_first_is_in_flight_gets_409() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let body = r#"{"payload":{"x":1}}"#;
    // Reserve the key exactly as a gateway handling the first request does (the
    // hash is of the canonical body), then send the duplicate.
    let settings = stack.settings(&[]);
    let store = Store::connect(&settings.valkey, settings.results.ttl).unwrap();
    let key = tasklane_api::intake::IdempotencyKey::parse(
        "in-flight",
        "Idempotency-Key",
        &tasklane_api::intake::canonical_json(body.as_bytes()),
    )
    .unwrap();
    let IdempotencyState::Reserved(_claim) = store
        .idempotency_reserve(
            "default",
            &key.key,
            &key.body_hash,
            planned(),
            held_for(Duration::from_secs(30)),
        )
        .await
        .unwrap()
    else {
        panic!("the key was free");
    };
    let duplicate = client.post_task_with_key("in-flight", body).await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    assert!(duplicate.headers().contains_key("retry-after"));
    let different = client
        .post_task_with_key("in-flight", r#"{"payload":{"x":2}}"#)
        .await;
    assert_eq!(different.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stack.work_stream_messages().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_keys_are_rejected_before_anything_happens() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    for key in [String::new(), "k".repeat(256), "has space".into()] {
        let response = client.post_task_with_key(&key, r#"{"payload":1}"#).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "key {key:?}"
        );
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key")
        );
    }
    assert_eq!(stack.work_stream_messages().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_freed_when_the_queue_refused_the_task() {
    let mut stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    stack.nats.stop();
    let refused = client
        .post_task_with_key("retry-me", r#"{"payload":1}"#)
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    stack.nats.start_again();
    let accepted = tasklane_testkit::eventually(
        Duration::from_secs(20),
        "the retry to be accepted",
        || async {
            let response = client
                .post_task_with_key("retry-me", r#"{"payload":1}"#)
                .await;
            match response.status() {
                StatusCode::ACCEPTED => Some(response),
                StatusCode::SERVICE_UNAVAILABLE => None,
                other => panic!("retry answered {other}, the key was not freed"),
            }
        },
    )
    .await;
    assert!(
        accepted.headers().get("idempotent-replayed").is_none(),
        "a fresh accept, not a replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_item_keys_replay_items_and_only_new_items_are_enqueued() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let first = json!({"tasks": [
        {"payload": {"n": 1}, "idempotency_key": "item-1"},
        {"payload": {"n": 2}, "idempotency_key": "item-2"},
        {"payload": {"n": 3}},
    ]});
    let response = client.post_json("/tasks", &first).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let first_ids: Vec<String> = response.json::<Value>().await.unwrap()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stack.work_stream_messages().await, 3);

    let second = json!({"tasks": [
        {"payload": {"n": 2}, "idempotency_key": "item-2"},
        {"payload": {"n": 4}, "idempotency_key": "item-4"},
    ]});
    let response = client.post_json("/tasks", &second).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let items: Value = response.json().await.unwrap();
    assert_eq!(
        items["tasks"][0]["id"], first_ids[1],
        "item-2 replayed with its original id"
    );
    assert_ne!(items["tasks"][1]["id"], first_ids[0]);
    assert_eq!(stack.work_stream_messages().await, 4, "only item-4 was new");

    let conflicting = json!({"tasks": [
        {"payload": {"n": 5}},
        {"payload": {"n": 999}, "idempotency_key": "item-1"},
    ]});
    let response = client.post_json("/tasks", &conflicting).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().starts_with("tasks[1]"),
        "{problem}"
    );
    assert_eq!(
        stack.work_stream_messages().await,
        4,
        "a conflicting batch enqueues nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_claim_frees_its_key_unless_a_publish_may_be_in_flight() {
    let stack = Stack::start();
    let settings = stack.settings(&[]);
    let store = Store::connect(&settings.valkey, settings.results.ttl).unwrap();
    let reserve = |key: &'static str| {
        store.idempotency_reserve(
            "default",
            key,
            "hash",
            planned(),
            held_for(Duration::from_secs(60)),
        )
    };
    let (IdempotencyState::Reserved(mut published), IdempotencyState::Reserved(abandoned)) = (
        reserve("published").await.unwrap(),
        reserve("abandoned").await.unwrap(),
    ) else {
        panic!("both keys were free");
    };
    published.publishing();
    let published_task = published.task().clone();
    // A request cut off mid-publish (say by its deadline), then one cut off before it.
    drop(published);
    drop(abandoned);

    let _reclaimed = tasklane_testkit::eventually(
        Duration::from_secs(10),
        "the abandoned key to be released in the background",
        || async {
            match reserve("abandoned").await.unwrap() {
                IdempotencyState::Reserved(claim) => Some(claim),
                _ => None,
            }
        },
    )
    .await;
    assert!(
        !_reclaimed.resumed(),
        "a claim dropped before its publish frees the key for a fresh task"
    );
    let resumed = tasklane_testkit::eventually(
        Duration::from_secs(10),
        "the cut-off publish to be handed to a retry",
        || async {
            match reserve("published").await.unwrap() {
                IdempotencyState::Reserved(claim) => Some(claim),
                IdempotencyState::InFlight { .. } => None,
                other => panic!("unexpected {other:?}"),
            }
        },
    )
    .await;
    assert!(
        resumed.resumed(),
        "a claim dropped while its publish may be in flight keeps the key"
    );
    assert_eq!(
        resumed.task(),
        &published_task,
        "the retry publishes the same task id"
    );
    assert!(
        matches!(
            reserve("published").await.unwrap(),
            IdempotencyState::InFlight { .. }
        ),
        "the resumed reservation is in flight again"
    );
}

/// A 503 that says the task may have been accepted.
async fn assert_unconfirmed(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("#publish-unconfirmed"),
        "{problem}"
    );
}

/// The publish reaches the server side of the connection, but its PubAck does not come
/// back in time (a stalled path): the gateway cannot know whether JetStream stored the
/// task. A retry refused while NATS is unreachable keeps the key, and the same-key
/// retry after the path heals answers with that task; exactly one task runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_an_unconfirmed_publish_gets_the_same_task_and_runs_it_once() {
    let stack = Stack::start();
    let worker = stack.worker(&[]).await;
    let nats_addr = format!("127.0.0.1:{}", stack.nats.port).parse().unwrap();
    let proxy = FaultProxy::start(nats_addr);
    let proxied_url = format!("nats://{}", proxy.addr());
    let api = stack
        .api(&[("TASKLANE_NATS__URL", proxied_url.as_str())])
        .await;
    let client = api.client();
    let body = r#"{"type":"echo","payload":{"order":7}}"#;

    proxy.stall();
    assert_unconfirmed(client.post_task_with_key("order-7", body).await).await;
    // The stalled bytes reach the server now: the first publish is stored after all.
    proxy.restore();
    client
        .wait_for_stats(
            "the first publish to run",
            Duration::from_secs(20),
            |stats| stats["worker_processed_count"].as_u64() == Some(1),
        )
        .await;

    // A retry while the gateway is cut off from NATS is refused before anything is
    // sent; that must not free the key either: the first publish is still the one
    // whose outcome the gateway does not know.
    proxy.cut_off();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_unconfirmed(client.post_task_with_key("order-7", body).await).await;
    proxy.restore();

    let retry = tasklane_testkit::eventually(
        Duration::from_secs(20),
        "the same-key retry to be answered",
        || async {
            let response = client.post_task_with_key("order-7", body).await;
            match response.status() {
                StatusCode::ACCEPTED => Some(response),
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT => None,
                other => panic!("retry answered {other}"),
            }
        },
    )
    .await;
    let accepted: Value = retry.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_string();
    let task = client.task(&id).await;
    assert_eq!(
        task["status"], "succeeded",
        "the retry answered with the task the first publish stored: {task}"
    );
    // Give a wrongly enqueued second task time to run before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(client.processed_count().await, 1, "exactly one task ran");
    assert_eq!(stack.work_stream_messages().await, 0);
    api.stop().await;
    worker.stop().await;
}
