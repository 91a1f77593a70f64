//! The bad-input half of the HTTP contract, in-process: the real router, called with
//! `oneshot` (no sockets), with no NATS or Valkey behind it. Each case must get the
//! problem it names, never a 5xx, a panic text or internals.
//!
//! Nothing is enqueued, and that is checked rather than assumed: this gateway cannot
//! publish (its queue never connects), so a request that reached the publish would
//! count in `api_tasks_publish_errors_total` and be answered 503. The control case
//! shows exactly that for a valid task; every bad input leaves the counter at 0.
//! End-to-end cases against real servers stay in `services/tests`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tasklane_core::Settings;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::startup::Gateway;

/// A gateway whose NATS and Valkey are a listener that never answers: a loopback
/// port this test holds, so no packet leaves the machine and no other process's
/// server can stand in.
struct Isolated {
    router: Router,
    _silent: std::net::TcpListener,
}

async fn isolated_gateway(overrides: &[(&str, &str)]) -> Isolated {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = silent.local_addr().expect("bound");
    let mut vars: HashMap<String, String> = [
        ("TASKLANE_NATS__URL", format!("nats://{address}")),
        ("TASKLANE_VALKEY__URL", format!("redis://{address}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let settings = Settings::from_env_map(vars).expect("valid settings");
    let gateway = Gateway::connect(&settings, CancellationToken::new())
        .await
        .expect("clients configure");
    Isolated {
        router: gateway.router,
        _silent: silent,
    }
}

impl Isolated {
    async fn post(&self, content_type: Option<&str>, body: Vec<u8>) -> (StatusCode, String, Value) {
        self.post_to("/task", content_type, body).await
    }

    async fn post_to(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, String, Value) {
        let mut request = Request::post(path);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Body::from(body)).expect("a request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, content_type, body)
    }

    async fn publish_errors(&self) -> f64 {
        let request = Request::get("/metrics")
            .body(Body::empty())
            .expect("a request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        String::from_utf8_lossy(&bytes)
            .lines()
            .find_map(|line| line.strip_prefix("api_tasks_publish_errors_total "))
            .and_then(|value| value.parse().ok())
            .expect("the counter is exposed")
    }
}

/// Asserts a problem with status `expected` that leaks no internals and whose detail
/// mentions `mentions`.
fn expect_problem(
    (status, content_type, body): &(StatusCode, String, Value),
    expected: StatusCode,
    mentions: &str,
    case: &str,
) {
    assert_eq!(*status, expected, "{case}: status (body {body})");
    assert_eq!(
        content_type, "application/problem+json",
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
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(mentions),
        "{case}: detail {detail:?} should mention {mentions:?}"
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

fn bad_inputs() -> Vec<BadInput> {
    let json = Some("application/json");
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let deep = format!(
        "{{\"payload\":{}1{}}}",
        "[".repeat(1_500),
        "]".repeat(1_500)
    );
    let big = format!("{{\"payload\":\"{}\"}}", "x".repeat(5000));
    let long_type = format!(r#"{{"type":"{}","payload":1}}"#, "a".repeat(65));
    vec![
        (
            "malformed JSON",
            json,
            br#"{"payload":"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
        ("empty body", json, vec![], StatusCode::BAD_REQUEST, "empty"),
        (
            "whitespace body",
            json,
            b"  \n ".to_vec(),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            "trailing data",
            json,
            br#"{"payload":1} {"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "after",
        ),
        (
            "invalid UTF-8",
            json,
            b"{\"payload\":\"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
        (
            "deep nesting",
            json,
            deep.into_bytes(),
            unprocessable,
            "payload: nested deeper",
        ),
        (
            "array body",
            json,
            b"[\"echo\",1]".to_vec(),
            unprocessable,
            "JSON object",
        ),
        (
            "missing payload",
            json,
            br#"{"type":"echo"}"#.to_vec(),
            unprocessable,
            "payload",
        ),
        (
            "unknown field",
            json,
            br#"{"payload":1,"priority":3}"#.to_vec(),
            unprocessable,
            "priority",
        ),
        (
            "bad type name",
            json,
            br#"{"type":"Bad Name","payload":1}"#.to_vec(),
            unprocessable,
            "type",
        ),
        (
            "type too long",
            json,
            long_type.into_bytes(),
            unprocessable,
            "type",
        ),
        (
            "type not a string",
            json,
            br#"{"type":5,"payload":1}"#.to_vec(),
            unprocessable,
            "type",
        ),
        (
            "unknown type",
            json,
            br#"{"type":"nope","payload":1}"#.to_vec(),
            unprocessable,
            "unknown task type",
        ),
        (
            "max_attempts 0",
            json,
            br#"{"payload":1,"max_attempts":0}"#.to_vec(),
            unprocessable,
            "max_attempts",
        ),
        (
            "max_attempts 101",
            json,
            br#"{"payload":1,"max_attempts":101}"#.to_vec(),
            unprocessable,
            "max_attempts",
        ),
        (
            "max_attempts negative",
            json,
            br#"{"payload":1,"max_attempts":-1}"#.to_vec(),
            unprocessable,
            "max_attempts",
        ),
        (
            "max_attempts string",
            json,
            br#"{"payload":1,"max_attempts":"3"}"#.to_vec(),
            unprocessable,
            "max_attempts",
        ),
        (
            "delay_ms and run_at",
            json,
            br#"{"payload":1,"delay_ms":5,"run_at":"2030-01-01T00:00:00Z"}"#.to_vec(),
            unprocessable,
            "run_at",
        ),
        (
            "delay_ms negative",
            json,
            br#"{"payload":1,"delay_ms":-1}"#.to_vec(),
            unprocessable,
            "delay_ms",
        ),
        (
            "delay_ms over 30 days",
            json,
            br#"{"payload":1,"delay_ms":2592000001}"#.to_vec(),
            unprocessable,
            "delay_ms",
        ),
        (
            "run_at not RFC 3339",
            json,
            br#"{"payload":1,"run_at":"next tuesday"}"#.to_vec(),
            unprocessable,
            "run_at",
        ),
        (
            "run_at over 30 days ahead",
            json,
            br#"{"payload":1,"run_at":"2999-01-01T00:00:00Z"}"#.to_vec(),
            unprocessable,
            "run_at",
        ),
        (
            "timeout_ms 0",
            json,
            br#"{"payload":1,"timeout_ms":0}"#.to_vec(),
            unprocessable,
            "timeout_ms",
        ),
        (
            "timeout_ms too big",
            json,
            br#"{"payload":1,"timeout_ms":3600001}"#.to_vec(),
            unprocessable,
            "timeout_ms",
        ),
        (
            "timeout_ms fraction",
            json,
            br#"{"payload":1,"timeout_ms":1.5}"#.to_vec(),
            unprocessable,
            "timeout_ms",
        ),
        (
            "max_attempts fraction",
            json,
            br#"{"payload":1,"max_attempts":3.5}"#.to_vec(),
            unprocessable,
            "max_attempts",
        ),
        (
            "max_attempts negative whole float",
            json,
            br#"{"payload":1,"max_attempts":-1.0}"#.to_vec(),
            unprocessable,
            "max_attempts",
        ),
        (
            "max_attempts past u32 as a float",
            json,
            br#"{"payload":1,"max_attempts":4294967296.0}"#.to_vec(),
            unprocessable,
            "max_attempts",
        ),
        (
            "timeout_ms huge float",
            json,
            br#"{"payload":1,"timeout_ms":1e300}"#.to_vec(),
            unprocessable,
            "timeout_ms",
        ),
        (
            "idempotency_key in body",
            json,
            br#"{"payload":1,"idempotency_key":"k"}"#.to_vec(),
            unprocessable,
            "Idempotency-Key",
        ),
        http_bad(
            "http: not http or https",
            r#"{"url":"ftp://example.com/x"}"#,
            "payload.url: must be http or https",
        ),
        http_bad(
            "http: no host",
            r#"{"url":"http:"}"#,
            "payload.url: not a URL",
        ),
        http_bad(
            "http: user-info",
            r#"{"url":"https://user:pw@example.com/"}"#,
            "payload.url: must not carry user-info",
        ),
        http_bad(
            "http: relative URL",
            r#"{"url":"/hook"}"#,
            "payload.url: not a URL",
        ),
        http_bad(
            "http: no url",
            r#"{"method":"GET"}"#,
            "payload: missing field `url`",
        ),
        http_bad(
            "http: unknown method",
            r#"{"url":"https://example.com/","method":"CONNECT"}"#,
            "payload.method: unknown variant `CONNECT`",
        ),
        http_bad(
            "http: Host header",
            r#"{"url":"https://example.com/","headers":{"Host":"internal"}}"#,
            "payload.headers.Host: set by the worker",
        ),
        http_bad(
            "http: Content-Length header",
            r#"{"url":"https://example.com/","headers":{"Content-Length":"5"}}"#,
            "payload.headers.Content-Length",
        ),
        http_bad(
            "http: hop-by-hop header",
            r#"{"url":"https://example.com/","headers":{"Connection":"upgrade"}}"#,
            "payload.headers.Connection",
        ),
        http_bad(
            "http: signature header",
            r#"{"url":"https://example.com/","headers":{"webhook-id":"x"}}"#,
            "payload.headers.webhook-id",
        ),
        http_bad(
            "http: invalid header name",
            r#"{"url":"https://example.com/","headers":{"X Y":"1"}}"#,
            "payload.headers.X Y: not a valid header name",
        ),
        http_bad(
            "http: header value with CR LF",
            r#"{"url":"https://example.com/","headers":{"X-A":"1\r\nX-B: 2"}}"#,
            "payload.headers.X-A: not a valid header value",
        ),
        http_bad(
            "http: header value not a string",
            r#"{"url":"https://example.com/","headers":{"X-A":1}}"#,
            "payload.headers.X-A: invalid type",
        ),
        http_bad(
            "http: unknown payload field",
            r#"{"url":"https://example.com/","query":{}}"#,
            "payload.query: unknown field `query`",
        ),
        http_bad(
            "http: payload not an object",
            r#""https://example.com/""#,
            "payload: invalid type",
        ),
        (
            "text/plain",
            Some("text/plain"),
            br#"{"payload":1}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "no content type",
            None,
            br#"{"payload":1}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "form content type",
            Some("application/x-www-form-urlencoded"),
            b"payload=1".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "oversized body",
            json,
            big.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "4096",
        ),
    ]
}

/// An `http` task whose payload the type refuses at submission.
fn http_bad(case: &'static str, payload: &str, mentions: &'static str) -> BadInput {
    (
        case,
        Some("application/json"),
        format!(r#"{{"type":"http","payload":{payload}}}"#).into_bytes(),
        StatusCode::UNPROCESSABLE_ENTITY,
        mentions,
    )
}

/// Bodies that are not JSON, each broken after something a valid body could not
/// hold either (an unknown field, a wrong type): 400 on both endpoints, never the
/// 422 the earlier fault would give. `{}` is where the task or the batch goes.
fn broken_after_a_shape_error() -> Vec<(&'static str, &'static str)> {
    vec![
        ("truncated", r#"{"priority":3,"payload":"#),
        ("trailing comma", r#"{"priority":3,"payload":1,}"#),
        ("extra brace", r#"{"priority":3,"payload":1}}"#),
        ("bad literal", r#"{"priority":3,"payload":tru}"#),
        (
            "wrong type, then truncated",
            r#"{"max_attempts":"x","payload":[1,"#,
        ),
    ]
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_whatever_else_is_wrong_on_both_endpoints() {
    let gateway = isolated_gateway(&[]).await;
    let json = Some("application/json");
    for (case, task) in broken_after_a_shape_error() {
        let answer = gateway.post_to("/task", json, task.into()).await;
        expect_problem(&answer, StatusCode::BAD_REQUEST, "JSON", case);
        // In a batch the item is broken, and so is the batch around it; an
        // unknown top-level member comes first.
        let batch = format!(r#"{{"bogus":1,"tasks":[{task}]}}"#);
        let answer = gateway.post_to("/tasks", json, batch.into_bytes()).await;
        expect_problem(&answer, StatusCode::BAD_REQUEST, "JSON", case);
        let batch = format!(r#"{{"tasks":[{{"payload":1,"x":1}},{task}]}}"#);
        let answer = gateway.post_to("/tasks", json, batch.into_bytes()).await;
        expect_problem(&answer, StatusCode::BAD_REQUEST, "JSON", case);
    }
    assert_eq!(gateway.publish_errors().await, 0.0, "nothing was published");
}

#[tokio::test]
async fn bad_task_input_gets_a_problem_naming_the_cause_and_reaches_no_publish() {
    let gateway = isolated_gateway(&[("TASKLANE_API__MAX_BODY_BYTES", "4096")]).await;
    for (case, content_type, body, expected, mentions) in bad_inputs() {
        let answer = gateway.post(content_type, body).await;
        expect_problem(&answer, expected, mentions, case);
    }
    assert_eq!(
        gateway.publish_errors().await,
        0.0,
        "no bad input reached a publish"
    );

    // Control: a valid task does reach the publish here, which cannot succeed.
    let answer = gateway
        .post(Some("application/json"), br#"{"payload":1}"#.to_vec())
        .await;
    expect_problem(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "nothing was accepted",
        "control",
    );
    assert_eq!(
        gateway.publish_errors().await,
        1.0,
        "the valid task was refused at the publish"
    );
}

/// JSON has one number type and the published description says `integer`, which
/// admits `3.0`: such a task is valid and goes on to the publish (which cannot
/// succeed here), on both endpoints. Found by the contract check (422 before).
#[tokio::test]
async fn whole_numbers_written_with_a_zero_fraction_are_valid() {
    let gateway = isolated_gateway(&[]).await;
    let json = Some("application/json");
    let task = r#"{"payload":1,"max_attempts":3.0,"timeout_ms":1072.0}"#;
    let answer = gateway.post_to("/task", json, task.into()).await;
    expect_problem(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "nothing was accepted",
        "single",
    );
    let batch = format!(r#"{{"tasks":[{task}]}}"#);
    let answer = gateway.post_to("/tasks", json, batch.into_bytes()).await;
    expect_problem(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "nothing was accepted",
        "batch",
    );
    assert_eq!(
        gateway.publish_errors().await,
        2.0,
        "both reached the publish"
    );
}

/// Log lines written while a test runs, for asserting on them.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_internal_cause_is_logged_once_inside_the_request_span_and_never_sent() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_span_list(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let gateway = isolated_gateway(&[]).await;
    // Other tests of this binary run on other threads without a subscriber; a
    // callsite one of them registered first may have cached "never" for every
    // dispatcher. Ask again now that this thread's subscriber exists.
    tracing::callsite::rebuild_interest_cache();

    let request = Request::post("/task")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "req-cause-1")
        .body(Body::from(r#"{"payload":1}"#))
        .expect("a request");
    let response = gateway
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    let body = String::from_utf8_lossy(&body);
    assert!(
        !body.contains("not connected"),
        "the cause was sent: {body}"
    );

    let logs = String::from_utf8(captured.0.lock().expect("not poisoned").clone()).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &Value| line["fields"]["message"] == "task not accepted: publish failed")
        .collect();
    assert_eq!(lines.len(), 1, "logged exactly once: {logs}");
    let line = &lines[0];
    assert!(
        line["fields"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not connected"),
        "the cause is in the line: {line}"
    );
    assert!(line["fields"]["task_id"].is_string(), "{line}");
    assert_eq!(
        line["span"]["request_id"], "req-cause-1",
        "inside the request span: {line}"
    );
}
