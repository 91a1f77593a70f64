//! Delayed tasks (`delay_ms`, `run_at`): they wait in the work stream as JetStream
//! schedules, take no worker and no consumer slot while they wait, stay `queued`
//! with their `run_at` shown, start only once it has passed, and bad start times are
//! refused before anything is enqueued. The kill -9 and restart case is in `faults`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_nats::jetstream::{self, stream};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_core::names::{CONSUMER_NAME, headers};
use tasklane_core::queue::{Queue, TaskMessage, Topology};
use tasklane_core::task::{TaskEnvelope, TaskId, TaskType, now_rfc3339};
use tasklane_core::trace_context::TraceParent;
use tasklane_testkit::client::metric_value;
use tasklane_testkit::{ApiClient, AppHandle, Stack, eventually};

const DEADLINE: Duration = Duration::from_secs(30);

pub(crate) fn time(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
}

/// Every task in `ids` is still `queued`, never attempted, and shows its `run_at`,
/// which is still ahead; returns the earliest `run_at`.
pub(crate) async fn all_still_waiting(client: &ApiClient, ids: &[String]) -> SystemTime {
    let mut earliest = None::<SystemTime>;
    for id in ids {
        let record = client.task(id).await;
        assert_eq!(record["status"], "queued", "{record}");
        assert_eq!(record["attempts"], 0, "{record}");
        let run_at = time(record["run_at"].as_str().expect("run_at shown"));
        earliest = Some(earliest.map_or(run_at, |e| e.min(run_at)));
    }
    let earliest = earliest.expect("some tasks");
    assert!(SystemTime::now() < earliest, "checked before run_at");
    earliest
}

/// Every task in `ids` succeeded once, and finished no earlier than its `run_at`.
pub(crate) async fn all_ran_once_after_run_at(client: &ApiClient, ids: &[String]) {
    for id in ids {
        let record = client
            .wait_for_status(id, "succeeded", Duration::from_secs(60))
            .await;
        assert_eq!(record["attempts"], 1, "{record}");
        let run_at = time(record["run_at"].as_str().unwrap());
        let finished = time(record["updated_at"].as_str().unwrap());
        assert!(finished >= run_at, "ran before run_at: {record}");
    }
}

/// Messages in stream `name` of `stack`.
pub(crate) async fn stream_messages(stack: &Stack, name: &str) -> u64 {
    let js = jetstream::new(stack.nats_client().await);
    let mut stream = js.get_stream(name).await.expect("stream exists");
    stream.info().await.expect("stream info").state.messages
}

