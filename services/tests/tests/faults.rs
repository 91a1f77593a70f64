//! Real faults against real processes: kill -9 and SIGTERM of the worker and the
//! gateway, restarts of valkey-server and nats-server mid-run. After each, every
//! accepted task ends with an outcome and the counters count each task exactly once.
//! These tests run one at a time (see .config/nextest.toml).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_testkit::client::metric_value;
use tasklane_testkit::{ApiClient, Stack, eventually};
use tokio::sync::Mutex;

const DEADLINE: Duration = Duration::from_secs(60);

/// `n` tasks that each sleep `ms` milliseconds.
fn sleeps(n: usize, ms: u64) -> Vec<Value> {
    vec![json!({"type": "sleep", "payload": {"ms": ms}}); n]
}

/// Tasks the workers finished, from the counter they write. Not through `/stats`,
/// whose answer may be a second old: these tests must act while work is running.
fn processed(stack: &Stack) -> u64 {
    let reply = stack
        .valkey
        .command(&["HGET", "tasklane:stats", "processed"]);
    reply
        .lines()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits until the workers have finished at least `n` tasks.
async fn some_processed(stack: &Stack, n: u64) {
    eventually(DEADLINE, &format!("{n} tasks processed"), || async {
        (processed(stack) >= n).then_some(())
    })
    .await;
}

/// Every id succeeded, and the counters saw each task exactly once.
async fn assert_all_succeeded_once(client: &ApiClient, ids: &[String]) {
    assert_all_succeeded_once_but(client, ids, 0).await;
}

/// As [`assert_all_succeeded_once`], but up to `unconfirmed` tasks whose submission
/// was answered `publish-unconfirmed` (and so has no id here) may have run too.
async fn assert_all_succeeded_once_but(client: &ApiClient, ids: &[String], unconfirmed: u64) {
    let total = ids.len() as u64;
    let stats = client
        .wait_for_stats(&format!("all {total} tasks processed"), DEADLINE, |s| {
            s["worker_processed_count"].as_u64() >= Some(total) && s["queue_backlog_length"] == 0
        })
        .await;
    let processed = stats["worker_processed_count"].as_u64().unwrap();
    assert!(
        (total..=total + unconfirmed).contains(&processed),
        "counted exactly once: {stats}"
    );
    assert_eq!(stats["worker_succeeded_count"], processed, "{stats}");
    assert_eq!(stats["dead_letter_count"], 0, "{stats}");
    for id in ids {
        let record = client.task(id).await;
        assert_eq!(record["status"], "succeeded", "{record}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_worker_mid_run_loses_nothing_and_counts_each_task_once() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let worker_env = [("TASKLANE_WORKER__CONCURRENCY", "16")];
    let mut worker = stack.worker_process(&worker_env);
    worker.wait_ready().await;

    let sleepy = |i: usize| json!({"type": "sleep", "payload": {"ms": 20 + (i % 5) * 10}});
    let mut ids = client.submit_batch((0..100).map(sleepy).collect()).await;
    ids.extend(client.submit_batch((100..200).map(sleepy).collect()).await);

    some_processed(&stack, 40).await;
    worker.kill9();
    let done_at_kill = processed(&stack);
    assert!(done_at_kill < 200, "the kill must land mid-run");

    let mut replacement = stack.worker_process(&worker_env);
    replacement.wait_ready().await;
    assert_all_succeeded_once(&client, &ids).await;
    assert_eq!(
        replacement.terminate(Duration::from_secs(30)).code(),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_kills_the_worker_every_time_ends_dead_lettered() {
    let stack = Stack::start();
    let env = [("TASKLANE_WORKER__ACK_WAIT", "1s")];
    let api = stack.api(&env).await;
    let client = api.client();
    let id = client
        .submit(&json!({"type": "sleep", "payload": {"ms": 600000}, "timeout_ms": 3600000, "max_attempts": 2}))
        .await;

    // Each attempt "crashes" the worker: it is killed while running the task.
    for attempt in 1..=2 {
        let mut worker = stack.worker_process(&env);
        worker.wait_ready().await;
        eventually(DEADLINE, &format!("attempt {attempt} running"), || async {
            let record = client.task(&id).await;
            (record["status"] == "running" && record["attempts"] == attempt).then_some(())
        })
        .await;
        worker.kill9();
    }

    let mut survivor = stack.worker_process(&env);
    survivor.wait_ready().await;
    let record = client.wait_for_status(&id, "dead", DEADLINE).await;
    assert_eq!(record["attempts"], 2, "{record}");
    assert!(
        record["error"].as_str().unwrap().contains("worker stopped"),
        "{record}"
    );
    let stats = client.stats().await;
    assert_eq!(stats["dead_letter_count"], 1);
    assert_eq!(stats["worker_processed_count"], 1);
    assert_eq!(
        stats["queue_backlog_length"], 0,
        "the poison task left the work queue"
    );

    let after = client.submit(&json!({"payload": "next"})).await;
    client.wait_for_status(&after, "succeeded", DEADLINE).await;
    assert!(survivor.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_the_worker_under_load_drains_exits_zero_and_loses_nothing() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let env = [
        ("TASKLANE_WORKER__CONCURRENCY", "16"),
        ("TASKLANE_WORKER__SHUTDOWN_GRACE", "10s"),
    ];
    let mut worker = stack.worker_process(&env);
    worker.wait_ready().await;
    let ids = client.submit_batch(sleeps(150, 40)).await;
    some_processed(&stack, 20).await;

    let status = worker.terminate(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "log:\n{}", worker.log());
    assert!(worker.log().contains("drained"));
    let done = processed(&stack);
    assert!(done < 150, "SIGTERM must land mid-run ({done} done)");

    let mut next = stack.worker_process(&env);
    next.wait_ready().await;
    assert_all_succeeded_once(&client, &ids).await;
    for id in &ids {
        assert_eq!(
            client.task(id).await["attempts"],
            1,
            "a drain never costs an attempt"
        );
    }
    assert_eq!(next.terminate(Duration::from_secs(20)).code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_still_running_after_the_grace_period_are_handed_back_without_using_an_attempt() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let env = [("TASKLANE_WORKER__SHUTDOWN_GRACE", "1s")];
    let mut worker = stack.worker_process(&env);
    worker.wait_ready().await;
    let ids = client
        .submit_batch(
            (0..4)
                .map(|_| json!({"type": "sleep", "payload": {"ms": 4000}, "max_attempts": 1}))
                .collect(),
        )
        .await;
    for id in &ids {
        client.wait_for_status(id, "running", DEADLINE).await;
    }
    let started = std::time::Instant::now();
    assert_eq!(worker.terminate(Duration::from_secs(15)).code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "exited within the grace period plus hand-back"
    );

    let next = stack.worker_process(&[]);
    next.wait_ready().await;
    // max_attempts is 1: had the interrupted attempt counted, these would be dead.
    assert_all_succeeded_once(&client, &ids).await;
    for id in &ids {
        assert_eq!(client.task(id).await["attempts"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_the_gateway_under_load_answers_in_flight_requests_and_loses_nothing() {
    let stack = Stack::start();
    let _worker = stack.worker(&[]).await;
    let mut gateway = stack.api_process(&[]);
    gateway.wait_ready().await;
    let client = gateway.client();

    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let server_errors = Arc::new(Mutex::new(Vec::<u16>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut loaders = Vec::new();
    for _ in 0..8 {
        let (client, accepted, server_errors, stop) = (
            client.clone(),
            accepted.clone(),
            server_errors.clone(),
            stop.clone(),
        );
        loaders.push(tokio::spawn(async move {
            for i in 0..2_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let sent = client
                    .http()
                    .post(client.url("/task"))
                    .json(&json!({"payload": {"i": i}}))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == StatusCode::ACCEPTED => {
                        let body: Value = response.json().await.unwrap();
                        accepted
                            .lock()
                            .await
                            .push(body["id"].as_str().unwrap().to_string());
                    }
                    Ok(response) if response.status().is_server_error() => {
                        server_errors.lock().await.push(response.status().as_u16());
                    }
                    Ok(_) => {}
                    // Refused connections once the gateway has stopped listening.
                    Err(_) => break,
                }
            }
        }));
    }
    eventually(DEADLINE, "load running", || async {
        (accepted.lock().await.len() >= 100).then_some(())
    })
    .await;
    let status = gateway.terminate(Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.await.unwrap();
    }
    assert_eq!(status.code(), Some(0), "log:\n{}", gateway.log());
    assert!(
        server_errors.lock().await.is_empty(),
        "5xx during shutdown: {:?}",
        server_errors.lock().await
    );

    // Check through a fresh gateway.
    let api = stack.api(&[]).await;
    let ids = accepted.lock().await.clone();
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
    assert_all_succeeded_once(&api.client(), &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valkey_restart_mid_run_loses_nothing_and_double_counts_nothing() {
    let mut stack = Stack::start();
    let api = stack.api(&[]).await;
    let worker = stack.worker(&[]).await;
    let client = api.client();
    let ids = client.submit_batch(sleeps(300, 10)).await;
    some_processed(&stack, 30).await;

    stack.valkey.stop();
    // While Valkey is away: lookups are 503 (not 500), and nothing is acknowledged.
    let lookup = client.get(&format!("/task/{}", ids[0])).await;
    assert_eq!(lookup.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(lookup.headers().contains_key("retry-after"));
    assert_eq!(
        client.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let store_errors = || async {
        let metrics = worker.client().metrics().await;
        metric_value(&metrics, "worker_store_errors_total", &[])
    };
    eventually(DEADLINE, "the worker to meet the outage", || async {
        (store_errors().await > 0.0).then_some(())
    })
    .await;
    stack.valkey.start_again();

    assert_all_succeeded_once(&client, &ids).await;
    assert!(
        store_errors().await > 0.0,
        "the outage was seen by the worker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_run_answers_503_while_down_and_loses_nothing() {
    let mut stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let client = api.client();
    let mut ids = client.submit_batch(sleeps(200, 10)).await;
    some_processed(&stack, 20).await;

    stack.nats.stop();
    // A publish handed to the client just before it noticed the disconnect may
    // still reach JetStream after the restart: answered `publish-unconfirmed`, it
    // may run. Every other 503 (`queue-unavailable`) must have stored nothing.
    let mut may_run = 0;
    for i in 0..20 {
        let response = client
            .post_json("/task", &json!({"payload": {"while_down": i}}))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "never 202 while NATS is away"
        );
        assert!(response.headers().contains_key("retry-after"));
        let problem: Value = response.json().await.unwrap();
        let kind = problem["type"].as_str().unwrap();
        if kind.ends_with("#publish-unconfirmed") {
            may_run += 1;
        } else {
            assert!(kind.ends_with("#queue-unavailable"), "{problem}");
        }
    }
    let ready = client.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["status"],
        "unavailable"
    );

    stack.nats.start_again();
    eventually(DEADLINE, "gateway ready again", || async {
        client.ready().await.then_some(())
    })
    .await;
    ids.extend(
        client
            .submit_batch(
                (0..50)
                    .map(|_| json!({"payload": "after restart"}))
                    .collect(),
            )
            .await,
    );
    assert_all_succeeded_once_but(&client, &ids, may_run).await;
    let metrics = client.metrics().await;
    assert_eq!(
        metric_value(&metrics, "api_tasks_publish_errors_total", &[]),
        20.0
    );
}

/// A task cancelled while the worker running it is dead (killed with -9, its
/// message still held until the ack wait runs out) is acknowledged without running
/// by the worker that gets it next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_cancelled_while_its_worker_is_killed_never_runs_again() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let mut worker = stack.worker_process(&[]);
    worker.wait_ready().await;
    let id = client
        .submit(&json!({"type": "sleep", "payload": {"ms": 30_000}, "max_attempts": 5}))
        .await;
    client
        .wait_for_status(&id, "running", Duration::from_secs(15))
        .await;
    worker.kill9();
    let response = crate::cancellation::delete(&client, &id, None).await;
    assert_eq!(response.status(), StatusCode::OK);

    let mut next = stack.worker_process(&[]);
    next.wait_ready().await;
    crate::cancellation::wait_drained(&stack).await;
    let metrics = next.client().metrics().await;
    let of_sleep = |name: &str| metric_value(&metrics, name, &[("type", "sleep")]);
    assert_eq!(
        of_sleep("worker_tasks_cancelled_total"),
        1.0,
        "acknowledged as cancelled"
    );
    assert_eq!(of_sleep("worker_task_duration_seconds_count"), 0.0);
    assert_eq!(of_sleep("worker_tasks_processed_total"), 0.0);
    let record = client.task(&id).await;
    assert_eq!(record["status"], "cancelled");
    assert_eq!(record["attempts"], 1, "no attempt after the restart");
    assert_eq!(stack.work_stream_messages().await, 0);
    let stats = client.stats().await;
    assert_eq!(stats["cancelled_count"], 1);
    assert_eq!(stats["worker_processed_count"], 0);
    assert_eq!(next.terminate(Duration::from_secs(30)).code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_tasks_survive_kill_9_of_worker_and_gateway_and_a_nats_restart_and_run_once() {
    use crate::delayed_tasks::{all_ran_once_after_run_at, all_still_waiting};

    let mut stack = Stack::start();
    tasklane_testkit::apps::declare_topology(&stack.settings(&[])).await;
    let mut gateway = stack.api_process(&[]);
    let mut worker = stack.worker_process(&[]);
    gateway.wait_ready().await;
    worker.wait_ready().await;
    let ids = gateway
        .client()
        .submit_batch(vec![
            json!({"payload": {"delayed": true}, "delay_ms": 8_000});
            5
        ])
        .await;

    gateway.kill9();
    worker.kill9();
    stack.nats.restart();
    let gateway = stack.api_process(&[]);
    let _worker = stack.worker_process(&[]);
    gateway.wait_ready().await;
    let client = gateway.client();
    all_still_waiting(&client, &ids).await;

    all_ran_once_after_run_at(&client, &ids).await;
    let stats = client
        .wait_for_stats("the 5 acknowledged", DEADLINE, |s| {
            s["queue_backlog_length"] == 0 && s["worker_processed_count"] == 5
        })
        .await;
    assert_eq!(stats["worker_succeeded_count"], 5, "{stats}");
    assert_eq!(stack.work_stream_messages().await, 0);
}
