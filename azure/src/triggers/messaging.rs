//! What the message triggers share: the CONSUMER span of the messaging conventions and its
//! links.

use opentelemetry::KeyValue;
use opentelemetry::trace::{Link, SpanContext, SpanKind, TraceContextExt as _};
use opentelemetry_semantic_conventions::attribute::{
    MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_DESTINATION_NAME, MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use otel_faas_core::propagation::{Carrier, Propagation};
use otel_faas_core::trigger::FaasTrigger;
use otel_faas_core::{InvocationSpec, SpanSpec};

/// The invocation of a message trigger: a SERVER invocation span, and inside it the
/// CONSUMER `process {destination}` span with the messaging attributes and one link per
/// message that carries a producer's context (as the AWS Lambda page of the conventions
/// describes the same shape).
pub(crate) struct ProcessSpan {
    pub(crate) system: &'static str,
    pub(crate) destination: Option<String>,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) links: Vec<Link>,
    pub(crate) batch: Option<usize>,
}

impl ProcessSpan {
    pub(crate) fn new(system: &'static str, destination: Option<String>) -> Self {
        Self {
            system,
            destination,
            attributes: Vec::new(),
            links: Vec::new(),
            batch: None,
        }
    }

    /// Links to the context `carrier` holds, if any, with `attributes` (the message id).
    pub(crate) fn link_from(
        &mut self,
        carrier: &dyn Carrier,
        propagation: &dyn Propagation,
        attributes: Vec<KeyValue>,
    ) -> Option<SpanContext> {
        let cx = propagation.extract_from(carrier);
        let producer = cx.span().span_context().clone();
        if !producer.is_valid() {
            return None;
        }
        let duplicate = self.links.iter().any(|link| {
            link.span_context.trace_id() == producer.trace_id()
                && link.span_context.span_id() == producer.span_id()
        });
        if !duplicate {
            self.links.push(Link::new(producer.clone(), attributes, 0));
        }
        Some(producer)
    }

    pub(crate) fn into_spec(self) -> InvocationSpec {
        let name = match &self.destination {
            Some(destination) => format!("process {destination}"),
            None => "process".to_owned(),
        };
        let mut attributes = vec![
            KeyValue::new(MESSAGING_SYSTEM, self.system),
            KeyValue::new(MESSAGING_OPERATION_TYPE, "process"),
            KeyValue::new(MESSAGING_OPERATION_NAME, "process"),
        ];
        if let Some(destination) = self.destination {
            attributes.push(KeyValue::new(MESSAGING_DESTINATION_NAME, destination));
        }
        if let Some(count) = self.batch {
            attributes.push(KeyValue::new(
                MESSAGING_BATCH_MESSAGE_COUNT,
                i64::try_from(count).unwrap_or(i64::MAX),
            ));
        }
        attributes.extend(self.attributes);
        InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server(name.clone())).with_inner_span(
            SpanSpec::new(name, SpanKind::Consumer)
                .with_attributes(attributes)
                .with_links(self.links),
        )
    }
}

/// An ISO 8601 time as the host writes it (`2023-10-12T20:13:49`, with or without an
/// offset, which is UTC) in whole seconds since the epoch, as the Azure messaging
/// attributes want.
pub(crate) fn epoch_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|time| time.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_times_read_as_utc() {
        assert_eq!(epoch_seconds("2023-10-12T20:13:49"), Some(1_697_141_629));
        assert_eq!(
            epoch_seconds("2023-10-12T20:13:49+00:00"),
            Some(1_697_141_629)
        );
        assert_eq!(
            epoch_seconds("2023-10-12T20:13:49.640002Z"),
            Some(1_697_141_629)
        );
        assert_eq!(epoch_seconds("yesterday"), None);
    }
}
