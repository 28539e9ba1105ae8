//! Event Hubs triggers (`eventHubTrigger`), one event or a batch (`cardinality: many`,
//! metadata with an `Array` suffix).
//!
//! Messaging conventions for Event Hubs (v1.44): `messaging.system=eventhubs`, the hub as
//! `messaging.destination.name`, `messaging.consumer.group.name` (`consumerGroup`, else
//! `$Default`), `messaging.destination.partition.id` from the partition context, and for one
//! event `messaging.eventhubs.message.enqueued_time` (epoch seconds). Each event's producer
//! context — `Properties.traceparent`/`tracestate`, else `Diagnostic-Id` — becomes a link.

use std::collections::HashMap;

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    MESSAGING_CONSUMER_GROUP_NAME, MESSAGING_DESTINATION_PARTITION_ID,
    MESSAGING_EVENTHUBS_MESSAGE_ENQUEUED_TIME,
};
use otel_faas_core::InvocationSpec;
use otel_faas_core::propagation::Propagation;
use otel_faas_messaging::AzureApplicationProperties;

use super::messaging::{ProcessSpan, epoch_seconds};
use crate::function_json::Binding;
use crate::request::InvocationRequest;
use crate::value;

/// `messaging.system` of Event Hubs.
pub const EVENT_HUBS_SYSTEM: &str = "eventhubs";

/// One event, as an Event Hubs trigger delivers it.
///
/// ```
/// use otel_faas_azure::{EventHubEvent, InvocationRequest};
/// use serde_json::json;
///
/// let request = InvocationRequest::new(
///     "ingest",
///     json!({"events": "[\"a\",\"b\"]"}),
///     json!({"SequenceNumberArray": [7, 8], "PropertiesArray": [{}, {"k": "v"}]}),
/// );
/// let events = EventHubEvent::batch_from_request(&request, Some("events"), true);
/// assert_eq!(events.len(), 2);
/// assert_eq!(events[1].text(), Some("b"));
/// assert_eq!(events[1].sequence_number(), Some(8));
/// assert_eq!(events[1].properties()["k"], "v");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventHubEvent {
    body: Vec<u8>,
    enqueued_time: Option<String>,
    sequence_number: Option<i64>,
    offset: Option<String>,
    partition_key: Option<String>,
    properties: HashMap<String, String>,
}

impl EventHubEvent {
    /// The events of an invocation: one, or each of a batch when `batch`.
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
                Self {
                    body: value::body(body),
                    enqueued_time: text("EnqueuedTimeUtc"),
                    sequence_number: crate::request::batch_meta(request, "SequenceNumber", at)
                        .as_ref()
                        .and_then(value::integer),
                    offset: text("Offset"),
                    partition_key: text("PartitionKey"),
                    properties: crate::request::batch_meta(request, "Properties", at)
                        .map(|v| value::string_map(&v))
                        .unwrap_or_default(),
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
    /// `EnqueuedTimeUtc`.
    pub fn enqueued_time(&self) -> Option<&str> {
        self.enqueued_time.as_deref()
    }
    /// `SequenceNumber`.
    pub fn sequence_number(&self) -> Option<i64> {
        self.sequence_number
    }
    /// `Offset`.
    pub fn offset(&self) -> Option<&str> {
        self.offset.as_deref()
    }
    /// `PartitionKey`.
    pub fn partition_key(&self) -> Option<&str> {
        self.partition_key.as_deref()
    }
    /// The application properties, as strings.
    pub fn properties(&self) -> &HashMap<String, String> {
        &self.properties
    }
}

pub(crate) fn spec(
    request: &InvocationRequest,
    binding: &Binding,
    propagation: &dyn Propagation,
) -> InvocationSpec {
    let mut span = ProcessSpan::new(
        EVENT_HUBS_SYSTEM,
        binding.setting("eventHubName").map(str::to_owned),
    );
    let group = binding.setting("consumerGroup").unwrap_or("$Default");
    span.attributes.push(KeyValue::new(
        MESSAGING_CONSUMER_GROUP_NAME,
        group.to_owned(),
    ));
    if let Some(partition) = value::member(request.metadata(), "PartitionContext")
        .map(value::json)
        .and_then(|context| {
            context
                .as_object()
                .and_then(|c| value::member(c, "PartitionId"))
                .and_then(value::text)
        })
    {
        span.attributes
            .push(KeyValue::new(MESSAGING_DESTINATION_PARTITION_ID, partition));
    }
    let batch = binding.is_batch();
    let events = EventHubEvent::batch_from_request(request, Some(binding.name()), batch);
    for event in &events {
        span.link_from(
            &AzureApplicationProperties(event.properties()),
            propagation,
            Vec::new(),
        );
    }
    if batch {
        span.batch = Some(events.len());
    } else if let Some(time) = events
        .first()
        .and_then(|e| e.enqueued_time())
        .and_then(epoch_seconds)
    {
        span.attributes.push(KeyValue::new(
            MESSAGING_EVENTHUBS_MESSAGE_ENQUEUED_TIME,
            time,
        ));
    }
    span.into_spec()
}