async fn consumer_ack_pending(stack: &Stack) -> (usize, u64) {
    let js = jetstream::new(stack.nats_client().await);
    let work = js.get_stream("TASKS").await.unwrap();
    let info = work.consumer_info(CONSUMER_NAME).await.unwrap();
    (info.num_ack_pending, info.num_pending)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_delayed_60s_hold_no_worker_and_no_ack_pending_slot() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[("TASKLANE_WORKER__CONCURRENCY", "2")]).await;
    let client = api.client();

    let delayed = client
        .submit_batch(vec![
            json!({"type": "echo", "payload": {"later": true}, "delay_ms": 60_000});
            50
        ])
        .await;
    let immediate = client
        .submit_batch(vec![json!({"type": "sleep", "payload": {"ms": 50}}); 20])
        .await;

    // The 20 finish while the 50 wait; the consumer never held more than the
    // workers run, and it does not see the waiting ones at all.
    let most_ack_pending = AtomicUsize::new(0);
    eventually(DEADLINE, "the 20 immediate tasks succeeded", || async {
        let (ack_pending, _) = consumer_ack_pending(&stack).await;
        most_ack_pending.fetch_max(ack_pending, Ordering::Relaxed);
        let stats = client.stats().await;
        (stats["worker_succeeded_count"] == 20).then_some(())
    })
    .await;
    for id in &immediate {
        assert_eq!(client.task(id).await["status"], "succeeded");
    }
    let most_ack_pending = most_ack_pending.into_inner();
    assert!(
        most_ack_pending <= 2,
        "ack pending reached {most_ack_pending}"
    );
    let (ack_pending, pending) = consumer_ack_pending(&stack).await;
    assert_eq!(
        (ack_pending, pending),
        (0, 0),
        "the consumer sees none of the 50"
    );
    assert_eq!(
        stack.work_stream_messages().await,
        0,
        "none in the work stream"
    );
    assert_eq!(
        stream_messages(&stack, "TASKS_SCHEDULED").await,
        50,
        "the 50 wait in the schedule stream"
    );
    let earliest = all_still_waiting(&client, &delayed).await;
    let first = client.task(&delayed[0]).await;
    let created = time(first["created_at"].as_str().unwrap());
    assert_eq!(
        time(first["run_at"].as_str().unwrap()),
        created + Duration::from_secs(60),
        "{first}"
    );
    let metrics = client.metrics().await;
    assert_eq!(
        metric_value(&metrics, "api_tasks_scheduled_total", &[("type", "echo")]),
        50.0
    );
    assert_eq!(
        metric_value(&metrics, "api_tasks_scheduled_total", &[("type", "sleep")]),
        0.0
    );

    // Up to shortly before their time they are still waiting; then all run once.
    let check_at = earliest - Duration::from_secs(2);
    if let Ok(wait) = check_at.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
        all_still_waiting(&client, &delayed).await;
    }
    all_ran_once_after_run_at(&client, &delayed).await;
    let stats = client.stats().await;
    assert_eq!(stats["worker_processed_count"], 70, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_task_is_queued_with_its_run_at_and_runs_after_it() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let client = api.client();

    let in_3s = humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(3));
    let at = client
        .submit(&json!({"payload": {"at": true}, "run_at": in_3s.to_string()}))
        .await;
    let after = client
        .submit(&json!({"payload": {"after": true}, "delay_ms": 2500}))
        .await;
    // A time already past runs now, and the record still says what was asked.
    let past = client
        .submit(&json!({"payload": 1, "run_at": "2020-01-01T00:00:00+02:00"}))
        .await;
    let now = client.submit(&json!({"payload": 2, "delay_ms": 0})).await;

    let record = client.task(&at).await;
    assert_eq!(record["status"], "queued", "{record}");
    assert_eq!(record["run_at"], in_3s.to_string(), "{record}");
    all_still_waiting(&client, &[at.clone(), after.clone()]).await;
    let done = client.wait_for_status(&past, "succeeded", DEADLINE).await;
    assert_eq!(done["run_at"], "2019-12-31T22:00:00.000Z", "{done}");
    let done = client.wait_for_status(&now, "succeeded", DEADLINE).await;
    assert_eq!(done["run_at"], done["created_at"], "{done}");
    all_still_waiting(&client, &[at.clone(), after.clone()]).await;

    all_ran_once_after_run_at(&client, &[at, after]).await;
    let metrics = client.metrics().await;
    assert_eq!(
        metric_value(&metrics, "api_tasks_scheduled_total", &[("type", "echo")]),
        4.0,
        "every task given a time went through a schedule"
    );
    // An immediate task's record has no run_at.
    let plain = client.submit(&json!({"payload": 3})).await;
    let record = client.wait_for_status(&plain, "succeeded", DEADLINE).await;
    assert!(record.get("run_at").is_none(), "{record}");
}

#[tokio::test]
async fn bad_start_times_are_422_naming_the_field_and_enqueue_nothing() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let in_31_days =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(31 * 86_400));
    let cases = [
        (
            json!({"payload": 1, "delay_ms": 10, "run_at": "2030-01-01T00:00:00Z"}),
            "run_at",
        ),
        (json!({"payload": 1, "delay_ms": -1}), "delay_ms"),
        (
            json!({"payload": 1, "delay_ms": 2_592_000_001u64}),
            "delay_ms",
        ),
        (json!({"payload": 1, "delay_ms": "60000"}), "delay_ms"),
        (
            json!({"payload": 1, "run_at": in_31_days.to_string()}),
            "run_at",
        ),
        (
            json!({"payload": 1, "run_at": "2026-12-01 08:00"}),
            "run_at",
        ),
        (
            json!({"payload": 1, "run_at": "2026-02-30T00:00:00Z"}),
            "run_at",
        ),
        (json!({"payload": 1, "run_at": 1767225600}), "run_at"),
    ];
    for (body, field) in &cases {
        let response = client.post_json("/task", body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.starts_with(field), "{body}: {problem}");
    }
    let batch = json!({"tasks": [
        {"payload": 1, "delay_ms": 1000},
        {"payload": 2, "run_at": in_31_days.to_string()},
    ]});
    let response = client.post_json("/tasks", &batch).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("tasks[1].run_at:"),
        "{problem}"
    );
    assert_eq!(
        stack.work_stream_messages().await,
        0,
        "nothing was enqueued"
    );
    assert_eq!(stream_messages(&stack, "TASKS_SCHEDULED").await, 0);
}

/// A queue of `settings` that has connected.
async fn connected_queue(settings: &tasklane_core::Settings) -> Queue {
    let queue = Queue::connect(settings, "test", Duration::from_secs(5))
        .await
        .unwrap();
    eventually(DEADLINE, "connected to NATS", || async {
        queue.is_connected().then_some(())
    })
    .await;
    queue
}

