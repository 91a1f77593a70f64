//! Logging and tracing set-up: JSON lines (or human-readable text) on stdout, level
//! filter from `RUST_LOG`, and, when an OTLP endpoint is configured, the spans
//! exported to it. Span fields (`request_id`, `task_id`, `task_type`, `attempt`,
//! `trace_id`) ride along on every line logged inside the span.

mod export;

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::ExporterBuildError;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetrySettings};

/// The target of spans that are logged but never exported: health probes and
/// scrapes would otherwise add a trace every few seconds per pod.
pub const UNEXPORTED: &str = "tasklane::unexported";

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported, i.e. the OpenTelemetry layer is installed.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// What [`init`] set up; [`Telemetry::shutdown`] flushes the spans still batched.
pub(crate) struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the last batch of spans (bounded), so a graceful stop loses none.
    pub(crate) async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // The SDK's shutdown blocks on its exporter thread.
            let _ = tokio::task::spawn_blocking(move || export::flush(&provider)).await;
        }
    }
}

/// Sets up the global subscriber for the process `service` (the exported
/// `service.name`); a second call keeps the first.
pub(crate) fn init(
    format: LogFormat,
    settings: &TelemetrySettings,
    service: &str,
) -> Result<Telemetry, ExporterBuildError> {
    let provider = export::provider(settings, service)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(std::io::stdout)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_writer(std::io::stdout)
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(lines);
    // No provider, no layer: without an endpoint spans cost what they did before.
    let installed = match &provider {
        Some(provider) => subscriber
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("tasklane"))
                    .with_filter(filter_fn(|metadata| metadata.target() != UNEXPORTED)),
            )
            .try_init()
            .is_ok(),
        // A second init (tests start several apps in one process) is harmless: keep the first.
        None => subscriber.try_init().is_ok(),
    };
    EXPORTING.store(installed && provider.is_some(), Ordering::Relaxed);
    Ok(Telemetry { provider })
}

/// An error and its sources on one line, `outer: inner: innermost`, for a log field.
/// A source whose text its parent's message already includes is not repeated.
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut written = self.0.to_string();
        f.write_str(&written)?;
        let mut next = self.0.source();
        while let Some(source) = next {
            let text = source.to_string();
            if !written.contains(&text) {
                write!(f, ": {text}")?;
                written.push_str(&text);
            }
            next = source.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct Layer {
        message: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layer(message: &'static str, source: Option<Layer>) -> Layer {
        Layer {
            message,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn a_chain_names_each_cause_once() {
        let root = layer("connection refused", None);
        let middle = layer("valkey: connection refused", Some(root));
        let top = layer("reserving the idempotency key", Some(middle));
        assert_eq!(
            ErrorChain(&top).to_string(),
            "reserving the idempotency key: valkey: connection refused"
        );
    }
}
