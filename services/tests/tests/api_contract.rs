//! The gateway's HTTP contract: success shapes and every error status, against real
//! NATS and Valkey. Bad input never yields a 5xx, a panic text, or an enqueued task.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_testkit::Stack;
use tasklane_testkit::client::metric_value;

/// Asserts `response` is an RFC 9457 problem with status `expected` that leaks no
/// internals, and returns its body.
async fn expect_problem(response: reqwest::Response, expected: StatusCode, case: &str) -> Value {
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{case}: body is not JSON: {e}"));
    assert_eq!(status, expected, "{case}: status (body {body})");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{case}: content type"
    );
    assert_eq!(body["status"], expected.as_u16(), "{case}: status member");
    for member in ["type", "title", "detail"] {
        assert!(
            body[member].is_string(),
            "{case}: problem lacks `{member}`: {body}"
        );
    }
    let text = body.to_string().to_lowercase();
    for leak in ["panicked", "backtrace", "valkey:", "nats:", "src/"] {
        assert!(
            !text.contains(leak),
            "{case}: internal detail leaked: {body}"
        );
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_task_is_visible_as_queued_before_any_worker_runs() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();

    let response = client
        .post_json(
            "/task",
            &json!({"type": "echo", "payload": {"hello": "world"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        response.headers().contains_key("x-request-id"),
        "request id header"
    );
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(body["status"], "queued");
    assert_eq!(location, format!("/task/{id}"));
    let uuid = uuid::Uuid::parse_str(id).expect("id is a UUID");
    assert_eq!(uuid.get_version_num(), 7, "id is a UUID v7");

    let record = client.task(id).await;
    assert_eq!(record["id"], id);
    assert_eq!(record["type"], "echo");
    assert_eq!(record["status"], "queued");
    assert_eq!(record["attempts"], 0);
    for stamp in ["created_at", "updated_at"] {
        let text = record[stamp].as_str().unwrap();
        assert!(
            text.ends_with('Z') && text.contains('T'),
            "{stamp} is RFC 3339 UTC: {text}"
        );
    }
    assert!(record.get("result").is_none());
    assert_eq!(
        stack.work_stream_messages().await,
        1,
        "exactly one message published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_defaults_to_echo_and_request_id_is_propagated() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let response = client
        .http()
        .post(client.url("/task"))
        .header("x-request-id", "req-from-client-42")
        .json(&json!({"payload": [1, 2, 3]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()["x-request-id"], "req-from-client-42");
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(client.task(&id).await["type"], "echo");

    // The request id and a trace context travel with the message to the worker.
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let stream = js.get_stream("TASKS").await.unwrap();
    let message = stream.get_raw_message(1).await.unwrap();
    assert_eq!(
        message.headers.get("Tasklane-Request-Id").unwrap().as_str(),
        "req-from-client-42"
    );
    assert!(message.headers.get("traceparent").is_some());
    assert_eq!(message.headers.get("Nats-Msg-Id").unwrap().as_str(), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_trace_context_is_continued_into_the_message() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let response = client
        .http()
        .post(client.url("/task"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .json(&json!({"payload": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let message = js
        .get_stream("TASKS")
        .await
        .unwrap()
        .get_raw_message(1)
        .await
        .unwrap();
    let traceparent = message
        .headers
        .get("traceparent")
        .unwrap()
        .as_str()
        .to_string();
    assert!(
        traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains("00f067aa0ba902b7"),
        "a new span id for the hop: {traceparent}"
    );
}

/// (case, content type, body, expected status, what the detail must mention)
type BadInput = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    StatusCode,
    &'static str,
);

/// One case per status of the extractor's order (415, 413, 400, 422) against real
/// servers, with the enqueue check; the whole bad-input table runs in-process in
/// services/api/src/bad_input_tests.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_task_input_gets_a_problem_naming_the_cause_and_enqueues_nothing() {
    let stack = Stack::start();
    let api = stack.api(&[("TASKLANE_API__MAX_BODY_BYTES", "4096")]).await;
    let client = api.client();
    let json_type = Some("application/json");
    let big = format!("{{\"payload\":\"{}\"}}", "x".repeat(5000));
    let cases: Vec<BadInput> = vec![
        (
            "malformed JSON",
            json_type,
            br#"{"payload":"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
        (
            "unknown type",
            json_type,
            br#"{"type":"nope","payload":1}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown task type",
        ),
        (
            "text/plain",
            Some("text/plain"),
            br#"{"payload":1}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "oversized body",
            json_type,
            big.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "4096",
        ),
    ];
    for (case, content_type, body, expected, detail_mentions) in cases {
        let response = client.post_raw("/task", content_type, body).await;
        let problem = expect_problem(response, expected, case).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(detail_mentions),
            "{case}: detail {detail:?} should mention {detail_mentions:?}"
        );
    }
    // Content types with parameters or a +json suffix are JSON too.
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.tasklane+json",
    ] {
        let response = client
            .post_raw("/task", Some(content_type), r#"{"payload":1}"#)
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{content_type}");
    }
    assert_eq!(
        stack.work_stream_messages().await,
        2,
        "only the two valid requests were enqueued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_lookup_errors_and_unknown_routes_are_problems() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let cases = [
        ("GET", "/task/not-a-uuid", StatusCode::BAD_REQUEST),
        (
            "GET",
            "/task/01a20000-0000-7000-8000-000000000000",
            StatusCode::NOT_FOUND,
        ),
        ("GET", "/nowhere", StatusCode::NOT_FOUND),
        ("GET", "/tasks", StatusCode::METHOD_NOT_ALLOWED),
        (
            "DELETE",
            "/task/01a20000-0000-7000-8000-000000000000",
            StatusCode::NOT_FOUND,
        ),
        ("DELETE", "/task/not-a-uuid", StatusCode::BAD_REQUEST),
        (
            "PATCH",
            "/task/01a20000-0000-7000-8000-000000000000",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        ("PUT", "/task", StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (method, path, expected) in cases {
        let response = client
            .http()
            .request(method.parse().unwrap(), client.url(path))
            .send()
            .await
            .unwrap();
        expect_problem(response, expected, &format!("{method} {path}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_is_accepted_in_order_and_each_task_is_queued() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let tasks: Vec<Value> = (0..25)
        .map(|i| json!({"type": "echo", "payload": {"n": i}}))
        .collect();
    let response = client.post_json("/tasks", &json!({ "tasks": tasks })).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    let items = body["tasks"].as_array().unwrap();
    assert_eq!(items.len(), 25);
    let mut ids = Vec::new();
    for item in items {
        assert_eq!(item["status"], "queued");
        ids.push(item["id"].as_str().unwrap().to_string());
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "UUID v7 ids are generated in request order");
    for id in &ids {
        assert_eq!(client.task(id).await["status"], "queued");
    }
    assert_eq!(stack.work_stream_messages().await, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_invalid_batch_item_rejects_the_whole_batch() {
    let stack = Stack::start();
    let api = stack.api(&[("TASKLANE_API__MAX_BATCH", "10")]).await;
    let client = api.client();
    let ok = json!({"payload": 1});
    let cases = vec![
        (
            json!({"tasks": [ok, ok, {"type": "nope", "payload": 1}]}),
            "tasks[2].type",
        ),
        (
            json!({"tasks": [ok, {"payload": 1, "max_attempts": 0}]}),
            "tasks[1].max_attempts",
        ),
        (json!({"tasks": [{"type": "echo"}]}), "tasks[0]"),
        (
            json!({"tasks": [ok, {"payload": 1, "extra": true}]}),
            "extra",
        ),
        (json!({"tasks": []}), "at least one"),
        (json!({"tasks": vec![ok.clone(); 11]}), "at most 10"),
        (json!({"task": [ok]}), "task"),
        (json!({"tasks": ok}), "tasks"),
        (
            json!({"tasks": [
                {"payload": 1, "idempotency_key": "same"},
                {"payload": 2, "idempotency_key": "same"}
            ]}),
            "tasks[1].idempotency_key",
        ),
        (
            json!({"tasks": [{"payload": 1, "idempotency_key": ""}]}),
            "tasks[0].idempotency_key",
        ),
    ];
    for (body, mentions) in cases {
        let response = client.post_json("/tasks", &body).await;
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY, mentions).await;
        assert!(
            problem["detail"].as_str().unwrap().contains(mentions),
            "detail {} should name {mentions}",
            problem["detail"]
        );
    }
    let response = client
        .post_raw("/tasks", Some("application/json"), "{\"tasks\": [")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        stack.work_stream_messages().await,
        0,
        "nothing was enqueued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_health_have_the_contract_shape() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    client.submit(&json!({"payload": 1})).await;

    let stats = client.stats().await;
    for field in [
        "valkey_keys_count",
        "queue_backlog_length",
        "worker_processed_count",
        "worker_succeeded_count",
        "worker_failed_count",
        "dead_letter_count",
        "cancelled_count",
    ] {
        assert!(
            stats[field].is_u64(),
            "{field} missing or not a count: {stats}"
        );
    }
    for field in ["pending", "in_flight", "redelivered", "consumers"] {
        assert!(stats["queue"][field].is_u64(), "queue.{field}: {stats}");
    }
    assert_eq!(
        stats["queue_backlog_length"], 1,
        "one task waits, no worker runs"
    );
    assert_eq!(stats["queue"]["pending"], 1);
    assert_eq!(stats["worker_processed_count"], 0);
    assert!(
        stats["valkey_keys_count"].as_u64().unwrap() >= 1,
        "the task record is a key"
    );

    let health = client.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = client.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(
        ready,
        json!({"status": "ready", "checks": {"nats": "ok", "valkey": "ok"}})
    );
    let metrics = client.get("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

/// A request whose body arrives slowly holds its admission permit.
fn slow_body(chunks: usize, pause: Duration) -> reqwest::Body {
    let stream = futures::stream::unfold(0usize, move |i| async move {
        if i > chunks {
            return None;
        }
        tokio::time::sleep(pause).await;
        let piece: &'static [u8] = if i == 0 {
            b"{\"payload\":\""
        } else if i == chunks {
            b"\"}"
        } else {
            b"x"
        };
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(piece)),
            i + 1,
        ))
    });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_concurrency_limit_requests_get_429_with_retry_after() {
    let stack = Stack::start();
    let api = stack.api(&[("TASKLANE_API__MAX_IN_FLIGHT", "1")]).await;
    let client = api.client();
    let slow = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .post_raw(
                    "/task",
                    Some("application/json"),
                    slow_body(10, Duration::from_millis(100)),
                )
                .await
                .status()
        })
    };
    // Wait until the slow request holds the only permit (it counts as in flight, as
    // does the /metrics request asking), then one more task request must be refused.
    tasklane_testkit::eventually(
        Duration::from_secs(5),
        "the slow request to be in flight",
        || async {
            let metrics = client.metrics().await;
            (metric_value(&metrics, "api_http_requests_in_flight", &[]) >= 2.0).then_some(())
        },
    )
    .await;
    let limited = client.post_json("/task", &json!({"payload": 1})).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(
        limited.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        slow.await.unwrap(),
        StatusCode::ACCEPTED,
        "the slow request itself succeeds"
    );
    // Probes are exempt from admission control.
    assert_eq!(client.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_deadline_gets_503_and_enqueues_nothing() {
    let stack = Stack::start();
    let api = stack
        .api(&[
            ("TASKLANE_API__REQUEST_TIMEOUT", "1s"),
            ("TASKLANE_API__PUBLISH_TIMEOUT", "500ms"),
        ])
        .await;
    let client = api.client();
    let response = client
        .post_raw(
            "/task",
            Some("application/json"),
            slow_body(15, Duration::from_millis(100)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.unwrap();
    assert!(problem["type"].as_str().unwrap().ends_with("#timeout"));
    assert_eq!(stack.work_stream_messages().await, 0);
}
