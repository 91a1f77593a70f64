//! Tenants: a task belongs to the tenant that submitted it, another tenant cannot
//! tell it exists, and idempotency keys are per tenant.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_testkit::Stack;

use crate::authentication::{get, post_task};
use crate::credentials::{BILLING, SEARCH, keyed_gateway, two_tenants};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_task_is_a_404_indistinguishable_from_a_missing_one() {
    let stack = Stack::start();
    let volume = two_tenants();
    let api = keyed_gateway(&stack, &volume).await;
    let client = api.client();
    let accepted = post_task(&client, Some(BILLING.secret)).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let id = accepted.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        stack
            .valkey
            .command(&["HGET", &format!("tasklane:task:{id}"), "tenant"]),
        "$7\r\nbilling\r\n",
        "the record carries its tenant"
    );

    let own = get(&client, &format!("/task/{id}"), Some(BILLING.secret)).await;
    assert_eq!(own.status(), StatusCode::OK);
    let foreign = get(&client, &format!("/task/{id}"), Some(SEARCH.secret)).await;
    let missing_id = uuid::Uuid::now_v7().to_string();
    let missing = get(&client, &format!("/task/{missing_id}"), Some(SEARCH.secret)).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let header_names = |r: &reqwest::Response| {
        let mut names: Vec<String> = r
            .headers()
            .keys()
            .map(|k| k.to_string())
            .filter(|k| k != "date" && k != "x-request-id")
            .collect();
        names.sort();
        names
    };
    assert_eq!(header_names(&foreign), header_names(&missing));
    // Same body once the id itself is taken out.
    let foreign = foreign.text().await.unwrap().replace(&id, "ID");
    let missing = missing.text().await.unwrap().replace(&missing_id, "ID");
    assert_eq!(foreign, missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_from_two_tenants_makes_two_tasks() {
    let stack = Stack::start();
    let volume = two_tenants();
    let api = keyed_gateway(&stack, &volume).await;
    let client = api.client();
    let submit = |secret: &'static str| {
        let client = client.clone();
        async move {
            let response = client
                .http()
                .post(client.url("/task"))
                .bearer_auth(secret)
                .header("idempotency-key", "order-42")
                .json(&json!({"type": "echo", "payload": {"order": 42}}))
                .send()
                .await
                .unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let body: Value = response.json().await.unwrap();
            (body["id"].as_str().unwrap().to_string(), replayed)
        }
    };
    let (billing, _) = submit(BILLING.secret).await;
    let (search, search_replayed) = submit(SEARCH.secret).await;
    assert_ne!(billing, search, "each tenant got its own task");
    assert!(!search_replayed);
    let (again, replayed) = submit(BILLING.secret).await;
    assert_eq!(again, billing, "within a tenant the key still replays");
    assert!(replayed);
    assert_eq!(stack.work_stream_messages().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_worker_creates_belongs_to_the_tenant_in_the_message() {
    let stack = Stack::start();
    let volume = two_tenants();
    let api = keyed_gateway(&stack, &volume).await;
    let client = api.client();
    // A task whose gateway record was never written: only the message exists.
    let id = uuid::Uuid::now_v7().to_string();
    let envelope = json!({
        "id": id, "type": "echo", "payload": {"lost": true},
        "created_at": "2026-01-01T00:00:00.000Z"
    });
    let js = async_nats::jetstream::new(stack.nats_client().await);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.as_str());
    headers.insert("Tasklane-Tenant", "search");
    js.publish_with_headers("tasks.echo", headers, envelope.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let worker = stack.worker(&[]).await;
    let search_client = client.clone();
    tasklane_testkit::eventually(Duration::from_secs(20), "the task finished", || async {
        let response = get(&search_client, &format!("/task/{id}"), Some(SEARCH.secret)).await;
        (response.status() == StatusCode::OK
            && response.json::<Value>().await.unwrap()["status"] == "succeeded")
            .then_some(())
    })
    .await;
    let foreign = get(&client, &format!("/task/{id}"), Some(BILLING.secret)).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    worker.stop().await;
}
