//! W3C Trace Context (`traceparent`) handling: enough to carry one trace from the
//! HTTP request through the queue into the worker, and to put `trace_id` on logs.
//! When spans are exported, the same contexts become the exported spans' parents, so
//! the caller's span, the gateway's request span and the worker's task span form one
//! trace.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use rand::Rng;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry;

/// A parsed `traceparent`: version 00, 16-byte trace id, 8-byte parent span id, flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits, shared by every hop of the trace.
    pub trace_id: String,
    /// 16 lowercase hex digits naming the hop.
    pub span_id: String,
    /// Trace flags (`01` = sampled).
    pub flags: String,
}

impl TraceParent {
    /// Parses a header value; `None` for anything malformed (a bad header must never
    /// fail a request: the trace simply starts here).
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace_id, span_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        };
        if version != "00"
            || parts.next().is_some()
            || !hex(trace_id, 32)
            || !hex(span_id, 16)
            || !hex(flags, 2)
        {
            return None;
        }
        if trace_id.bytes().all(|b| b == b'0') || span_id.bytes().all(|b| b == b'0') {
            return None;
        }
        Some(Self {
            trace_id: trace_id.to_string(),
            span_id: span_id.to_string(),
            flags: flags.to_string(),
        })
    }

    /// A new trace, sampled.
    pub fn new_root() -> Self {
        let mut rng = rand::rng();
        Self {
            trace_id: format!("{:032x}", rng.random::<u128>() | 1),
            span_id: format!("{:016x}", rng.random::<u64>() | 1),
            flags: "01".into(),
        }
    }

    /// The same trace with a fresh span id: the hop this process adds.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id.clone(),
            span_id: format!("{:016x}", rand::rng().random::<u64>() | 1),
            flags: self.flags.clone(),
        }
    }

    /// The `traceparent` header value.
    pub fn header_value(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }

    /// Makes this (remote) context the parent of `span` in the exported trace. Call it
    /// before `span` is first entered; without export it does nothing.
    pub fn adopt(&self, span: &tracing::Span) {
        if !telemetry::exporting() {
            return;
        }
        let (Ok(trace_id), Ok(span_id), Ok(flags)) = (
            TraceId::from_hex(&self.trace_id),
            SpanId::from_hex(&self.span_id),
            u8::from_str_radix(&self.flags, 16),
        ) else {
            return;
        };
        let remote = SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::new(flags),
            true,
            TraceState::default(),
        );
        // Fails only for a span the filter disabled; it then has no exported parent.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }

    /// The context of `span` as exported (its own span id), so whoever continues the
    /// trace names the exported span as its parent; `None` without export.
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        if !telemetry::exporting() {
            return None;
        }
        let context = span.context();
        let own = context.span().span_context().clone();
        own.is_valid().then(|| Self {
            trace_id: own.trace_id().to_string(),
            span_id: own.span_id().to_string(),
            flags: format!("{:02x}", own.trace_flags().to_u8()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_and_rejects_malformed() {
        let tp =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = tp.child();
        assert_eq!(child.trace_id, tp.trace_id);
        assert_ne!(child.span_id, tp.span_id);
        assert_eq!(TraceParent::parse(&child.header_value()), Some(child));
        for bad in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
        assert!(TraceParent::parse(&TraceParent::new_root().header_value()).is_some());
    }
}
