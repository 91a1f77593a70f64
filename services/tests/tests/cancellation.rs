//! Cancellation (`DELETE /task/{id}`): a queued task never runs and its message is
//! acknowledged, a running handler is stopped within seconds and never retried, a
//! finished task is 409, and a tenant can only cancel its own tasks.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tasklane_core::store::Store;
use tasklane_testkit::apps::declare_topology;
use tasklane_testkit::client::metric_value;
use tasklane_testkit::{ApiClient, Stack, eventually};

use crate::credentials::{ApiKey, BILLING, SEARCH, SecretVolume, keys_file_text};

const DEADLINE: Duration = Duration::from_secs(30);

pub async fn delete(client: &ApiClient, id: &str, bearer: Option<&str>) -> Response {
    let mut request = client
        .http()
        .delete(client.url(&format!("/task/{id}")))
        .header("x-request-id", format!("cancel-{id}"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request is sent")
}

/// The work consumer's (pending, ack pending, redelivered) counts.
pub async fn consumer_counts(stack: &Stack) -> (u64, usize, usize) {
    let js = jetstream::new(stack.nats_client().await);
    let stream = js
        .get_stream(&stack.settings(&[]).stream.name)
        .await
        .expect("work stream");
    let info = stream
        .consumer_info("workers")
        .await
        .expect("consumer info");
    (info.num_pending, info.num_ack_pending, info.num_redelivered)
}

/// Waits until no message is waiting for or held by a worker.
pub async fn wait_drained(stack: &Stack) {
    eventually(DEADLINE, "the consumer to have nothing pending", || async {
        let (pending, ack_pending, _) = consumer_counts(stack).await;
        (pending == 0 && ack_pending == 0).then_some(())
    })
    .await;
}

/// The remaining time to live of a record in Valkey, in the raw RESP reply.
fn record_pttl(stack: &Stack, id: &str) -> i64 {
    let reply = stack
        .valkey
        .command(&["PTTL", &format!("tasklane:task:{id}")]);
    reply
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or_else(|_| panic!("PTTL reply {reply:?}"))
}

async fn problem_type(response: Response) -> String {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    body["type"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_task_cancelled_before_any_worker_never_runs_and_its_message_is_acknowledged() {
    let stack = Stack::start();
    let settings = stack.settings(&[]);
    let store = Store::connect(&settings.valkey, settings.results.ttl).unwrap();
    let api = stack.api(&[]).await;
    let client = api.client();
    let id = client
        .submit(&json!({"type": "echo", "payload": {"n": 1}}))
        .await;
    assert_eq!(store.outstanding("default").await.unwrap(), 1);

    let response = delete(&client, &id, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let record: Value = response.json().await.unwrap();
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["status"], "cancelled");
    assert_eq!(record["attempts"], 0);
    assert_eq!(client.task(&id).await["status"], "cancelled");
    assert_eq!(
        store.outstanding("default").await.unwrap(),
        0,
        "the tenant's outstanding count is closed"
    );
    assert_eq!(
        record_pttl(&stack, &id),
        -1,
        "the record waits without an expiry while its message is in the stream"
    );
    let stats = client.stats().await;
    assert_eq!(stats["cancelled_count"], 1);
    assert_eq!(stats["worker_processed_count"], 0);
    let metrics = api.ops_client().metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "api_tasks_cancelled_total",
            &[("previous_status", "queued")]
        ),
        1.0
    );

    let worker = stack.worker(&[]).await;
    wait_drained(&stack).await;
    let worker_metrics = worker.client().metrics().await;
    assert_eq!(
        metric_value(
            &worker_metrics,
            "worker_tasks_cancelled_total",
            &[("type", "echo")]
        ),
        1.0,
        "the delivery was acknowledged as cancelled"
    );
    assert_eq!(
        metric_value(
            &worker_metrics,
            "worker_task_duration_seconds_count",
            &[("type", "echo")]
        ),
        0.0,
        "the handler never ran"
    );
    let record = client.task(&id).await;
    assert_eq!(record["status"], "cancelled");
    assert_eq!(record["attempts"], 0);
    assert!(
        record_pttl(&stack, &id) > 0,
        "the record expires once its message is let go of"
    );
    assert_eq!(stack.work_stream_messages().await, 0);
    let stats = client.stats().await;
    assert_eq!(stats["cancelled_count"], 1);
    assert_eq!(stats["worker_processed_count"], 0);
    assert_eq!(store.outstanding("default").await.unwrap(), 0);

    // A second cancellation changes nothing.
    let again = delete(&client, &id, None).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.headers().get("retry-after").is_none());
    assert!(problem_type(again).await.ends_with("#already-finished"));
    assert_eq!(client.stats().await["cancelled_count"], 1);
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_task_stops_its_handler_within_seconds_and_it_is_never_retried() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let worker = stack.worker(&[("TASKLANE_WORKER__CONCURRENCY", "1")]).await;
    let client = api.client();
    let worker_client = worker.client();
    let id = client
        .submit(&json!({"type": "sleep", "payload": {"ms": 10_000}, "max_attempts": 3}))
        .await;
    client
        .wait_for_status(&id, "running", Duration::from_secs(10))
        .await;

    let cancelled_at = Instant::now();
    let response = delete(&client, &id, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let record: Value = response.json().await.unwrap();
    assert_eq!(record["status"], "cancelled");
    assert_eq!(record["attempts"], 1);

    // The worker runs one task at a time: the next one starts only once the sleep
    // was stopped, which left alone would hold the slot for about 10 s more.
    let next = client
        .submit(&json!({"type": "echo", "payload": {"after": "cancel"}}))
        .await;
    client
        .wait_for_status(&next, "succeeded", Duration::from_secs(7))
        .await;
    eprintln!(
        "the next task finished {:?} after the cancellation",
        cancelled_at.elapsed()
    );
    eventually(DEADLINE, "no task in flight", || async {
        let metrics = worker_client.metrics().await;
        (metric_value(&metrics, "worker_tasks_in_flight", &[]) == 0.0).then_some(())
    })
    .await;
    wait_drained(&stack).await;

    // Past every retry delay and the ack wait: nothing comes back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let record = client.task(&id).await;
    assert_eq!(record["status"], "cancelled");
    assert_eq!(record["attempts"], 1, "the attempt was not retried");
    let (pending, ack_pending, redelivered) = consumer_counts(&stack).await;
    assert_eq!((pending, ack_pending, redelivered), (0, 0, 0));
    let metrics = worker_client.metrics().await;
    let of_sleep = |name: &str| metric_value(&metrics, name, &[("type", "sleep")]);
    assert_eq!(of_sleep("worker_tasks_cancelled_total"), 1.0);
    assert_eq!(of_sleep("worker_tasks_processed_total"), 0.0);
    assert_eq!(of_sleep("worker_tasks_retried_total"), 0.0);
    assert_eq!(of_sleep("worker_tasks_errors_total"), 0.0);
    assert_eq!(of_sleep("worker_tasks_redelivered_total"), 0.0);
    let stats = client.stats().await;
    assert_eq!(stats["cancelled_count"], 1);
    assert_eq!(stats["worker_processed_count"], 1, "only the echo");
    assert_eq!(
        metric_value(
            &api.ops_client().metrics().await,
            "api_tasks_cancelled_total",
            &[("previous_status", "running")]
        ),
        1.0
    );
    worker.stop().await;
    api.stop().await;
}

/// Cancellations that land around the moment tasks finish: each task ends either
/// cancelled (the DELETE answered 200) or with its outcome (409), never both, and
/// the counters agree with the answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_racing_the_finish_is_decided_once_and_the_counters_agree() {
    let stack = Stack::start();
    let settings = stack.settings(&[]);
    let store = Store::connect(&settings.valkey, settings.results.ttl).unwrap();
    let api = stack.api(&[]).await;
    let worker = stack
        .worker(&[("TASKLANE_WORKER__CONCURRENCY", "64")])
        .await;
    let client = api.client();
    const TASKS: u64 = 40;
    let ids = client
        .submit_batch(
            (0..TASKS)
                .map(|i| json!({"type": "sleep", "payload": {"ms": 1000 + i * 15}}))
                .collect(),
        )
        .await;
    for id in &ids {
        client
            .wait_for_status(id, "running", Duration::from_secs(10))
            .await;
    }
    // Task i ends about 1000 + 15 i ms after it started and is cancelled about
    // 600 + 40 i ms after: the early ones are cancelled while they run, the late
    // ones after their end, those in between around it. Which side each falls on
    // depends on timing; the rule checked below does not.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut cancelled = Vec::new();
    let mut finished = Vec::new();
    for id in &ids {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let response = delete(&client, id, None).await;
        match response.status() {
            StatusCode::OK => cancelled.push(id.clone()),
            StatusCode::CONFLICT => finished.push(id.clone()),
            other => panic!("DELETE {id} answered {other}"),
        }
    }
    wait_drained(&stack).await;
    for id in &cancelled {
        assert_eq!(client.task(id).await["status"], "cancelled", "{id}");
    }
    for id in &finished {
        assert_eq!(client.task(id).await["status"], "succeeded", "{id}");
    }
    let stats = client
        .wait_for_stats("counters settled", DEADLINE, |s| {
            s["worker_processed_count"] == finished.len() as u64
        })
        .await;
    assert_eq!(stats["cancelled_count"], cancelled.len() as u64, "{stats}");
    assert_eq!(stats["worker_succeeded_count"], finished.len() as u64);
    let metrics = worker.client().metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "worker_tasks_processed_total",
            &[("type", "sleep"), ("outcome", "succeeded")]
        ),
        finished.len() as f64
    );
    assert_eq!(
        metric_value(&metrics, "worker_tasks_retried_total", &[("type", "sleep")]),
        0.0
    );
    assert_eq!(store.outstanding("default").await.unwrap(), 0);
    eprintln!(
        "{} cancelled, {} finished first",
        cancelled.len(),
        finished.len()
    );
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_task_is_409_an_unknown_one_404_and_a_malformed_id_400() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let worker = stack.worker(&[]).await;
    let client = api.client();
    let succeeded = client.submit(&json!({"payload": {"n": 1}})).await;
    let failed = client
        .submit(&json!({"type": "fail", "payload": {"permanent": true}}))
        .await;
    client
        .wait_for_status(&succeeded, "succeeded", DEADLINE)
        .await;
    client.wait_for_status(&failed, "failed", DEADLINE).await;

    for id in [&succeeded, &failed] {
        let response = delete(&client, id, None).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{id}");
        assert!(problem_type(response).await.ends_with("#already-finished"));
    }
    assert_eq!(client.task(&succeeded).await["status"], "succeeded");
    assert_eq!(client.task(&failed).await["status"], "failed");
    let unknown = delete(&client, &uuid::Uuid::now_v7().to_string(), None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(problem_type(unknown).await.ends_with("#not-found"));
    let malformed = delete(&client, "not-a-task-id", None).await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(problem_type(malformed).await.ends_with("#bad-request"));

    let stats = client.stats().await;
    assert_eq!(stats["cancelled_count"], 0);
    assert_eq!(stats["worker_processed_count"], 2);
    worker.stop().await;
    api.stop().await;
}

