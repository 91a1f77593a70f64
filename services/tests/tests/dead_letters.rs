//! Dead letters: listed oldest first a page at a time, each once; re-driven as a new
//! task linked both ways, once, without rewriting statuses or counters; in bulk by
//! ids or type; only with scope `admin`; bad input is a problem, never a 5xx.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_testkit::client::metric_value;
use tasklane_testkit::fault_proxy::{Direction, Latency};
use tasklane_testkit::{ApiClient, AppHandle, FaultProxy, Stack, eventually};

use crate::credentials::{ApiKey, SecretVolume, keyed_gateway, keys_file_text};

const DEADLINE: Duration = Duration::from_secs(30);

/// A task that fails its first attempt, and may make one only: it dies.
fn doomed() -> Value {
    json!({"type": "fail", "payload": {"fail_times": 1}, "max_attempts": 1})
}

/// A task that fails its first attempt; with the worker's default of one attempt it
/// dies, and a re-drive run by a worker that allows two succeeds.
fn fails_once() -> Value {
    json!({"type": "fail", "payload": {"fail_times": 1}})
}

async fn dead_tasks(client: &ApiClient, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(client.submit(&doomed()).await);
    }
    for id in &ids {
        client.wait_for_status(id, "dead", DEADLINE).await;
    }
    ids
}

async fn page(client: &ApiClient, query: &str) -> Value {
    let response = client.get(&format!("/dead-letters{query}")).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "GET /dead-letters{query}"
    );
    response.json().await.unwrap()
}

/// `POST /dead-letters/{id}/retry`.
pub async fn redrive(client: &ApiClient, id: &str) -> reqwest::Response {
    client
        .http()
        .post(client.url(&format!("/dead-letters/{id}/retry")))
        .send()
        .await
        .unwrap()
}

async fn problem(response: reqwest::Response, status: StatusCode, slug: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#{slug}")),
        "{body}"
    );
    body
}

