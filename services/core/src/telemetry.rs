//! Logging set-up: JSON lines (or human-readable text) on stdout, level filter from
//! `RUST_LOG`. Span fields (`request_id`, `task_id`, `task_type`, `attempt`,
//! `trace_id`) ride along on every line logged inside the span.

use std::error::Error;
use std::fmt;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Sets up the global subscriber; a second call keeps the first.
pub(crate) fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    // A second init (tests start several apps in one process) is harmless: keep the first.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
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
