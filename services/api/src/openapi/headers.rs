//! The headers the description gives responses: those that come with a problem,
//! and the request id every answer carries.

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};

fn header(kind: Type, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(kind)))
        .description(Some(description))
        .build()
}

/// The headers that come with a problem of `status`; `retry_after` when one of its
/// kinds asks the client to come back later.
pub(super) fn problem_headers(status: u16, retry_after: bool) -> Vec<(&'static str, Header)> {
    let mut headers = Vec::new();
    if matches!(status, 401 | 403) {
        headers.push((
            "WWW-Authenticate",
            header(
                Type::String,
                "The Bearer challenge (RFC 6750): `error=\"invalid_token\"` for a token that \
                 is not valid, `error=\"insufficient_scope\", scope=\"…\"` on 403.",
            ),
        ));
    }
    if retry_after && matches!(status, 409 | 429 | 503) {
        headers.push((
            "Retry-After",
            header(Type::Integer, "Seconds to wait before retrying."),
        ));
    }
    if status == 429 {
        headers.push((
            "RateLimit-Policy",
            header(
                Type::String,
                "With tenant limits on, the tenant's quota: `\"tenant\";q=<burst>;w=<seconds>` \
                 (draft-ietf-httpapi-ratelimit-headers).",
            ),
        ));
        headers.push((
            "RateLimit",
            header(
                Type::String,
                "With tenant limits on, what is left: `\"tenant\";r=<remaining>;t=<seconds>`.",
            ),
        ));
    }
    headers
}

/// `X-Request-Id` on every response of `operation`.
pub(super) fn add_request_id(operation: &mut Operation) {
    for response in operation.responses.responses.values_mut() {
        if let utoipa::openapi::RefOr::T(response) = response {
            response.headers.insert(
                "X-Request-Id".to_string(),
                header(
                    Type::String,
                    "The request's id: the caller's when it was 1 to 128 of `A-Za-z0-9._:-`, \
                     else a new UUID. Also in the gateway's log lines.",
                )
                .into(),
            );
        }
    }
}
