//! OTLP/HTTP trace export: built only when an endpoint is configured, so a process
//! without one installs no OpenTelemetry layer and pays nothing per span.

use std::time::Duration;

use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::config::TelemetrySettings;

/// The standard variables the exporter reads by itself when `telemetry.otlp_endpoint`
/// is unset; either one turns export on.
const STANDARD_ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];
/// Where OTLP/HTTP takes spans, below the collector's base URL.
const TRACES_PATH: &str = "/v1/traces";
/// Longest a shutdown waits for the last batch to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the tracer provider with a batch exporter, or `None` when no endpoint is
/// configured. `service` becomes the resource's `service.name`.
pub(super) fn provider(
    settings: &TelemetrySettings,
    service: &str,
) -> Result<Option<SdkTracerProvider>, ExporterBuildError> {
    let exporter = SpanExporter::builder().with_http();
    let exporter = match settings.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
        // Same meaning as OTEL_EXPORTER_OTLP_ENDPOINT: a base URL; the exporter uses
        // a programmatic endpoint as-is, so the signal path is added here.
        Some(base) => {
            exporter.with_endpoint(format!("{}{TRACES_PATH}", base.trim_end_matches('/')))
        }
        None if STANDARD_ENDPOINT_VARS
            .iter()
            .any(|var| std::env::var(var).is_ok_and(|v| !v.is_empty())) =>
        {
            exporter
        }
        None => return Ok(None),
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter.build()?)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_string())
                .build(),
        )
        .build();
    Ok(Some(provider))
}

/// Sends what the batch still holds and stops the exporter's thread.
pub(super) fn flush(provider: &SdkTracerProvider) {
    if let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
        tracing::warn!(error = %e, "flushing the last spans failed");
    }
}
