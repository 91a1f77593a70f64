//! What a test may set on a server beyond its ports: TLS, NATS accounts, Valkey ACL
//! users.

use std::path::PathBuf;

/// Server settings beyond ports and JetStream, written to a config file.
#[derive(Debug, Clone, Default)]
pub struct NatsConfig {
    /// TLS on the client port.
    pub tls: Option<ServerTls>,
    /// The `accounts` block, as JSON (nats-server reads JSON syntax too).
    pub accounts: Option<serde_json::Value>,
}

/// A server's certificate and key, the CA its clients' certificates must chain to,
/// and whether a client certificate is required (mutual TLS).
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: PathBuf,
    pub verify: bool,
}

impl ServerTls {
    /// The server side of `certs`.
    pub fn from(certs: &crate::TestCertificates, verify: bool) -> Self {
        Self {
            cert_file: certs.path("server.pem"),
            key_file: certs.path("server-key.pem"),
            ca_file: certs.path("ca.pem"),
            verify,
        }
    }
}

impl NatsConfig {
    pub(super) fn text(&self) -> String {
        let mut text = String::new();
        if let Some(tls) = &self.tls {
            text.push_str(&format!(
                "tls {}\n",
                serde_json::json!({
                    "cert_file": tls.cert_file,
                    "key_file": tls.key_file,
                    "ca_file": tls.ca_file,
                    "verify": tls.verify,
                    "timeout": 2,
                })
            ));
        }
        if let Some(accounts) = &self.accounts {
            text.push_str(&format!("accounts {accounts}\n"));
        }
        text
    }
}

/// Server settings beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct ValkeyConfig {
    /// ACL users: name, password, and the rules after `on`, as in an ACL file.
    pub users: Vec<(String, String, String)>,
    /// TLS on a second port; needs a server built with TLS ([`tls_server_binary`]).
    pub tls: Option<ServerTls>,
}

/// A Valkey-compatible server with TLS built in: `VALKEY_TLS_SERVER_BIN` (set by
/// `scripts/test.sh`; the pinned valkey-server has no TLS), else `redis-server` on
/// `PATH` if there is one.
pub fn tls_server_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("VALKEY_TLS_SERVER_BIN")
        && !path.is_empty()
    {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.is_file())
    })
}
