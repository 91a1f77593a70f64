//! Authentication and scopes: who a request comes from (an API key from the keys
//! file, or a JWT), which tenant it acts for, and whether it may use the route.
//! Handlers receive the outcome as a [`Principal`] request extension.

mod api_keys;
mod jwks;
mod jwt;
mod principal;
mod watched;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tasklane_core::config::{AuthMode, AuthSettings};
use tokio_util::sync::CancellationToken;

use self::api_keys::ApiKeys;
use self::jwt::JwtVerifier;
pub(crate) use self::principal::{Principal, Scope};
use self::watched::Watched;
use crate::audit::AuditEvent;
use crate::error::ApiError;
use crate::headers::REQUEST_ID;

/// Checks credentials as `auth.*` configures.
pub(crate) struct Authenticator {
    /// `None` when authentication is off: every request is this principal.
    required: Option<Credentials>,
    anonymous: Principal,
}

struct Credentials {
    api_keys: Option<Arc<Watched<ApiKeys>>>,
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// Loads the keys file and the JWT keys (an unreadable or invalid one stops
    /// start-up) and keeps them current until `shutdown`.
    pub(crate) async fn start(
        settings: &AuthSettings,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let required = match settings.mode {
            AuthMode::Off => {
                tracing::warn!(
                    "auth.mode is off: no credentials are checked and every request acts for tenant `default` with every scope"
                );
                None
            }
            AuthMode::Required => Some(Credentials {
                api_keys: match &settings.keys_file {
                    Some(path) => Some(Watched::start(
                        path,
                        "API keys file",
                        ApiKeys::parse,
                        shutdown.clone(),
                    )?),
                    None => None,
                },
                jwt: JwtVerifier::start(&settings.jwt, shutdown).await?,
            }),
        };
        Ok(Self {
            required,
            anonymous: Principal::anonymous(),
        })
    }

    /// The caller of a request with `headers`, if it may use a route that needs
    /// `scope`; else the 401 or 403 answer, after its audit event.
    async fn authorize(&self, headers: &HeaderMap, scope: Scope) -> Result<Principal, Response> {
        let Some(credentials) = &self.required else {
            return Ok(self.anonymous.clone());
        };
        let audit = |actor: &str, tenant: &str, outcome: &str| {
            let request_id = headers
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            AuditEvent {
                actor,
                tenant,
                action: scope.as_str(),
                outcome,
                request_id,
            }
            .emit();
        };
        let Some(token) = bearer_token(headers) else {
            audit("-", "-", "unauthenticated");
            return Err(unauthorized(false));
        };
        let Some(principal) = credentials.identify(token).await else {
            audit("-", "-", "unauthenticated");
            return Err(unauthorized(true));
        };
        if !principal.scopes.contains(scope) {
            audit(&principal.actor, &principal.tenant, "forbidden");
            return Err(forbidden(scope));
        }
        Ok(principal)
    }
}

impl Credentials {
    async fn identify(&self, token: &str) -> Option<Principal> {
        if looks_like_jwt(token) {
            self.jwt.as_ref()?.verify(token).await
        } else {
            self.api_keys.as_ref()?.get().find(token)
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any case).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Three dot-separated, non-empty base64url parts.
fn looks_like_jwt(token: &str) -> bool {
    let mut parts = 0;
    for part in token.split('.') {
        parts += 1;
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if part.is_empty() || !part.bytes().all(base64url) {
            return false;
        }
    }
    parts == 3
}

fn unauthorized(token_given: bool) -> Response {
    let challenge = if token_given {
        r#"Bearer realm="tasklane", error="invalid_token""#
    } else {
        r#"Bearer realm="tasklane""#
    };
    ApiError::unauthorized()
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )
        .into_response()
}

fn forbidden(scope: Scope) -> Response {
    let challenge = format!(
        r#"Bearer error="insufficient_scope", scope="{}""#,
        scope.as_str()
    );
    ApiError::forbidden(scope.as_str())
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).expect("a scope name is a valid header value"),
        )
        .into_response()
}

/// What a route layer needs: the authenticator and the scope of its route.
#[derive(Clone)]
pub(crate) struct Gate {
    pub(crate) authenticator: Arc<Authenticator>,
    pub(crate) scope: Scope,
}

/// Route layer: lets the request through with its [`Principal`], or answers 401/403.
pub(crate) async fn require(
    State(gate): State<Gate>,
    mut request: Request,
    next: Next,
) -> Response {
    match gate
        .authenticator
        .authorize(request.headers(), gate.scope)
        .await
    {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(refusal) => refusal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_is_three_base64url_parts_and_anything_else_an_api_key() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(looks_like_jwt("a-_.b.c"));
        for api_key in ["tl_abc123", "a.b", "a.b.c.d", "a..c", "a.b.c=", "a.b c.d"] {
            assert!(!looks_like_jwt(api_key), "{api_key}");
        }
    }

    #[test]
    fn only_a_bearer_header_carries_a_token() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(bearer_token(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with("Basic abc")), None);
        assert_eq!(bearer_token(&with("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
