//! `tasklane-ctl`, the real binary against a real gateway and worker: each command,
//! `--json` output that parses, and the exit codes scripts rely on.

use std::process::Output;

use serde_json::Value;
use tasklane_testkit::apps::binary_path;
use tasklane_testkit::{Stack, free_port};

use crate::credentials::{ApiKey, SecretVolume, keyed_gateway, keys_file_text};

/// Runs `tasklane-ctl args` against `url` with `token` (if any) in the environment.
async fn ctl(url: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(binary_path("tasklane-ctl"));
    command
        .args(args)
        .env("TASKLANE_URL", url)
        .env_remove("TASKLANE_TOKEN")
        .kill_on_drop(true);
    if let Some(token) = token {
        command.env("TASKLANE_TOKEN", token);
    }
    tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("tasklane-ctl ends within a minute")
        .expect("tasklane-ctl runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn json(output: &Output) -> Value {
    assert_eq!(
        code(output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_get_wait_stats_and_dead_letters_through_the_cli() {
    let stack = Stack::start();
    let api = stack.api(&[]).await;
    let _worker = stack.worker(&[]).await;
    let url = format!("http://{}", api.addr);
    let url = url.as_str();

    let accepted = json(&ctl(url, None, &["submit", "echo", r#"{"n":7}"#, "--json"]).await);
    let id = accepted["id"].as_str().unwrap().to_string();
    assert_eq!(accepted["status"], "queued");
    let done = json(&ctl(url, None, &["wait", &id, "--timeout", "30s", "--json"]).await);
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["result"], serde_json::json!({"n": 7}));
    let table = ctl(url, None, &["get", &id]).await;
    assert_eq!(code(&table), 0);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("succeeded") && text.contains(&id), "{text}");

    // A payload from a file, options passed through, an idempotent retry.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.json");
    std::fs::write(&file, r#"{"fail_times": 1}"#).unwrap();
    let at_file = format!("@{}", file.display());
    let submit_dead = [
        "submit",
        "fail",
        &at_file,
        "--max-attempts",
        "1",
        "--timeout-ms",
        "5000",
        "--idempotency-key",
        "ctl-dead-1",
        "--json",
    ];
    let dead = json(&ctl(url, None, &submit_dead).await)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let replay = json(&ctl(url, None, &submit_dead).await);
    assert_eq!(
        replay["id"],
        dead.as_str(),
        "the same key answers the same task"
    );
    let ended = ctl(url, None, &["wait", &dead, "--timeout", "30s"]).await;
    assert_eq!(code(&ended), 7, "a dead task: {}", stderr(&ended));
    assert!(stderr(&ended).contains("ended dead"), "{}", stderr(&ended));
    let slow = json(&ctl(url, None, &["submit", "sleep", r#"{"ms": 5000}"#, "--json"]).await);
    let waited = ctl(
        url,
        None,
        &["wait", slow["id"].as_str().unwrap(), "--timeout", "300ms"],
    )
    .await;
    assert_eq!(code(&waited), 8, "{}", stderr(&waited));

    let more: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let accepted = json(
                &ctl(
                    url,
                    None,
                    &[
                        "submit",
                        "fail",
                        r#"{"fail_times":1}"#,
                        "--max-attempts",
                        "1",
                        "--json",
                    ],
                )
                .await,
            );
            ids.push(accepted["id"].as_str().unwrap().to_string());
        }
        ids
    };
    for id in &more {
        assert_eq!(
            code(&ctl(url, None, &["wait", id, "--timeout", "30s"]).await),
            7
        );
    }

    // Listing follows the cursors: pages of one, three dead tasks.
    let listed = json(
        &ctl(
            url,
            None,
            &["dead-letters", "list", "--page-size", "1", "--json"],
        )
        .await,
    );
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![dead.as_str(), more[0].as_str(), more[1].as_str()]);
    let first = json(
        &ctl(
            url,
            None,
            &["dead-letters", "list", "--limit", "2", "--json"],
        )
        .await,
    );
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let table = ctl(url, None, &["dead-letters", "list"]).await;
    assert_eq!(code(&table), 0);
    assert!(String::from_utf8_lossy(&table.stdout).contains("failing attempt 1"));

    // Re-drive one, then again (conflict), then in bulk.
    let redriven = json(&ctl(url, None, &["dead-letters", "retry", &dead, "--json"]).await);
    assert_eq!(redriven["status"], "queued");
    let again = ctl(url, None, &["dead-letters", "retry", &dead]).await;
    assert_eq!(code(&again), 4, "{}", stderr(&again));
    assert!(
        stderr(&again).starts_with("tasklane-ctl: Already re-driven (409): "),
        "one readable line: {}",
        stderr(&again)
    );
    assert_eq!(stderr(&again).lines().count(), 1);
    let by_ids = ctl(
        url,
        None,
        &["dead-letters", "retry", "--ids", &more.join(","), "--json"],
    )
    .await;
    let items = json(&by_ids)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|item| item["status"] == "queued"));
    // Every dead `fail` task was re-driven (the re-drives die again, later): a bulk
    // call with a refused item says so in its exit code.
    let partly = ctl(
        url,
        None,
        &[
            "dead-letters",
            "retry",
            "--ids",
            &format!("{dead},{}", more[0]),
        ],
    )
    .await;
    assert_eq!(code(&partly), 1, "{}", stderr(&partly));
    assert!(stderr(&partly).contains("2 of 2 dead tasks were not re-driven"));

    let stats = json(&ctl(url, None, &["stats", "--json"]).await);
    assert!(stats["dead_letter_count"].as_u64().unwrap() >= 3, "{stats}");
    let table = ctl(url, None, &["stats"]).await;
    assert!(String::from_utf8_lossy(&table.stdout).contains("queue.pending"));

    // Not found, and bad input.
    let unknown = uuid::Uuid::now_v7().to_string();
    let missing = ctl(url, None, &["get", &unknown]).await;
    assert_eq!(code(&missing), 3, "{}", stderr(&missing));
    let missing = ctl(url, None, &["dead-letters", "retry", &unknown]).await;
    assert_eq!(code(&missing), 3, "{}", stderr(&missing));
    let invalid = ctl(url, None, &["submit", "Not_A_Type", "{}"]).await;
    assert_eq!(code(&invalid), 2, "{}", stderr(&invalid));
    assert!(stderr(&invalid).contains("(422)"), "{}", stderr(&invalid));
    let not_json = ctl(url, None, &["submit", "echo", "{not json"]).await;
    assert_eq!(code(&not_json), 2, "{}", stderr(&not_json));
    let usage = ctl(
        url,
        None,
        &["dead-letters", "retry", &dead, "--type", "fail"],
    )
    .await;
    assert_eq!(code(&usage), 2, "{}", stderr(&usage));
}

const OPERATOR: ApiKey<'static> = ApiKey {
    id: "ctl-operator",
    secret: "tl_ctl_operator_secret_never_printed",
    tenant: "ops",
    scopes: &["admin", "tasks:read", "tasks:write"],
};

const WRITER: ApiKey<'static> = ApiKey {
    id: "ctl-writer",
    secret: "tl_ctl_writer_secret",
    tenant: "billing",
    scopes: &["tasks:write"],
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_and_an_unreachable_gateway_have_their_exit_codes() {
    let stack = Stack::start();
    let volume = SecretVolume::new(&[("keys.toml", &keys_file_text(&[OPERATOR, WRITER]))]);
    let api = keyed_gateway(&stack, &volume).await;
    let url = format!("http://{}", api.addr);

    let allowed = ctl(&url, Some(OPERATOR.secret), &["stats", "--json"]).await;
    assert_eq!(json(&allowed)["dead_letter_count"], 0);
    for token in [
        None,
        Some("tl_wrong_token_never_printed"),
        Some(WRITER.secret),
    ] {
        let refused = ctl(&url, token, &["dead-letters", "list"]).await;
        assert_eq!(code(&refused), 5, "{token:?}: {}", stderr(&refused));
        let printed = format!(
            "{}{}",
            stderr(&refused),
            String::from_utf8_lossy(&refused.stdout)
        );
        for secret in [
            OPERATOR.secret,
            "tl_wrong_token_never_printed",
            WRITER.secret,
        ] {
            assert!(!printed.contains(secret), "a token was printed: {printed}");
        }
    }
    // A flag wins over the environment, and --help does not show the token.
    let flagged = ctl(
        &url,
        Some("tl_wrong_token_never_printed"),
        &["--token", OPERATOR.secret, "stats"],
    )
    .await;
    assert_eq!(code(&flagged), 0, "{}", stderr(&flagged));
    let help = ctl(&url, Some(OPERATOR.secret), &["--help"]).await;
    assert_eq!(code(&help), 0);
    assert!(!String::from_utf8_lossy(&help.stdout).contains(OPERATOR.secret));

    // Nothing listens on a port just found free on loopback.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let unreachable = ctl(&closed, None, &["stats"]).await;
    assert_eq!(code(&unreachable), 6, "{}", stderr(&unreachable));
    assert!(
        stderr(&unreachable).contains("unreachable"),
        "{}",
        stderr(&unreachable)
    );
    let unreachable = ctl(
        &closed,
        None,
        &["cancel", &uuid::Uuid::now_v7().to_string()],
    )
    .await;
    assert_eq!(code(&unreachable), 6, "{}", stderr(&unreachable));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_answers_the_record_then_conflict_and_not_found_by_exit_code() {
    let stack = Stack::start();
    // No worker: the task stays queued until it is cancelled.
    let api = stack.api(&[]).await;
    let url = format!("http://{}", api.addr);
    let url = url.as_str();

    let accepted = json(
        &ctl(
            url,
            None,
            &["submit", "sleep", r#"{"ms": 10000}"#, "--json"],
        )
        .await,
    );
    let id = accepted["id"].as_str().unwrap().to_string();
    let cancelled = json(&ctl(url, None, &["cancel", &id, "--json"]).await);
    assert_eq!(cancelled["id"], id.as_str());
    assert_eq!(cancelled["status"], "cancelled");

    let again = ctl(url, None, &["cancel", &id]).await;
    assert_eq!(code(&again), 4, "a second cancel: {}", stderr(&again));
    assert!(
        stderr(&again).contains("already finished with status `cancelled`"),
        "{}",
        stderr(&again)
    );
    let ended = ctl(url, None, &["wait", &id, "--timeout", "5s"]).await;
    assert_eq!(code(&ended), 7, "a cancelled task: {}", stderr(&ended));

    let unknown = ctl(url, None, &["cancel", &uuid::Uuid::now_v7().to_string()]).await;
    assert_eq!(code(&unknown), 3, "{}", stderr(&unknown));
}
