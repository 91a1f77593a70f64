//! The start-up sequence both binaries share: load configuration (exit 2 with one
//! line on a bad value), set up logging, log risky settings, turn SIGTERM/SIGINT into
//! a cancellation token, run, and map the outcome to the process exit code.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::{Settings, shutdown, telemetry};

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
    telemetry::init(settings.log.format);
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    match serve(settings, shutdown::on_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{binary} failed");
            ExitCode::FAILURE
        }
    }
}
