//! API keys from the keys file: only each secret's SHA-256 is stored, and a presented
//! token is checked against every key in constant time.

use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tasklane_core::tenant::is_valid_tenant;

use super::principal::{Principal, Scope, Scopes};

/// The keys file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    sha256: String,
    tenant: String,
    scopes: Vec<String>,
}

/// One key, ready to check tokens against.
struct ApiKey {
    digest: [u8; 32],
    principal: Principal,
}

/// Every key of one version of the keys file.
pub(crate) struct ApiKeys {
    keys: Vec<ApiKey>,
}

impl ApiKeys {
    /// Parses a keys file; any bad entry rejects the whole file, so a typo never
    /// silently drops a key (the previous version stays in force instead).
    pub(crate) fn parse(bytes: &[u8]) -> anyhow::Result<Self> {
        let text = std::str::from_utf8(bytes).context("not UTF-8")?;
        let file: KeysFile = toml::from_str(text).context("not a keys file")?;
        let mut keys = Vec::with_capacity(file.key.len());
        for (index, entry) in file.key.into_iter().enumerate() {
            let at = || format!("key[{index}] (id `{}`)", entry.id);
            if entry.id.is_empty() {
                bail!("key[{index}]: id must not be empty");
            }
            let mut digest = [0u8; 32];
            hex::decode_to_slice(entry.sha256.trim(), &mut digest)
                .with_context(|| format!("{}: sha256 must be 64 hex digits", at()))?;
            if !is_valid_tenant(&entry.tenant) {
                bail!("{}: tenant must be 1 to 64 of A-Za-z0-9._-", at());
            }
            let mut scopes = Scopes::default();
            for name in &entry.scopes {
                let scope = Scope::parse(name)
                    .with_context(|| format!("{}: unknown scope `{name}`", at()))?;
                scopes = scopes.with(scope);
            }
            keys.push(ApiKey {
                digest,
                principal: Principal {
                    actor: Arc::from(entry.id.as_str()),
                    tenant: Arc::from(entry.tenant.as_str()),
                    scopes,
                },
            });
        }
        Ok(Self { keys })
    }

    /// The key whose secret is `token`. Every key is compared, each in constant time,
    /// so the answer's timing says nothing about which key came close.
    pub(crate) fn find(&self, token: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.digest.ct_eq(&digest)) {
                found = Some(&key.principal);
            }
        }
        found.cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(secret: &str, extra: &str) -> String {
        format!(
            "[[key]]\nid = \"ci\"\nsha256 = \"{}\"\ntenant = \"billing\"\nscopes = [\"tasks:write\"]\n{extra}",
            hex::encode(Sha256::digest(secret.as_bytes()))
        )
    }

    #[test]
    fn finds_a_key_by_its_secret_only() {
        let keys = ApiKeys::parse(file("s3cret", "").as_bytes()).unwrap();
        let principal = keys.find("s3cret").expect("the key");
        assert_eq!(&*principal.actor, "ci");
        assert_eq!(&*principal.tenant, "billing");
        assert!(principal.scopes.contains(Scope::TasksWrite));
        assert!(!principal.scopes.contains(Scope::TasksRead));
        assert!(keys.find("s3cre").is_none());
        assert!(keys.find(&hex::encode(Sha256::digest(b"s3cret"))).is_none());
    }

    #[test]
    fn a_bad_entry_rejects_the_whole_file() {
        for broken in [
            "[[key]]\nid = \"x\"\nsha256 = \"abc\"\ntenant = \"t\"\nscopes = []\n",
            "[[key]]\nid = \"x\"\nsha256 = \"{h}\"\ntenant = \"a:b\"\nscopes = []\n",
            "[[key]]\nid = \"x\"\nsha256 = \"{h}\"\ntenant = \"t\"\nscopes = [\"root\"]\n",
            "[[key]]\nid = \"x\"\nsha256 = \"{h}\"\ntenant = \"t\"\nscopes = []\nextra = 1\n",
            "[[key]\n",
        ] {
            let text = broken.replace("{h}", &"0".repeat(64));
            let extra = format!("\n{text}");
            assert!(
                ApiKeys::parse(file("s", &extra).as_bytes()).is_err(),
                "{text}"
            );
        }
    }
}
