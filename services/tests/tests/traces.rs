//! Trace export: the real binaries, pointed at an OTLP/HTTP receiver this test runs,
//! export the gateway's request span and the worker's task span as one trace that
//! continues the caller's `traceparent` across the queue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message;
use serde_json::json;
use tasklane_testkit::{Stack, eventually};

const DEADLINE: Duration = Duration::from_secs(30);
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A span as the receiver got it, ids in lowercase hex.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    path: Option<String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

async fn collect(State(spans): State<Spans>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP/protobuf body");
    let mut spans = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| text(&r.attributes, "service.name"))
            .unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Received {
                service: service.clone(),
                name: span.name.clone(),
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                path: text(&span.attributes, "path"),
            });
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves `POST /v1/traces` on a free loopback port; returns its base URL.
async fn otlp_receiver(spans: Spans) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/traces", post(collect))
        .with_state(spans);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_one_trace_from_the_caller_through_the_gateway_to_the_worker() {
    let spans = Spans::default();
    let endpoint = otlp_receiver(spans.clone()).await;
    let stack = Stack::start();
    let export = [("TASKLANE_TELEMETRY__OTLP_ENDPOINT", endpoint.as_str())];
    // Both log a line inside the exported span at debug: tower-http each response,
    // the worker each finished task.
    let mut worker = stack.worker_process(&[export[0], ("RUST_LOG", "info,tasklane_worker=debug")]);
    let mut api = stack.api_process(&[export[0], ("RUST_LOG", "info,tower_http=debug")]);
    worker.wait_ready().await;
    api.wait_ready().await;
    let client = api.client();

    let response = client
        .http()
        .post(client.url("/task"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&json!({"type": "echo", "payload": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    client.wait_for_status(&id, "succeeded", DEADLINE).await;
    // A graceful stop flushes the batch: the spans arrive without waiting for the
    // exporter's next scheduled send.
    assert!(api.terminate(DEADLINE).success());
    assert!(worker.terminate(DEADLINE).success());

    let (gateway, attempt) = eventually(DEADLINE, "both spans exported", || async {
        let spans = spans.lock().unwrap();
        let find = |service: &str, name: &str| {
            spans
                .iter()
                .find(|s| s.service == service && s.name == name && s.trace_id == CALLER_TRACE)
                .cloned()
        };
        Some((
            find("tasklane-api", "request")?,
            find("tasklane-worker", "task")?,
        ))
    })
    .await;
    assert_eq!(gateway.parent_span_id, CALLER_SPAN, "{gateway:?}");
    assert_eq!(gateway.path.as_deref(), Some("/task"), "{gateway:?}");
    assert_eq!(attempt.parent_span_id, gateway.span_id, "{attempt:?}");
    assert!(
        spans
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.path.as_deref() != Some("/readyz")),
        "readiness probes are not exported: {:?}",
        spans.lock().unwrap()
    );
    // The logs name the exported trace.
    let needle = format!("\"trace_id\":\"{CALLER_TRACE}\"");
    assert!(api.log().contains(&needle), "{}", api.log());
    assert!(worker.log().contains(&needle), "{}", worker.log());
}
