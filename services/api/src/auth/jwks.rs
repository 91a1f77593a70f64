//! Public keys for RS256 / ES256 / EdDSA tokens, from a JWKS document: a file kept
//! current like the keys file, or a URL fetched at start-up and again when a token
//! names a key id it does not know (a key rotation), at most once a minute.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Shortest time between two fetches of the JWKS URL, so tokens with made-up key ids
/// cannot make the gateway hammer the identity provider.
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Longest wait for the JWKS URL.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One usable key.
pub(crate) struct PublicKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
}

/// The usable keys of one JWKS document, by key id.
#[derive(Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<PublicKey>>,
    /// The only key, for tokens without a `kid` when the set has exactly one.
    single: Option<Arc<PublicKey>>,
}

impl KeySet {
    /// Parses a JWKS document. Keys of other types or algorithms are skipped (an
    /// identity provider publishes all its keys); a document with none usable is an
    /// error, so a wrong file is noticed.
    pub(crate) fn parse(bytes: &[u8]) -> anyhow::Result<Self> {
        let set: JwkSet = serde_json::from_slice(bytes).context("not a JWKS document")?;
        let mut keys = Self::default();
        let mut usable = Vec::new();
        for jwk in &set.keys {
            let Some(algorithm) = algorithm_of(jwk) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let key = Arc::new(PublicKey { algorithm, key });
            if let Some(kid) = &jwk.common.key_id {
                keys.by_kid.insert(kid.clone(), Arc::clone(&key));
            }
            usable.push(key);
        }
        if usable.is_empty() {
            bail!("no RS256, ES256 or EdDSA key in it");
        }
        if usable.len() == 1 {
            keys.single = usable.pop();
        }
        Ok(keys)
    }

    pub(crate) fn find(&self, kid: Option<&str>) -> Option<Arc<PublicKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            None => self.single.clone(),
        }
    }
}

/// The algorithm a JWK is for: its `alg` when given, else the one its key type and
/// curve allow. Only the asymmetric algorithms the contract names are accepted.
fn algorithm_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(KeyAlgorithm::EdDSA) if by_type == Algorithm::EdDSA => Some(by_type),
        Some(_) => None,
    }
}

/// A JWKS URL and the keys last fetched from it.
pub(crate) struct RemoteJwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// When the last fetch started; one fetch at a time.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl RemoteJwks {
    /// Fetches `url` once now; a failure is logged, not fatal (the identity provider
    /// may start after us), and the next unknown key id tries again. The start-up
    /// fetch does not count against the once-a-minute limit: a provider that rotated
    /// keys right after it must not lock tokens out for a minute.
    pub(crate) async fn start(url: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the JWKS client")?;
        let remote = Self {
            url: url.to_string(),
            client,
            keys: RwLock::new(Arc::new(KeySet::default())),
            last_fetch: tokio::sync::Mutex::new(None),
        };
        match remote.fetch().await {
            Ok(keys) => remote.replace(keys),
            Err(e) => {
                tracing::warn!(url = %remote.url, error = format!("{e:#}"), "JWKS not fetched at start-up; will retry on the first token");
            }
        }
        Ok(remote)
    }

    /// The key `kid` names, fetching the document again when it is unknown and the
    /// last fetch is more than a minute old.
    pub(crate) async fn find(&self, kid: Option<&str>) -> Option<Arc<PublicKey>> {
        if let Some(key) = self.current().find(kid) {
            return Some(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have fetched while this one waited for the lock.
        if let Some(key) = self.current().find(kid) {
            return Some(key);
        }
        if last_fetch.is_some_and(|at| at.elapsed() < REFETCH_INTERVAL) {
            return None;
        }
        *last_fetch = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(url = %self.url, "JWKS fetched again for an unknown key id");
                self.replace(keys);
            }
            Err(e) => {
                tracing::error!(url = %self.url, error = format!("{e:#}"), "JWKS fetch failed; keeping the last keys");
            }
        }
        self.current().find(kid)
    }

    fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn replace(&self, keys: KeySet) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
    }

    async fn fetch(&self) -> anyhow::Result<KeySet> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .context("requesting the JWKS")?
            .error_for_status()
            .context("the JWKS URL answered")?;
        let body = response.bytes().await.context("reading the JWKS")?;
        KeySet::parse(&body)
    }
}
