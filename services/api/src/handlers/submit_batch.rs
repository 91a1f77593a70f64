//! `POST /tasks`: accept up to `api.max_batch` tasks at once. Every item is validated
//! before anything is enqueued; publishes then run concurrently.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::value::RawValue;

use super::{idempotency_header, json_response, replay_response, request_id, trace_context};
use crate::error::ApiError;
use crate::extract::{JsonBody, parse_json_at};
use crate::idempotency::{self, Claim};
use crate::publish::enqueue_many;
use crate::state::AppState;
use crate::submission::{
    BatchRequest, IdempotencyKey, NewTask, Rules, TaskRequest, canonical_json,
};

enum Item {
    /// Answered from an earlier request with the same item key.
    Replayed(String),
    Queued(String),
    Failed(ApiError),
}

pub async fn submit_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonBody<BatchRequest>,
) -> Result<Response, ApiError> {
    let JsonBody { value: batch, raw } = body;
    let max = state.settings.api.max_batch;
    if batch.tasks.is_empty() {
        return Err(ApiError::validation(
            "tasks: must contain at least one task",
        ));
    }
    if batch.tasks.len() > max {
        return Err(ApiError::validation(format!(
            "tasks: at most {max} tasks per batch, got {}",
            batch.tasks.len()
        )));
    }
    let requests = validate_items(&state, &batch.tasks)?;

    let batch_key = idempotency_header(&headers)?
        .map(|key| IdempotencyKey::parse(key, "Idempotency-Key", &canonical_json(&raw)))
        .transpose()?;
    if let Some(key) = &batch_key {
        if let Claim::Replay { status, body } = idempotency::claim(&state, key).await? {
            return Ok(replay_response(status, body));
        }
    }

    let answered = match enqueue_items(&state, &headers, requests).await {
        Ok(items) => items,
        Err(error) => {
            if let Some(key) = &batch_key {
                idempotency::release(&state, key).await;
            }
            return Err(error);
        }
    };
    let accepted = answered
        .iter()
        .filter(|i| !matches!(i, Item::Failed(_)))
        .count();
    if accepted == 0 {
        if let Some(key) = &batch_key {
            idempotency::release(&state, key).await;
        }
        return Err(ApiError::queue_unavailable());
    }
    let status = if accepted == answered.len() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::MULTI_STATUS
    };
    let body = render(&answered);
    if let Some(key) = &batch_key {
        idempotency::complete(&state, key, status.as_u16(), &body).await;
    }
    Ok(json_response(status, body))
}

fn validate_items(
    state: &AppState,
    items: &[Box<RawValue>],
) -> Result<Vec<(TaskRequest, Option<IdempotencyKey>)>, ApiError> {
    let rules = Rules {
        known_types: &state.known_types,
    };
    let mut seen_keys = HashSet::new();
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let at = format!("tasks[{index}]");
            let request: TaskRequest = parse_json_at(item.get().as_bytes(), &at)?;
            request.validate(&format!("{at}."), &rules)?;
            let key = match &request.idempotency_key {
                Some(key) => {
                    let key = IdempotencyKey::parse(
                        key,
                        &format!("{at}.idempotency_key"),
                        &canonical_json(item.get().as_bytes()),
                    )?;
                    if !seen_keys.insert(key.key.clone()) {
                        return Err(ApiError::validation(format!(
                            "{at}.idempotency_key: the same key appears twice in this batch"
                        )));
                    }
                    Some(key)
                }
                None => None,
            };
            Ok((request, key))
        })
        .collect()
}

/// Claims item keys (all or nothing), publishes what is new, and stores the answers.
async fn enqueue_items(
    state: &AppState,
    headers: &HeaderMap,
    requests: Vec<(TaskRequest, Option<IdempotencyKey>)>,
) -> Result<Vec<Item>, ApiError> {
    let mut claimed: Vec<IdempotencyKey> = Vec::new();
    let mut replays: Vec<Option<String>> = Vec::with_capacity(requests.len());
    for (index, (_, key)) in requests.iter().enumerate() {
        let Some(key) = key else {
            replays.push(None);
            continue;
        };
        match idempotency::claim(state, key).await {
            Ok(Claim::Fresh) => {
                claimed.push(key.clone());
                replays.push(None);
            }
            Ok(Claim::Replay { body, .. }) => replays.push(Some(body)),
            Err(mut error) => {
                for key in &claimed {
                    idempotency::release(state, key).await;
                }
                error.detail = format!("tasks[{index}]: {}", error.detail);
                return Err(error);
            }
        }
    }

    let trace = trace_context(headers);
    let request_id = request_id(headers);
    let tasks: Vec<_> = requests
        .into_iter()
        .zip(&replays)
        .map(|((request, key), replay)| match replay {
            Some(_) => None,
            None => Some(request.into_new_task(key, request_id, &trace)),
        })
        .collect();
    let fresh: Vec<&NewTask> = tasks.iter().flatten().collect();
    let mut published = enqueue_many(state, &fresh).await.into_iter();
    let outcomes: Vec<Option<Result<(), ApiError>>> = tasks
        .iter()
        .map(|task| task.as_ref().and_then(|_| published.next()))
        .collect();

    let mut items = Vec::with_capacity(tasks.len());
    for ((task, outcome), replay) in tasks.iter().zip(outcomes).zip(replays) {
        let item = match (task, outcome, replay) {
            (_, _, Some(body)) => Item::Replayed(body),
            (Some(task), Some(Ok(())), None) => {
                let body = format!(r#"{{"id":"{}","status":"queued"}}"#, task.id);
                if let Some(key) = &task.idempotency {
                    idempotency::complete(state, key, StatusCode::ACCEPTED.as_u16(), &body).await;
                }
                Item::Queued(body)
            }
            (Some(task), Some(Err(error)), None) => {
                if let Some(key) = &task.idempotency {
                    idempotency::release(state, key).await;
                }
                Item::Failed(error)
            }
            _ => unreachable!("every item is either replayed or enqueued"),
        };
        items.push(item);
    }
    Ok(items)
}

fn render(items: &[Item]) -> String {
    let mut out = String::with_capacity(items.len() * 64 + 16);
    out.push_str(r#"{"tasks":["#);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            Item::Queued(body) | Item::Replayed(body) => out.push_str(body),
            Item::Failed(error) => {
                out.push_str(r#"{"error":"#);
                out.push_str(&serde_json::to_string(&error.problem()).unwrap_or_default());
                out.push('}');
            }
        }
    }
    out.push_str("]}");
    out
}
