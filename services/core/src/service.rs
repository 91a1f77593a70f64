//! What both binaries do around their own work: the start-up sequence (load
//! configuration, exit 2 with one line on a bad value, set up logging and trace
//! export, log risky settings, turn SIGTERM/SIGINT into a cancellation token, run,
//! map the outcome to the exit code, flush the last spans), and connecting to NATS
//! and Valkey.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::queue::{Queue, QueueError};
use crate::store::{Store, StoreError};
use crate::{Settings, shutdown, telemetry};

/// Runs `serve` as the binary `binary` and returns its exit code: 2 for a bad
/// configuration, 1 when `serve` fails, 0 when it returns after the shutdown signal.
pub async fn run<F, Fut, E>(binary: &str, serve: F) -> ExitCode
where
    F: FnOnce(Settings, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{binary}: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match telemetry::init(settings.log.format, &settings.telemetry, binary) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("{binary}: trace export: {e}");
            return ExitCode::from(2);
        }
    };
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    let code = match serve(settings, shutdown::on_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{binary} failed");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}

/// Why [`connect`] failed. Both clients connect in the background, so this is about
/// configuration (addresses, credentials), not about a server being down.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The NATS client could not be set up.
    #[error("connecting to NATS: {0}")]
    Nats(#[source] QueueError),
    /// The Valkey client could not be set up.
    #[error("configuring Valkey: {0}")]
    Valkey(#[source] StoreError),
}

/// Connects to NATS (as client `name`) and Valkey; publishes wait up to
/// `publish_timeout` for their PubAck.
pub async fn connect(
    settings: &Settings,
    name: &str,
    publish_timeout: Duration,
) -> Result<(Queue, Store), ConnectError> {
    let queue = Queue::connect(settings, name, publish_timeout)
        .await
        .map_err(ConnectError::Nats)?;
    let store =
        Store::connect(&settings.valkey, settings.results.ttl).map_err(ConnectError::Valkey)?;
    Ok((queue, store))
}
