//! The Valkey client as configured: the URL, Sentinel, a password read from a
//! file, TLS with a private CA and an optional client certificate.

use std::path::Path;
use std::time::Duration;

use fred::prelude::*;
use fred::types::config::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::StoreError;
use crate::config::ValkeySettings;

/// A client for `settings` (through Sentinel when configured) whose commands wait up
/// to `command_timeout`, reconnecting forever.
pub(super) fn build_client(
    settings: &ValkeySettings,
    command_timeout: Duration,
) -> Result<Client, StoreError> {
    let mut config = Config::from_url(settings.url.expose())?;
    if let Some(path) = &settings.password_file {
        config.password = Some(read_password(path)?);
    }
    if let Some(tls) = tls_config(settings)? {
        config.tls = Some(tls);
    }
    if let Some(sentinels) = settings.sentinel_addrs() {
        // The URL still gives the scheme (TLS), password and database; Sentinel gives
        // the primary's address, asked again on every reconnect.
        config.server = ServerConfig::new_sentinel(sentinels, settings.sentinel_service.clone());
    }
    // Keep trying when Valkey is down at start-up too, instead of giving up on
    // the first connection: pods start in any order.
    config.fail_fast = false;
    Ok(Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 2;
        })
        .with_performance_config(|p| {
            p.default_command_timeout = command_timeout;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 50, 1_000, 2))
        .build()?)
}

/// A mounted Secret's password; a trailing newline (as `echo` writes it) is not part
/// of it.
fn read_password(path: &Path) -> Result<String, StoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error("password_file", path, e))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// For a `rediss://` URL with `valkey.tls.*` set: verify the server against that CA
/// only (not the system roots), and present the client certificate when one is set.
/// `None` leaves the URL's own choice (system roots for `rediss://`).
pub(super) fn tls_config(settings: &ValkeySettings) -> Result<Option<TlsConfig>, StoreError> {
    let files = &settings.tls;
    let Some(ca) = &files.ca_file else {
        if files.cert_file.is_none() {
            return Ok(None);
        }
        return Err(StoreError::Setup(
            "valkey.tls.cert_file needs valkey.tls.ca_file".into(),
        ));
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| file_error("tls.ca_file", ca, e))? {
        let cert = cert.map_err(|e| file_error("tls.ca_file", ca, e))?;
        roots
            .add(cert)
            .map_err(|e| file_error("tls.ca_file", ca, e))?;
    }
    if roots.is_empty() {
        return Err(file_error("tls.ca_file", ca, "no certificate in it"));
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| file_error("tls.cert_file", cert, e))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| file_error("tls.key_file", key, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| file_error("tls.cert_file", cert, e))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(TlsConfig::from(config)))
}

fn file_error(setting: &str, path: &Path, error: impl std::fmt::Display) -> StoreError {
    StoreError::Setup(format!("valkey.{setting} {}: {error}", path.display()))
}
