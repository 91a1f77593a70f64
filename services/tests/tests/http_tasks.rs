//! The `http` task type against a target server on loopback (opened for the worker
//! with `http.allowed_networks`): delivery with the exact body and headers, a
//! signature checked by an independent implementation, retries honouring
//! `Retry-After`, permanent failures, truncation, timeouts, the circuit breaker and
//! the per-host limit; and the SSRF guard, which by default refuses loopback in
//! every spelling without a single connection reaching the listener.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tasklane_testkit::client::metric_value;
use tasklane_testkit::{ApiClient, AppHandle, Stack, eventually};

const DEADLINE: Duration = Duration::from_secs(30);
const LOOPBACK_OPEN: (&str, &str) = ("TASKLANE_HTTP__ALLOWED_NETWORKS", "127.0.0.0/8");

/// One request as the target saw it.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<Received>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// `/down` answers 503 until this is set.
    healthy: AtomicBool,
}

/// A target on 127.0.0.1 whose paths say how to answer:
/// `/ok`, `/status/<code>[?retry_after=<s>&location=<url>]`, `/flaky/<n>` (429 then
/// 503 with `Retry-After: 1` for the first n requests), `/big/<bytes>`,
/// `/slow/<ms>`, `/down`.
struct Target {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

impl Target {
    async fn start() -> Self {
        let seen = Arc::new(Seen::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(answer).with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Received> {
        self.seen.requests.lock().unwrap().clone()
    }

    fn requests_to(&self, path: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.uri.path() == path)
            .count()
    }
}

async fn answer(
    State(seen): State<Arc<Seen>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let earlier = {
        let mut requests = seen.requests.lock().unwrap();
        let earlier = requests
            .iter()
            .filter(|r| r.uri.path() == uri.path())
            .count();
        requests.push(Received {
            method,
            uri: uri.clone(),
            headers,
            body,
            at: Instant::now(),
        });
        earlier
    };
    let query = |name: &str| {
        uri.query()
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    let mut parts = uri.path().trim_start_matches('/').splitn(2, '/');
    let (route, arg) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    match route {
        "ok" => axum::Json(json!({"received": true})).into_response(),
        "status" => {
            let status = StatusCode::from_u16(arg.parse().unwrap()).unwrap();
            let mut response = (status, "answer").into_response();
            if let Some(after) = query("retry_after") {
                response
                    .headers_mut()
                    .insert("retry-after", after.parse().unwrap());
            }
            if let Some(location) = query("location") {
                response
                    .headers_mut()
                    .insert("location", location.parse().unwrap());
            }
            response
        }
        "flaky" if earlier < arg.parse().unwrap() => {
            let status = if earlier % 2 == 0 {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (status, [("retry-after", "1")], "later").into_response()
        }
        "flaky" => "done".into_response(),
        "big" => "x".repeat(arg.parse().unwrap()).into_response(),
        "slow" => {
            let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            seen.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(arg.parse().unwrap())).await;
            seen.in_flight.fetch_sub(1, Ordering::SeqCst);
            "slept".into_response()
        }
        "down" if !seen.healthy.load(Ordering::SeqCst) => {
            (StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
        }
        "down" => "up".into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A worker (with loopback opened and `overrides`), a gateway, their servers and a
/// target; dropped in that order.
struct Setup {
    worker: AppHandle,
    client: ApiClient,
    _api: AppHandle,
    _stack: Stack,
    target: Target,
}

async fn setup(overrides: &[(&str, &str)]) -> Setup {
    let target = Target::start().await;
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let mut env = vec![LOOPBACK_OPEN];
    env.extend_from_slice(overrides);
    let worker = stack.worker(&env).await;
    Setup {
        worker,
        client: api.client(),
        _api: api,
        _stack: stack,
        target,
    }
}

/// Requests the target got for task `id` (the `webhook-id` it carries).
fn sent_for(target: &Target, id: &str) -> usize {
    target
        .requests()
        .iter()
        .filter(|r| r.headers["webhook-id"] == id)
        .count()
}

fn http_task(payload: Value, max_attempts: u32) -> Value {
    json!({"type": "http", "payload": payload, "max_attempts": max_attempts})
}

/// Checks a Standard Webhooks signature with Python's own HMAC, not the worker's
/// code: the receiver side of the scheme, as a service in another language does it.
fn python_verifies(secret: &str, id: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    const VERIFY: &str = r#"
import base64, hashlib, hmac, json, sys
given = json.load(sys.stdin)
key = base64.b64decode(given["secret"].removeprefix("whsec_"))
signed = f'{given["id"]}.{given["timestamp"]}.'.encode() + bytes(given["body"])
expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
ok = any(hmac.compare_digest(s.split(",", 1)[1], expected) for s in given["signature"].split(" ") if s.startswith("v1,"))
sys.exit(0 if ok else 1)
"#;
    let input = json!({"secret": secret, "id": id, "timestamp": timestamp, "body": body, "signature": signature});
    let mut child = std::process::Command::new("python3")
        .args(["-c", VERIFY])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    child.wait().expect("python3 exits").success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_the_exact_body_and_headers_signed_and_keeps_the_answer() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("signing-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let Setup {
        target,
        client,
        worker: _,
        ..
    } = &setup(&[(
        "TASKLANE_HTTP__SIGNING_SECRET_FILE",
        secret_file.to_str().unwrap(),
    )])
    .await;

    let body = json!({"order": 42, "items": ["a", "b"], "note": "é\n"});
    let json_task = client
        .submit(&http_task(
            json!({"url": target.url("/ok?x=1"), "headers": {"X-Custom": "v", "Authorization": "Bearer t"}, "body": body}),
            1,
        ))
        .await;
    let text_task = client
        .submit(&http_task(
            json!({"url": target.url("/ok"), "method": "PUT", "headers": {"content-type": "text/plain"}, "body": "plain text"}),
            1,
        ))
        .await;
    let get_task = client
        .submit(&http_task(
            json!({"url": target.url("/ok"), "method": "GET"}),
            1,
        ))
        .await;

    let record = client
        .wait_for_status(&json_task, "succeeded", DEADLINE)
        .await;
    assert_eq!(
        record["result"],
        json!({"status": 200, "headers": {"content-type": "application/json"}, "body": {"received": true}, "truncated": false})
    );
    for id in [&text_task, &get_task] {
        client.wait_for_status(id, "succeeded", DEADLINE).await;
    }
    let requests = target.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    let by_id = |id: &str| {
        requests
            .iter()
            .find(|r| r.headers["webhook-id"] == id)
            .unwrap_or_else(|| panic!("no request with webhook-id {id}"))
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (id, method, content_type, sent) in [
        (
            &json_task,
            Method::POST,
            Some("application/json"),
            body.to_string().into_bytes(),
        ),
        (
            &text_task,
            Method::PUT,
            Some("text/plain"),
            b"plain text".to_vec(),
        ),
        (&get_task, Method::GET, None, Vec::new()),
    ] {
        let request = by_id(id);
        assert_eq!(request.method, method);
        assert_eq!(request.body, sent, "exact body of {method}");
        assert_eq!(
            request
                .headers
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            content_type
        );
        let timestamp = request.headers["webhook-timestamp"].to_str().unwrap();
        assert!(timestamp.parse::<u64>().unwrap().abs_diff(now) < 60);
        let signature = request.headers["webhook-signature"].to_str().unwrap();
        assert!(
            python_verifies(secret, id, timestamp, &request.body, signature),
            "the signature of {method} verifies"
        );
        // A signature over anything else does not.
        assert!(!python_verifies(
            secret,
            id,
            timestamp,
            b"tampered",
            signature
        ));
        for hop in ["proxy-authorization", "forwarded", "x-forwarded-for"] {
            assert!(request.headers.get(hop).is_none(), "{hop}");
        }
    }
    let json_request = by_id(&json_task);
    assert_eq!(json_request.uri.to_string(), "/ok?x=1");
    assert_eq!(json_request.headers["x-custom"], "v");
    assert_eq!(json_request.headers["authorization"], "Bearer t");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_honour_retry_after_with_the_same_webhook_id() {
    // A backoff far longer than the test: only Retry-After can bring the retries.
    let Setup {
        target,
        client,
        worker: _,
        ..
    } = &setup(&[
        ("TASKLANE_WORKER__RETRY_BASE_DELAY", "60s"),
        ("TASKLANE_WORKER__RETRY_MAX_DELAY", "10m"),
    ])
    .await;
    let id = client
        .submit(&http_task(json!({"url": target.url("/flaky/2")}), 5))
        .await;
    let record = client.wait_for_status(&id, "succeeded", DEADLINE).await;
    assert_eq!(record["attempts"], 3);
    assert_eq!(record["result"]["body"], "done");
    let requests = target.requests();
    assert_eq!(requests.len(), 3);
    for pair in requests.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(900),
            "Retry-After: 1 waited {gap:?}"
        );
        assert_eq!(pair[0].headers["webhook-id"], pair[1].headers["webhook-id"]);
    }
    assert_eq!(requests[0].headers["webhook-id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_and_redirects_fail_at_once_and_5xx_ends_dead() {
    let Setup {
        target,
        client,
        worker: _,
        ..
    } = &setup(&[]).await;
    let redirect = format!("/status/302?location={}", target.url("/ok"));
    for (path, status) in [
        ("/status/404", "404"),
        ("/status/400", "400"),
        (redirect.as_str(), "302"),
    ] {
        let id = client
            .submit(&http_task(json!({"url": target.url(path)}), 5))
            .await;
        let record = client.wait_for_status(&id, "failed", DEADLINE).await;
        assert_eq!(record["attempts"], 1, "{path}");
        let error = record["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("HTTP {status} ")),
            "{path}: {error}"
        );
    }
    assert_eq!(
        target.requests_to("/ok"),
        0,
        "the redirect was not followed"
    );
    let id = client
        .submit(&http_task(json!({"url": target.url("/status/500")}), 2))
        .await;
    let record = client.wait_for_status(&id, "dead", DEADLINE).await;
    assert_eq!(record["attempts"], 2);
    assert_eq!(target.requests_to("/status/500"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_is_truncated_and_a_slow_one_times_out() {
    let Setup {
        target,
        client,
        worker: _,
        ..
    } = &setup(&[("TASKLANE_HTTP__MAX_RESPONSE_BYTES", "1000")]).await;
    let big = client
        .submit(&http_task(json!({"url": target.url("/big/100000")}), 1))
        .await;
    let exact = client
        .submit(&http_task(json!({"url": target.url("/big/1000")}), 1))
        .await;
    let slow = client
        .submit(&json!({"type": "http", "payload": {"url": target.url("/slow/5000")}, "max_attempts": 1, "timeout_ms": 300}))
        .await;
    let record = client.wait_for_status(&big, "succeeded", DEADLINE).await;
    assert_eq!(record["result"]["body"], "x".repeat(1000));
    assert_eq!(record["result"]["truncated"], true);
    let record = client.wait_for_status(&exact, "succeeded", DEADLINE).await;
    assert_eq!(record["result"]["truncated"], false);
    let started = Instant::now();
    let record = client.wait_for_status(&slow, "dead", DEADLINE).await;
    assert!(started.elapsed() < Duration::from_secs(5), "not waited out");
    let error = record["error"].as_str().unwrap();
    assert!(error.contains("timed out"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_sends_nothing_and_uses_no_attempts_until_a_probe_succeeds() {
    let Setup {
        target,
        client,
        worker,
        ..
    } = &setup(&[
        ("TASKLANE_HTTP__BREAKER_THRESHOLD", "2"),
        ("TASKLANE_HTTP__BREAKER_COOLDOWN", "1s"),
    ])
    .await;
    let down = json!({"url": target.url("/down")});
    // Two failures open the circuit.
    let first = client.submit(&http_task(down.clone(), 20)).await;
    eventually(DEADLINE, "two failed requests", || async {
        (target.requests_to("/down") >= 2).then_some(())
    })
    .await;
    // Tasks for the host now wait; while it is down only one probe per cooldown
    // reaches it, whatever the number of tasks.
    let waiting = client
        .submit_batch((0..5).map(|_| http_task(down.clone(), 5)).collect())
        .await;
    let before = target.requests_to("/down");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let probes = target.requests_to("/down") - before;
    assert!(
        probes <= 3,
        "{probes} requests in 2.5 cooldowns of an open circuit"
    );
    let metrics = worker.client().metrics().await;
    assert!(metric_value(&metrics, "worker_http_deferred_total", &[]) >= 5.0);
    assert_eq!(
        metric_value(&metrics, "worker_http_circuits_open", &[]),
        1.0
    );

    target.seen.healthy.store(true, Ordering::SeqCst);
    let record = client.wait_for_status(&first, "succeeded", DEADLINE).await;
    // Every attempt the record counts reached the host; deferrals counted none.
    let attempts = record["attempts"].as_u64().unwrap() as usize;
    assert_eq!(attempts, sent_for(target, &first));
    // Many deliveries while open, and none of them used an attempt.
    for id in &waiting {
        let record = client.wait_for_status(id, "succeeded", DEADLINE).await;
        let attempts = record["attempts"].as_u64().unwrap() as usize;
        assert_eq!(attempts, sent_for(target, id), "{id}");
    }
    let metrics = worker.client().metrics().await;
    assert_eq!(
        metric_value(&metrics, "worker_http_circuits_open", &[]),
        0.0
    );
    for state in ["open", "half_open", "closed"] {
        assert!(
            metric_value(
                &metrics,
                "worker_http_circuit_transitions_total",
                &[("state", state)]
            ) >= 1.0,
            "{state}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_one_host_are_limited_per_worker() {
    let Setup {
        target,
        client,
        worker: _,
        ..
    } = &setup(&[("TASKLANE_HTTP__MAX_PER_HOST", "2")]).await;
    let tasks: Vec<Value> = (0..8)
        .map(|_| http_task(json!({"url": target.url("/slow/300")}), 1))
        .collect();
    let ids = client.submit_batch(tasks).await;
    for id in &ids {
        client.wait_for_status(id, "succeeded", DEADLINE).await;
    }
    assert_eq!(target.seen.most_in_flight.load(Ordering::SeqCst), 2);
}

/// Counts the connections a loopback listener accepts.
async fn counting_listener(bind: &str) -> Option<(SocketAddr, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind(bind).await.ok()?;
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    Some((addr, accepted))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_loopback_in_every_spelling_and_nothing_connects() {
    let (v4, accepted_v4) = counting_listener("127.0.0.1:0").await.unwrap();
    let v6 = counting_listener("[::1]:0").await;
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    // Default settings: no network opened.
    let worker = stack.worker(&[]).await;
    let client: ApiClient = api.client();
    let port = v4.port();
    let mut urls = vec![
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://127.1:{port}/"),
    ];
    // Refused whether or not this machine has IPv6 loopback to listen on.
    let v6_port = v6.as_ref().map_or(port, |(v6, _)| v6.port());
    urls.push(format!("http://[::1]:{v6_port}/"));
    urls.push(format!("http://[::]:{v6_port}/"));
    for url in &urls {
        let id = client.submit(&http_task(json!({"url": url}), 5)).await;
        let record = client.wait_for_status(&id, "failed", DEADLINE).await;
        let error = record["error"].as_str().unwrap();
        assert!(error.contains("destination-forbidden"), "{url}: {error}");
        assert_eq!(record["attempts"], 1, "{url}");
    }
    // Accepts happen at once on loopback; give a late one the chance to show.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        accepted_v4.load(Ordering::SeqCst),
        0,
        "a connection reached 127.0.0.1"
    );
    if let Some((_, accepted_v6)) = &v6 {
        assert_eq!(
            accepted_v6.load(Ordering::SeqCst),
            0,
            "a connection reached ::1"
        );
    }
    let metrics = worker.client().metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "worker_http_requests_total",
            &[("status_class", "none"), ("outcome", "forbidden")]
        ),
        urls.len() as f64
    );
}
