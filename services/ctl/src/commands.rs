//! One function per subcommand: build the request, call the gateway, print.

use std::io::Read;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::cli::{Command, DeadLetters, Submit};
use crate::gateway::{Failure, Gateway, exit, segment};
use crate::output::{self, Format};

/// Statuses a task never leaves.
const FINAL: [&str; 4] = ["succeeded", "failed", "dead", "cancelled"];

const DEAD_LETTER_COLUMNS: &[&str] = &["id", "type", "attempts", "dead_at", "error"];
const REDRIVE_COLUMNS: &[&str] = &["redriven_from", "id", "status", "error"];

pub async fn run(gateway: &Gateway, command: Command, format: Format) -> Result<(), Failure> {
    match command {
        Command::Submit(submit) => {
            let key = submit.idempotency_key.clone();
            let body = submission(submit)?;
            let headers: Vec<(&str, &str)> = key
                .as_deref()
                .map(|key| ("idempotency-key", key))
                .into_iter()
                .collect();
            let accepted = gateway
                .call(Method::POST, "/task", Some(&body), &headers)
                .await?;
            output::record(format, &accepted);
        }
        Command::Get { id } => {
            output::record(format, &gateway.get(&task_path(&id)).await?);
        }
        Command::Wait {
            id,
            timeout,
            interval,
        } => wait(gateway, &id, timeout, interval, format).await?,
        Command::Cancel { id } => {
            let record = gateway
                .call(Method::DELETE, &task_path(&id), None, &[])
                .await?;
            output::record(format, &record);
        }
        Command::Stats => output::record(format, &gateway.get("/stats").await?),
        Command::DeadLetters(DeadLetters::List { limit, page_size }) => {
            list_dead_letters(gateway, limit, page_size, format).await?
        }
        Command::DeadLetters(DeadLetters::Retry { id, ids, task_type }) => {
            redrive(gateway, id, ids, task_type, format).await?
        }
    }
    Ok(())
}

fn task_path(id: &str) -> String {
    format!("/task/{}", segment(id))
}

/// The `POST /task` body: the type, the payload (JSON, `@file` or `@-`) and the
/// options that were given.
fn submission(submit: Submit) -> Result<Value, Failure> {
    let text = match submit.payload.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::new(exit::USAGE, format!("payload from stdin: {e}")))?;
            text
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::new(exit::USAGE, format!("payload file {path}: {e}")))?,
        None => submit.payload,
    };
    let payload: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::new(exit::USAGE, format!("payload is not JSON: {e}")))?;
    let mut body = Map::new();
    body.insert("type".into(), json!(submit.task_type));
    body.insert("payload".into(), payload);
    let options = [
        ("max_attempts", submit.max_attempts.map(Value::from)),
        ("timeout_ms", submit.timeout_ms.map(Value::from)),
        ("delay_ms", submit.delay_ms.map(Value::from)),
        ("run_at", submit.run_at.map(Value::from)),
    ];
    for (name, value) in options {
        if let Some(value) = value {
            body.insert(name.into(), value);
        }
    }
    Ok(Value::Object(body))
}

async fn wait(
    gateway: &Gateway,
    id: &str,
    timeout: Duration,
    interval: Duration,
    format: Format,
) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let record = gateway.get(&task_path(id)).await?;
        let status = record["status"].as_str().unwrap_or_default().to_string();
        if FINAL.contains(&status.as_str()) {
            output::record(format, &record);
            if status == "succeeded" {
                return Ok(());
            }
            return Err(Failure::new(
                exit::TASK_UNSUCCESSFUL,
                format!("task {id} ended {status}"),
            ));
        }
        if tokio::time::Instant::now() + interval > deadline {
            return Err(Failure::new(
                exit::TIMED_OUT,
                format!(
                    "task {id} is still {status} after {}",
                    humantime::format_duration(timeout)
                ),
            ));
        }
        tokio::time::sleep(interval).await;
    }
}

/// Follows `next_cursor` until the newest dead letter, or until `limit` are shown.
async fn list_dead_letters(
    gateway: &Gateway,
    limit: Option<usize>,
    page_size: u16,
    format: Format,
) -> Result<(), Failure> {
    let mut items: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let wanted = limit.map_or(usize::from(page_size), |limit| {
            (limit - items.len()).min(usize::from(page_size))
        });
        let mut path = format!("/dead-letters?limit={wanted}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={}", segment(cursor)));
        }
        let page = gateway.get(&path).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() || limit.is_some_and(|limit| items.len() >= limit) {
            break;
        }
    }
    let all = json!({"items": items, "next_cursor": cursor});
    output::rows(format, &all, &items, DEAD_LETTER_COLUMNS);
    Ok(())
}

async fn redrive(
    gateway: &Gateway,
    id: Option<String>,
    ids: Option<Vec<String>>,
    task_type: Option<String>,
    format: Format,
) -> Result<(), Failure> {
    if let Some(id) = id {
        let path = format!("/dead-letters/{}/retry", segment(&id));
        let accepted = gateway.call(Method::POST, &path, None, &[]).await?;
        output::record(format, &accepted);
        return Ok(());
    }
    let body = match (ids, task_type) {
        (Some(ids), None) => json!({ "ids": ids }),
        (None, Some(task_type)) => json!({ "type": task_type }),
        _ => {
            return Err(Failure::new(
                exit::USAGE,
                "give one dead task id, --ids or --type",
            ));
        }
    };
    let answer = gateway.post("/dead-letters/retry", &body).await?;
    let mut items = answer["items"].as_array().cloned().unwrap_or_default();
    let refused = items
        .iter()
        .filter(|item| item.get("error").is_some())
        .count();
    for item in &mut items {
        // A problem as its one line, for the table.
        if let Some(problem) = item.get("error").cloned() {
            item["error"] = json!(format!(
                "{} ({}): {}",
                problem["title"].as_str().unwrap_or_default(),
                problem["status"],
                problem["detail"].as_str().unwrap_or_default()
            ));
        }
    }
    output::rows(format, &answer, &items, REDRIVE_COLUMNS);
    if refused > 0 {
        return Err(Failure::new(
            exit::OTHER,
            format!("{refused} of {} dead tasks were not re-driven", items.len()),
        ));
    }
    Ok(())
}