/// The message of a new echo task.
fn echo_message(tenant: &str) -> TaskMessage {
    let envelope = TaskEnvelope {
        id: TaskId::new(),
        task_type: TaskType::parse("echo").unwrap(),
        payload: serde_json::value::RawValue::from_string("1".into()).unwrap(),
        max_attempts: None,
        timeout_ms: None,
        created_at: now_rfc3339(),
    };
    TaskMessage::new(&envelope, tenant, &TraceParent::new_root(), Some("req-7"))
}

#[tokio::test]
async fn a_schedule_published_twice_is_stored_once_and_fires_once_with_the_task_headers() {
    let stack = Stack::start();
    let settings = stack.settings(&[]);
    tasklane_testkit::apps::declare_topology(&settings).await;
    let queue = connected_queue(&settings).await;
    let message = echo_message("billing").scheduled(
        SystemTime::now() + Duration::from_secs(1),
        &TaskType::parse("echo").unwrap(),
    );
    // As a retried request whose first publish had an unknown outcome does.
    queue.publish_task(&message).await.unwrap();
    queue.publish_task(&message).await.unwrap();
    assert_eq!(stream_messages(&stack, "TASKS_SCHEDULED").await, 1);
    assert_eq!(stack.work_stream_messages().await, 0);

    let js = jetstream::new(stack.nats_client().await);
    let work = js.get_stream("TASKS").await.unwrap();
    let consumer = work
        .get_consumer::<jetstream::consumer::pull::Config>(CONSUMER_NAME)
        .await
        .unwrap();
    let fetch = || async {
        use futures::StreamExt;
        let mut batch = consumer
            .fetch()
            .max_messages(10)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(message) = batch.next().await {
            got.push(message.unwrap());
        }
        got
    };
    let fired = eventually(DEADLINE, "the schedule fired", || async {
        let got = fetch().await;
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(fired.len(), 1, "one task from two publishes");
    let task = &fired[0];
    assert_eq!(task.subject.as_str(), "tasks.echo");
    let map = task.headers.as_ref().unwrap();
    // What the worker reads survives: the body, the tenant, the request id, the hop.
    assert_eq!(map.get(headers::TASK_ID).unwrap().as_str(), message.id());
    assert_eq!(map.get(headers::TENANT).unwrap().as_str(), "billing");
    assert_eq!(map.get(headers::REQUEST_ID).unwrap().as_str(), "req-7");
    assert!(map.get(headers::TRACEPARENT).is_some());
    let envelope: TaskEnvelope = serde_json::from_slice(&task.payload).unwrap();
    assert_eq!(envelope.id.to_string(), message.id());
    task.ack().await.unwrap();
    assert!(fetch().await.is_empty(), "fired once");
    eventually(DEADLINE, "the stream is empty", || async {
        (stack.work_stream_messages().await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_work_stream_of_an_older_release_is_upgraded_in_place_losing_nothing() {
    let stack = Stack::start();
    let settings = stack.settings(&[]);
    // The work stream as releases before delayed tasks declared it.
    let js = jetstream::new(stack.nats_client().await);
    js.create_stream(stream::Config {
        name: "TASKS".into(),
        subjects: vec!["tasks.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .unwrap();
    let queue = connected_queue(&settings).await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let message = echo_message("default");
        queue.publish_task(&message).await.unwrap();
        waiting.push(message.id().to_string());
    }

    // A verifying worker names what is missing; a declaring one upgrades in place.
    let verify = stack.settings(&[("TASKLANE_TOPOLOGY__MANAGE", "verify")]);
    let refused = queue.verify(&Topology::new(&verify)).await.unwrap_err();
    let refused = format!("{refused:#}");
    assert!(
        refused.contains("stream TASKS differs") && refused.contains("sources is []"),
        "{refused}"
    );
    // What a declaring worker runs on start, and `--declare-topology`.
    tasklane_worker::startup::declare_topology(&settings)
        .await
        .expect("the stream is upgraded");
    let info = js.get_stream("TASKS").await.unwrap().cached_info().clone();
    let sources = info.config.sources.unwrap_or_default();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].name, "TASKS_SCHEDULED");
    assert_eq!(info.config.discard, stream::DiscardPolicy::New);
    assert_eq!(info.state.messages, 3, "no message lost in the upgrade");
    queue
        .verify(&Topology::new(&verify))
        .await
        .expect("now as configured");

    let worker = AppHandle::worker(settings.clone()).await;
    let api = AppHandle::api_alone(settings).await;
    let client = api.client();
    for id in &waiting {
        client.wait_for_status(id, "succeeded", DEADLINE).await;
    }
    let delayed = client
        .submit(&json!({"payload": "new", "delay_ms": 500}))
        .await;
    client
        .wait_for_status(&delayed, "succeeded", DEADLINE)
        .await;
    api.stop().await;
    worker.stop().await;
}
