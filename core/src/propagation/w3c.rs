//! W3C `tracecontext` with the SDK's reading and a cheaper writing.
//!
//! Extraction is the SDK's `TraceContextPropagator`, unchanged. Injection writes the
//! `traceparent` the SDK writes, byte for byte, but encodes the ids with a lookup table
//! instead of `format!`: every outgoing call and every message sent injects, and the
//! formatting machinery was the largest part of what an instrumented call costs
//! (`cargo xtask bench`, P8).
//!
//! One difference from the Rust SDK: an empty `tracestate` is not written. The W3C format
//! makes the header optional and gives an empty one no meaning; the Go and Java SDKs leave it
//! out too, and so did this crate's message carriers already. An outgoing call saves a header
//! it and the server would both process for nothing.

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt as _, TraceFlags};
use opentelemetry_sdk::propagation::TraceContextPropagator;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The W3C trace context format (`OTEL_PROPAGATORS=tracecontext`).
#[derive(Debug, Default)]
pub(crate) struct W3cTraceContext(TraceContextPropagator);

impl W3cTraceContext {
    pub(crate) fn new() -> Self {
        Self(TraceContextPropagator::new())
    }
}

/// `00-{trace id}-{span id}-{flags}`, 55 bytes, from the ids' big-endian bytes.
fn traceparent(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> String {
    let mut out = Vec::with_capacity(55);
    out.extend_from_slice(b"00-");
    for byte in trace_id {
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 0x0f)]);
    }
    out.push(b'-');
    for byte in span_id {
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 0x0f)]);
    }
    out.extend_from_slice(if sampled { b"-01" } else { b"-00" });
    // Only ASCII hex digits and dashes were written.
    String::from_utf8(out).unwrap_or_default()
}

impl TextMapPropagator for W3cTraceContext {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let context = span.span_context();
        if context.is_valid() {
            injector.set(
                "traceparent",
                traceparent(
                    context.trace_id().to_bytes(),
                    context.span_id().to_bytes(),
                    context.trace_flags() & TraceFlags::SAMPLED == TraceFlags::SAMPLED,
                ),
            );
            let state = context.trace_state().header();
            if !state.is_empty() {
                injector.set("tracestate", state);
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.0.extract_with_context(cx, extractor)
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::trace::{SpanContext, SpanId, TraceId, TraceState};

    use super::*;

    fn injected(
        propagator: &dyn TextMapPropagator,
        context: SpanContext,
    ) -> HashMap<String, String> {
        let cx = Context::new().with_remote_span_context(context);
        let mut out = HashMap::new();
        propagator.inject_context(&cx, &mut out);
        out
    }

    /// The same headers as the SDK's propagator, byte for byte, for ids with every nibble,
    /// both flags, an empty and a non-empty state — but no `tracestate` for the empty state
    /// — and nothing for an invalid context.
    #[test]
    fn writes_what_the_sdk_writes() {
        let states = [
            TraceState::default(),
            TraceState::from_key_value([("vendor", "opaque"), ("other", "1")]).unwrap(),
        ];
        let ids = [
            (
                0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128,
                0x0f1e_2d3c_4b5a_6978_u64,
            ),
            (
                0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
                0x00f0_67aa_0ba9_02b7,
            ),
            (1, 1),
            (u128::MAX, u64::MAX),
        ];
        for (trace, span) in ids {
            for flags in [
                TraceFlags::SAMPLED,
                TraceFlags::default(),
                TraceFlags::new(0xff),
            ] {
                for state in &states {
                    let context = SpanContext::new(
                        TraceId::from(trace),
                        SpanId::from(span),
                        flags,
                        true,
                        state.clone(),
                    );
                    let mut sdk = injected(&TraceContextPropagator::new(), context.clone());
                    if state.header().is_empty() {
                        assert_eq!(sdk.remove("tracestate").as_deref(), Some(""));
                    }
                    assert_eq!(injected(&W3cTraceContext::new(), context), sdk);
                }
            }
        }
        assert!(injected(&W3cTraceContext::new(), SpanContext::empty_context()).is_empty());
        let headers = injected(
            &W3cTraceContext::new(),
            SpanContext::new(
                TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
                SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            ),
        );
        assert_eq!(
            headers,
            HashMap::from([(
                "traceparent".to_owned(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()
            )]),
            "no tracestate for an empty state"
        );
    }
}
