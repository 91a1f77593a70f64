//! Credentials for the authentication tests: an API keys file written the way a
//! Kubernetes Secret volume presents it, and JWTs signed with the fixture keys.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tasklane_testkit::{AppHandle, Stack};

/// A secret at least 32 bytes long, as HS256 needs.
pub const HS256_SECRET: &str = "an-hs256-secret-for-the-tests-0123456789";

/// A key of tenant `billing` that may submit and read.
pub const BILLING: ApiKey<'static> = ApiKey {
    id: "billing-ci",
    secret: "tl_billing_9f8e7d6c5b4a",
    tenant: "billing",
    scopes: &["tasks:write", "tasks:read"],
};

/// A key of tenant `search` that may submit and read.
pub const SEARCH: ApiKey<'static> = ApiKey {
    id: "search-ci",
    secret: "tl_search_secret_2",
    tenant: "search",
    scopes: &["tasks:write", "tasks:read"],
};

/// One `[[key]]` of a keys file.
#[derive(Clone, Copy)]
pub struct ApiKey<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub tenant: &'a str,
    pub scopes: &'a [&'a str],
}

pub fn keys_file_text(keys: &[ApiKey<'_>]) -> String {
    keys.iter()
        .map(|key| {
            let scopes: Vec<String> = key.scopes.iter().map(|s| format!("\"{s}\"")).collect();
            format!(
                "[[key]]\nid = \"{}\"\nsha256 = \"{}\"\ntenant = \"{}\"\nscopes = [{}]\n\n",
                key.id,
                hex::encode(Sha256::digest(key.secret.as_bytes())),
                key.tenant,
                scopes.join(", ")
            )
        })
        .collect()
}

/// A folder laid out like a mounted Secret: `keys.toml` is a symlink through
/// `..data` to a timestamped folder, and an update swaps `..data` at once.
pub struct SecretVolume {
    pub dir: tempfile::TempDir,
    version: u32,
}

impl SecretVolume {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let mut volume = Self {
            dir: tempfile::tempdir().expect("temp dir"),
            version: 0,
        };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(
                Path::new("..data").join(name),
                volume.dir.path().join(name),
            )
            .expect("file symlink");
        }
        volume
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a new version and swaps `..data` to it, as the kubelet does.
    pub fn update(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let version = format!("..v{}", self.version);
        let folder = self.dir.path().join(&version);
        std::fs::create_dir(&folder).expect("version folder");
        for (name, text) in files {
            std::fs::write(folder.join(name), text).expect("secret file");
        }
        let staged = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&version, &staged).expect("staged link");
        std::fs::rename(&staged, self.dir.path().join("..data")).expect("swap ..data");
    }
}

/// The fixture keys, by algorithm.
pub fn signing_key(algorithm: Algorithm) -> EncodingKey {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/jwt");
    let pem = |name: &str| std::fs::read(dir.join(name)).expect("fixture key");
    match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem("rs256.pem")).expect("RSA key"),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem("es256.pem")).expect("EC key"),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem("eddsa.pem")).expect("Ed25519 key"),
        Algorithm::HS256 => EncodingKey::from_secret(HS256_SECRET.as_bytes()).expect("HS256 key"),
        other => panic!("no fixture key for {other:?}"),
    }
}

/// The public JWK of the fixture key for `algorithm`, named `kid`.
pub fn public_jwk(algorithm: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&signing_key(algorithm), algorithm).expect("JWK");
    jwk.common.key_id = Some(kid.to_string());
    jwk
}

pub fn jwks(keys: &[(Algorithm, &str)]) -> String {
    let set = JwkSet {
        keys: keys
            .iter()
            .map(|(alg, kid)| public_jwk(*alg, kid))
            .collect(),
    };
    serde_json::to_string(&set).expect("JWKS serializes")
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Claims valid for an hour, for `tenant` with `scope`; `extra` overrides any.
pub fn claims(tenant: &str, scope: &str, extra: Value) -> Value {
    let mut claims = json!({
        "sub": format!("{tenant}-client"),
        "tenant": tenant,
        "scope": scope,
        "iat": now(),
        "exp": now() + 3600,
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        for (name, value) in extra {
            if value.is_null() {
                claims.remove(name);
            } else {
                claims.insert(name.clone(), value.clone());
            }
        }
    }
    claims
}

/// A token signed with the fixture key for `algorithm`, naming `kid`.
pub fn token(algorithm: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_string);
    encode(&header, claims, &signing_key(algorithm)).expect("token signs")
}

/// A keys file with [`BILLING`] and [`SEARCH`].
pub fn two_tenants() -> SecretVolume {
    SecretVolume::new(&[("keys.toml", &keys_file_text(&[BILLING, SEARCH]))])
}

/// A gateway that requires a token and reads its API keys from `volume`'s `keys.toml`.
pub async fn keyed_gateway(stack: &Stack, volume: &SecretVolume) -> AppHandle {
    let keys = volume.path("keys.toml");
    stack
        .api(&[
            ("TASKLANE_AUTH__MODE", "required"),
            ("TASKLANE_AUTH__KEYS_FILE", keys.to_str().unwrap()),
        ])
        .await
}
