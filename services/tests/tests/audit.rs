//! Audit events: one per security decision, with the contract's fields, and never a
//! token or a secret in the log.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_testkit::apps::ProcessApp;
use tasklane_testkit::apps::declare_topology;
use tasklane_testkit::{Stack, eventually};

use crate::authentication::get;
use crate::credentials::{ApiKey, SecretVolume, keys_file_text};

const LIMITED: ApiKey<'static> = ApiKey {
    id: "limited-ci",
    secret: "tl_audit_secret_must_never_be_logged",
    tenant: "acme",
    scopes: &["tasks:write"],
};

/// The audit events in `api`'s log (of `action` only, when given), once there are
/// at least `at_least` of them: the log is written asynchronously.
pub(crate) async fn audit_events(
    api: &ProcessApp,
    action: Option<&str>,
    at_least: usize,
) -> Vec<Value> {
    eventually(Duration::from_secs(10), "the audit events", || async {
        let events: Vec<Value> = api
            .log()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["audit"] == true)
            .filter(|event| action.is_none_or(|action| event["action"] == action))
            .collect();
        (events.len() >= at_least).then_some(events)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_is_one_audit_event_with_its_fields_and_no_secret() {
    let stack = Stack::start();
    declare_topology(&stack.settings(&[])).await;
    let volume = SecretVolume::new(&[("keys.toml", &keys_file_text(&[LIMITED]))]);
    let keys = volume.path("keys.toml");
    let api = stack.api_process(&[
        ("TASKLANE_AUTH__MODE", "required"),
        ("TASKLANE_AUTH__KEYS_FILE", keys.to_str().unwrap()),
        ("TASKLANE_LIMITS__TENANT_RATE", "1"),
        ("TASKLANE_LIMITS__TENANT_BURST", "1"),
    ]);
    api.wait_ready().await;
    let client = api.client();
    let forged = "tl_forged_token_also_never_logged";

    let request = |id: &'static str, bearer: Option<&'static str>| {
        let client = client.clone();
        async move {
            let mut request = client
                .http()
                .post(client.url("/task"))
                .header("x-request-id", id)
                .json(&json!({"type": "echo", "payload": {}}));
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status()
        }
    };
    assert_eq!(request("req-missing", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        request("req-forged", Some(forged)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(
            &client,
            &format!("/task/{}", uuid::Uuid::now_v7()),
            Some(LIMITED.secret)
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        request("req-first", Some(LIMITED.secret)).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        request("req-limited", Some(LIMITED.secret)).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    let events = audit_events(&api, None, 4).await;
    assert_eq!(events.len(), 4, "one event per decision: {events:#?}");
    let find = |outcome: &str, request_id: Option<&str>| {
        events
            .iter()
            .find(|e| e["outcome"] == outcome && request_id.is_none_or(|id| e["request_id"] == id))
            .unwrap_or_else(|| panic!("no {outcome} event: {events:#?}"))
    };
    let missing = find("unauthenticated", Some("req-missing"));
    assert_eq!(missing["actor"], "-");
    assert_eq!(missing["action"], "tasks:write");
    find("unauthenticated", Some("req-forged"));
    let forbidden = find("forbidden", None);
    assert_eq!(forbidden["actor"], "limited-ci");
    assert_eq!(forbidden["tenant"], "acme");
    assert_eq!(forbidden["action"], "tasks:read");
    assert!(
        forbidden["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let limited = find("rate_limited", Some("req-limited"));
    assert_eq!(limited["actor"], "limited-ci");
    assert_eq!(limited["tenant"], "acme");
    for event in &events {
        for field in ["actor", "tenant", "action", "outcome", "request_id"] {
            assert!(event[field].is_string(), "{field} in {event}");
        }
    }
    let log = api.log();
    assert!(!log.contains(LIMITED.secret), "the API key is in the log");
    assert!(!log.contains(forged), "a presented token is in the log");
}
