//! `X-Cloud-Trace-Context`, Google Cloud's own trace header, as a read-only fallback: the
//! `gcp` propagator for `OTEL_PROPAGATORS`.
//!
//! The header is `TRACE_ID/SPAN_ID;o=OPTIONS`: a 32-hex-digit trace id, the span id in
//! **decimal** (unlike `traceparent`'s hex), and `o=1` when the trace is sampled. Cloud Run
//! and the Google front ends send it; most Google client libraries now send `traceparent`
//! too, which wins: this propagator only fills in when no propagator before it found a
//! context. It never writes the header (outgoing calls carry `traceparent`).
//!
//! What is not a complete parent is ignored, never trusted in part: a header without a
//! span id (`TRACE/;o=1`, `TRACE;o=1`, `TRACE`) names no span to be a child of; a trace id
//! that is not 32 hex digits or is all zeros, a span id that is not a decimal number, is 0
//! or does not fit in 64 bits. `o` other than `1` (absent, empty, `0`) means not sampled.

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use otel_faas_core::propagation::PropagatorRegistry;

/// The header, in the lower case carriers use.
pub const CLOUD_TRACE_HEADER: &str = "x-cloud-trace-context";

/// The span context `header` names, if it names a complete one.
///
/// ```
/// use otel_faas_gcp::cloud_trace::parse_cloud_trace_context;
///
/// let cx = parse_cloud_trace_context("000000000000007b00000000000001c8/789;o=1").unwrap();
/// assert_eq!(cx.trace_id().to_string(), "000000000000007b00000000000001c8");
/// assert_eq!(cx.span_id().to_string(), "0000000000000315"); // 789 in hex
/// assert!(cx.is_sampled() && cx.is_remote());
/// assert!(parse_cloud_trace_context("000000000000007b00000000000001c8;o=1").is_none());
/// ```
pub fn parse_cloud_trace_context(header: &str) -> Option<SpanContext> {
    let header = header.trim();
    let (ids, options) = match header.split_once(';') {
        Some((ids, options)) => (ids, Some(options)),
        None => (header, None),
    };
    let (trace, span) = ids.split_once('/')?;
    if trace.len() != 32 || !trace.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    if !span.bytes().all(|b| b.is_ascii_digit()) || span.is_empty() {
        return None;
    }
    let span_id = SpanId::from(span.parse::<u64>().ok()?);
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let sampled = options
        .and_then(|options| {
            options
                .split(';')
                .find_map(|option| option.trim().strip_prefix("o="))
        })
        .is_some_and(|value| value.trim() == "1");
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Some(SpanContext::new(
        trace_id,
        span_id,
        flags,
        true,
        TraceState::default(),
    ))
}

/// The `gcp` propagator: `X-Cloud-Trace-Context`, read when no propagator before it found
/// a context; never written.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::trace::TraceContextExt;
/// use otel_faas_core::{env::MapEnvironment, propagation::PropagatorRegistry, Propagation};
///
/// let mut registry = PropagatorRegistry::new();
/// otel_faas_gcp::cloud_trace::register_propagators(&mut registry);
/// let (propagation, _) = registry.from_env(&MapEnvironment::from([("OTEL_PROPAGATORS", "tracecontext,gcp")]));
///
/// let gcp_only = HashMap::from([("x-cloud-trace-context".to_owned(), "4bf92f3577b34da6a3ce929d0e0e4736/1;o=1".to_owned())]);
/// assert_eq!(propagation.extract_from(&gcp_only).span().span_context().span_id().to_string(), "0000000000000001");
///
/// let both = HashMap::from([
///     ("x-cloud-trace-context".to_owned(), "4bf92f3577b34da6a3ce929d0e0e4736/1;o=1".to_owned()),
///     ("traceparent".to_owned(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned()),
/// ]);
/// assert_eq!(propagation.extract_from(&both).span().span_context().span_id().to_string(), "b7ad6b7169203331");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudTraceContextPropagator;

impl CloudTraceContextPropagator {
    /// The propagator.
    pub fn new() -> Self {
        Self
    }
}

impl TextMapPropagator for CloudTraceContextPropagator {
    fn inject_context(&self, _cx: &Context, _injector: &mut dyn Injector) {
        // Read-only: outgoing calls carry traceparent.
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        if cx.span().span_context().is_valid() {
            return cx.clone();
        }
        match extractor
            .get(CLOUD_TRACE_HEADER)
            .and_then(parse_cloud_trace_context)
        {
            Some(span_context) => cx.with_remote_span_context(span_context),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&[])
    }
}

/// Registers `gcp` in `registry`, so `OTEL_PROPAGATORS` can name it.
///
/// ```
/// use otel_faas_core::propagation::PropagatorRegistry;
///
/// let mut registry = PropagatorRegistry::new();
/// otel_faas_gcp::cloud_trace::register_propagators(&mut registry);
/// assert!(registry.names().contains(&"gcp"));
/// ```
pub fn register_propagators(registry: &mut PropagatorRegistry) {
    registry.register("gcp", || Box::new(CloudTraceContextPropagator::new()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_examples() -> Vec<(String, String)> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/gcp-events/cloud-run/x-cloud-trace-context.examples.txt"
        );
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let (header, what) = line.split_once(' ').unwrap_or((line, ""));
                (header.to_owned(), what.to_owned())
            })
            .collect()
    }

    #[test]
    fn the_nine_real_forms() {
        let examples = fixture_examples();
        assert_eq!(examples.len(), 9, "{examples:?}");
        for (header, what) in examples {
            let parsed = parse_cloud_trace_context(&header);
            let has_span = header
                .split(';')
                .next()
                .unwrap()
                .split_once('/')
                .is_some_and(|(_, s)| !s.is_empty());
            if has_span {
                let cx = parsed.unwrap_or_else(|| panic!("{header} ({what})"));
                assert_eq!(
                    cx.trace_id().to_string(),
                    "000000000000007b00000000000001c8"
                );
                assert_eq!(
                    cx.span_id().to_string(),
                    format!("{:016x}", 789),
                    "{header}"
                );
                assert_eq!(cx.is_sampled(), header.ends_with(";o=1"), "{header}");
            } else {
                assert!(parsed.is_none(), "{header} ({what}) names no span");
            }
        }
    }

    #[test]
    fn bad_headers_are_ignored() {
        for header in [
            "",
            "/",
            "testtrace/123;o=1",
            "00000000000000000000000000000000/1;o=1",
            "4bf92f3577b34da6a3ce929d0e0e4736/0;o=1",
            "4bf92f3577b34da6a3ce929d0e0e4736/18446744073709551616;o=1",
            "4bf92f3577b34da6a3ce929d0e0e4736/-1;o=1",
            "4bf92f3577b34da6a3ce929d0e0e4736/0x10;o=1",
            "4bf92f3577b34da6a3ce929d0e0e47/1;o=1",
            "4bf92f3577b34da6a3ce929d0e0e4736é/1",
        ] {
            assert!(parse_cloud_trace_context(header).is_none(), "{header:?}");
        }
        let max =
            parse_cloud_trace_context("4bf92f3577b34da6a3ce929d0e0e4736/18446744073709551615;o=0")
                .unwrap();
        assert_eq!(max.span_id().to_string(), "ffffffffffffffff");
        assert!(!max.is_sampled());
    }
}
