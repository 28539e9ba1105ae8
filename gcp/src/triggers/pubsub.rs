//! Pub/Sub messages (`google.cloud.pubsub.topic.v1.messagePublished`), through Eventarc, a
//! push subscription or the emulator.
//!
//! `faas.trigger=pubsub`; a SERVER span for the delivery and inside it the CONSUMER
//! `subscribe {subscription}` span of the messaging conventions: `messaging.system` =
//! `gcp_pubsub`, `messaging.operation.type` = `process`, `messaging.operation.name` =
//! `subscribe` (the name the Google client libraries give the processing of a message),
//! `messaging.destination.name` (the topic id), `messaging.destination.subscription.name`
//! (the subscription id), `messaging.message.id`, `messaging.message.body.size`,
//! `messaging.gcp_pubsub.message.ordering_key`,
//! `messaging.gcp_pubsub.message.delivery_attempt`; a link to the publisher's context from
//! `googclient_traceparent`.

use std::collections::HashMap;

use base64::Engine as _;
use cloudevents::AttributesReader as _;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanContext, SpanKind, TraceContextExt as _};
use opentelemetry_semantic_conventions::attribute::{
    MESSAGING_DESTINATION_NAME, MESSAGING_DESTINATION_SUBSCRIPTION_NAME,
    MESSAGING_GCP_PUBSUB_MESSAGE_DELIVERY_ATTEMPT, MESSAGING_GCP_PUBSUB_MESSAGE_ORDERING_KEY,
    MESSAGING_MESSAGE_BODY_SIZE, MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use otel_faas_core::propagation::Propagation;
use otel_faas_core::trigger::{FaasTrigger, InvocationSpec, SpanSpec};
use otel_faas_messaging::PubSubAttributes;
use serde_json::Value;

use crate::CloudEventRequest;
use crate::cloud_event::data_json;

/// `messaging.system` of Pub/Sub.
pub const PUBSUB_SYSTEM: &str = "gcp_pubsub";

/// A Pub/Sub message, decoded for the function: `data` base64-decoded.
///
/// ```
/// use axum::body::Bytes;
/// use otel_faas_core::server::Envelope;
/// use otel_faas_gcp::{CloudEventRequest, PubSubMessage};
///
/// let push = br#"{"message": {"data": "aGVsbG8=", "messageId": "42", "attributes": {"k": "v"}},
///                 "subscription": "projects/p/subscriptions/orders-sub"}"#;
/// let (parts, ()) = http::Request::post("/").body(()).unwrap().into_parts();
/// let request = CloudEventRequest::decode(&parts, Bytes::from_static(push)).unwrap();
/// let message = PubSubMessage::from_request(&request).unwrap();
/// assert_eq!(message.data(), b"hello");
/// assert_eq!(message.id(), "42");
/// assert_eq!(message.attributes()["k"], "v");
/// assert_eq!(message.subscription(), Some("projects/p/subscriptions/orders-sub"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubSubMessage {
    id: String,
    data: Vec<u8>,
    attributes: HashMap<String, String>,
    publish_time: Option<String>,
    ordering_key: Option<String>,
    subscription: Option<String>,
    topic: Option<String>,
    delivery_attempt: Option<i64>,
}

impl PubSubMessage {
    /// The message of a `messagePublished` event; an error saying what is missing else.
    pub fn from_request(request: &CloudEventRequest) -> Result<Self, String> {
        let data = data_json(request.event()).ok_or_else(|| {
            "the event has no JSON data (a Pub/Sub event carries {\"message\": …})".to_owned()
        })?;
        let message = data
            .get("message")
            .and_then(Value::as_object)
            .ok_or_else(|| "the event's data has no \"message\" object".to_owned())?;
        let text = |camel: &str, snake: &str| {
            message
                .get(camel)
                .or_else(|| message.get(snake))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let payload = match message.get("data").and_then(Value::as_str) {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| format!("the message's data is not base64: {e}"))?,
            None => Vec::new(),
        };
        let attributes = message
            .get("attributes")
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let source = request.event().source().to_string();
        let topic = source
            .strip_prefix("//pubsub.googleapis.com/")
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(Self {
            id: text("messageId", "message_id").unwrap_or_else(|| request.event().id().to_owned()),
            data: payload,
            attributes,
            publish_time: text("publishTime", "publish_time"),
            ordering_key: text("orderingKey", "ordering_key").filter(|k| !k.is_empty()),
            subscription: data
                .get("subscription")
                .and_then(Value::as_str)
                .map(str::to_owned),
            topic,
            delivery_attempt: request.delivery_attempt(),
        })
    }

