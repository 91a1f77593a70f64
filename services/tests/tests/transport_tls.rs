//! TLS to NATS (server-verified and mutual) and to Valkey (`rediss://` with a private
//! CA, and with a client certificate), with certificates made for each test: tasks
//! flow end to end through the gateway and the worker, and a client that does not
//! trust the CA, or has no client certificate where one is required, is refused.

use std::time::Duration;

use async_nats::ConnectOptions;
use serde_json::json;
use tasklane_core::store::Store;
use tasklane_testkit::servers::tls_server_binary;
use tasklane_testkit::{
    AppHandle, NatsConfig, NatsServer, ServerTls, Stack, TestCertificates, ValkeyConfig,
    ValkeyServer,
};

const DEADLINE: Duration = Duration::from_secs(30);

/// One echo task through the gateway and the worker.
async fn tasks_flow(stack: &Stack, env: &[(&str, &str)]) {
    let worker = AppHandle::worker(stack.settings(env)).await;
    let api = AppHandle::api(stack.settings(env)).await;
    let id = api
        .client()
        .submit(&json!({"type": "echo", "payload": {"over": "tls"}}))
        .await;
    let record = api
        .client()
        .wait_for_status(&id, "succeeded", DEADLINE)
        .await;
    assert_eq!(record["result"], json!({"over": "tls"}));
    api.stop().await;
    worker.stop().await;
}

/// Fresh certificates, and a stack whose NATS takes TLS clients only (with a client
/// certificate if `mutual`).
fn nats_with_tls(mutual: bool) -> (TestCertificates, Stack) {
    let certs = TestCertificates::generate();
    let stack = Stack {
        nats: NatsServer::start_with(NatsConfig {
            tls: Some(ServerTls::from(&certs, mutual)),
            ..NatsConfig::default()
        }),
        valkey: ValkeyServer::start(),
    };
    (certs, stack)
}

/// Fresh certificates, and a stack whose Valkey has a TLS port (requiring a client
/// certificate if `mutual`).
fn valkey_with_tls(mutual: bool) -> (TestCertificates, Stack) {
    let certs = TestCertificates::generate();
    let stack = Stack {
        nats: NatsServer::start(),
        valkey: ValkeyServer::start_with(ValkeyConfig {
            tls: Some(ServerTls::from(&certs, mutual)),
            ..ValkeyConfig::default()
        }),
    };
    (certs, stack)
}

