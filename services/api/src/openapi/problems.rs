//! The problems (RFC 9457) the gateway answers with, and which operation can answer
//! which: each operation's error responses are built from this one table, with the
//! `type` values allowed for each status and the headers that come with them.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use tasklane_core::problem::Problem;
use utoipa::openapi::path::Operation;

use super::headers::{add_request_id, problem_headers};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

/// The media type of every error body.
const PROBLEM_JSON: &str = "application/problem+json";

/// One kind of problem: its `type` anchor in docs/errors.md, its status, and when it
/// is answered.
struct Kind {
    slug: &'static str,
    status: StatusCode,
    when: &'static str,
}

const fn kind(slug: &'static str, status: StatusCode, when: &'static str) -> Kind {
    Kind { slug, status, when }
}

/// Every problem `crate::error::ApiError` can build (a test keeps them equal).
const KINDS: &[Kind] = &[
    kind(
        "malformed-json",
        StatusCode::BAD_REQUEST,
        "the body is empty or not JSON",
    ),
    kind(
        "bad-request",
        StatusCode::BAD_REQUEST,
        "the task id is not a UUID, or the body could not be read",
    ),
    kind(
        "unauthorized",
        StatusCode::UNAUTHORIZED,
        "no token, or one that is not valid (auth.mode = required)",
    ),
    kind(
        "forbidden",
        StatusCode::FORBIDDEN,
        "the token lacks the operation's scope",
    ),
    kind(
        "not-found",
        StatusCode::NOT_FOUND,
        "no such task for this tenant (unknown, another tenant's, or expired)",
    ),
    kind(
        "method-not-allowed",
        StatusCode::METHOD_NOT_ALLOWED,
        "the path does not serve that method",
    ),
    kind(
        "idempotency-in-flight",
        StatusCode::CONFLICT,
        "a request with the same Idempotency-Key is still being handled",
    ),
    kind(
        "already-redriven",
        StatusCode::CONFLICT,
        "the dead task was re-driven before, or a re-drive of it is in progress",
    ),
    kind(
        "not-dead",
        StatusCode::CONFLICT,
        "the task is not dead, or its dead letter is not a task message",
    ),
    kind(
        "already-finished",
        StatusCode::CONFLICT,
        "the task already finished (succeeded, failed, dead or cancelled); nothing was changed",
    ),
    kind(
        "payload-too-large",
        StatusCode::PAYLOAD_TOO_LARGE,
        "the body is over api.max_body_bytes, or a task is larger than the queue accepts",
    ),
    kind(
        "unsupported-media-type",
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "the body is not declared as application/json",
    ),
    kind(
        "validation",
        StatusCode::UNPROCESSABLE_ENTITY,
        "well-formed JSON that is not a valid task; the detail names the field",
    ),
    kind(
        "idempotency-mismatch",
        StatusCode::UNPROCESSABLE_ENTITY,
        "the Idempotency-Key was used before with a different body",
    ),
    kind(
        "rate-limited",
        StatusCode::TOO_MANY_REQUESTS,
        "the gateway is at api.max_in_flight requests or body bytes, or the tenant is over its rate",
    ),
    kind(
        "too-many-outstanding",
        StatusCode::TOO_MANY_REQUESTS,
        "the tenant has as many unfinished tasks as it may",
    ),
    kind(
        "internal",
        StatusCode::INTERNAL_SERVER_ERROR,
        "a bug; it has been logged",
    ),
    kind(
        "queue-unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "NATS did not take the request; nothing was accepted",
    ),
    kind(
        "publish-unconfirmed",
        StatusCode::SERVICE_UNAVAILABLE,
        "JetStream did not confirm the task in time; it may be accepted: retry with the same Idempotency-Key",
    ),
    kind(
        "queue-full",
        StatusCode::SERVICE_UNAVAILABLE,
        "the work stream is at its limits; nothing was accepted",
    ),
    kind(
        "store-unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "Valkey did not answer",
    ),
    kind(
        "timeout",
        StatusCode::SERVICE_UNAVAILABLE,
        "the request ran past api.request_timeout",
    ),
];

/// Problems of a status that otherwise comes with `Retry-After` that do not: a
/// finished task stays finished, so there is nothing to retry.
const FINAL: &[&str] = &["already-finished"];

/// The problems a task submission can answer with.
const SUBMIT: &[&str] = &[
    "malformed-json",
    "bad-request",
    "unauthorized",
    "forbidden",
    "idempotency-in-flight",
    "payload-too-large",
    "unsupported-media-type",
    "validation",
    "idempotency-mismatch",
    "rate-limited",
    "too-many-outstanding",
    "internal",
    "queue-unavailable",
    "publish-unconfirmed",
    "queue-full",
    "store-unavailable",
    "timeout",
];

/// Each operation (by operation id) and the problems it can answer with.
const OPERATIONS: &[(&str, &[&str])] = &[
    ("submit_task", SUBMIT),
    ("submit_batch", SUBMIT),
    (
        "task_status",
        &[
            "bad-request",
            "unauthorized",
            "forbidden",
            "not-found",
            "rate-limited",
            "internal",
            "store-unavailable",
            "timeout",
        ],
    ),
    (
        "cancel_task",
        &[
            "bad-request",
            "unauthorized",
            "forbidden",
            "not-found",
            "already-finished",
            "rate-limited",
            "internal",
            "store-unavailable",
            "timeout",
        ],
    ),
    (
        "stats",
        &[
            "unauthorized",
            "forbidden",
            "rate-limited",
            "internal",
            "store-unavailable",
            "queue-unavailable",
            "timeout",
        ],
    ),
    (
        "list_dead_letters",
        &[
            "unauthorized",
            "forbidden",
            "validation",
            "rate-limited",
            "internal",
            "queue-unavailable",
            "timeout",
        ],
    ),
    ("redrive_dead_letter", REDRIVE),
    ("redrive_dead_letters", REDRIVE),
];

