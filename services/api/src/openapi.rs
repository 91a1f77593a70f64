//! The OpenAPI 3.1 description of the gateway, generated from the handlers'
//! annotations and the request and response types. Served at `/openapi.json` and
//! committed as `docs/openapi.json` (`tasklane-api --print-openapi` writes it; a
//! test fails when the two differ).

mod headers;
mod ops;
mod problems;
mod schemas;

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use self::problems::ProblemAnswers;
use self::schemas::{BatchTask, RedriveRequest, TaskTypes};
use crate::handlers::{cancel_task, dead_letters, stats, submit_batch, submit_task, task_status};

pub(crate) use self::schemas::{
    SubmissionHeaders, accepted_status, batch_items, task_status_schema,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tasklane",
        description = "Submit tasks to the tasklane pipeline and read their outcome. A task is \
            accepted (202) only after JetStream stored it; a worker runs it at least once and \
            its record in Valkey says how it ended. Every error is an RFC 9457 problem \
            (`application/problem+json`) whose `type` links to docs/errors.md. Every response \
            carries `X-Request-Id`. With `auth.mode = \"required\"` the task and admin \
            endpoints need `Authorization: Bearer <token>` (an API key or a JWT) with the \
            scope listed on each operation; with it off, every caller is tenant `default` \
            with every scope. A method a path does not serve is answered 405 \
            (`method-not-allowed`), a path no route serves 404 (`not-found`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        submit_task::submit_task,
        submit_batch::submit_batch,
        task_status::task_status,
        cancel_task::cancel_task,
        stats::stats,
        dead_letters::list,
        dead_letters::redrive_one,
        dead_letters::redrive_many,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        ops::openapi_json,
    ),
    modifiers(&Security, &ProblemAnswers, &TaskTypes, &BatchTask, &RedriveRequest),
    tags(
        (name = "tasks", description = "Submitting tasks, reading their records and cancelling them"),
        (name = "admin", description = "Queue statistics, and dead tasks: list and re-drive"),
        (name = "ops", description = "Probes, metrics and this description; never authenticated"),
    )
)]
struct ApiDoc;

/// The two ways to present `Authorization: Bearer <token>`; the gateway tells them
/// apart by the token's shape (three base64url parts is a JWT).
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut api_key = Http::new(HttpAuthScheme::Bearer);
        api_key.description = Some(
            "An API key from the keys file (`auth.keys_file`); the file stores only its \
             SHA-256 and gives it a tenant and scopes."
                .to_string(),
        );
        let mut jwt = Http::new(HttpAuthScheme::Bearer);
        jwt.bearer_format = Some("JWT".to_string());
        jwt.description = Some(
            "A JWT signed by a key of `auth.jwt` (JWKS or HS256), with the tenant and the \
             space-separated scopes in its claims."
                .to_string(),
        );
        components.add_security_scheme("api_key", SecurityScheme::Http(api_key));
        components.add_security_scheme("jwt", SecurityScheme::Http(jwt));
    }
}

/// The description as JSON, as committed in `docs/openapi.json` (pretty, with a
/// final newline).
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI description serializes");
    json.push('\n');
    json
}

/// Rendered once: `/openapi.json` answers with these bytes.
static DOCUMENT: LazyLock<Bytes> = LazyLock::new(|| Bytes::from(document()));

/// Renders the description now, so the first request does not pay for it.
pub(crate) fn render() {
    LazyLock::force(&DOCUMENT);
}

/// `GET /openapi.json`.
pub(crate) async fn serve() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::Value;
    use tasklane_core::Settings;
    use tasklane_core::task::{MAX_ATTEMPTS_LIMIT, MAX_TIMEOUT_MS};

    use super::document;

    fn parsed() -> Value {
        serde_json::from_str(&document()).expect("the description is JSON")
    }

    #[test]
    fn published_bounds_are_the_ceilings_and_the_defaults() {
        let doc = parsed();
        let schemas = &doc["components"]["schemas"];
        let task = &schemas["TaskRequest"]["properties"];
        let defaults = Settings::from_env_map(HashMap::new()).expect("default settings");
        assert_eq!(task["max_attempts"]["maximum"], MAX_ATTEMPTS_LIMIT);
        assert_eq!(defaults.limits.max_attempts, MAX_ATTEMPTS_LIMIT);
        assert_eq!(task["timeout_ms"]["maximum"], MAX_TIMEOUT_MS);
        assert_eq!(
            defaults.limits.max_timeout.as_millis(),
            MAX_TIMEOUT_MS as u128
        );
        let batch = &schemas["BatchRequest"]["properties"]["tasks"];
        assert_eq!(batch["maxItems"], defaults.api.max_batch);
        assert_eq!(
            schemas["BatchTask"]["properties"]["max_attempts"], task["max_attempts"],
            "a batch task is a task"
        );
    }

    #[test]
    fn every_task_and_admin_operation_names_its_scope_for_both_credentials() {
        let doc = parsed();
        for (path, method, scope) in [
            ("/task", "post", "tasks:write"),
            ("/tasks", "post", "tasks:write"),
            ("/task/{id}", "get", "tasks:read"),
            ("/task/{id}", "delete", "tasks:write"),
            ("/stats", "get", "admin"),
        ] {
            let operation = &doc["paths"][path][method];
            let expected = serde_json::json!([{"api_key": [scope]}, {"jwt": [scope]}]);
            assert_eq!(operation["security"], expected, "{method} {path}");
            for status in ["401", "403", "429", "503"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} documents {status}"
                );
            }
        }
        for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
            assert!(
                doc["paths"][path]["get"]["security"].is_null(),
                "{path} is open"
            );
        }
    }

    #[test]
    fn the_committed_description_is_the_generated_one() {
        let committed = include_str!("../../../docs/openapi.json");
        assert!(
            committed == document(),
            "docs/openapi.json differs from the description the code generates; \
             regenerate it with: cargo run -q -p tasklane-api -- --print-openapi > docs/openapi.json"
        );
    }
}
