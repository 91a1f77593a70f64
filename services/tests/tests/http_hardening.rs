//! What the gateway's HTTP layer refuses to take from a client or to give away:
//! request ids outside the allowed alphabet, new metric series from invented
//! methods, cacheable task records, content-type sniffing, more request bytes in
//! memory than the body budget, probes and metrics on the public port when they
//! have their own, and a `/stats` flood reaching Valkey and JetStream.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tasklane_testkit::client::metric_value;
use tasklane_testkit::{Stack, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_cannot_hold_more_than_the_body_budget() {
    let stack = Stack::start();
    let api = stack
        .api(&[
            ("TASKLANE_API__MAX_BODY_BYTES", "4096"),
            ("TASKLANE_API__MAX_IN_FLIGHT_BODY_BYTES", "8192"),
            ("TASKLANE_API__REQUEST_TIMEOUT", "30s"),
        ])
        .await;
    let client = api.client();
    // Two clients announce 4000 bytes each and send a few: together they hold the
    // whole budget while they trickle.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut connection = TcpStream::connect(api.addr).await.unwrap();
        connection
            .write_all(
                b"POST /task HTTP/1.1\r\nHost: tasklane\r\nContent-Type: application/json\r\n\
                  Content-Length: 4000\r\n\r\n{\"payload\":",
            )
            .await
            .unwrap();
        slow.push(connection);
    }
    // 8000 of 8192 bytes are held; a task of about 1 KiB does not fit.
    let task = json!({"payload": "x".repeat(1000)});
    let refused: Value = eventually(Duration::from_secs(10), "a refusal", || async {
        let response = client.post_json("/task", &task).await;
        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        assert!(response.headers().contains_key("retry-after"));
        response.json().await.ok()
    })
    .await;
    assert!(
        refused["type"].as_str().unwrap().ends_with("#rate-limited"),
        "{refused}"
    );
    drop(slow);
    eventually(Duration::from_secs(10), "the budget back", || async {
        let response = client.post_json("/task", &task).await;
        (response.status() == StatusCode::ACCEPTED).then_some(())
    })
    .await;
}

/// Reads until the server closes `connection`; the bytes it sent before closing.
async fn read_until_closed(connection: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(within, connection.read_to_end(&mut received))
        .await
        .expect("the server closes the connection in time")
        .ok();
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_complete_headers_are_closed() {
    let stack = Stack::start();
    let api = stack.api(&[("TASKLANE_API__HEADER_TIMEOUT", "1s")]).await;
    // Headers trickled and never finished; a connection that sends nothing; a
    // keep-alive connection left idle after one answer.
    let mut partial = TcpStream::connect(api.addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tasklane\r\n")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(api.addr).await.unwrap();
    let mut idle = TcpStream::connect(api.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: tasklane\r\n\r\n")
        .await
        .unwrap();
    for connection in [&mut partial, &mut silent] {
        let answered = read_until_closed(connection, Duration::from_secs(5)).await;
        assert!(
            !String::from_utf8_lossy(&answered).contains("200 OK"),
            "no answer to incomplete headers"
        );
    }
    let answered = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&answered).starts_with("HTTP/1.1 200 OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let stack = Stack::start();
    let api = stack
        .api(&[
            ("TASKLANE_API__MAX_CONNECTIONS", "2"),
            ("TASKLANE_API__HEADER_TIMEOUT", "30s"),
        ])
        .await;
    let held: Vec<TcpStream> =
        futures::future::join_all((0..2).map(|_| TcpStream::connect(api.addr)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let url = format!("http://{}/healthz", api.addr);
    assert!(
        http.get(&url).send().await.is_err(),
        "a third connection is not served while two are held"
    );
    drop(held);
    eventually(
        Duration::from_secs(10),
        "a free connection slot",
        || async { http.get(&url).send().await.ok().map(|r| r.status()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_ops_listener_probes_and_metrics_leave_the_public_port() {
    let stack = Stack::start();
    let api = stack
        .api(&[("TASKLANE_API__OPS_LISTEN", "127.0.0.1:0")])
        .await;
    assert_ne!(api.ops_addr, api.addr);
    let (public, ops) = (api.client(), api.ops_client());
    for path in ["/healthz", "/readyz", "/metrics"] {
        let on_public = public.get(path).await;
        assert_eq!(on_public.status(), StatusCode::NOT_FOUND, "public {path}");
        let body: Value = on_public.json().await.unwrap();
        assert!(
            body["type"].as_str().unwrap().ends_with("#not-found"),
            "{body}"
        );
        assert_eq!(ops.get(path).await.status(), StatusCode::OK, "ops {path}");
    }
    let metrics = ops.metrics().await;
    assert!(metrics.contains("tasklane_dependency_up"), "{metrics}");
    // The task API stays on the public port, and only there.
    let task = json!({"type": "echo", "payload": {}});
    assert_eq!(
        public.post_json("/task", &task).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        ops.post_json("/task", &task).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(ops.get("/stats").await.status(), StatusCode::NOT_FOUND);
    let ops_answer = ops.get("/healthz").await;
    assert_eq!(ops_answer.headers()["x-content-type-options"], "nosniff");
    api.stop().await;

    // Without it, nothing moves.
    let api = stack.api(&[]).await;
    assert_eq!(api.ops_addr, api.addr);
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            api.client().get(path).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
}

/// `/stats` asks Valkey (DBSIZE, the counters) and the JetStream API; a flood of
/// callers must not turn into as many queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_stats_requests_queries_valkey_and_jetstream_about_once_a_second() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let dbsize_calls = || {
        let info = stack.valkey.command(&["INFO", "commandstats"]);
        info.lines()
            .find_map(|line| line.strip_prefix("cmdstat_dbsize:calls="))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |calls| calls.parse::<u64>().unwrap())
    };
    let before = dbsize_calls();
    let started = std::time::Instant::now();
    let answers = futures::future::join_all((0..50).map(|_| client.get("/stats"))).await;
    let mut bodies = Vec::new();
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::OK);
        bodies.push(answer.json::<Value>().await.unwrap());
    }
    let seconds = started.elapsed().as_secs();
    let queried = dbsize_calls() - before;
    assert!(
        queried >= 1 && queried <= seconds + 1,
        "{queried} DBSIZE calls for 50 /stats requests in {seconds}s"
    );
    assert!(bodies.iter().all(|b| b["queue"].is_object()), "{bodies:?}");

    // A later request sees fresh figures.
    client.submit(&json!({"type": "echo", "payload": {}})).await;
    eventually(Duration::from_secs(5), "fresh /stats", || async {
        let stats = client.stats().await;
        (stats["queue_backlog_length"] == 1).then_some(())
    })
    .await;
}
