//! What several triggers share: links from carriers, ARN names, timestamps.

use chrono::{DateTime, SecondsFormat, Utc};
use opentelemetry::trace::{Link, SpanContext, TraceContextExt};
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

/// Adds a link to `span_context` unless an identical one is already there (a producer that
/// sent both `AWSTraceHeader` and `traceparent` for the same span is linked once).
pub(crate) fn push_link(
    links: &mut Vec<Link>,
    span_context: SpanContext,
    attributes: Vec<KeyValue>,
) {
    let duplicate = links.iter().any(|link| {
        link.span_context.trace_id() == span_context.trace_id()
            && link.span_context.span_id() == span_context.span_id()
    });
    if !duplicate {
        links.push(Link::new(span_context, attributes, 0));
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
