//! `GET /dead-letters`, `POST /dead-letters/{id}/retry` and `POST /dead-letters/retry`:
//! dead tasks of every tenant, for operators (scope `admin`).

use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tasklane_core::queue::{DeadLetterFilter, Queue};
use tasklane_core::task::{TaskId, TaskType};

use crate::audit::AuditEvent;
use crate::auth::Principal;
use crate::error::{ApiError, Cause, Causes};
use crate::extract::Submission;
use crate::headers::Origin;
use crate::intake::{Accepted, Answer, Intake, Redrive};
use crate::respond;

/// Dead letters per page when the caller does not say.
const DEFAULT_LIMIT: usize = 100;
/// Most dead letters one page holds.
const MAX_LIMIT: usize = 1000;

/// Paging through the dead letters.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Dead letters per page: 1 to 1000, default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// `next_cursor` of the page before; absent for the first page.
    #[param(pattern = "^[1-9][0-9]{0,18}$")]
    cursor: Option<String>,
}

/// One page of dead letters, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
struct DeadLetterPage {
    items: Vec<DeadLetterItem>,
    /// Pass as `cursor` for the next page; `null` when this page holds fewer than
    /// `limit` dead letters, having reached the newest (a full page that ends with the
    /// newest is followed by an empty one). A cursor stays valid: dead letters that
    /// arrive later are on the pages after it, so a walk sees each dead letter once.
    next_cursor: Option<String>,
}

/// A dead task.
#[derive(Serialize, utoipa::ToSchema)]
struct DeadLetterItem {
    /// The task id (`GET /task/{id}` reads its record while it lasts).
    id: String,
    /// The task type.
    #[serde(rename = "type")]
    task_type: String,
    /// Why it died.
    error: String,
    /// Attempts started.
    attempts: u32,
    /// When it was dead-lettered (RFC 3339, UTC).
    #[schema(format = DateTime)]
    dead_at: String,
}

/// Which dead tasks to re-drive: exactly one of `type` and `ids`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkRedrive {
    /// Every dead task of this type not re-driven yet, oldest first, at most
    /// `api.max_batch` per request.
    #[serde(rename = "type", default)]
    #[schema(value_type = Option<String>)]
    task_type: Option<TaskType>,
    /// These dead tasks, at most `api.max_batch`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    ids: Option<Vec<TaskId>>,
}

/// A bulk re-drive's result for each dead task, in order.
#[derive(Serialize, utoipa::ToSchema)]
struct BulkRedriven {
    items: Vec<RedriveItem>,
}

/// One dead task: its new task, or the problem that kept it from being re-driven.
#[derive(Serialize, utoipa::ToSchema)]
struct RedriveItem {
    /// The dead task.
    redriven_from: String,
    /// The new task's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// `queued` for a new task.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    /// Why this one was not re-driven (a problem object).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    error: Option<serde_json::Value>,
}

/// List dead tasks, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/dead-letters",
    tag = "admin",
    operation_id = "list_dead_letters",
    params(PageQuery),
    responses((status = 200, description = "A page of dead letters", body = DeadLetterPage)),
    security(("api_key" = ["admin"]), ("jwt" = ["admin"])),
)]
pub(crate) async fn list(
    State(queue): State<Arc<Queue>>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::validation(e.body_text()))?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "limit: must be a whole number from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    let from = match query.cursor.as_deref() {
        None => 1,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                ApiError::validation("cursor: not a cursor this endpoint answered with")
            })?,
    };
    let letters = queue
        .dead_letters(from, limit, DeadLetterFilter::All)
        .await
        .map_err(|e| {
            ApiError::queue_unavailable().caused_by(Cause::new("dead letters could not be read", e))
        })?;
    let next_cursor = (letters.len() == limit)
        .then(|| letters.last().map(|last| (last.sequence + 1).to_string()))
        .flatten();
    let page = DeadLetterPage {
        items: letters
            .into_iter()
            .map(|letter| DeadLetterItem {
                id: letter.id,
                task_type: letter.task_type,
                error: letter.error,
                attempts: letter.attempts,
                dead_at: letter.dead_at,
            })
            .collect(),
        next_cursor,
    };
    Ok(respond::json(
        StatusCode::OK,
        serde_json::to_string(&page).expect("a page serializes"),
    ))
}