/// A key of tenant `billing` that may only read.
const BILLING_READER: ApiKey<'static> = ApiKey {
    id: "billing-reader",
    secret: "tl_billing_reader_77aa",
    tenant: "billing",
    scopes: &["tasks:read"],
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owning_tenant_with_tasks_write_can_cancel_and_each_decision_is_audited() {
    let stack = Stack::start();
    declare_topology(&stack.settings(&[])).await;
    let volume = SecretVolume::new(&[(
        "keys.toml",
        &keys_file_text(&[BILLING, SEARCH, BILLING_READER]),
    )]);
    let keys = volume.path("keys.toml");
    let api = stack.api_process(&[
        ("TASKLANE_AUTH__MODE", "required"),
        ("TASKLANE_AUTH__KEYS_FILE", keys.to_str().unwrap()),
    ]);
    api.wait_ready().await;
    let client = api.client();
    let id = client
        .submit_as(BILLING.secret, &json!({"type": "echo", "payload": {}}))
        .await;

    let anonymous = delete(&client, &id, None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let reader = delete(&client, &id, Some(BILLING_READER.secret)).await;
    assert_eq!(reader.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        reader.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="tasks:write""#
    );

    // Another tenant's task: the same answer as an id that never existed.
    let foreign = delete(&client, &id, Some(SEARCH.secret)).await;
    let missing_id = uuid::Uuid::now_v7().to_string();
    let missing = delete(&client, &missing_id, Some(SEARCH.secret)).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let foreign = foreign.text().await.unwrap().replace(&id, "ID");
    let missing = missing.text().await.unwrap().replace(&missing_id, "ID");
    assert_eq!(foreign, missing);

    let get = |bearer: &'static str| {
        let client = client.clone();
        let id = id.clone();
        async move {
            let response = client
                .http()
                .get(client.url(&format!("/task/{id}")))
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(
        get(BILLING.secret).await["status"],
        "queued",
        "the refusals changed nothing"
    );
    let own = delete(&client, &id, Some(BILLING.secret)).await;
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(get(BILLING.secret).await["status"], "cancelled");

    let events = crate::audit::audit_events(&api, Some("cancel"), 3).await;
    let outcome = |tenant: &str, outcome: &str, request_id: &str| {
        events.iter().any(|e| {
            e["tenant"] == tenant && e["outcome"] == outcome && e["request_id"] == request_id
        })
    };
    assert_eq!(events.len(), 3, "{events:#?}");
    assert!(outcome("search", "not_found", &format!("cancel-{id}")));
    assert!(outcome(
        "search",
        "not_found",
        &format!("cancel-{missing_id}")
    ));
    assert!(outcome("billing", "cancelled", &format!("cancel-{id}")));
    assert!(events.iter().any(|e| e["actor"] == BILLING.id));
    assert!(!api.log().contains(BILLING.secret));
}
