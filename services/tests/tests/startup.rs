//! Start-up: configuration errors, `--help` and `--version`, idempotent stream set-up
//! from many replicas at once, starting before the dependencies are up, and the
//! deploy smoke script against a real local stack.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_core::config::keys;
use tasklane_core::queue::{Queue, Topology};
use tasklane_testkit::apps::binary_path;
use tasklane_testkit::{ApiClient, Stack, eventually, workspace_root};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn both_binaries_print_version_and_every_configuration_key() {
    for binary in ["tasklane-api", "tasklane-worker"] {
        let version = Command::new(binary_path(binary))
            .arg("--version")
            .output()
            .unwrap();
        assert!(version.status.success());
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            format!("{binary} {}", env!("CARGO_PKG_VERSION"))
        );
        let help = Command::new(binary_path(binary))
            .arg("--help")
            .output()
            .unwrap();
        assert!(help.status.success());
        let text = String::from_utf8_lossy(&help.stdout);
        for key in keys() {
            assert!(
                text.contains(&key.env_var()),
                "{binary} --help misses {}",
                key.name
            );
        }
    }
}

#[test]
fn invalid_configuration_stops_start_up_with_one_line_naming_the_key() {
    let cases = [
        (
            "TASKLANE_WORKER__CONCURENCY",
            "8",
            "TASKLANE_WORKER__CONCURENCY",
        ),
        (
            "TASKLANE_WORKER__ACK_WAIT",
            "forever",
            "TASKLANE_WORKER__ACK_WAIT",
        ),
        ("TASKLANE_API__MAX_BATCH", "0", "TASKLANE_API__MAX_BATCH"),
        (
            "TASKLANE_CONFIG",
            "/nonexistent/tasklane.toml",
            "/nonexistent/tasklane.toml",
        ),
    ];
    for binary in ["tasklane-api", "tasklane-worker"] {
        for (var, value, named) in cases {
            let output = Command::new(binary_path(binary))
                .env(var, value)
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(2), "{binary} with {var}={value}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                stderr.trim().lines().count(),
                1,
                "{binary}: not one line: {stderr}"
            );
            assert!(
                stderr.contains(named),
                "{binary}: {stderr} does not name {named}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_replicas_setting_up_streams_at_once_all_succeed() {
    let stack = Stack::start();
    let settings = stack.settings(&[]);
    let mut setups = Vec::new();
    for _ in 0..6 {
        let settings = settings.clone();
        setups.push(tokio::spawn(async move {
            let queue = Queue::connect(&settings, "replica", Duration::from_secs(5))
                .await
                .unwrap();
            eventually(DEADLINE, "connected", || async {
                queue.is_connected().then_some(())
            })
            .await;
            queue.declare(&Topology::new(&settings)).await
        }));
    }
    for setup in setups {
        setup
            .await
            .unwrap()
            .expect("every replica's set-up succeeds");
    }
    // A changed setting is applied to the existing consumer on the next start.
    let changed = stack.settings(&[("TASKLANE_WORKER__ACK_WAIT", "45s")]);
    let queue = Queue::connect(&changed, "upgrade", Duration::from_secs(5))
        .await
        .unwrap();
    queue.declare(&Topology::new(&changed)).await.unwrap();
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let mut stream = js.get_stream("TASKS").await.unwrap();
    let info = stream.consumer_info("workers").await.unwrap();
    assert_eq!(info.config.ack_wait, Duration::from_secs(45));
    assert_eq!(
        info.config.ack_policy,
        async_nats::jetstream::consumer::AckPolicy::Explicit
    );
    let stream_info = stream.info().await.unwrap();
    assert_eq!(
        stream_info.config.retention,
        async_nats::jetstream::stream::RetentionPolicy::WorkQueue
    );
    assert_eq!(stream_info.config.subjects, vec!["tasks.>".to_string()]);
    let scheduled = js
        .get_stream("TASKS_SCHEDULED")
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    assert!(scheduled.allow_message_schedules);
    assert_eq!(scheduled.subjects, vec!["schedules.>", "due.>"]);
    let dlq = js
        .get_stream("TASKS_DLQ")
        .await
        .unwrap()
        .cached_info()
        .config
        .subjects
        .clone();
    assert_eq!(dlq, vec!["dlq.>".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_and_worker_started_before_their_dependencies_become_ready_later() {
    let mut stack = Stack::start();
    stack.nats.stop();
    stack.valkey.stop();

    let token = CancellationToken::new();
    let app = tasklane_api::Application::build(stack.settings(&[]), token.clone())
        .await
        .unwrap();
    let api = ApiClient::new(format!("http://{}", app.local_addr()));
    let gateway = tokio::spawn(app.run_until_stopped());
    let worker = tasklane_worker::Worker::build(
        stack.settings(&[]),
        tasklane_worker::Registry::built_in(),
        token.clone(),
    )
    .await
    .unwrap();
    let worker_health = ApiClient::new(format!("http://{}", worker.local_addr()));
    let worker_run = tokio::spawn(worker.run_until_stopped());

    for client in [&api, &worker_health] {
        let response = eventually(DEADLINE, "health endpoint up", || async {
            client.http().get(client.url("/readyz")).send().await.ok()
        })
        .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "unavailable");
        assert_ne!(body["checks"]["nats"], "ok");
        assert_ne!(body["checks"]["valkey"], "ok");
        assert_eq!(
            client.get("/healthz").await.status(),
            StatusCode::OK,
            "alive while not ready"
        );
    }
    let refused = api.post_json("/task", &json!({"payload": 1})).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);

    stack.nats.start_again();
    stack.valkey.start_again();
    for client in [&api, &worker_health] {
        eventually(DEADLINE, "ready once dependencies are up", || async {
            client.ready().await.then_some(())
        })
        .await;
    }
    let id = api.submit(&json!({"payload": "late start"})).await;
    api.wait_for_status(&id, "succeeded", DEADLINE).await;

    token.cancel();
    gateway.await.unwrap().unwrap();
    worker_run.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_smoke_script_passes_against_a_local_stack() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let url = format!("http://{}", api.addr);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(workspace_root().join("scripts/smoke.sh"))
            .env("TASKLANE_URL", url)
            .env("SMOKE_TIMEOUT_SECONDS", "30")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "smoke.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // It really went through the pipeline.
    let stats = api.client().stats().await;
    assert!(stats["worker_succeeded_count"].as_u64().unwrap() >= 1);
}
