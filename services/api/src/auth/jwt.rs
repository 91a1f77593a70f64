//! JWT bearer tokens: signature (RS256 / ES256 / EdDSA from a JWKS, HS256 from a
//! secret file), `exp` required, `nbf` and `iat` honoured with 60 s of leeway, `iss`
//! and `aud` when configured; the tenant from the configured claim (else `sub`), the
//! scopes from the space-separated `scope` claim.

use std::sync::Arc;

use anyhow::{Context, bail};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use tasklane_core::config::JwtSettings;
use tasklane_core::tenant::is_valid_tenant;
use tokio_util::sync::CancellationToken;

use super::jwks::{KeySet, PublicKey, RemoteJwks};
use super::principal::{Principal, Scopes};
use super::watched::Watched;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 60;

/// Checks JWTs against the configured keys and claims.
pub(crate) struct JwtVerifier {
    jwks_file: Option<Arc<Watched<KeySet>>>,
    jwks_url: Option<RemoteJwks>,
    hs256: Option<Arc<Watched<DecodingKey>>>,
    validation: Validation,
    tenant_claim: String,
}

impl JwtVerifier {
    /// `None` when no JWT keys are configured.
    pub(crate) async fn start(
        settings: &JwtSettings,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<Self>> {
        if !settings.is_configured() {
            return Ok(None);
        }
        let jwks_file = match &settings.jwks_file {
            Some(path) => Some(Watched::start(
                path,
                "JWKS file",
                KeySet::parse,
                shutdown.clone(),
            )?),
            None => None,
        };
        let jwks_url = match &settings.jwks_url {
            Some(url) => Some(RemoteJwks::start(url).await?),
            None => None,
        };
        let hs256 = match &settings.hs256_secret_file {
            Some(path) => Some(Watched::start(
                path,
                "HS256 secret file",
                parse_secret,
                shutdown.clone(),
            )?),
            None => None,
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            // Without a configured audience a token that names one is still ours.
            None => validation.validate_aud = false,
        }
        Ok(Some(Self {
            jwks_file,
            jwks_url,
            hs256,
            validation,
            tenant_claim: settings.tenant_claim.clone(),
        }))
    }

    /// The principal a valid token stands for; `None` for any invalid token, without
    /// saying why (the reason is only logged at debug level).
    pub(crate) async fn verify(&self, token: &str) -> Option<Principal> {
        match self.check(token).await {
            Ok(principal) => Some(principal),
            Err(e) => {
                tracing::debug!(reason = format!("{e:#}"), "JWT refused");
                None
            }
        }
    }

    async fn check(&self, token: &str) -> anyhow::Result<Principal> {
        let header = decode_header(token).context("header")?;
        let kid = header.kid.as_deref();
        let public;
        let hs256;
        let key: &DecodingKey = match header.alg {
            Algorithm::HS256 => {
                hs256 = self.hs256.as_ref().context("no HS256 secret")?.get();
                &hs256
            }
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA => {
                public = self.public_key(kid).await.context("unknown key")?;
                if public.algorithm != header.alg {
                    bail!("key is for another algorithm");
                }
                &public.key
            }
            other => bail!("algorithm {other:?} not accepted"),
        };
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let claims = decode::<Map<String, Value>>(token, key, &validation)
            .context("validation")?
            .claims;
        if let Some(iat) = claims.get("iat") {
            let iat = iat.as_u64().context("iat is not a number")?;
            if iat > jsonwebtoken::get_current_timestamp() + LEEWAY_SECS {
                bail!("issued in the future");
            }
        }
        self.principal(&claims)
    }

    async fn public_key(&self, kid: Option<&str>) -> Option<Arc<PublicKey>> {
        if let Some(key) = self.jwks_file.as_ref().and_then(|f| f.get().find(kid)) {
            return Some(key);
        }
        match &self.jwks_url {
            Some(remote) => remote.find(kid).await,
            None => None,
        }
    }

    fn principal(&self, claims: &Map<String, Value>) -> anyhow::Result<Principal> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let sub = text("sub").unwrap_or("");
        let tenant = text(&self.tenant_claim)
            .or_else(|| text("sub"))
            .context("no tenant claim and no sub")?;
        if !is_valid_tenant(tenant) {
            bail!("tenant is not a valid tenant name");
        }
        let scopes = Scopes::from_names(text("scope").unwrap_or("").split_ascii_whitespace());
        Ok(Principal {
            actor: Arc::from(if sub.is_empty() { "jwt" } else { sub }),
            tenant: Arc::from(tenant),
            scopes,
        })
    }
}

/// The HS256 secret: the file's bytes with surrounding whitespace trimmed (a file
/// written with `echo` ends in a newline that is not part of the secret).
fn parse_secret(bytes: &[u8]) -> anyhow::Result<DecodingKey> {
    let secret = bytes.trim_ascii();
    if secret.len() < 32 {
        bail!("an HS256 secret must be at least 32 bytes");
    }
    DecodingKey::from_secret(secret).context("HS256 secret")
}
