//! Storage queue triggers (`queueTrigger`).
//!
//! `messaging.system` is `azure.storage.queue`
//! ([`STORAGE_QUEUE_SYSTEM`]: the conventions, v1.44, list no value for Storage queues).
//! Storage queue messages carry no properties: a producer's context travels only inside the
//! text, when the producer put it there with `otel_faas_messaging::traced_queue_message` —
//! then the `process` span links to the producer's `create` span (its parent too, when the
//! host sent no `traceparent`).

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::MESSAGING_MESSAGE_ID;
use otel_faas_core::InvocationSpec;
use otel_faas_core::propagation::Propagation;
use otel_faas_messaging::{STORAGE_QUEUE_SYSTEM, context_in_queue_message};

use super::messaging::ProcessSpan;
use crate::function_json::Binding;
use crate::request::InvocationRequest;

/// A Storage queue message, as a queue trigger delivers it.
///
/// ```
/// use otel_faas_azure::{FromInvocation, InvocationRequest, QueueMessage};
/// use serde_json::json;
///
/// let request = InvocationRequest::new(
///     "orders",
///     json!({"order": "\"{\\\"id\\\":42}\""}),
///     json!({"Id": "\"a0004923\"", "DequeueCount": "2"}),
/// );
/// let message = QueueMessage::from_request(&request, Some("order")).unwrap();
/// assert_eq!(message.text(), r#"{"id":42}"#);
/// assert_eq!(message.id(), Some("a0004923"));
/// assert_eq!(message.dequeue_count(), Some(2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    text: String,
    id: Option<String>,
    dequeue_count: Option<i64>,
    insertion_time: Option<String>,
    pop_receipt: Option<String>,
}

impl QueueMessage {
    /// Reads the message from `Data.<binding>` (the first `Data` value when the binding is
    /// not known) and its metadata.
    pub fn from_request(
        request: &InvocationRequest,
        binding: Option<&str>,
    ) -> Result<Self, String> {
        let text = match binding {
            Some(binding) => request.data_text(binding),
            None => request.data().values().find_map(crate::value::text),
        }
        .ok_or_else(|| {
            format!(
                "Data has no queue message{}",
                binding.map(|b| format!(" under {b:?}")).unwrap_or_default()
            )
        })?;
        Ok(Self {
            text,
            id: request.metadata_text("Id"),
            dequeue_count: request.metadata_integer("DequeueCount"),
            insertion_time: request.metadata_text("InsertionTime"),
            pop_receipt: request.metadata_text("PopReceipt"),
        })
    }

    /// The message text (the host has already base64-decoded it, unless the queue's
    /// `messageEncoding` is `none`).
    pub fn text(&self) -> &str {
        &self.text
    }
    /// The message as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.text)
    }
    /// The message id.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// How many times it has been dequeued (1 on the first delivery).
    pub fn dequeue_count(&self) -> Option<i64> {
        self.dequeue_count
    }
    /// When it was enqueued.
    pub fn insertion_time(&self) -> Option<&str> {
        self.insertion_time.as_deref()
    }
    /// Its pop receipt.
    pub fn pop_receipt(&self) -> Option<&str> {
        self.pop_receipt.as_deref()
    }
}

pub(crate) fn spec(
    request: &InvocationRequest,
    binding: &Binding,
    propagation: &dyn Propagation,
) -> InvocationSpec {
    let mut span = ProcessSpan::new(
        STORAGE_QUEUE_SYSTEM,
        binding.setting("queueName").map(str::to_owned),
    );
    let id = request.metadata_text("Id");
    if let Some(context) = request
        .data_text(binding.name())
        .as_deref()
        .and_then(context_in_queue_message)
    {
        let link_attributes = id
            .iter()
            .map(|id| KeyValue::new(MESSAGING_MESSAGE_ID, id.clone()))
            .collect();
        span.link_from(&context, propagation, link_attributes);
    }
    if let Some(id) = id {
        span.attributes
            .push(KeyValue::new(MESSAGING_MESSAGE_ID, id));
    }
    span.into_spec()
}