/// Whether a client with `options` gets a connection (no retries).
async fn nats_accepts(url: &str, options: ConnectOptions) -> Result<(), String> {
    options
        .connection_timeout(Duration::from_secs(2))
        .connect(url)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn nats_over_tls_carries_tasks_and_refuses_a_client_without_the_ca() {
    let (certs, stack) = nats_with_tls(false);
    let ca = certs.file("ca.pem");
    tasks_flow(&stack, &[("TASKLANE_NATS__TLS__CA_FILE", &ca)]).await;

    let url = stack.nats.url();
    let without_ca = nats_accepts(&url, ConnectOptions::new()).await;
    assert!(
        without_ca.is_err(),
        "the system roots do not know the test CA"
    );
    let other_ca = nats_accepts(
        &url,
        ConnectOptions::new().add_root_certificates(certs.path("other-ca.pem")),
    )
    .await;
    assert!(
        other_ca.is_err(),
        "a server certificate of another CA is refused"
    );
    let plain = nats_accepts(&url, ConnectOptions::new().require_tls(false)).await;
    assert!(plain.is_err(), "the server takes no plain-text clients");
    nats_accepts(
        &url,
        ConnectOptions::new().add_root_certificates(certs.path("ca.pem")),
    )
    .await
    .expect("with the CA the client connects");
}

#[tokio::test]
async fn nats_with_mutual_tls_carries_tasks_and_refuses_a_client_without_a_certificate() {
    let (certs, stack) = nats_with_tls(true);
    let (ca, cert, key) = (
        certs.file("ca.pem"),
        certs.file("client.pem"),
        certs.file("client-key.pem"),
    );
    tasks_flow(
        &stack,
        &[
            ("TASKLANE_NATS__TLS__CA_FILE", &ca),
            ("TASKLANE_NATS__TLS__CERT_FILE", &cert),
            ("TASKLANE_NATS__TLS__KEY_FILE", &key),
        ],
    )
    .await;

    let url = stack.nats.url();
    let no_certificate = nats_accepts(
        &url,
        ConnectOptions::new().add_root_certificates(certs.path("ca.pem")),
    )
    .await;
    assert!(
        no_certificate.is_err(),
        "mutual TLS: a client without a certificate is refused"
    );
    nats_accepts(
        &url,
        ConnectOptions::new()
            .add_root_certificates(certs.path("ca.pem"))
            .add_client_certificate(certs.path("client.pem"), certs.path("client-key.pem")),
    )
    .await
    .expect("with a client certificate the client connects");
}

/// A TLS-capable server is not the pinned valkey-server (built without TLS);
/// `scripts/test.sh` provides one. Without it the test says so and passes.
fn tls_capable() -> bool {
    let found = tls_server_binary().is_some();
    if !found {
        eprintln!(
            "SKIPPED: no Valkey-compatible server with TLS (VALKEY_TLS_SERVER_BIN unset, no redis-server on PATH); scripts/test.sh installs one"
        );
    }
    found
}

/// Whether a store for Valkey at `url`, trusting `ca` if given, answers a PING;
/// fails (never hangs) otherwise.
async fn store_answers(stack: &Stack, url: &str, ca: Option<&str>) -> Result<(), String> {
    let mut env = vec![("TASKLANE_VALKEY__URL", url)];
    env.extend(ca.map(|ca| ("TASKLANE_VALKEY__TLS__CA_FILE", ca)));
    let settings = stack.settings(&env);
    let store =
        Store::connect(&settings.valkey, settings.results.ttl).map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(10), store.ping())
        .await
        .expect("a refused connection is an error within the command timeout, not a hang")
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn valkey_over_tls_with_a_private_ca_carries_tasks_and_refuses_a_client_without_it() {
    if !tls_capable() {
        return;
    }
    let (certs, stack) = valkey_with_tls(false);
    let url = stack.valkey.tls_url().expect("a TLS port");
    let ca = certs.file("ca.pem");
    let with_ca = [
        ("TASKLANE_VALKEY__URL", url.as_str()),
        ("TASKLANE_VALKEY__TLS__CA_FILE", &ca),
    ];
    tasks_flow(&stack, &with_ca).await;

    let other = certs.file("other-ca.pem");
    let refused = store_answers(&stack, &url, Some(&other)).await;
    assert!(
        refused.is_err(),
        "a server certificate of another CA is refused"
    );
    let system_roots = store_answers(&stack, &url, None).await;
    assert!(
        system_roots.is_err(),
        "the system roots do not know the test CA"
    );
    let plain_url = format!("redis://127.0.0.1:{}", stack.valkey.tls_port.unwrap());
    let plain = store_answers(&stack, &plain_url, None).await;
    assert!(plain.is_err(), "plain text to the TLS port gets nowhere");
}

#[tokio::test]
async fn valkey_with_mutual_tls_carries_tasks_and_refuses_a_client_without_a_certificate() {
    if !tls_capable() {
        return;
    }
    let (certs, stack) = valkey_with_tls(true);
    let url = stack.valkey.tls_url().expect("a TLS port");
    let (ca, cert, key) = (
        certs.file("ca.pem"),
        certs.file("client.pem"),
        certs.file("client-key.pem"),
    );
    tasks_flow(
        &stack,
        &[
            ("TASKLANE_VALKEY__URL", url.as_str()),
            ("TASKLANE_VALKEY__TLS__CA_FILE", &ca),
            ("TASKLANE_VALKEY__TLS__CERT_FILE", &cert),
            ("TASKLANE_VALKEY__TLS__KEY_FILE", &key),
        ],
    )
    .await;
    let no_certificate = store_answers(&stack, &url, Some(&ca)).await;
    assert!(
        no_certificate.is_err(),
        "mutual TLS: a client without a certificate is refused"
    );
}
