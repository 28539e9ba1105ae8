//! Service Bus triggers (`serviceBusTrigger`), one message or a batch (`cardinality: many`,
//! metadata with an `Array` suffix).
//!
//! Messaging conventions for Service Bus (v1.44): `messaging.system=servicebus`, the queue or
//! topic as `messaging.destination.name`, the subscription as
//! `messaging.destination.subscription.name`, and per message `messaging.message.id`,
//! `messaging.servicebus.message.delivery_count` and
//! `messaging.servicebus.message.enqueued_time` (epoch seconds). Each message's producer
//! context — `ApplicationProperties.traceparent`/`tracestate`, else `Diagnostic-Id`, which
//! Azure SDKs write — becomes a link.

use std::collections::HashMap;

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    MESSAGING_DESTINATION_SUBSCRIPTION_NAME, MESSAGING_MESSAGE_ID,
    MESSAGING_SERVICEBUS_MESSAGE_DELIVERY_COUNT, MESSAGING_SERVICEBUS_MESSAGE_ENQUEUED_TIME,
};
use otel_faas_core::InvocationSpec;
use otel_faas_core::propagation::Propagation;
use otel_faas_messaging::AzureApplicationProperties;

use super::messaging::{ProcessSpan, epoch_seconds};
use crate::function_json::Binding;
use crate::request::InvocationRequest;
use crate::value;

/// `messaging.system` of Service Bus.
pub const SERVICE_BUS_SYSTEM: &str = "servicebus";

/// One Service Bus message, as a trigger delivers it.
///
/// ```
/// use otel_faas_azure::{InvocationRequest, ServiceBusMessage};
/// use serde_json::json;
///
/// let request = InvocationRequest::new(
///     "orders",
///     json!({"message": "\"hello\""}),
///     json!({"MessageId": "\"m-1\"", "DeliveryCount": "1", "ApplicationProperties": {"tenant": "t1"}}),
/// );
/// let message = &ServiceBusMessage::batch_from_request(&request, Some("message"), false)[0];
/// assert_eq!(message.text(), Some("hello"));
/// assert_eq!(message.message_id(), Some("m-1"));
/// assert_eq!(message.application_properties()["tenant"], "t1");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceBusMessage {
    body: Vec<u8>,
    message_id: Option<String>,
    delivery_count: Option<i64>,
    enqueued_time: Option<String>,
    sequence_number: Option<i64>,
    content_type: Option<String>,
    correlation_id: Option<String>,
    application_properties: HashMap<String, String>,
}

impl ServiceBusMessage {
    /// The messages of an invocation: one, or each of a batch when `batch` (the binding's
    /// `cardinality` is `many`).
    pub fn batch_from_request(
        request: &InvocationRequest,
        binding: Option<&str>,
        batch: bool,
    ) -> Vec<Self> {
        crate::request::trigger_values(request, binding, batch)
            .iter()
            .enumerate()
            .map(|(index, body)| {
                let at = batch.then_some(index);
                let text = |key: &str| {
                    crate::request::batch_meta(request, key, at)
                        .as_ref()
                        .and_then(value::text)
                };
                let integer = |key: &str| {
                    crate::request::batch_meta(request, key, at)
                        .as_ref()
                        .and_then(value::integer)
                };
                let mut application_properties =
                    crate::request::batch_meta(request, "ApplicationProperties", at)
                        .map(|v| value::string_map(&v))
                        .unwrap_or_default();
                if application_properties.is_empty() {
                    application_properties =
                        crate::request::batch_meta(request, "UserProperties", at)
                            .map(|v| value::string_map(&v))
                            .unwrap_or_default();
                }
                Self {
                    body: value::body(body),
                    message_id: text("MessageId"),
                    delivery_count: integer("DeliveryCount"),
                    enqueued_time: text("EnqueuedTimeUtc"),
                    sequence_number: integer("SequenceNumber"),
                    content_type: text("ContentType"),
                    correlation_id: text("CorrelationId"),
                    application_properties,
                }
            })
            .collect()
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
    /// The body as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
    /// `MessageId`.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }
    /// `DeliveryCount` (1 on the first delivery).
    pub fn delivery_count(&self) -> Option<i64> {
        self.delivery_count
    }
    /// `EnqueuedTimeUtc`.
    pub fn enqueued_time(&self) -> Option<&str> {
        self.enqueued_time.as_deref()
    }
    /// `SequenceNumber`.
    pub fn sequence_number(&self) -> Option<i64> {
        self.sequence_number
    }
    /// `ContentType`.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
    /// `CorrelationId`.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }
    /// `ApplicationProperties` (else the older `UserProperties`), as strings.
    pub fn application_properties(&self) -> &HashMap<String, String> {
        &self.application_properties
    }
}

pub(crate) fn spec(
    request: &InvocationRequest,
    binding: &Binding,
    propagation: &dyn Propagation,
) -> InvocationSpec {
    let destination = binding
        .setting("queueName")
        .or_else(|| binding.setting("topicName"))
        .map(str::to_owned);
    let mut span = ProcessSpan::new(SERVICE_BUS_SYSTEM, destination);
    if let Some(subscription) = binding.setting("subscriptionName") {
        span.attributes.push(KeyValue::new(
            MESSAGING_DESTINATION_SUBSCRIPTION_NAME,
            subscription.to_owned(),
        ));
    }
    let batch = binding.is_batch();
    let messages = ServiceBusMessage::batch_from_request(request, Some(binding.name()), batch);
    for message in &messages {
        let id: Vec<KeyValue> = message
            .message_id()
            .map(|id| KeyValue::new(MESSAGING_MESSAGE_ID, id.to_owned()))
            .into_iter()
            .collect();
        span.link_from(
            &AzureApplicationProperties(message.application_properties()),
            propagation,
            id,
        );
    }
    if batch {
        span.batch = Some(messages.len());
    } else if let Some(message) = messages.first() {
        if let Some(id) = message.message_id() {
            span.attributes
                .push(KeyValue::new(MESSAGING_MESSAGE_ID, id.to_owned()));
        }
        if let Some(count) = message.delivery_count().filter(|count| *count > 0) {
            span.attributes.push(KeyValue::new(
                MESSAGING_SERVICEBUS_MESSAGE_DELIVERY_COUNT,
                count,
            ));
        }
        if let Some(time) = message.enqueued_time().and_then(epoch_seconds) {
            span.attributes.push(KeyValue::new(
                MESSAGING_SERVICEBUS_MESSAGE_ENQUEUED_TIME,
                time,
            ));
        }
    }
    span.into_spec()
}
