//! Tenant quotas: a rate shared by every gateway replica through Valkey, batches that
//! fit whole or not at all, and the cap on outstanding tasks, whose count the record
//! scripts keep exact.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_core::store::{FinalOutcome, RecordIdentity, Store};
use tasklane_core::task::now_millis;
use tasklane_testkit::{Stack, eventually};

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
        .record_queued_many(&[who(&ids[0]), who(&ids[1])])
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
