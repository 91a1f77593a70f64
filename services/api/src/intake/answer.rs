//! What intake answers: one accepted task, a batch, or a replayed answer. Bodies are
//! rendered here, once, because the same text is stored for idempotent replays.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::value::RawValue;
use tasklane_core::problem::Problem;
use tasklane_core::task::TaskId;

pub(crate) use super::idempotency::Replay;
use crate::error::{ApiError, Cause};

/// How a submission was answered.
pub(crate) enum Answer {
    /// One new task: 202 with its id.
    Accepted(Accepted),
    /// A batch: 202 when every item was accepted or replayed, else 207 with a problem
    /// for each item that was not.
    Batch {
        status: StatusCode,
        body: String,
        /// Why the failed items failed, for the log.
        causes: Vec<Cause>,
    },
    /// The stored answer of an earlier request with the same key and body.
    Replayed(Replay),
}

/// `{"id":"…","status":"queued"}`: a task accepted now.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Accepted {
    /// The task's id (a UUIDv7): `GET /task/{id}` reads its record.
    #[schema(value_type = String, format = "uuid")]
    id: TaskId,
    #[schema(schema_with = crate::openapi::accepted_status)]
    status: &'static str,
}

impl Accepted {
    pub(crate) fn queued(id: TaskId) -> Self {
        Self {
            id,
            status: "queued",
        }
    }

    pub(crate) fn id(&self) -> TaskId {
        self.id
    }

    pub(crate) fn body(&self) -> String {
        serde_json::to_string(self).expect("an answer serializes")
    }
}

/// One item of a batch answer.
pub(crate) enum Item {
    Accepted(Accepted),
    /// Answered from an earlier request with the same item key: its stored body.
    Replayed(Box<RawValue>),
    Failed(ApiError),
}

impl Item {
    /// A stored item answer. One that is not JSON (it never is: only this module
    /// writes them) is a bug, answered as one.
    pub(crate) fn replayed(body: String) -> Self {
        match RawValue::from_string(body) {
            Ok(body) => Self::Replayed(body),
            Err(e) => Self::Failed(
                ApiError::internal().caused_by(Cause::new("stored item answer is not JSON", e)),
            ),
        }
    }

    pub(crate) fn is_answered(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }

    /// Why the item failed, for the log; none for an answered item.
    pub(crate) fn take_causes(&mut self) -> Vec<Cause> {
        match self {
            Self::Failed(error) => error.take_causes(),
            Self::Accepted(_) | Self::Replayed(_) => Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct BatchBody<'a> {
    tasks: Vec<ItemBody<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ItemBody<'a> {
    Answered(&'a RawValue),
    Accepted(&'a Accepted),
    Failed { error: Problem<'a> },
}

/// `{"tasks":[…]}`, one entry per item in request order.
pub(crate) fn render_batch(items: &[Item]) -> String {
    let tasks = items
        .iter()
        .map(|item| match item {
            Item::Accepted(accepted) => ItemBody::Accepted(accepted),
            Item::Replayed(body) => ItemBody::Answered(body),
            Item::Failed(error) => ItemBody::Failed {
                error: error.problem(),
            },
        })
        .collect();
    serde_json::to_string(&BatchBody { tasks }).expect("a batch answer serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_items_render_as_their_answers_in_order() {
        let id = TaskId::new();
        let accepted = Accepted::queued(id);
        let items = [
            Item::Accepted(Accepted::queued(id)),
            Item::replayed(accepted.body()),
            Item::Failed(ApiError::queue_unavailable()),
        ];
        let body: serde_json::Value = serde_json::from_str(&render_batch(&items)).unwrap();
        let expected_item = serde_json::json!({"id": id.to_string(), "status": "queued"});
        assert_eq!(body["tasks"][0], expected_item);
        assert_eq!(body["tasks"][1], expected_item);
        assert_eq!(body["tasks"][2]["error"]["status"], 503);
        assert!(
            body["tasks"][2]["error"]["type"]
                .as_str()
                .unwrap()
                .ends_with("#queue-unavailable")
        );
        assert_eq!(
            accepted.body(),
            format!(r#"{{"id":"{id}","status":"queued"}}"#),
            "the stored single answer keeps its exact text"
        );
    }
}