/// The problems re-driving dead tasks can answer with.
const REDRIVE: &[&str] = &[
    "bad-request",
    "malformed-json",
    "unauthorized",
    "forbidden",
    "not-found",
    "already-redriven",
    "not-dead",
    "payload-too-large",
    "unsupported-media-type",
    "validation",
    "rate-limited",
    "internal",
    "queue-unavailable",
    "publish-unconfirmed",
    "queue-full",
    "store-unavailable",
    "timeout",
];

/// The `type` of a problem of kind `slug`.
fn type_url(slug: &str) -> String {
    Problem::new(StatusCode::BAD_REQUEST, slug, "", "").problem_type
}

/// Adds the `Problem` schema, each operation's error responses and `X-Request-Id`
/// on every response.
pub(super) struct ProblemAnswers;

impl utoipa::Modify for ProblemAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .insert("Problem".to_string(), problem_schema().into());
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post, &mut item.delete]
                .into_iter()
                .flatten()
            {
                let id = operation.operation_id.as_deref().unwrap_or_default();
                if let Some((_, slugs)) = OPERATIONS.iter().find(|(name, _)| *name == id) {
                    add_problems(operation, slugs);
                }
                add_request_id(operation);
            }
        }
    }
}

fn problem_schema() -> Schema {
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    ObjectBuilder::new()
        .description(Some(
            "An RFC 9457 problem. Clients branch on `type`; `detail` says what to change.",
        ))
        .property(
            "type",
            text("The kind of problem: a link to its entry in docs/errors.md.")
                .format(Some(SchemaFormat::Custom("uri".to_string())))
                .enum_values(Some(KINDS.iter().map(|kind| type_url(kind.slug)))),
        )
        .property("title", text("A short, fixed summary of the kind."))
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(400))
                .maximum(Some(599))
                .description(Some("The HTTP status.")),
        )
        .property(
            "detail",
            text("What went wrong with this request, and what to change."),
        )
        .required("type")
        .required("title")
        .required("status")
        .required("detail")
        .build()
        .into()
}

/// One response per status among `slugs`, whose body may carry only those `type`s.
fn add_problems(operation: &mut Operation, slugs: &[&str]) {
    let mut by_status: BTreeMap<u16, Vec<&Kind>> = BTreeMap::new();
    for slug in slugs {
        let kind = KINDS
            .iter()
            .find(|kind| kind.slug == *slug)
            .unwrap_or_else(|| panic!("problem `{slug}` is not in KINDS"));
        by_status
            .entry(kind.status.as_u16())
            .or_default()
            .push(kind);
    }
    for (status, kinds) in by_status {
        let narrowed = ObjectBuilder::new()
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(kinds.iter().map(|k| type_url(k.slug)))),
            )
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some([status])),
            )
            .build();
        let schema = Schema::AllOf(
            AllOfBuilder::new()
                .item(Ref::from_schema_name("Problem"))
                .item(narrowed)
                .build(),
        );
        let description = kinds
            .iter()
            .map(|kind| format!("`{}`: {}", kind.slug, kind.when))
            .collect::<Vec<_>>()
            .join("; ");
        let mut response = ResponseBuilder::new().description(description).content(
            PROBLEM_JSON,
            ContentBuilder::new().schema(Some(schema)).build(),
        );
        let retry_after = kinds.iter().any(|kind| !FINAL.contains(&kind.slug));
        for (name, header) in problem_headers(status, retry_after) {
            response = response.header(name, header);
        }
        operation
            .responses
            .responses
            .insert(status.to_string(), response.build().into());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::KINDS;
    use crate::error::ApiError;

    /// Every problem the gateway builds: its status and `type`.
    fn built() -> Vec<ApiError> {
        vec![
            ApiError::malformed_json(""),
            ApiError::bad_request(""),
            ApiError::not_found(""),
            ApiError::already_finished(tasklane_core::task::TaskId::new(), "succeeded"),
            ApiError::method_not_allowed(),
            ApiError::idempotency_in_flight(),
            ApiError::already_redriven(""),
            ApiError::not_dead(""),
            ApiError::payload_too_large(1),
            ApiError::unsupported_media_type(),
            ApiError::validation(""),
            ApiError::idempotency_mismatch(),
            ApiError::too_many_requests(),
            ApiError::body_budget_spent(),
            ApiError::queue_unavailable(),
            ApiError::publish_unconfirmed(),
            ApiError::queue_full(),
            ApiError::task_too_large(1),
            ApiError::store_unavailable(),
            ApiError::timeout(),
            ApiError::internal(),
            ApiError::unauthorized(),
            ApiError::forbidden("admin"),
            ApiError::tenant_rate_limited("", 1),
            ApiError::too_many_outstanding(1),
        ]
    }

    #[test]
    fn the_table_has_each_problem_the_gateway_builds_with_its_status() {
        let documented: BTreeSet<(u16, String)> = KINDS
            .iter()
            .map(|kind| (kind.status.as_u16(), super::type_url(kind.slug)))
            .collect();
        let sent: BTreeSet<(u16, String)> = built()
            .iter()
            .map(|error| {
                let problem = error.problem();
                (problem.status, problem.problem_type)
            })
            .collect();
        assert_eq!(documented, sent);
    }
}
