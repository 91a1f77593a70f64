//! Guardrails and bounded resources against real servers: caps on what a task may
//! ask for, task types a deployment does not enable, a full work stream, a task over
//! the server's `max_payload`, and stream limits that follow the configuration.

use std::time::Duration;

use async_nats::jetstream::{self, stream::DiscardPolicy};
use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_testkit::apps::declare_topology;
use tasklane_testkit::{Stack, eventually};

const DEADLINE: Duration = Duration::from_secs(30);

async fn problem(response: reqwest::Response) -> (StatusCode, Option<String>, Value) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (
        status,
        retry_after,
        response.json().await.expect("JSON body"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_attempts_and_types_beyond_the_configured_limits_are_refused() {
    let stack = Stack::start();
    let api = stack
        .api(&[
            ("TASKLANE_LIMITS__MAX_TIMEOUT", "30s"),
            ("TASKLANE_LIMITS__MAX_ATTEMPTS", "5"),
            ("TASKLANE_TASKS__ENABLED", "echo,sha256"),
        ])
        .await;
    let client = api.client();
    for (task, field) in [
        (json!({"payload": 1, "timeout_ms": 30_001}), "timeout_ms"),
        (json!({"payload": 1, "max_attempts": 6}), "max_attempts"),
        (json!({"type": "sleep", "payload": {"ms": 1}}), "type"),
        (json!({"type": "fail", "payload": {"panic": true}}), "type"),
    ] {
        let (status, _, body) = problem(client.post_json("/task", &task).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{task}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.starts_with(&format!("{field}:")), "{task}: {detail}");
        let batch = json!({"tasks": [{"payload": 1}, task]});
        let (status, _, body) = problem(client.post_json("/tasks", &batch).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{batch}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("tasks[1].{field}:")),
            "{detail}"
        );
    }
    client
        .submit(&json!({"payload": 1, "timeout_ms": 30_000, "max_attempts": 5}))
        .await;
    assert_eq!(stack.work_stream_messages().await, 1, "only the valid task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_type_that_reaches_a_worker_fails_without_running() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[("TASKLANE_TASKS__ENABLED", "echo")]).await;
    let client = api.client();
    // Published straight to NATS, past the gateway's check: the panic it asks for
    // would be retried as a failed attempt if the handler ran.
    let id = "01a20000-0000-7000-8000-0000000000bb";
    let envelope = json!({
        "id": id, "type": "fail", "payload": {"panic": true}, "max_attempts": 5,
        "created_at": "2026-01-01T00:00:00.000Z"
    });
    let js = jetstream::new(stack.nats_client().await);
    js.publish("tasks.fail", Bytes::from(envelope.to_string()))
        .await
        .unwrap()
        .await
        .unwrap();
    let record = client.wait_for_status(id, "failed", DEADLINE).await;
    assert_eq!(record["attempts"], 1, "{record}");
    assert!(
        record["error"].as_str().unwrap().contains("not enabled"),
        "{record}"
    );
    let echo = client.submit(&json!({"payload": 1})).await;
    client.wait_for_status(&echo, "succeeded", DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_work_stream_refuses_tasks_until_workers_drain_it() {
    let stack = Stack::start();
    let limit = [("TASKLANE_STREAM__MAX_MSGS", "3")];
    let api = stack.api(&limit).await;
    let client = api.client();
    for _ in 0..3 {
        client.submit(&json!({"payload": 1})).await;
    }
    let (status, retry_after, body) =
        problem(client.post_json("/task", &json!({"payload": 1})).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["type"].as_str().unwrap().ends_with("#queue-full"),
        "{body}"
    );
    assert!(retry_after.is_some_and(|s| s.parse::<u32>().unwrap() >= 1));
    let batch = json!({"tasks": [{"payload": 1}, {"payload": 2}]});
    let (status, _, body) = problem(client.post_json("/tasks", &batch).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        stack.work_stream_messages().await,
        3,
        "nothing more was stored"
    );

    let _worker = stack.worker(&limit).await;
    client
        .wait_for_stats("the queue drained", DEADLINE, |s| {
            s["worker_processed_count"] == 3 && s["queue_backlog_length"] == 0
        })
        .await;
    let id = client.submit(&json!({"payload": 1})).await;
    client.wait_for_status(&id, "succeeded", DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_again_applies_changed_stream_limits_to_existing_streams() {
    let stack = Stack::start();
    declare_topology(&stack.settings(&[])).await;
    declare_topology(&stack.settings(&[
        ("TASKLANE_STREAM__MAX_MSGS", "500"),
        ("TASKLANE_STREAM__MAX_BYTES", "1048576"),
        ("TASKLANE_DLQ__MAX_AGE", "2d"),
        ("TASKLANE_DLQ__MAX_BYTES", "2097152"),
    ]))
    .await;
    let settings = stack.settings(&[]);
    let js = jetstream::new(stack.nats_client().await);
    let mut work = js.get_stream(&settings.stream.name).await.unwrap();
    let config = work.info().await.unwrap().config.clone();
    assert_eq!((config.max_messages, config.max_bytes), (500, 1_048_576));
    assert_eq!(
        config.discard,
        DiscardPolicy::New,
        "a full queue refuses, never drops"
    );
    let mut dead = js
        .get_stream(&settings.stream.dead_letter_name())
        .await
        .unwrap();
    let config = dead.info().await.unwrap().config.clone();
    assert_eq!(config.max_age, Duration::from_secs(2 * 24 * 3600));
    assert_eq!(config.max_bytes, 2_097_152);
    assert_eq!(config.discard, DiscardPolicy::New);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_over_the_servers_max_payload_is_413_and_start_up_warns() {
    let stack = Stack::start();
    declare_topology(&stack.settings(&[])).await;
    // nats-server's default max_payload is 1 MiB; the gateway takes bodies up to 4.
    let api = stack.api_process(&[("TASKLANE_API__MAX_BODY_BYTES", "4194304")]);
    api.wait_ready().await;
    let client = api.client();
    let big = json!({"payload": {"data": "x".repeat(2 * 1024 * 1024)}});
    for _ in 0..3 {
        let (status, retry_after, body) = problem(client.post_json("/task", &big).await).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(retry_after.is_none(), "a retry cannot help");
    }
    // The connection the refused publishes would have broken still carries tasks.
    client.submit(&json!({"payload": 1})).await;
    assert_eq!(stack.work_stream_messages().await, 1);
    eventually(DEADLINE, "the max_payload warning", || async {
        api.log().contains("max_payload").then_some(())
    })
    .await;
}
