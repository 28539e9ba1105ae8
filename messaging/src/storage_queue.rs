//! Trace context across Azure Storage queues, which have no message properties to carry
//! it (cargo feature `storage-queue`).
//!
//! Service Bus and Event Hubs messages carry `traceparent` in their properties; a Storage
//! queue message is only its text. So the context travels inside the text, as an opt-in:
//! the producer calls [`traced_queue_message`] on a JSON object, which records a PRODUCER
//! `create {queue}` span and adds the context under `_otel` (the key otel-faas uses for
//! EventBridge `detail` too):
//!
//! ```json
//! {"id": 42, "items": ["book"], "_otel": {"traceparent": "00-…-01"}}
//! ```
//!
//! The queue trigger reads it back: the `process` span links to the `create` span, and
//! when the host sent no `traceparent` of its own, the invocation continues the producer's
//! trace. (The Functions host sends its own activity's context with every invocation, so
//! on Azure the consumer is a new trace linked to the producer's, as the messaging
//! conventions describe for a hop that does not propagate.)
//!
//! It is an opt-in because the text is the user's data: every consumer sees the extra key,
//! and it adds about 90 bytes to a message limited to 64 KiB. Messages that are not JSON
//! objects are sent unchanged, and the span says why.

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use opentelemetry_semantic_conventions::attribute::{
    MESSAGING_DESTINATION_NAME, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
};
use otel_faas_core::engine::InvocationScope;
use otel_faas_core::propagation::CarrierMut;
use serde_json::Value;

use crate::{DETAIL_CONTEXT_KEY, DetailNotInjected, EventDetailContext, inject_into_detail};

/// `messaging.system` of Azure Storage queues. The conventions (v1.44) list no value for
/// them, so this names the service as the cloud's own namespace does, in the registry's
/// lower-case dotted style.
pub const STORAGE_QUEUE_SYSTEM: &str = "azure.storage.queue";

/// The event recorded on the `create` span when the message could not take the context.
pub const CONTEXT_NOT_INJECTED_EVENT: &str = "otel_faas.context_not_injected";

/// `message` (a JSON object as text) with the trace context of a new PRODUCER
/// `create {queue}` span under `_otel`, for a queue output binding. The span is a child of
/// the current one (the invocation's, inside a handler); a message that is not a JSON
/// object, or already has `_otel`, is returned unchanged and the span records why. Never
/// fails: telemetry does not stop a message.
///
/// ```
/// let message = otel_faas_messaging::traced_queue_message("orders", r#"{"id":42}"#);
/// // Outside an invocation and without a tracer provider there is no context to carry:
/// // the message is unchanged.
/// assert_eq!(message, r#"{"id":42}"#);
/// ```
pub fn traced_queue_message(queue: &str, message: &str) -> String {
    let attributes = vec![
        KeyValue::new(MESSAGING_SYSTEM, STORAGE_QUEUE_SYSTEM),
        KeyValue::new(MESSAGING_OPERATION_TYPE, "create"),
        KeyValue::new(MESSAGING_OPERATION_NAME, "create"),
        KeyValue::new(MESSAGING_DESTINATION_NAME, queue.to_owned()),
    ];
    let builder = opentelemetry::trace::SpanBuilder::from_name(format!("create {queue}"))
        .with_kind(SpanKind::Producer)
        .with_attributes(attributes);
    let cx = InvocationScope::start_span(builder, env!("CARGO_PKG_NAME"));
    let result = inject_into_detail(message, |carrier: &mut dyn CarrierMut| {
        InvocationScope::inject(&cx, carrier);
    });
    let text = match result {
        Ok(text) => text,
        Err(reason) => {
            let reason = match reason {
                DetailNotInjected::NotAnObject => "the message is not a JSON object",
                DetailNotInjected::AlreadyPresent => "the message already has an _otel key",
            };
            cx.span().add_event(
                CONTEXT_NOT_INJECTED_EVENT,
                vec![KeyValue::new("reason", reason)],
            );
            message.to_owned()
        }
    };
    cx.span().end();
    text
}

/// The context a producer wrote into a queue message's text with [`traced_queue_message`];
/// `None` for any other text. Cheap for the common case: text that does not start with `{`
/// or does not mention `_otel` is not parsed.
///
/// ```
/// use otel_faas_core::propagation::Carrier as _;
///
/// let text = r#"{"id":42,"_otel":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}"#;
/// let context = otel_faas_messaging::context_in_queue_message(text).unwrap();
/// assert!(context.get("traceparent").unwrap().ends_with("-01"));
/// assert!(otel_faas_messaging::context_in_queue_message("plain text").is_none());
/// ```
pub fn context_in_queue_message(text: &str) -> Option<EventDetailContext> {
    if !text.trim_start().starts_with('{') || !text.contains(DETAIL_CONTEXT_KEY) {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    EventDetailContext::from_detail(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use otel_faas_core::propagation::Carrier as _;

    struct Job;
    impl otel_faas_core::TriggerAdapter<(), (String, String)> for Job {
        fn invocation_spec(
            &self,
            _: &(),
            _: &otel_faas_core::trigger::InvocationContext,
            _: &dyn otel_faas_core::Propagation,
        ) -> otel_faas_core::InvocationSpec {
            otel_faas_core::InvocationSpec::new(
                otel_faas_core::trigger::FaasTrigger::Other,
                otel_faas_core::SpanSpec::server("job"),
            )
        }
    }

    #[tokio::test]
    async fn the_create_span_is_carried_in_the_text_and_read_back() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let engine = otel_faas_core::InvocationEngine::builder(&provider).build();
        let (text, refused) = engine
            .invocation(&Job, ())
            .run(|_| async {
                Ok::<_, std::convert::Infallible>((
                    traced_queue_message("orders", r#"{"id": 42}"#),
                    traced_queue_message("orders", "plain text"),
                ))
            })
            .await
            .unwrap();
        let context = context_in_queue_message(&text).expect("the context is in the text");
        let traceparent = context.get("traceparent").expect("traceparent").to_owned();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["id"], 42, "the user's data is kept");
        assert_eq!(refused, "plain text");
        assert!(context_in_queue_message(&refused).is_none());
        assert!(context_in_queue_message(r#"{"_otel": 1}"#).is_none());

        let spans = exporter.get_finished_spans().unwrap();
        let create = spans
            .iter()
            .find(|s| s.name == "create orders" && s.events.is_empty())
            .expect("the create span");
        assert_eq!(create.name, "create orders");
        assert_eq!(create.span_kind, SpanKind::Producer);
        let invocation = spans
            .iter()
            .find(|s| s.name == "job")
            .expect("the invocation");
        assert_eq!(
            create.parent_span_id,
            invocation.span_context.span_id(),
            "a child of the invocation's span"
        );
        assert!(
            traceparent.contains(&create.span_context.span_id().to_string()),
            "the carried context is the create span's: {traceparent}"
        );
        assert!(
            create
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == MESSAGING_OPERATION_TYPE
                    && kv.value.as_str() == "create")
        );
        let skipped = spans
            .iter()
            .find(|s| s.name == "create orders" && !s.events.is_empty())
            .expect("the span of the refused message");
        assert_eq!(skipped.events[0].name, CONTEXT_NOT_INJECTED_EVENT);
    }
}
