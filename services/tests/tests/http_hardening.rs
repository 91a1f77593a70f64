//! What the gateway's HTTP layer refuses to take from a client or to give away:
//! request ids outside the allowed alphabet, new metric series from invented
//! methods, cacheable task records, content-type sniffing.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tasklane_testkit::Stack;
use tasklane_testkit::client::metric_value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_kept_only_when_it_is_short_and_plain() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let too_long = "x".repeat(129);
    let longest = "y".repeat(128);
    for (sent, kept) in [
        ("req-1.a_b:c", true),
        (longest.as_str(), true),
        (too_long.as_str(), false),
        ("has space", false),
        ("quote\"d", false),
        ("{\"level\":\"error\"}", false),
    ] {
        let response = client
            .http()
            .post(client.url("/task"))
            .header("x-request-id", sent)
            .json(&json!({"payload": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let answered = response.headers()["x-request-id"].to_str().unwrap();
        if kept {
            assert_eq!(answered, sent);
        } else {
            assert_ne!(answered, sent);
            uuid::Uuid::parse_str(answered).expect("a generated id instead");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invented_method_creates_no_metric_series() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    for method in ["BREW", "X-SCAN-1", "X-SCAN-2"] {
        let response = client
            .http()
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                client.url("/task"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let metrics = client.metrics().await;
    for method in ["BREW", "X-SCAN-1", "X-SCAN-2"] {
        assert!(!metrics.contains(method), "{method} became a label value");
    }
    let other = metric_value(
        &metrics,
        "api_http_requests_total",
        &[("method", "OTHER"), ("route", "/task"), ("status", "405")],
    );
    assert_eq!(other, 3.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_answers_are_never_cached_and_nothing_is_sniffed() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let id = client.submit(&json!({"payload": 1})).await;
    for path in [format!("/task/{id}"), "/stats".to_string()] {
        let response = client.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    for path in ["/healthz", "/no-such-path"] {
        let response = client.get(path).await;
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}