/// Re-drive one dead task as a new task with the same type, payload, options and
/// tenant. The dead record stays `dead` and gains `redriven_to`; the new one has
/// `redriven_from`. A dead task is re-driven once: a second re-drive is 409.
#[utoipa::path(
    post,
    path = "/dead-letters/{id}/retry",
    tag = "admin",
    operation_id = "redrive_dead_letter",
    params(("id" = String, Path, format = "uuid", description = "The dead task's id")),
    responses(
        (status = 202, description = "Accepted: JetStream stored the new task", body = Accepted,
            headers(("Location" = String, description = "`/task/{id}`, the new task's record"))),
    ),
    security(("api_key" = ["admin"]), ("jwt" = ["admin"])),
)]
pub(crate) async fn redrive_one(
    State(intake): State<Arc<Intake>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Answer, ApiError> {
    let id = crate::extract::task_id(&id)?;
    let origin = Origin::of(&headers);
    let outcome = intake.redrive(&id, &origin).await;
    audit(&principal, &origin, outcome.is_ok());
    outcome.map(Answer::Accepted)
}

/// Re-drive many dead tasks: by `ids`, or every dead task of a `type` not re-driven
/// yet. Each is re-driven as `POST /dead-letters/{id}/retry` does; the answer has a
/// result per dead task (by `type`, only for those it tried).
#[utoipa::path(
    post,
    path = "/dead-letters/retry",
    tag = "admin",
    operation_id = "redrive_dead_letters",
    request_body(content = BulkRedrive, content_type = "application/json"),
    responses((status = 200, description = "A result per dead task", body = BulkRedriven)),
    security(("api_key" = ["admin"]), ("jwt" = ["admin"])),
)]
pub(crate) async fn redrive_many(
    State(intake): State<Arc<Intake>>,
    Extension(principal): Extension<Principal>,
    submission: Submission<BulkRedrive>,
) -> Result<Response, ApiError> {
    let Submission { body, origin, .. } = submission;
    let results = match (body.task_type, body.ids) {
        (Some(task_type), None) => intake.redrive_type(&task_type, &origin).await?,
        (None, Some(ids)) => {
            let most = intake.max_batch();
            if ids.is_empty() || ids.len() > most {
                return Err(ApiError::validation(format!(
                    "ids: must hold 1 to {most} task ids, got {}",
                    ids.len()
                )));
            }
            intake.redrive_ids(&ids, &origin).await
        }
        _ => {
            return Err(ApiError::validation("type, ids: give exactly one of them"));
        }
    };
    let mut causes = Vec::new();
    let items = results
        .into_iter()
        .map(|Redrive { dead, outcome }| {
            audit(&principal, &origin, outcome.is_ok());
            match outcome {
                Ok(accepted) => RedriveItem {
                    redriven_from: dead,
                    id: Some(accepted.id().to_string()),
                    status: Some("queued"),
                    error: None,
                },
                Err(mut error) => {
                    causes.extend(error.take_causes());
                    RedriveItem {
                        redriven_from: dead,
                        id: None,
                        status: None,
                        error: serde_json::to_value(error.problem()).ok(),
                    }
                }
            }
        })
        .collect();
    let mut response = respond::json(
        StatusCode::OK,
        serde_json::to_string(&BulkRedriven { items }).expect("results serialize"),
    );
    if !causes.is_empty() {
        response.extensions_mut().insert(Causes(causes));
    }
    Ok(response)
}

fn audit(principal: &Principal, origin: &Origin, accepted: bool) {
    AuditEvent {
        actor: &principal.actor,
        tenant: &principal.tenant,
        action: "redrive",
        outcome: if accepted { "accepted" } else { "refused" },
        request_id: origin.request_id.as_deref().unwrap_or("-"),
    }
    .emit();
}
