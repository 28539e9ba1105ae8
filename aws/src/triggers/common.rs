//! What several triggers share: links from carriers, ARN names, timestamps.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use opentelemetry::trace::{Link, SpanContext, SpanId, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use otel_faas_core::{Propagation, propagation::Carrier};

/// The span context `propagation` finds in `carrier`, if it is complete and valid.
pub(crate) fn remote_context(
    propagation: &dyn Propagation,
    carrier: &dyn Carrier,
) -> Option<SpanContext> {
    let cx: Context = propagation.extract_from(carrier);
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// The links of one span: each producer once (one that sent both `AWSTraceHeader` and
/// `traceparent` for the same span is linked once), and no more than the span keeps
/// ([`InvocationContext::link_limit`](otel_faas_core::trigger::InvocationContext::link_limit)):
/// the SDK drops links past its limit, so building the rest of a 10,000-message batch's
/// links — and comparing each with all before it — was pure cost.
pub(crate) struct Links {
    links: Vec<Link>,
    seen: HashSet<(TraceId, SpanId)>,
    limit: usize,
}

impl Links {
    /// At most `limit` links; `expected` sizes the buffers.
    pub(crate) fn new(limit: usize, expected: usize) -> Self {
        let capacity = expected.min(limit);
        Self {
            links: Vec::with_capacity(capacity),
            seen: HashSet::with_capacity(capacity),
            limit,
        }
    }

    /// Whether the span keeps no more links.
    pub(crate) fn is_full(&self) -> bool {
        self.links.len() >= self.limit
    }

    /// Links `span_context` with the attributes `attributes` makes, unless it is linked
    /// already or the span is full.
    pub(crate) fn push(
        &mut self,
        span_context: SpanContext,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) {
        if self.is_full() {
            return;
        }
        if self
            .seen
            .insert((span_context.trace_id(), span_context.span_id()))
        {
            self.links.push(Link::new(span_context, attributes(), 0));
        }
    }

    /// The links, in the order they were pushed.
    pub(crate) fn into_vec(self) -> Vec<Link> {
        self.links
    }
}

/// The last `:`-separated part of an ARN: a queue, topic or function name.
pub(crate) fn arn_resource(arn: &str) -> Option<&str> {
    arn.starts_with("arn:")
        .then(|| arn.rsplit(':').next())
        .flatten()
        .filter(|name| !name.is_empty())
}

/// `arn:{partition}:{service}:{region}:{account}:{resource}` parts, if well-formed.
pub(crate) fn arn_parts(arn: &str) -> Option<[&str; 6]> {
    let mut parts = arn.splitn(6, ':');
    let parsed = [
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    ];
    (parsed[0] == "arn" && parsed.iter().all(|p| !p.is_empty())).then_some(parsed)
}

/// ISO 8601 in UTC, as `faas.time` and `faas.document.time` want it.
pub(crate) fn iso_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_unique_and_stop_at_the_limit() {
        use opentelemetry::trace::{TraceFlags, TraceState};
        let context = |trace: u128, span: u64| {
            SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )
        };
        let mut links = Links::new(3, 10);
        links.push(context(1, 1), Vec::new);
        links.push(context(1, 1), || {
            panic!("a duplicate's attributes are never built")
        });
        links.push(context(1, 2), Vec::new);
        links.push(context(2, 1), || vec![KeyValue::new("k", "v")]);
        assert!(links.is_full());
        links.push(context(3, 3), || panic!("past the limit nothing is built"));
        let links = links.into_vec();
        let ids: Vec<(u128, u64)> = links
            .iter()
            .map(|l| {
                (
                    u128::from_be_bytes(l.span_context.trace_id().to_bytes()),
                    u64::from_be_bytes(l.span_context.span_id().to_bytes()),
                )
            })
            .collect();
        assert_eq!(ids, [(1, 1), (1, 2), (2, 1)]);
        assert_eq!(links[2].attributes, [KeyValue::new("k", "v")]);
    }

    #[test]
    fn arn_parts_reject_the_malformed() {
        assert_eq!(
            arn_resource("arn:aws:sqs:us-east-2:123456789012:my-queue"),
            Some("my-queue")
        );
        assert_eq!(arn_resource("my-queue"), None);
        assert_eq!(arn_resource("arn:aws:sqs:us-east-2:123456789012:"), None);
        assert!(arn_parts("arn:aws:sqs::123456789012:q").is_none());
        assert_eq!(
            arn_parts("arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026"),
            Some([
                "arn",
                "aws",
                "dynamodb",
                "us-east-1",
                "123456789012",
                "table/Orders/stream/2026"
            ])
        );
    }
}