/// The ids in the dead-letter stream, in stream order.
async fn stream_order(stack: &Stack) -> Vec<String> {
    stack
        .dead_letters()
        .await
        .iter()
        .map(|m| {
            m.headers
                .get("Tasklane-Task-Id")
                .unwrap()
                .as_str()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_walk_every_dead_task_once_oldest_first_also_those_that_die_mid_walk() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let client = api.client();
    let first = dead_tasks(&client, 10).await;

    let mut walked: Vec<Value> = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    let mut late = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=3&cursor={c}"),
            None => "?limit=3".to_string(),
        };
        let body = page(&client, &query).await;
        let items = body["items"].as_array().unwrap().clone();
        sizes.push(items.len());
        walked.extend(items);
        if late.is_none() {
            // One more task dies while the walk is under way.
            late = Some(dead_tasks(&client, 1).await.remove(0));
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(sizes.len() < 10, "the walk does not end: {sizes:?}");
    }
    assert_eq!(sizes, vec![3, 3, 3, 2]);
    let ids: Vec<String> = walked
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 11, "{ids:?}");
    let mut expected: HashSet<String> = first.into_iter().collect();
    expected.insert(late.unwrap());
    assert_eq!(ids.iter().cloned().collect::<HashSet<_>>(), expected);
    assert_eq!(ids, stream_order(&stack).await, "oldest first");
    let mut previous = String::new();
    for item in &walked {
        assert_eq!(item["type"], "fail", "{item}");
        assert_eq!(item["attempts"], 1, "{item}");
        assert!(
            item["error"]
                .as_str()
                .unwrap()
                .contains("failing attempt 1"),
            "{item}"
        );
        let dead_at = item["dead_at"].as_str().unwrap().to_string();
        assert!(dead_at.ends_with('Z') && dead_at >= previous, "{item}");
        previous = dead_at;
    }

    // The default page holds them all, and says it reached the end.
    let all = page(&client, "").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 11);
    assert!(all["next_cursor"].is_null(), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_is_one_new_linked_task_and_rewrites_no_status_or_counter() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let strict = stack
        .worker(&[("TASKLANE_WORKER__MAX_ATTEMPTS", "1")])
        .await;
    let dead = client.submit(&fails_once()).await;
    let other = client.submit(&fails_once()).await;
    let dead_before = client.wait_for_status(&dead, "dead", DEADLINE).await;
    client.wait_for_status(&other, "dead", DEADLINE).await;
    strict.stop().await;
    let before = client.stats().await;
    assert_eq!(before["dead_letter_count"], 2, "{before}");

    // The cause is fixed (a worker that allows two attempts), and the task re-driven.
    let _lenient = stack
        .worker(&[("TASKLANE_WORKER__MAX_ATTEMPTS", "2")])
        .await;
    let response = redrive(&client, &dead).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let accepted: Value = response.json().await.unwrap();
    let new = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(accepted["status"], "queued");
    assert_eq!(location, format!("/task/{new}"));
    assert_ne!(new, dead);

    let finished = client.wait_for_status(&new, "succeeded", DEADLINE).await;
    assert_eq!(finished["redriven_from"], dead.as_str(), "{finished}");
    assert_eq!(finished["type"], "fail");
    assert_eq!(finished["attempts"], 2, "{finished}");
    let old = client.task(&dead).await;
    assert_eq!(old["status"], "dead", "{old}");
    assert_eq!(old["redriven_to"], new.as_str(), "{old}");
    assert_eq!(old["attempts"], dead_before["attempts"]);
    assert_eq!(old["error"], dead_before["error"]);

    let after = client
        .wait_for_stats("the new task counted", DEADLINE, |s| {
            s["worker_processed_count"] == before["worker_processed_count"].as_u64().unwrap() + 1
        })
        .await;
    assert_eq!(after["dead_letter_count"], 2, "{after}");
    assert_eq!(
        after["worker_succeeded_count"],
        before["worker_succeeded_count"].as_u64().unwrap() + 1
    );

    // Once only: again, and concurrently for the other dead task.
    let again = problem(
        redrive(&client, &dead).await,
        StatusCode::CONFLICT,
        "already-redriven",
    )
    .await;
    assert!(again["detail"].as_str().unwrap().contains(&new), "{again}");
    let (a, b) = tokio::join!(redrive(&client, &other), redrive(&client, &other));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::CONFLICT]);
    let metrics = api.client().metrics().await;
    assert_eq!(
        metric_value(&metrics, "api_dead_letters_redriven_total", &[]),
        2.0
    );

    // Not dead, or never there.
    let alive = client.submit(&json!({"type": "echo", "payload": {}})).await;
    client.wait_for_status(&alive, "succeeded", DEADLINE).await;
    problem(
        redrive(&client, &alive).await,
        StatusCode::CONFLICT,
        "not-dead",
    )
    .await;
    let unknown = uuid::Uuid::now_v7().to_string();
    problem(
        redrive(&client, &unknown).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    problem(
        redrive(&client, "not-a-uuid").await,
        StatusCode::BAD_REQUEST,
        "bad-request",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_redrives_by_ids_and_by_type_answer_per_dead_task() {
    let stack = Stack::start();
    let api = stack.api(&[("TASKLANE_API__MAX_BATCH", "5")]).await;
    let worker = stack.worker(&[]).await;
    let client = api.client();
    let dead = dead_tasks(&client, 4).await;
    // Their re-drives die too, and must not be re-driven by type in the same call.
    let unknown = uuid::Uuid::now_v7().to_string();
    let response = client
        .post_json(
            "/dead-letters/retry",
            &json!({"ids": [dead[0], unknown, dead[0]]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{body}");
    assert_eq!(items[0]["redriven_from"], dead[0].as_str());
    assert_eq!(items[0]["status"], "queued", "{body}");
    let by_id = items[0]["id"].as_str().unwrap().to_string();
    assert!(
        items[1]["error"]["type"]
            .as_str()
            .unwrap()
            .ends_with("#not-found"),
        "{body}"
    );
    assert!(
        items[2]["error"]["type"]
            .as_str()
            .unwrap()
            .ends_with("#already-redriven"),
        "{body}"
    );
    client.wait_for_status(&by_id, "dead", DEADLINE).await;

    // By type: the three not re-driven yet, and the one re-driven above died again.
    let response = client
        .post_json("/dead-letters/retry", &json!({"type": "fail"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let from: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            assert_eq!(item["status"], "queued", "{body}");
            item["redriven_from"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        from,
        vec![
            dead[1].as_str(),
            dead[2].as_str(),
            dead[3].as_str(),
            by_id.as_str()
        ]
    );
    let response = client
        .post_json("/dead-letters/retry", &json!({"type": "sleep"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["items"], json!([]));
    worker.stop().await;

    // Bad input is a problem naming what to change.
    for (body, slug) in [
        (json!({}), "validation"),
        (json!({"type": "fail", "ids": []}), "validation"),
        (json!({"ids": []}), "validation"),
        (json!({"ids": ["x"]}), "validation"),
        (
            json!({"ids": [dead[0], dead[1], dead[2], dead[3], dead[0], dead[1]]}),
            "validation",
        ),
        (json!({"type": "Not A Type"}), "validation"),
        (json!({"types": "fail"}), "validation"),
    ] {
        let response = client.post_json("/dead-letters/retry", &body).await;
        problem(response, StatusCode::UNPROCESSABLE_ENTITY, slug).await;
    }
    let response = client
        .post_raw("/dead-letters/retry", Some("application/json"), "{")
        .await;
    problem(response, StatusCode::BAD_REQUEST, "malformed-json").await;
    for query in [
        "?limit=0",
        "?limit=1001",
        "?limit=x",
        "?cursor=x",
        "?cursor=0",
        "?page=2",
    ] {
        let response = client.get(&format!("/dead-letters{query}")).await;
        problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    }
}

const OPERATOR: ApiKey<'static> = ApiKey {
    id: "operator",
    secret: "tl_operator_secret_1",
    tenant: "ops",
    scopes: &["admin"],
};

const WRITER: ApiKey<'static> = ApiKey {
    id: "writer",
    secret: "tl_writer_secret_2",
    tenant: "billing",
    scopes: &["tasks:write", "tasks:read"],
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admin_may_list_and_redrive_and_the_new_task_keeps_its_tenant() {
    let stack = Stack::start();
    let volume = SecretVolume::new(&[("keys.toml", &keys_file_text(&[OPERATOR, WRITER]))]);
    let api: AppHandle = keyed_gateway(&stack, &volume).await;
    let _worker = stack.worker(&[]).await;
    let client = api.client();
    let call = |method: reqwest::Method, path: String, token: &'static str| {
        let client = client.clone();
        async move {
            client
                .http()
                .request(method, client.url(&path))
                .bearer_auth(token)
                .json(&json!({"type": "fail"}))
                .send()
                .await
                .unwrap()
        }
    };
    let dead = client.submit_as(WRITER.secret, &doomed()).await;
    eventually(DEADLINE, "the task to die", || async {
        let record: Value = call(reqwest::Method::GET, format!("/task/{dead}"), WRITER.secret)
            .await
            .json()
            .await
            .ok()?;
        (record["status"] == "dead").then_some(())
    })
    .await;

    for (method, path) in [
        (reqwest::Method::GET, "/dead-letters".to_string()),
        (reqwest::Method::POST, format!("/dead-letters/{dead}/retry")),
        (reqwest::Method::POST, "/dead-letters/retry".to_string()),
    ] {
        let refused = call(method, path, WRITER.secret).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(
            refused.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("scope=\"admin\"")
        );
    }
    let listed = call(
        reqwest::Method::GET,
        "/dead-letters".into(),
        OPERATOR.secret,
    )
    .await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["items"][0]["id"], dead.as_str(), "{listed}");

    let redriven = call(
        reqwest::Method::POST,
        format!("/dead-letters/{dead}/retry"),
        OPERATOR.secret,
    )
    .await;
    assert_eq!(redriven.status(), StatusCode::ACCEPTED);
    let new: Value = redriven.json().await.unwrap();
    // The new task is the submitting tenant's: its key reads it, the operator's does not.
    let new_id = new["id"].as_str().unwrap();
    let own = call(
        reqwest::Method::GET,
        format!("/task/{new_id}"),
        WRITER.secret,
    )
    .await;
    assert_eq!(own.status(), StatusCode::OK);
    let record: Value = own.json().await.unwrap();
    assert_eq!(record["redriven_from"], dead.as_str());
}

/// The gateway dies between reserving a re-drive and its PubAck (kill -9 while the
/// PubAck is on its way back): until the dead gateway's hold lapses a
/// re-drive is refused as in progress; then it resumes the reservation under the same
/// new id, JetStream drops the second copy, and exactly one new task exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_cut_off_by_a_crash_before_its_puback_ends_with_exactly_one_new_task() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let client = api.client();
    let worker = stack.worker(&[]).await;
    let dead = dead_tasks(&client, 1).await.remove(0);
    worker.stop().await;
    let before = client.processed_count().await;

    let nats_addr = format!("127.0.0.1:{}", stack.nats.port).parse().unwrap();
    let proxy = FaultProxy::start(nats_addr);
    let proxied = format!("nats://{}", proxy.addr());
    let mut doomed = stack.api_process(&[("TASKLANE_NATS__URL", proxied.as_str())]);
    doomed.wait_ready().await;
    // Answers come back 1.5s late: the dead letter is still read within the request
    // timeout of 2s, and the re-drive's PubAck is still on its way when the gateway
    // is killed.
    proxy.add_latency(
        Direction::ServerToClient,
        Latency::new(Duration::from_millis(1500), Duration::ZERO),
    );
    let doomed_client = doomed.client();
    let dead_id = dead.clone();
    let cut_off = tokio::spawn(async move { redrive(&doomed_client, &dead_id).await.status() });
    eventually(
        Duration::from_secs(10),
        "the re-drive's message to reach the work stream",
        || async { (stack.work_stream_messages().await == 1).then_some(()) },
    )
    .await;
    doomed.kill9();
    cut_off.abort();

    let in_progress = problem(
        redrive(&client, &dead).await,
        StatusCode::CONFLICT,
        "already-redriven",
    )
    .await;
    assert!(
        in_progress["detail"]
            .as_str()
            .unwrap()
            .contains("in progress"),
        "{in_progress}"
    );
    // The hold is twice the request timeout (5s in tests).
    let resumed = eventually(
        Duration::from_secs(30),
        "the re-drive to resume",
        || async {
            let response = redrive(&client, &dead).await;
            match response.status() {
                StatusCode::ACCEPTED => Some(response),
                StatusCode::CONFLICT => None,
                other => panic!("re-drive answered {other}"),
            }
        },
    )
    .await;
    let new = resumed.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        stack.work_stream_messages().await,
        1,
        "the resumed publish was the same message; JetStream dropped the copy"
    );
    assert_eq!(client.task(&dead).await["redriven_to"], new.as_str());
    problem(
        redrive(&client, &dead).await,
        StatusCode::CONFLICT,
        "already-redriven",
    )
    .await;

    let _worker = stack.worker(&[]).await;
    let record = client.wait_for_status(&new, "dead", DEADLINE).await;
    assert_eq!(record["redriven_from"], dead.as_str());
    // Give a second copy time to run before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        client.processed_count().await,
        before + 1,
        "exactly one new task ran"
    );
}

/// Each re-drive is one audit event naming the operator, accepted or refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_redrive_is_an_audit_event_naming_the_operator() {
    let stack = Stack::start();
    let direct = stack.api(&[]).await;
    let worker = stack.worker(&[]).await;
    let dead = dead_tasks(&direct.client(), 1).await.remove(0);
    worker.stop().await;
    let volume = SecretVolume::new(&[("keys.toml", &keys_file_text(&[OPERATOR]))]);
    let keys = volume.path("keys.toml");
    let api = stack.api_process(&[
        ("TASKLANE_AUTH__MODE", "required"),
        ("TASKLANE_AUTH__KEYS_FILE", keys.to_str().unwrap()),
    ]);
    api.wait_ready().await;
    let client = api.client();
    let post = |path: String, request_id: &'static str| {
        let client = client.clone();
        async move {
            client
                .http()
                .post(client.url(&path))
                .bearer_auth(OPERATOR.secret)
                .header("x-request-id", request_id)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let path = format!("/dead-letters/{dead}/retry");
    assert_eq!(
        post(path.clone(), "req-redrive").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(post(path, "req-again").await, StatusCode::CONFLICT);

    let events = crate::audit::audit_events(&api, Some("redrive"), 2).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    for (event, outcome, request_id) in [
        (&events[0], "accepted", "req-redrive"),
        (&events[1], "refused", "req-again"),
    ] {
        assert_eq!(event["outcome"], outcome, "{event}");
        assert_eq!(event["request_id"], request_id, "{event}");
        assert_eq!(event["actor"], OPERATOR.id, "{event}");
        assert_eq!(event["tenant"], OPERATOR.tenant, "{event}");
    }
    assert!(!api.log().contains(OPERATOR.secret));
}
