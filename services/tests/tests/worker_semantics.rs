//! What the worker does with each kind of task: results, retries with the right
//! attempt count, permanent failures, timeouts, panics, dead letters, malformed
//! messages, long tasks kept alive by progress acks, duplicate deliveries.

use std::cell::Cell;
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tasklane_core::store::{FinalOutcome, RecordIdentity, Store};
use tasklane_testkit::client::metric_value;
use tasklane_testkit::{ApiClient, Stack, eventually};

const DEADLINE: Duration = Duration::from_secs(30);

async fn wait_idle(client: &ApiClient, processed: u64) -> Value {
    client
        .wait_for_stats(
            &format!("{processed} processed and an empty queue"),
            DEADLINE,
            |s| s["worker_processed_count"] == processed && s["queue_backlog_length"] == 0,
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_in_types_produce_their_results() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let worker = stack.worker(&[]).await;
    let client = api.client();

    let echo = client
        .submit(&json!({"type": "echo", "payload": {"a": [1, "two", null]}}))
        .await;
    let sha = client
        .submit(&json!({"type": "sha256", "payload": {"data": "abc"}}))
        .await;
    let sleep = client
        .submit(&json!({"type": "sleep", "payload": {"ms": 30}}))
        .await;

    let record = client.wait_for_status(&echo, "succeeded", DEADLINE).await;
    assert_eq!(record["result"], json!({"a": [1, "two", null]}));
    assert_eq!(record["attempts"], 1);
    assert!(record.get("error").is_none());
    let record = client.wait_for_status(&sha, "succeeded", DEADLINE).await;
    assert_eq!(
        record["result"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let record = client.wait_for_status(&sleep, "succeeded", DEADLINE).await;
    assert_eq!(record["result"], json!({"slept_ms": 30}));

    let stats = wait_idle(&client, 3).await;
    assert_eq!(stats["worker_succeeded_count"], 3);
    assert_eq!(stats["worker_failed_count"], 0);
    assert_eq!(stats["dead_letter_count"], 0);
    // Both shut down cleanly when idle.
    worker.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_are_retried_until_success_with_the_right_attempt_count() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let worker = stack.worker(&[]).await;
    let client = api.client();
    let id = client
        .submit(&json!({"type": "fail", "payload": {"fail_times": 2}, "max_attempts": 5}))
        .await;
    let record = client.wait_for_status(&id, "succeeded", DEADLINE).await;
    assert_eq!(record["attempts"], 3);
    assert_eq!(record["result"], json!({"succeeded_on_attempt": 3}));
    let stats = wait_idle(&client, 1).await;
    assert_eq!(stats["worker_succeeded_count"], 1);
    let metrics = worker.client().metrics().await;
    assert_eq!(
        metric_value(&metrics, "worker_tasks_retried_total", &[("type", "fail")]),
        2.0
    );
    assert_eq!(
        metric_value(&metrics, "worker_tasks_errors_total", &[("type", "fail")]),
        2.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            "worker_tasks_processed_total",
            &[("type", "fail"), ("outcome", "succeeded")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_attempts_are_dead_lettered_with_the_last_error() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let client = api.client();
    let id = client
        .submit(&json!({"type": "fail", "payload": {"fail_times": 10}, "max_attempts": 3}))
        .await;
    let record = client.wait_for_status(&id, "dead", DEADLINE).await;
    assert_eq!(record["attempts"], 3);
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("failing attempt 3"),
        "{record}"
    );
    let stats = wait_idle(&client, 1).await;
    assert_eq!(stats["dead_letter_count"], 1);
    assert_eq!(stats["worker_succeeded_count"], 0);

    let letters = stack.dead_letters().await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    // Under the task id, so one task's dead letter is found without reading others.
    assert_eq!(letter.subject.as_str(), format!("dlq.{id}.fail"));
    assert_eq!(letter.headers.get("Tasklane-Task-Id").unwrap().as_str(), id);
    assert_eq!(
        letter.headers.get("Tasklane-Attempts").unwrap().as_str(),
        "3"
    );
    assert_eq!(
        letter
            .headers
            .get("Tasklane-Original-Subject")
            .unwrap()
            .as_str(),
        "tasks.fail"
    );
    assert!(
        letter
            .headers
            .get("Tasklane-Error")
            .unwrap()
            .as_str()
            .contains("failing attempt 3")
    );
    let original: Value = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(
        original["id"], id,
        "the dead letter carries the original task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_and_bad_payloads_are_not_retried() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let client = api.client();
    let permanent = client
        .submit(&json!({"type": "fail", "payload": {"permanent": true}}))
        .await;
    let bad_payload = client
        .submit(&json!({"type": "sleep", "payload": {"ms": "long"}}))
        .await;
    let wrong_shape = client
        .submit(&json!({"type": "sha256", "payload": [1]}))
        .await;
    for id in [&permanent, &bad_payload, &wrong_shape] {
        let record = client.wait_for_status(id, "failed", DEADLINE).await;
        assert_eq!(record["attempts"], 1, "{record}");
        assert!(record["error"].is_string());
    }
    assert!(
        client.task(&bad_payload).await["error"]
            .as_str()
            .unwrap()
            .contains("invalid payload")
    );
    let stats = wait_idle(&client, 3).await;
    assert_eq!(stats["worker_failed_count"], 3);
    assert_eq!(stats["dead_letter_count"], 0);
    assert!(
        stack.dead_letters().await.is_empty(),
        "permanent failures are not dead letters"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_panics_count_as_failed_attempts_and_the_worker_survives() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let worker = stack.worker(&[]).await;
    let client = api.client();
    let slow = client
        .submit(
            &json!({"type": "sleep", "payload": {"ms": 5000}, "timeout_ms": 50, "max_attempts": 2}),
        )
        .await;
    let panicking = client
        .submit(&json!({"type": "fail", "payload": {"panic": true}, "max_attempts": 2}))
        .await;
    let record = client.wait_for_status(&slow, "dead", DEADLINE).await;
    assert_eq!(record["attempts"], 2);
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 50ms"),
        "{record}"
    );
    let record = client.wait_for_status(&panicking, "dead", DEADLINE).await;
    assert_eq!(record["attempts"], 2);
    assert!(
        record["error"].as_str().unwrap().contains("panicked"),
        "{record}"
    );

    // Still alive and working.
    let after = client.submit(&json!({"payload": "still here"})).await;
    client.wait_for_status(&after, "succeeded", DEADLINE).await;
    let metrics = worker.client().metrics().await;
    assert_eq!(
        metric_value(&metrics, "worker_tasks_errors_total", &[("type", "fail")]),
        2.0
    );
    assert_eq!(
        metric_value(&metrics, "worker_tasks_dead_lettered_total", &[]),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_in_the_stream_are_dead_lettered_once() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let client = api.client();
    let js = jetstream::new(stack.nats_client().await);
    // Not JSON; JSON of the wrong shape; a valid task on the wrong subject.
    let mismatched = json!({
        "id": "01a20000-0000-7000-8000-0000000000aa", "type": "sha256",
        "payload": {"data": "x"}, "created_at": "2026-01-01T00:00:00.000Z"
    });
    for (subject, body) in [
        ("tasks.echo", Bytes::from_static(b"\xff not json")),
        ("tasks.echo", Bytes::from_static(br#"{"hello":"world"}"#)),
        ("tasks.echo", Bytes::from(mismatched.to_string())),
    ] {
        js.publish(subject, body).await.unwrap().await.unwrap();
    }
    let ok = client.submit(&json!({"payload": 1})).await;
    client.wait_for_status(&ok, "succeeded", DEADLINE).await;
    let stats = wait_idle(&client, 4).await;
    assert_eq!(stats["dead_letter_count"], 3);
    assert_eq!(stats["worker_succeeded_count"], 1);
    let letters = stack.dead_letters().await;
    assert_eq!(letters.len(), 3);
    for letter in &letters {
        assert_eq!(letter.subject.as_str(), "dlq.malformed");
        assert!(letter.headers.get("Tasklane-Error").is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_longer_than_ack_wait_is_not_redelivered() {
    let stack = Stack::start();
    let overrides = [("TASKLANE_WORKER__ACK_WAIT", "1s")];
    let api = stack.api(&overrides).await;
    // Two workers: a redelivery would be picked up by the idle one and show as a
    // second attempt.
    let _a = stack.worker(&overrides).await;
    let _b = stack.worker(&overrides).await;
    let client = api.client();
    let id = client
        .submit(&json!({"type": "sleep", "payload": {"ms": 3500}}))
        .await;
    let record = client.wait_for_status(&id, "succeeded", DEADLINE).await;
    assert_eq!(record["attempts"], 1, "redelivered while running: {record}");
    let stats = wait_idle(&client, 1).await;
    assert_eq!(stats["queue"]["redelivered"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_finished_task_is_acknowledged_without_counting_twice() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let client = api.client();
    let id = client.submit(&json!({"payload": "once"})).await;
    client.wait_for_status(&id, "succeeded", DEADLINE).await;
    wait_idle(&client, 1).await;

    // The same task delivered again, as after a crash between the Valkey write and
    // the ack (a different message id so JetStream does not drop it).
    let js = jetstream::new(stack.nats_client().await);
    let envelope = json!({"id": id, "type": "echo", "payload": "once", "created_at": "2026-01-01T00:00:00.000Z"});
    js.send_publish(
        "tasks.echo",
        jetstream::message::PublishMessage::build()
            .payload(Bytes::from(envelope.to_string()))
            .message_id(format!("{id}-again")),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let stats = client
        .wait_for_stats("the duplicate to be acknowledged", DEADLINE, |s| {
            s["queue_backlog_length"] == 0
        })
        .await;
    assert_eq!(stats["worker_processed_count"], 1);
    assert_eq!(stats["worker_succeeded_count"], 1);
    assert_eq!(client.task(&id).await["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_only_moves_forward() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let client = api.client();
    let id = client
        .submit(&json!({"type": "sleep", "payload": {"ms": 400}}))
        .await;
    let order = ["queued", "running", "succeeded"];
    let highest = &Cell::new(0);
    let (client, id) = (&client, &id);
    eventually(DEADLINE, "the task to succeed", || async move {
        let status = client.task(id).await["status"]
            .as_str()
            .unwrap()
            .to_string();
        let rank = order
            .iter()
            .position(|s| *s == status)
            .expect("known status");
        assert!(
            rank >= highest.get(),
            "status moved back from {} to {status}",
            order[highest.get()]
        );
        highest.set(rank);
        (rank == 2).then_some(())
    })
    .await;
}

/// A worker takes from the queue only what it can start at once: with concurrency 2
/// and a backlog of long tasks, the consumer never has more than 2 messages out
/// (none waiting in the worker's buffer, their ack wait running), and a second worker
/// started later gets the rest instead of waiting for the first to get to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_holds_no_more_messages_than_it_can_run() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let narrow = [("TASKLANE_WORKER__CONCURRENCY", "2")];
    let first = stack.worker(&narrow).await;
    let client = api.client();
    let ids = client
        .submit_batch(vec![json!({"type": "sleep", "payload": {"ms": 1500}}); 8])
        .await;

    let js = jetstream::new(stack.nats_client().await);
    let stream_name = stack.settings(&[]).stream.name;
    let mut most_out = 0;
    for _ in 0..20 {
        let stream = js.get_stream(&stream_name).await.unwrap();
        let info = stream.consumer_info("workers").await.unwrap();
        most_out = most_out.max(info.num_ack_pending);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        most_out <= 2,
        "{most_out} messages out to a worker that runs 2 at a time"
    );

    let second = stack.worker(&narrow).await;
    wait_idle(&client, ids.len() as u64).await;
    let processed_by = |metrics: String| {
        metric_value(
            &metrics,
            "worker_tasks_processed_total",
            &[("type", "sleep"), ("outcome", "succeeded")],
        )
    };
    assert!(
        processed_by(second.client().metrics().await) >= 2.0,
        "the second worker took part of the backlog"
    );
    assert_eq!(
        processed_by(first.client().metrics().await)
            + processed_by(second.client().metrics().await),
        ids.len() as f64
    );
    second.stop().await;
    first.stop().await;
    api.stop().await;
}

/// An idle worker's pull gets idle heartbeats from the server; a task that arrives
/// after one must start at once, not wait in the worker's client until the pull
/// gives up and then for a whole `ack_wait` before it is delivered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_arriving_after_an_idle_heartbeat_runs_without_a_redelivery() {
    let stack = Stack::start();
    // Far beyond the deadline below: a task that waits for a redelivery fails it.
    let overrides = [("TASKLANE_WORKER__ACK_WAIT", "120s")];
    let api = stack.api(&overrides).await;
    let _worker = stack.worker(&overrides).await;
    let client = api.client();
    // The worker's first pull is out as soon as it is ready; its first idle
    // heartbeat comes 2 s later, and the pull expires after 5 s.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let id = client.submit(&json!({"type": "echo", "payload": 1})).await;
    let record = client.wait_for_status(&id, "succeeded", DEADLINE).await;
    assert_eq!(record["attempts"], 1, "{record}");
    let stats = wait_idle(&client, 1).await;
    assert_eq!(stats["queue"]["redelivered"], 0);
    api.stop().await;
}

/// Records of unfinished tasks never expire: a task can wait in the queue longer than
/// `results.ttl`, and `GET /task/{id}` must find it all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_record_outlives_the_results_ttl() {
    let stack = Stack::start();
    let short_ttl = [("TASKLANE_RESULTS__TTL", "1s")];
    tasklane_testkit::apps::declare_topology(&stack.settings(&short_ttl)).await;
    let api = stack.api(&short_ttl).await;
    let client = api.client();
    let id = client.submit(&json!({"type": "echo", "payload": 1})).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(client.task(&id).await["status"], "queued");

    let worker = stack.worker(&short_ttl).await;
    client
        .wait_for_status(&id, "succeeded", Duration::from_secs(20))
        .await;
    worker.stop().await;
    api.stop().await;
}

/// A worker finished a task, its ack was lost, and the message comes back after the
/// finished record expired (`results.ttl`): it is acknowledged as the duplicate it is,
/// not run and counted a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_redelivery_after_the_record_expired_is_not_counted_twice() {
    let stack = Stack::start();
    let short_ttl = [("TASKLANE_RESULTS__TTL", "1s")];
    let settings = stack.settings(&short_ttl);
    tasklane_testkit::apps::declare_topology(&settings).await;
    let api = stack.api(&short_ttl).await;
    let client = api.client();
    let id = client.submit(&json!({"type": "echo", "payload": 1})).await;

    // A worker takes the message, runs the task and writes its outcome, then dies
    // before its ack reaches NATS.
    let js = jetstream::new(stack.nats_client().await);
    let consumer: jetstream::consumer::PullConsumer = js
        .get_stream(&settings.stream.name)
        .await
        .unwrap()
        .get_consumer("workers")
        .await
        .unwrap();
    let mut taken = consumer.fetch().max_messages(1).messages().await.unwrap();
    let message = taken.next().await.expect("the task's message").unwrap();
    let store = Store::connect(&settings.valkey, settings.results.ttl).unwrap();
    let created_at = client.task(&id).await["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    let record = RecordIdentity {
        id: &id,
        task_type: "echo",
        created_at: &created_at,
        tenant: "default",
    };
    let published_ms = message.info().unwrap().published.unix_timestamp() as u64 * 1000;
    store
        .start_attempt(record, 5, 1, published_ms)
        .await
        .unwrap();
    assert!(
        store
            .finish(record, &FinalOutcome::Succeeded { result: "1" }, 1)
            .await
            .unwrap()
    );
    drop(message);
    eventually(
        Duration::from_secs(10),
        "the finished record to expire",
        || async {
            let response = client.get(&format!("/task/{id}")).await;
            (response.status() == reqwest::StatusCode::NOT_FOUND).then_some(())
        },
    )
    .await;
    assert_eq!(client.processed_count().await, 1);

    // The message comes back (its ack wait is over) to a worker.
    let worker = stack.worker(&short_ttl).await;
    eventually(
        Duration::from_secs(20),
        "the redelivery to be acknowledged",
        || async { (stack.work_stream_messages().await == 0).then_some(()) },
    )
    .await;
    assert_eq!(client.processed_count().await, 1, "counted once");
    let metrics = worker.client().metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "worker_tasks_processed_total",
            &[("type", "echo"), ("outcome", "succeeded")]
        ),
        0.0,
        "not run again"
    );
    worker.stop().await;
    api.stop().await;
}
