//! `/stats` and `/metrics` agree with what happened and with each other, and the
//! binaries expose exactly the metric catalog that dashboards and alerts are
//! checked against (`infra/monitoring/metric-names.txt`).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use tasklane_testkit::client::{metric_families, metric_value};
use tasklane_testkit::{Stack, eventually, workspace_root};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_metrics_agree_with_the_traffic_and_each_other() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let worker = stack.worker(&[]).await;
    let client = api.client();

    for i in 0..3 {
        client.submit(&json!({"type": "echo", "payload": i})).await;
    }
    client
        .submit(&json!({"type": "fail", "payload": {"permanent": true}}))
        .await;
    client
        .submit(&json!({"type": "fail", "payload": {"fail_times": 9}, "max_attempts": 2}))
        .await;
    client
        .submit(&json!({"type": "fail", "payload": {"fail_times": 1}}))
        .await;
    let bad = client
        .post_json("/task", &json!({"type": "nope", "payload": 1}))
        .await;
    assert_eq!(bad.status(), 422);

    let stats = client
        .wait_for_stats("all six tasks finished", DEADLINE, |s| {
            s["worker_processed_count"] == 6 && s["queue_backlog_length"] == 0
        })
        .await;
    assert_eq!(stats["worker_succeeded_count"], 4);
    assert_eq!(stats["worker_failed_count"], 1);
    assert_eq!(stats["dead_letter_count"], 1);
    assert_eq!(
        stats["worker_processed_count"].as_u64().unwrap(),
        stats["worker_succeeded_count"].as_u64().unwrap()
            + stats["worker_failed_count"].as_u64().unwrap()
            + stats["dead_letter_count"].as_u64().unwrap(),
        "processed is the sum of its parts"
    );
    // 6 task records + the counters hash + tenant `default`'s outstanding count +
    // nothing else (no idempotency keys used, no rate limit on).
    assert_eq!(stats["valkey_keys_count"], 8, "{stats}");

    let api_metrics = client.metrics().await;
    assert_eq!(
        metric_value(
            &api_metrics,
            "api_tasks_submitted_total",
            &[("type", "echo")]
        ),
        3.0
    );
    assert_eq!(
        metric_value(
            &api_metrics,
            "api_tasks_submitted_total",
            &[("type", "fail")]
        ),
        3.0
    );
    assert_eq!(
        metric_value(
            &api_metrics,
            "api_http_requests_total",
            &[("route", "/task"), ("status", "202")]
        ),
        6.0
    );
    assert_eq!(
        metric_value(
            &api_metrics,
            "api_http_requests_total",
            &[("route", "/task"), ("status", "422")]
        ),
        1.0
    );
    assert!(
        !api_metrics.contains("route=\"/task/0"),
        "task ids must never become label values"
    );
    assert_eq!(
        metric_value(
            &api_metrics,
            "api_http_request_duration_seconds_count",
            &[("route", "/task")]
        ),
        7.0
    );

    let worker_metrics = worker.client().metrics().await;
    let processed = |outcome: &str| {
        metric_value(
            &worker_metrics,
            "worker_tasks_processed_total",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(
        processed("succeeded"),
        stats["worker_succeeded_count"].as_f64().unwrap()
    );
    assert_eq!(
        processed("failed"),
        stats["worker_failed_count"].as_f64().unwrap()
    );
    assert_eq!(
        processed("dead"),
        stats["dead_letter_count"].as_f64().unwrap()
    );
    assert_eq!(
        metric_value(&worker_metrics, "worker_tasks_dead_lettered_total", &[]),
        1.0
    );
    // Failed attempts: 1 permanent + 2 exhausted + 1 retried-then-succeeded.
    assert_eq!(
        metric_value(&worker_metrics, "worker_tasks_errors_total", &[]),
        4.0
    );
    assert_eq!(
        metric_value(&worker_metrics, "worker_tasks_retried_total", &[]),
        2.0
    );
    // One queue-wait and one duration sample per attempt that ran a handler: 6 + 2 retries.
    assert_eq!(
        metric_value(&worker_metrics, "worker_queue_wait_seconds_count", &[]),
        8.0
    );
    assert_eq!(
        metric_value(&worker_metrics, "worker_task_duration_seconds_count", &[]),
        8.0
    );
    assert_eq!(
        metric_value(&worker_metrics, "worker_tasks_in_flight", &[]),
        0.0
    );

    // The backlog gauge is refreshed in the background; it settles at /stats' value.
    eventually(
        DEADLINE,
        "backlog gauge at 0 and dependencies up",
        || async {
            let m = worker.client().metrics().await;
            let settled = metric_value(&m, "worker_queue_backlog", &[]) == 0.0
                && metric_value(&m, "tasklane_dependency_up", &[("dependency", "nats")]) == 1.0
                && metric_value(&m, "tasklane_dependency_up", &[("dependency", "valkey")]) == 1.0;
            settled.then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_gauges_see_waiting_work() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    for _ in 0..5 {
        client.submit(&json!({"payload": 1})).await;
    }
    let stats = client.stats().await;
    assert_eq!(stats["queue_backlog_length"], 5);
    assert_eq!(stats["queue"]["pending"], 5);
    assert_eq!(stats["queue"]["in_flight"], 0);

    // A worker started now sees the waiting work in its gauges before draining it:
    // the wait of every task is at least the time it sat in the queue.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let worker = stack.worker(&[]).await;
    client
        .wait_for_stats("drained", DEADLINE, |s| s["worker_processed_count"] == 5)
        .await;
    let metrics = worker.client().metrics().await;
    assert_eq!(
        metric_value(&metrics, "worker_queue_wait_seconds_count", &[]),
        5.0
    );
    assert!(metric_value(&metrics, "worker_queue_wait_seconds_sum", &[]) >= 5.0 * 0.2);
}

fn catalog() -> BTreeSet<String> {
    std::fs::read_to_string(workspace_root().join("infra/monitoring/metric-names.txt"))
        .expect("metric catalog exists")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binaries_expose_exactly_the_metric_catalog() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    // Traffic that gives every labelled family at least one series: a task
    // cancelled before any worker runs, which the worker then acknowledges, ...
    let cancelled = client.submit(&json!({"payload": 0})).await;
    let cancel = client
        .http()
        .delete(client.url(&format!("/task/{cancelled}")));
    assert_eq!(cancel.send().await.unwrap().status(), 200);
    let worker = stack.worker(&[]).await;
    // ... and the rest (one of them delayed, due at once).
    client.submit(&json!({"payload": 1, "delay_ms": 0})).await;
    client
        .submit(&json!({"type": "fail", "payload": {"fail_times": 5}, "max_attempts": 2}))
        .await;
    for _ in 0..2 {
        let replayable = client
            .http()
            .post(client.url("/task"))
            .header("idempotency-key", "catalog")
            .json(&json!({"payload": 2}));
        assert_eq!(replayable.send().await.unwrap().status(), 202);
    }
    client
        .wait_for_stats("all finished", DEADLINE, |s| {
            s["worker_processed_count"] == 3 && s["queue_backlog_length"] == 0
        })
        .await;
    let mut exposed = metric_families(&client.metrics().await);
    exposed.extend(metric_families(&worker.client().metrics().await));
    let catalog = catalog();
    let missing: Vec<_> = catalog.difference(&exposed).collect();
    let undocumented: Vec<_> = exposed.difference(&catalog).collect();
    // Families only seen on a redelivery or an outage have no series yet; they must
    // still be in the catalog, and nothing exposed may be missing from it.
    let rare = ["worker_tasks_redelivered_total"];
    assert!(
        undocumented.is_empty(),
        "exposed but not in the catalog: {undocumented:?}"
    );
    let unexpected_missing: Vec<_> = missing
        .iter()
        .filter(|m| !rare.contains(&m.as_str()))
        .collect();
    assert!(
        unexpected_missing.is_empty(),
        "in the catalog but not exposed: {unexpected_missing:?}"
    );
}
