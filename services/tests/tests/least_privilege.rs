//! Least privilege, with the access rules the charts deploy (read from their values
//! files): the NATS users of the gateway, the worker and the topology setup, and the
//! Valkey ACL users of the gateway and the worker, run the whole pipeline, and every
//! operation outside their job is refused by the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_nats::{ConnectOptions, Event};
use serde_json::json;
use tasklane_core::Settings;
use tasklane_core::names::inbox_prefix;
use tasklane_testkit::client::metric_value;
use tasklane_testkit::resp::{self, Reply};
use tasklane_testkit::{
    AppHandle, NatsConfig, NatsServer, Stack, ValkeyConfig, ValkeyServer, eventually,
};
use tokio_util::sync::CancellationToken;

use crate::chart_values::{self, password};
use crate::dead_letters::redrive;

const DEADLINE: Duration = Duration::from_secs(30);
/// What a refused JetStream request costs: no answer comes, so the request times out.
const REFUSED_WITHIN: Duration = Duration::from_millis(500);

/// `TASKLANE_NATS__USER`/`__PASSWORD` (and any `extra`) for NATS user `user`.
fn nats_user(user: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("TASKLANE_NATS__USER".to_string(), user.to_string()),
        ("TASKLANE_NATS__PASSWORD".to_string(), password(user)),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn settings(stack: &Stack, env: &[(String, String)]) -> Settings {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    stack.settings(&env)
}

/// A raw client of NATS user `user`, replies under the same inbox prefix its binary
/// uses (so a refusal is about the operation, not the reply), and the server's error
/// messages to it.
struct Probe {
    js: jetstream::Context,
    client: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Probe {
    async fn connect(stack: &Stack, user: &str) -> Self {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let client = ConnectOptions::with_user_and_password(user.into(), password(user))
            .custom_inbox_prefix(inbox_prefix(user))
            .event_callback(move |event| {
                let sink = sink.clone();
                async move {
                    if let Event::ServerError(error) = event {
                        sink.lock().unwrap().push(error.to_string());
                    }
                }
            })
            .connect(stack.nats.url())
            .await
            .expect("user connects");
        let js = jetstream::ContextBuilder::new()
            .timeout(REFUSED_WITHIN)
            .build(client.clone());
        Self { js, client, errors }
    }

    /// Waits until the server has told this client that `subject` is not its to
    /// `action` (`Publish` or `Subscription`).
    async fn refused(&self, action: &str, subject: &str) {
        let expected = format!("Permissions Violation for {action} to \"{subject}\"");
        eventually(Duration::from_secs(5), &expected, || async {
            self.errors
                .lock()
                .unwrap()
                .iter()
                .any(|e| e.contains(&expected))
                .then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn the_charts_nats_users_run_the_pipeline_and_nothing_else() {
    let stack = Stack {
        nats: NatsServer::start_with(NatsConfig {
            accounts: Some(chart_values::nats_accounts()),
            ..NatsConfig::default()
        }),
        valkey: ValkeyServer::start(),
    };
    let verify = [("TASKLANE_TOPOLOGY__MANAGE", "verify")];
    let worker_settings = settings(&stack, &nats_user("tasklane-worker", &verify));

    // Before the setup ran, a verifying worker refuses to start and says why.
    let refused = tasklane_worker::Worker::build(
        worker_settings.clone(),
        tasklane_worker::Registry::built_in(),
        CancellationToken::new(),
    )
    .await
    .err()
    .expect("no topology: the worker does not start");
    assert!(
        format!("{refused:#}").contains("stream TASKS does not exist"),
        "{refused:#}"
    );

    // The one-shot setup, as the setup user, then the runtime users.
    tasklane_worker::startup::declare_topology(&settings(
        &stack,
        &nats_user("tasklane-setup", &[]),
    ))
    .await
    .expect("the setup user declares the topology");
    let worker = AppHandle::worker(worker_settings).await;
    let api = AppHandle::api_alone(settings(&stack, &nats_user("tasklane-api", &[]))).await;
    let client = api.client();

    let echo = client
        .submit(&json!({"type": "echo", "payload": {"n": 1}}))
        .await;
    let digest = client
        .submit(&json!({"type": "sha256", "payload": {"data": "hello"}}))
        .await;
    let dead = client
        .submit(&json!({"type": "fail", "payload": {"fail_times": 5}, "max_attempts": 1}))
        .await;
    let delayed = client
        .submit(&json!({"type": "echo", "payload": {"n": 3}, "delay_ms": 500}))
        .await;
    client.wait_for_status(&echo, "succeeded", DEADLINE).await;
    client
        .wait_for_status(&delayed, "succeeded", DEADLINE)
        .await;
    client.wait_for_status(&digest, "succeeded", DEADLINE).await;
    client.wait_for_status(&dead, "dead", DEADLINE).await;
    let stats = client.stats().await;
    assert_eq!(stats["queue"]["pending"], 0, "{stats}");

    // Dead letters are read with the one message-get request the gateway may send
    // about the dead-letter stream, and re-driven through the task subjects.
    let listed: serde_json::Value = client.get("/dead-letters").await.json().await.unwrap();
    assert_eq!(listed["items"][0]["id"], dead.as_str(), "{listed}");
    assert_eq!(redrive(&client, &dead).await.status(), 202);

    // The gateway: no stream management, no purge, no message deletion, no
    // reading the task subjects or the worker's replies.
    let gateway = Probe::connect(&stack, "tasklane-api").await;
    let mut work = gateway.js.get_stream("TASKS").await.expect("STREAM.INFO");
    let before = work.info().await.expect("info").clone();
    let mut shrunk = before.config.clone();
    shrunk.max_messages = 1;
    assert!(gateway.js.update_stream(&shrunk).await.is_err());
    gateway
        .refused("Publish", "$JS.API.STREAM.UPDATE.TASKS")
        .await;
    assert!(gateway.js.delete_stream("TASKS").await.is_err());
    gateway
        .refused("Publish", "$JS.API.STREAM.DELETE.TASKS")
        .await;
    assert!(work.purge().await.is_err());
    gateway
        .refused("Publish", "$JS.API.STREAM.PURGE.TASKS")
        .await;
    assert!(work.delete_message(1).await.is_err());
    gateway
        .refused("Publish", "$JS.API.STREAM.MSG.DELETE.TASKS")
        .await;
    // It reads dead letters, not tasks waiting in the work stream, and deletes none.
    assert!(work.get_raw_message(1).await.is_err());
    gateway
        .refused("Publish", "$JS.API.STREAM.MSG.GET.TASKS")
        .await;
    let dead_letters = gateway.js.get_stream_no_info("TASKS_DLQ").await.unwrap();
    assert!(dead_letters.delete_message(1).await.is_err());
    gateway
        .refused("Publish", "$JS.API.STREAM.MSG.DELETE.TASKS_DLQ")
        .await;
    let _tasks = gateway.client.subscribe("tasks.>").await.unwrap();
    gateway.refused("Subscription", "tasks.>").await;
    let _replies = gateway
        .client
        .subscribe("_INBOX.tasklane-worker.>")
        .await
        .unwrap();
    gateway
        .refused("Subscription", "_INBOX.tasklane-worker.>")
        .await;

    // The worker: no publishing tasks, no stream or consumer management.
    let runner = Probe::connect(&stack, "tasklane-worker").await;
    runner
        .client
        .publish("tasks.echo", "{}".into())
        .await
        .unwrap();
    runner.client.flush().await.unwrap();
    runner.refused("Publish", "tasks.echo").await;
    runner
        .client
        .publish("schedules.x", "{}".into())
        .await
        .unwrap();
    runner.client.flush().await.unwrap();
    runner.refused("Publish", "schedules.x").await;
    assert!(runner.js.update_stream(&shrunk).await.is_err());
    runner
        .refused("Publish", "$JS.API.STREAM.UPDATE.TASKS")
        .await;
    let spy = jetstream::consumer::pull::Config {
        durable_name: Some("spy".into()),
        ..Default::default()
    };
    let runner_view = runner.js.get_stream("TASKS").await.expect("STREAM.INFO");
    assert!(runner_view.create_consumer(spy).await.is_err());
    runner
        .refused("Publish", "$JS.API.CONSUMER.CREATE.TASKS.spy")
        .await;
    assert!(
        runner
            .js
            .create_stream(stream::Config {
                name: "STOLEN".into(),
                subjects: vec!["stolen.>".into()],
                ..Default::default()
            })
            .await
            .is_err()
    );
    runner
        .refused("Publish", "$JS.API.STREAM.CREATE.STOLEN")
        .await;

    // Nothing the refused requests asked for happened.
    let after = work.info().await.expect("info").clone();
    assert_eq!(after.config.max_messages, before.config.max_messages);
    assert_eq!(after.state.messages, before.state.messages);
    let submitted = client
        .submit(&json!({"type": "echo", "payload": {"n": 2}}))
        .await;
    client
        .wait_for_status(&submitted, "succeeded", DEADLINE)
        .await;
    api.stop().await;
    worker.stop().await;
}

#[tokio::test]
async fn a_verifying_worker_refuses_a_topology_other_than_configured() {
    let stack = Stack::start();
    let verify = ("TASKLANE_TOPOLOGY__MANAGE", "verify");
    let build = |overrides: &[(&str, &str)]| {
        let settings = stack.settings(overrides);
        async move {
            tasklane_worker::Worker::build(
                settings,
                tasklane_worker::Registry::built_in(),
                CancellationToken::new(),
            )
            .await
            .err()
            .map(|e| format!("{e:#}"))
        }
    };
    let missing = build(&[verify]).await.expect("refused");
    assert!(missing.contains("stream TASKS does not exist"), "{missing}");
    assert!(missing.contains("--declare-topology"), "{missing}");

    tasklane_testkit::apps::declare_topology(&stack.settings(&[])).await;
    let stream = build(&[verify, ("TASKLANE_STREAM__MAX_MSGS", "500")])
        .await
        .expect("refused");
    assert!(
        stream.contains("stream TASKS differs")
            && stream.contains("max_messages is -1, configured 500"),
        "{stream}"
    );
    let consumer = build(&[verify, ("TASKLANE_WORKER__ACK_WAIT", "9s")])
        .await
        .expect("refused");
    assert!(
        consumer.contains("consumer workers of stream TASKS differs")
            && consumer.contains("ack_wait is 2s, configured 9s"),
        "{consumer}"
    );
    // As configured: it starts, and pulls without declaring.
    let worker = AppHandle::worker(stack.settings(&[verify])).await;
    let api = AppHandle::api_alone(stack.settings(&[])).await;
    let id = api
        .client()
        .submit(&json!({"type": "echo", "payload": {}}))
        .await;
    api.client()
        .wait_for_status(&id, "succeeded", DEADLINE)
        .await;
    api.stop().await;
    worker.stop().await;
}

/// `AUTH user password` then `command`, on one connection: the reply to `command`.
fn as_valkey_user(port: u16, user: &str, command: &[&str]) -> Reply {
    let pw = password(user);
    let mut replies =
        resp::commands(port, &[&["AUTH", user, &pw], command]).expect("valkey answers");
    assert_eq!(replies[0], Reply::Status("OK".into()), "{user} logs in");
    replies.remove(1)
}

fn assert_refused(port: u16, user: &str, command: &[&str]) {
    match as_valkey_user(port, user, command) {
        Reply::Error(e) if e.starts_with("NOPERM") => {}
        other => panic!("{user} ran {command:?}: {other:?}"),
    }
}

#[tokio::test]
async fn the_charts_valkey_users_run_the_pipeline_and_nothing_else() {
    let stack = Stack {
        nats: NatsServer::start(),
        valkey: ValkeyServer::start_with(ValkeyConfig {
            users: chart_values::valkey_users(),
            ..ValkeyConfig::default()
        }),
    };
    let port = stack.valkey.port;
    // Each binary reads its password from a file, as from a mounted Secret.
    let secrets = tempfile::tempdir().unwrap();
    let as_user = |user: &str| {
        let file = secrets.path().join(user);
        std::fs::write(&file, format!("{}\n", password(user))).unwrap();
        vec![
            (
                "TASKLANE_VALKEY__URL".to_string(),
                format!("redis://{user}@127.0.0.1:{port}"),
            ),
            (
                "TASKLANE_VALKEY__PASSWORD_FILE".to_string(),
                file.display().to_string(),
            ),
            // Every script the gateway has: rate limit and outstanding cap on, far
            // enough above the load for admission leases.
            (
                "TASKLANE_LIMITS__TENANT_RATE".to_string(),
                "1000000".to_string(),
            ),
            (
                "TASKLANE_LIMITS__TENANT_MAX_OUTSTANDING".to_string(),
                "1000000".to_string(),
            ),
        ]
    };
    let worker = AppHandle::worker(settings(&stack, &as_user("tasklane-worker"))).await;
    let api = AppHandle::api(settings(&stack, &as_user("tasklane-api"))).await;
    let client = api.client();

    let body = r#"{"type":"echo","payload":{"order":7}}"#;
    let first = client.post_task_with_key("order-7", body).await;
    assert_eq!(first.status(), 202);
    let replayed = client.post_task_with_key("order-7", body).await;
    assert_eq!(replayed.status(), 202);
    assert_eq!(
        replayed.headers()["idempotent-replayed"],
        "true",
        "the idempotency scripts ran"
    );
    let retried = client
        .submit(&json!({"type": "fail", "payload": {"fail_times": 1}, "max_attempts": 3}))
        .await;
    let dead = client
        .submit(&json!({"type": "fail", "payload": {"fail_times": 5}, "max_attempts": 2}))
        .await;
    let ids = client
        .submit_batch(vec![
            json!({"type": "sha256", "payload": {"data": "a"}}),
            json!({"type": "echo", "payload": 2}),
        ])
        .await;
    client
        .wait_for_status(&retried, "succeeded", DEADLINE)
        .await;
    let record = client.wait_for_status(&dead, "dead", DEADLINE).await;
    assert!(record["error"].is_string(), "{record}");
    // A re-drive: the idempotency claim and the link script, as the gateway's user.
    assert_eq!(redrive(&client, &dead).await.status(), 202);
    assert!(client.task(&dead).await["redriven_to"].is_string());
    for id in &ids {
        client.wait_for_status(id, "succeeded", DEADLINE).await;
    }
    // A cancellation: the gateway's script, then the worker's poll that stops the
    // handler and gives the record its expiry.
    let long = client
        .submit(&json!({"type": "sleep", "payload": {"ms": 20_000}}))
        .await;
    client.wait_for_status(&long, "running", DEADLINE).await;
    let cancel = client
        .http()
        .delete(client.url(&format!("/task/{long}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    let worker_metrics = worker.client();
    eventually(
        DEADLINE,
        "the worker stopped the cancelled task",
        || async {
            let metrics = worker_metrics.metrics().await;
            let stopped = metric_value(
                &metrics,
                "worker_tasks_cancelled_total",
                &[("type", "sleep")],
            );
            (stopped == 1.0).then_some(())
        },
    )
    .await;
    let stats = client.stats().await;
    assert_eq!(stats["worker_succeeded_count"], 4, "{stats}");
    assert_eq!(stats["cancelled_count"], 1, "{stats}");

    for user in ["tasklane-api", "tasklane-worker"] {
        assert_refused(port, user, &["FLUSHALL"]);
        assert_refused(port, user, &["CONFIG", "GET", "maxmemory"]);
        assert_refused(port, user, &["KEYS", "*"]);
        assert_refused(port, user, &["SET", "elsewhere:key", "1"]);
        assert_refused(port, user, &["GET", "elsewhere:key"]);
        assert_refused(port, user, &["EVAL", "return 1", "0"]);
        assert_refused(port, user, &["ACL", "LIST"]);
    }
    // A loaded script runs with its caller's rights, not more.
    let sha = as_valkey_user(
        port,
        "tasklane-api",
        &["SCRIPT", "LOAD", "return redis.call('FLUSHALL')"],
    );
    let sha = sha.text().expect("script loads").to_string();
    match as_valkey_user(port, "tasklane-api", &["EVALSHA", &sha, "0"]) {
        Reply::Error(e) => assert!(e.contains("NOPERM") || e.contains("permission"), "{e}"),
        other => panic!("a script flushed the database: {other:?}"),
    }
    // The worker has no business with idempotency keys or deleting anything.
    assert_refused(
        port,
        "tasklane-worker",
        &["GET", "tasklane:idem:default:order-7"],
    );
    assert_refused(
        port,
        "tasklane-worker",
        &["DEL", &format!("tasklane:task:{dead}")],
    );
    assert_eq!(
        client.task(&dead).await["status"],
        "dead",
        "the records are all still there"
    );
    // A flood takes an admission lease (its script sweeps, reserves and sets the
    // lease hash's expiry), and stopping gives it back (deletes the reservation).
    let echo = json!({"type": "echo", "payload": {}});
    futures::future::join_all((0..300).map(|_| client.submit(&echo))).await;
    let metrics = api.client().metrics().await;
    let lease = |result| {
        metric_value(
            &metrics,
            "api_admission_leases_total",
            &[("result", result)],
        )
    };
    assert!(lease("granted") >= 1.0, "no lease was granted: {metrics}");
    assert_eq!(lease("failed"), 0.0, "{metrics}");
    api.stop().await;
    let leases = ["EXISTS", "tasklane:tenant:default:leases"];
    assert_eq!(
        as_valkey_user(port, "tasklane-api", &leases),
        Reply::Integer(0)
    );
    worker.stop().await;
}