    /// The message id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The payload, base64-decoded.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// The payload as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.data)
    }
    /// The message's attributes (including the `googclient_` context the publisher wrote).
    pub fn attributes(&self) -> &HashMap<String, String> {
        &self.attributes
    }
    /// When it was published (RFC 3339).
    pub fn publish_time(&self) -> Option<&str> {
        self.publish_time.as_deref()
    }
    /// Its ordering key, if it has one.
    pub fn ordering_key(&self) -> Option<&str> {
        self.ordering_key.as_deref()
    }
    /// The subscription that delivered it (`projects/<p>/subscriptions/<s>`).
    pub fn subscription(&self) -> Option<&str> {
        self.subscription.as_deref()
    }
    /// The topic it was published to (`projects/<p>/topics/<t>`), when the event says.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }
    /// The delivery attempt (push subscriptions with a dead-letter policy).
    pub fn delivery_attempt(&self) -> Option<i64> {
        self.delivery_attempt
    }
}

/// The last segment of `projects/<p>/<kind>/<id>`.
fn short_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

pub(crate) fn spec(
    request: &CloudEventRequest,
    propagation: &dyn Propagation,
    mut creation: Vec<SpanContext>,
) -> (InvocationSpec, Vec<SpanContext>) {
    let message = PubSubMessage::from_request(request).ok();
    let mut attributes = vec![
        KeyValue::new(MESSAGING_SYSTEM, PUBSUB_SYSTEM),
        KeyValue::new(MESSAGING_OPERATION_TYPE, "process"),
        KeyValue::new(MESSAGING_OPERATION_NAME, "subscribe"),
    ];
    let mut name = "subscribe".to_owned();
    if let Some(message) = &message {
        if let Some(topic) = message.topic() {
            attributes.push(KeyValue::new(
                MESSAGING_DESTINATION_NAME,
                short_name(topic).to_owned(),
            ));
        }
        if let Some(subscription) = message.subscription() {
            let id = short_name(subscription).to_owned();
            name = format!("subscribe {id}");
            attributes.push(KeyValue::new(MESSAGING_DESTINATION_SUBSCRIPTION_NAME, id));
        } else if let Some(topic) = message.topic() {
            name = format!("subscribe {}", short_name(topic));
        }
        attributes.push(KeyValue::new(MESSAGING_MESSAGE_ID, message.id().to_owned()));
        attributes.push(KeyValue::new(
            MESSAGING_MESSAGE_BODY_SIZE,
            i64::try_from(message.data().len()).unwrap_or(i64::MAX),
        ));
        if let Some(key) = message.ordering_key() {
            attributes.push(KeyValue::new(
                MESSAGING_GCP_PUBSUB_MESSAGE_ORDERING_KEY,
                key.to_owned(),
            ));
        }
        if let Some(attempt) = message.delivery_attempt() {
            attributes.push(KeyValue::new(
                MESSAGING_GCP_PUBSUB_MESSAGE_DELIVERY_ATTEMPT,
                attempt,
            ));
        }
        let publisher = propagation.extract_from(&PubSubAttributes(message.attributes()));
        let publisher = publisher.span().span_context().clone();
        if publisher.is_valid() {
            creation.push(publisher);
        }
    }
    let spec = InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server(name.clone()))
        .with_inner_span(
            SpanSpec::new(name, SpanKind::Consumer)
                .with_attributes(attributes)
                .with_links(super::links_to(&creation)),
        );
    (spec, creation)
}
