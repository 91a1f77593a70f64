//! Tenant quotas: a rate shared by every gateway replica through Valkey, batches that
//! fit whole or not at all, and the cap on outstanding tasks, whose count the record
//! scripts keep exact.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_core::store::{FinalOutcome, RecordIdentity, Store};
use tasklane_core::task::now_millis;
use tasklane_testkit::{ApiClient, Stack, eventually};

use crate::credentials::{ApiKey, BILLING, SEARCH, two_tenants};

const RATE: &[(&str, &str)] = &[
    ("TASKLANE_LIMITS__TENANT_RATE", "1"),
    ("TASKLANE_LIMITS__TENANT_BURST", "5"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_rate_is_shared_by_two_gateway_replicas() {
    let stack = Stack::start();
    let (one, two) = (stack.api(RATE).await, stack.api(RATE).await);
    let clients = [one.client(), two.client()];
    let started = Instant::now();
    let mut accepted = [0u32; 2];
    let mut refused = None;
    for n in 0..20 {
        let response = clients[n % 2]
            .post_json("/task", &json!({"type": "echo", "payload": {}}))
            .await;
        if response.status() == StatusCode::ACCEPTED {
            accepted[n % 2] += 1;
        } else {
            refused = Some(response);
            break;
        }
    }
    let elapsed = started.elapsed().as_secs() as u32;
    let refused = refused.expect("the burst ran out");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let header = |name: &str| refused.headers()[name].to_str().unwrap().to_string();
    let retry_after: u64 = header("retry-after").parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(header("ratelimit-policy"), r#""tenant";q=5;w=5"#);
    assert!(
        header("ratelimit").starts_with(r#""tenant";r=0;t="#),
        "{}",
        header("ratelimit")
    );
    let body: Value = refused.json().await.unwrap();
    assert!(body["type"].as_str().unwrap().ends_with("#rate-limited"));
    // One bucket of 5 (plus what refilled meanwhile, 1 a second) across both
    // replicas; two separate buckets would have let 10 through.
    let total = accepted[0] + accepted[1];
    assert!(
        total >= 5 && total <= 5 + elapsed + 1,
        "{accepted:?} in {elapsed}s"
    );
    assert!(accepted[0] > 0 && accepted[1] > 0);
    assert_eq!(
        stack.work_stream_messages().await,
        u64::from(total),
        "nothing refused was enqueued"
    );
}

/// Concurrent admissions share script calls; each must still be judged against what
/// the ones before it took, per tenant. Each tenant sends 40 single tasks and 10
/// batches of 4 at once into a bucket of 30: whatever the order, the singles fill it
/// exactly (a single fits while anything is left, and there are more singles than
/// room), so each tenant gets exactly 30 tasks, plus what refilled meanwhile (1 a
/// second). A batch that read the bucket before earlier requests of its call took
/// from it would let more through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_of_two_tenants_get_exactly_their_own_burst() {
    const BURST: u32 = 30;
    let stack = Stack::start();
    let volume = two_tenants();
    let keys = volume.path("keys.toml");
    let api = stack
        .api(&[
            ("TASKLANE_AUTH__MODE", "required"),
            ("TASKLANE_AUTH__KEYS_FILE", keys.to_str().unwrap()),
            ("TASKLANE_LIMITS__TENANT_RATE", "1"),
            ("TASKLANE_LIMITS__TENANT_BURST", "30"),
        ])
        .await;
    let client = api.client();
    let task = json!({"type": "echo", "payload": {}});
    let single = task.clone();
    let batch = json!({"tasks": vec![task; 4]});
    let mut requests = Vec::new();
    for round in 0..50 {
        for key in [BILLING, SEARCH] {
            let (path, body, tasks) = if round % 5 == 4 {
                ("/tasks", &batch, 4)
            } else {
                ("/task", &single, 1)
            };
            requests.push(send(&client, key, path, body, tasks));
        }
    }
    let started = Instant::now();
    let answers = join_all(requests).await;
    let refill = started.elapsed().as_secs() as u32 + 1;

    let mut accepted = [0u32; 2];
    for (tenant, status, tasks) in answers {
        match status {
            StatusCode::ACCEPTED => accepted[usize::from(tenant == SEARCH.tenant)] += tasks,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{tenant}: unexpected {other}"),
        }
    }
    for (tenant, accepted) in [BILLING.tenant, SEARCH.tenant].iter().zip(accepted) {
        assert!(
            accepted >= BURST && accepted <= BURST + refill,
            "{tenant} got {accepted} tasks in, its burst is {BURST} (+{refill} refilled at most)"
        );
    }
    assert_eq!(
        stack.work_stream_messages().await,
        u64::from(accepted[0] + accepted[1]),
        "exactly the admitted tasks were enqueued"
    );
}

/// Sends one submission as `key`; answers its tenant, status and task count.
async fn send(
    client: &ApiClient,
    key: ApiKey<'static>,
    path: &str,
    body: &Value,
    tasks: u32,
) -> (&'static str, StatusCode, u32) {
    let response = client
        .http()
        .post(client.url(path))
        .bearer_auth(key.secret)
        .json(body)
        .send()
        .await
        .expect("request is sent");
    (key.tenant, response.status(), tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_does_not_fit_is_refused_whole() {
    let stack = Stack::start();
    let api = stack.api(RATE).await;
    let client = api.client();
    let batch = |n: usize| json!({"tasks": vec![json!({"type": "echo", "payload": {}}); n]});
    let too_big = client.post_json("/tasks", &batch(6)).await;
    assert_eq!(
        too_big.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "more than the burst"
    );
    let first = client.post_json("/tasks", &batch(4)).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let second = client.post_json("/tasks", &batch(4)).await;
    assert_eq!(
        second.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "4 more do not fit in what is left"
    );
    assert_eq!(
        stack.work_stream_messages().await,
        4,
        "none of the refused batch was enqueued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outstanding_cap_refuses_then_admits_again_once_the_worker_drains() {
    let stack = Stack::start();
    let api = stack
        .api(&[("TASKLANE_LIMITS__TENANT_MAX_OUTSTANDING", "3")])
        .await;
    let client = api.client();
    client
        .submit_batch(vec![json!({"type": "echo", "payload": {}}); 3])
        .await;
    let refused = client
        .post_json("/task", &json!({"type": "echo", "payload": {}}))
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("#too-many-outstanding"),
        "{body}"
    );
    assert_eq!(
        stack.work_stream_messages().await,
        3,
        "nothing refused was enqueued"
    );

    let worker = stack.worker(&[]).await;
    eventually(Duration::from_secs(20), "admitted again", || async {
        let response = client
            .post_json("/task", &json!({"type": "echo", "payload": {}}))
            .await;
        (response.status() == StatusCode::ACCEPTED).then_some(())
    })
    .await;
    worker.stop().await;
}

/// The count moves with the records, through every path that creates or finishes
/// one, and a duplicate finish moves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outstanding_count_is_exact_through_duplicates_and_worker_created_records() {
    let stack = Stack::start();
    let settings = stack.settings(&[]);
    let store = Store::connect(&settings.valkey, settings.results.ttl).unwrap();
    let ids: Vec<String> = (0..5).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let who = |id: &str| RecordIdentity {
        id: leak(id),
        task_type: "echo",
        created_at: "2026-01-01T00:00:00.000Z",
        tenant: "acme",
    };
    let count = || async { store.outstanding("acme").await.unwrap() };

    // The gateway records two tasks, one of them twice (a retried write).
    store
        .record_queued_many(&[who(&ids[0]).into(), who(&ids[1]).into()])
        .await
        .unwrap();
    store.record_queued(who(&ids[1])).await.unwrap();
    assert_eq!(count().await, 2);
    // A worker starts a task whose gateway record was lost: it opens the count.
    store
        .start_attempt(who(&ids[2]), 5, 1, now_millis())
        .await
        .unwrap();
    assert_eq!(count().await, 3);
    // Starting a recorded task again opens nothing.
    store
        .start_attempt(who(&ids[0]), 5, 1, now_millis())
        .await
        .unwrap();
    assert_eq!(count().await, 3);
    // Finishing closes once, however often it is delivered.
    let done = FinalOutcome::Succeeded { result: "{}" };
    assert!(store.finish(who(&ids[0]), &done, 1).await.unwrap());
    assert!(!store.finish(who(&ids[0]), &done, 1).await.unwrap());
    assert_eq!(count().await, 2);
    // Dead-lettering closes too.
    let dead = FinalOutcome::Dead { error: "boom" };
    assert!(store.finish(who(&ids[2]), &dead, 1).await.unwrap());
    assert_eq!(count().await, 1);
    // A record created already finished (a malformed message) was never open.
    assert!(store.finish(who(&ids[3]), &dead, 1).await.unwrap());
    assert_eq!(count().await, 1);
    // Another tenant's count is its own.
    assert_eq!(store.outstanding("other").await.unwrap(), 0);
    assert!(store.finish(who(&ids[1]), &done, 1).await.unwrap());
    assert_eq!(count().await, 0);
}

/// The test's ids live for the whole test; `RecordIdentity` borrows.
fn leak(id: &str) -> &'static str {
    Box::leak(id.to_string().into_boxed_str())
}
