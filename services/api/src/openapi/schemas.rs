//! Schemas the derives cannot produce on their own: values fixed by core types
//! (task statuses), the batch forms built from the single-task ones, and answers
//! rendered from raw JSON.

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

use tasklane_core::task::TaskStatus;

/// The headers a submission reads besides `Authorization`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // described, never built: the extractor reads the headers
pub(crate) struct SubmissionHeaders {
    /// Makes the request safe to retry: the same key and body within 24 hours
    /// replay the first answer (with `Idempotent-Replayed: true`); the same key
    /// with another body is 422, and
    /// while the first request is still being handled, 409. For a batch it covers
    /// the whole batch; each task may also carry its own `idempotency_key`.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    idempotency_key: Option<String>,
    /// Your request id, kept when it is 1 to 128 of `A-Za-z0-9._:-` (else a new one
    /// is made); echoed on the response.
    #[param(rename = "X-Request-Id")]
    request_id: Option<String>,
}

/// A string that takes one of `values`.
pub(super) fn string_enum(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
}

/// The `status` of a task accepted now: always `queued`.
pub(crate) fn accepted_status() -> Schema {
    string_enum(&["queued"]).build().into()
}

/// Every status a task record can have, from the core's list.
pub(crate) fn task_status_schema() -> Schema {
    string_enum(&TaskStatus::ALL.map(TaskStatus::as_str))
        .description(Some(
            "queued → running → succeeded | failed (permanent, not retried) | dead \
             (attempts exhausted or malformed; copied to the dead-letter stream); queued or \
             running → cancelled (`DELETE /task/{id}`; never runs again). A status only \
             moves forward.",
        ))
        .build()
        .into()
}

/// `tasks` of `POST /tasks`: 1 to `api.max_batch` (1000 by default) batch tasks.
pub(crate) fn batch_items() -> Schema {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("BatchTask"))
        .min_items(Some(1))
        .max_items(Some(1000))
        .description(Some(
            "The tasks, at most `api.max_batch` (1000 by default). One invalid task \
             rejects the whole batch (422 naming `tasks[i]`).",
        ))
        .build()
        .into()
}

/// The answer to `POST /tasks`: one entry per task, in request order.
pub(super) fn batch_answer() -> Schema {
    let failed = ObjectBuilder::new()
        .property("error", Ref::from_schema_name("Problem"))
        .required("error")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some(
            "A task the queue did not take (only in a 207 answer); its problem says why.",
        ))
        .build();
    let item = OneOfBuilder::new()
        .item(Ref::from_schema_name("Accepted"))
        .item(failed);
    ObjectBuilder::new()
        .property("tasks", ArrayBuilder::new().items(item).build())
        .required("tasks")
        .build()
        .into()
}

/// The task types: the built-in ones, from the same registry the gateway and the
/// worker use (a deployment may enable fewer, `tasks.enabled`).
pub(super) struct TaskTypes;

impl utoipa::Modify for TaskTypes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let Some(RefOr::T(Schema::Object(task))) = components.schemas.get_mut("TaskRequest") else {
            panic!("the TaskRequest schema is an object");
        };
        let Some(RefOr::T(Schema::Object(task_type))) = task.properties.get_mut("type") else {
            panic!("TaskRequest has a `type` property");
        };
        let registry = tasklane_tasks::Registry::built_in();
        let names = registry.names().iter().map(|&name| name.into());
        // null is taken as absent, like the other optional fields.
        task_type.enum_values = Some(names.chain([serde_json::Value::Null]).collect());
        // The payload of an `http` task has a shape of its own; JSON Schema says so
        // with if/then, which OpenAPI 3.1 takes as is. One key keeps the output stable.
        task.extensions.get_or_insert_with(Default::default).insert(
            "allOf".to_string(),
            serde_json::json!([http_payload_rule()]),
        );
    }
}

/// `payload` of a task whose `type` is `http`: what the gateway's check accepts
/// (`tasklane_tasks::HttpPayload`), written a little narrower where the URL parser
/// has rules a pattern cannot follow (a host of letters, digits and dashes; a port
/// of up to four digits).
fn http_payload_rule() -> serde_json::Value {
    let label = "[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    serde_json::json!({
        "if": {"properties": {"type": {"const": "http"}}, "required": ["type"]},
        "then": {"properties": {"payload": {
            "type": "object",
            "description": "An `http` task: the request a worker sends (docs/http-tasks.md).",
            "additionalProperties": false,
            "required": ["url"],
            "properties": {
                "url": {
                    "type": "string",
                    "maxLength": tasklane_tasks::HTTP_MAX_URL_BYTES,
                    "pattern": format!("^https?://{label}(\\.{label})*(:[0-9]{{1,4}})?(/[!#-~]*)?$"),
                    "description": "`http://` or `https://`, with a host and no user-info.",
                },
                "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "default": "POST"},
                "headers": {
                    "type": "object",
                    "description": "Extra request headers; those the worker sets are refused.",
                    "propertyNames": {
                        "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                        "not": {"enum": tasklane_tasks::HTTP_RESERVED_HEADERS},
                    },
                    "additionalProperties": {"type": "string", "pattern": "^[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$"},
                },
                "body": {"description": "Sent as JSON, or as is when a string; none when absent or null."},
            },
        }}},
    })
}

/// `BatchTask`: a `TaskRequest` that may also carry its own `idempotency_key`
/// (a single task sends the `Idempotency-Key` header instead). Built from the
/// derived `TaskRequest` schema so the two cannot drift apart.
/// `POST /dead-letters/retry` takes exactly one of `type` and `ids`: two closed
/// object forms, which the derive cannot say of one struct.
pub(super) struct RedriveRequest;

impl utoipa::Modify for RedriveRequest {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let registry = tasklane_tasks::Registry::built_in();
        let by_type = ObjectBuilder::new()
            .property(
                "type",
                string_enum(registry.names()).description(Some(
                    "Every dead task of this type not re-driven yet, oldest first, at most \
                     `api.max_batch` per request.",
                )),
            )
            .required("type")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let by_ids = ObjectBuilder::new()
            .property(
                "ids",
                ArrayBuilder::new()
                    .items(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::Custom("uuid".to_string()))),
                    )
                    .min_items(Some(1))
                    .max_items(Some(1000))
                    .description(Some(
                        "These dead tasks, at most `api.max_batch` (1000 by default).",
                    )),
            )
            .required("ids")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let request = OneOfBuilder::new()
            .item(by_type)
            .item(by_ids)
            .description(Some(
                "Which dead tasks to re-drive: exactly one of `type` and `ids`.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .insert("BulkRedrive".to_string(), Schema::OneOf(request).into());
    }
}

pub(super) struct BatchTask;

impl utoipa::Modify for BatchTask {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let Some(RefOr::T(Schema::Object(task))) = components.schemas.get("TaskRequest") else {
            panic!("the TaskRequest schema is an object");
        };
        let mut batch_task = task.clone();
        batch_task.description = Some(
            "One task of a batch: a task as `POST /task` takes it, plus an optional key of \
             its own."
                .to_string(),
        );
        batch_task.properties.insert(
            "idempotency_key".to_string(),
            ObjectBuilder::new()
                .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$"))
                .description(Some(
                    "Makes this task safe to retry on its own (null: no key): 1 to 255 visible ASCII \
                     characters, unique within the batch. The same key and task within 24 \
                     hours replay this item's first answer.",
                ))
                .into(),
        );
        components
            .schemas
            .insert("BatchTask".to_string(), Schema::Object(batch_task).into());
        components
            .schemas
            .insert("BatchAnswer".to_string(), batch_answer().into());
    }
}
