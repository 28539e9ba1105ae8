//! The event of a CloudEvent function, decoded once at the edge from whatever form it
//! arrives in: a CloudEvent in binary mode (`ce-*` headers, the body is `data`) or
//! structured mode (`application/cloudevents+json`), both read by the `cloudevents-sdk`
//! crate; a raw Pub/Sub push body; or a background (gen1) event — the last two converted
//! to the CloudEvent the conformance mapping says.

use axum::body::Bytes;
use cloudevents::Event;
use http::HeaderMap;
use http::request::Parts;
use otel_faas_core::server::Envelope;
use serde_json::{Map, Value};

use crate::legacy::{self, LegacyEventError};
use crate::push;

/// The name of the CloudEvents distributed-tracing extension attribute.
pub const TRACEPARENT_EXTENSION: &str = "traceparent";

/// How an event arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventFormat {
    /// A CloudEvent in binary mode: attributes in `ce-*` headers.
    Binary,
    /// A CloudEvent in structured mode: the whole event in a JSON body.
    Structured,
    /// A raw Pub/Sub push request (wrapped, or unwrapped with its metadata in headers),
    /// converted.
    PubSubPush,
    /// A background (gen1) event, converted.
    Background,
}

/// Why a request is not an event; answered `400` with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// A CloudEvent the SDK refused (a missing required attribute, a bad spec version).
    #[error("malformed CloudEvent: {0}")]
    Malformed(String),
    /// Batched mode.
    #[error(
        "batched CloudEvents (application/cloudevents-batch+json) are not supported: send one event per request"
    )]
    Batch,
    /// Neither `ce-*` headers nor a JSON body.
    #[error(
        "not a CloudEvent: no ce-specversion header (binary mode) and the body is not JSON ({0})"
    )]
    NotJson(String),
    /// A JSON body of no known shape.
    #[error(
        "not a CloudEvent: the JSON body has no specversion (structured mode), no message (Pub/Sub push) and no eventType and resource (background event)"
    )]
    Unrecognised,
    /// A background event with no CloudEvent equivalent.
    #[error(transparent)]
    Legacy(#[from] LegacyEventError),
}

/// A CloudEvent function's input: the event, and what the request around it said.
///
/// ```
/// use axum::body::Bytes;
/// use cloudevents::AttributesReader as _;
/// use otel_faas_core::server::Envelope;
/// use otel_faas_gcp::CloudEventRequest;
/// use otel_faas_gcp::events::EventFormat;
///
/// let request = http::Request::post("/")
///     .header("ce-specversion", "1.0")
///     .header("ce-id", "1")
///     .header("ce-source", "//storage.googleapis.com/projects/_/buckets/b")
///     .header("ce-type", "google.cloud.storage.object.v1.finalized")
///     .header("content-type", "application/json")
///     .body(())
///     .unwrap();
/// let (parts, ()) = request.into_parts();
/// let event = CloudEventRequest::decode(&parts, Bytes::from_static(br#"{"name": "a.txt"}"#)).unwrap();
/// assert_eq!(event.format(), EventFormat::Binary);
/// assert_eq!(event.event().ty(), "google.cloud.storage.object.v1.finalized");
///
/// let (parts, ()) = http::Request::post("/").body(()).unwrap().into_parts();
/// assert!(CloudEventRequest::decode(&parts, Bytes::from_static(b"hello")).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct CloudEventRequest {
    event: Event,
    headers: HeaderMap,
    format: EventFormat,
    delivery_attempt: Option<i64>,
    own_traceparent: Option<String>,
}

impl CloudEventRequest {
    /// The event, as the function sees it.
    pub fn event(&self) -> &Event {
        &self.event
    }
    /// The event, owned.
    pub fn into_event(self) -> Event {
        self.event
    }
    /// How it arrived.
    pub fn format(&self) -> EventFormat {
        self.format
    }
    /// The request's headers (the transport's `traceparent`, `X-Cloud-Trace-Context`).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// `deliveryAttempt` of a raw Pub/Sub push request (set when the subscription has a
    /// dead-letter policy).
    pub fn delivery_attempt(&self) -> Option<i64> {
        self.delivery_attempt
    }
    /// The `traceparent` extension the event itself carried (its creation context), before
    /// the transport's was copied into an event that had none.
    pub fn event_traceparent(&self) -> Option<&str> {
        self.own_traceparent.as_deref()
    }

    fn new(mut event: Event, headers: HeaderMap, format: EventFormat) -> Self {
        let own_traceparent = event
            .extension(TRACEPARENT_EXTENSION)
            .map(ToString::to_string);
        // As the Functions Framework does: the transport's traceparent becomes the event's
        // when it has none, so the function sees the context it runs in.
        if own_traceparent.is_none()
            && let Some(transport) = headers.get("traceparent").and_then(|v| v.to_str().ok())
        {
            event.set_extension(TRACEPARENT_EXTENSION, transport.to_owned());
        }
        Self {
            event,
            headers,
            format,
            delivery_attempt: None,
            own_traceparent,
        }
    }
}

impl Envelope for CloudEventRequest {
    type Rejection = EventError;

    fn decode(parts: &Parts, body: Bytes) -> Result<Self, EventError> {
        let headers = parts.headers.clone();
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("application/cloudevents-batch") {
            return Err(EventError::Batch);
        }
        if headers.contains_key("ce-specversion") {
            let event = cloudevents::binding::http::to_event(&headers, body.to_vec())
                .map_err(|e| EventError::Malformed(e.to_string()))?;
            return Ok(Self::new(event, headers, EventFormat::Binary));
        }
        if content_type.starts_with("application/cloudevents") {
            let event = cloudevents::binding::http::to_event(&headers, body.to_vec())
                .map_err(|e| EventError::Malformed(e.to_string()))?;
            return Ok(Self::new(event, headers, EventFormat::Structured));
        }
        if push::is_unwrapped_push(&headers) {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let (converted, attempt) =
                push::unwrapped_to_cloud_event(&headers, &body, parts.uri.path(), &now);
            let mut request = Self::new(structured(converted)?, headers, EventFormat::PubSubPush);
            request.delivery_attempt = attempt;
            return Ok(request);
        }
        let json: Map<String, Value> = match serde_json::from_slice(&body) {
            Ok(Value::Object(json)) => json,
            Ok(_) => return Err(EventError::Unrecognised),
            Err(e) => return Err(EventError::NotJson(e.to_string())),
        };
        if json.contains_key("specversion") {
            // A structured event sent as plain JSON.
            let event = structured(json)?;
            return Ok(Self::new(event, headers, EventFormat::Structured));
        }
        if push::is_push(&json) {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let (converted, attempt) = push::to_cloud_event(json, parts.uri.path(), &now);
            let mut request = Self::new(structured(converted)?, headers, EventFormat::PubSubPush);
            request.delivery_attempt = attempt;
            return Ok(request);
        }
        if legacy::is_background_event(&json) {
            let converted = legacy::to_cloud_event(json)?;
            return Ok(Self::new(
                structured(converted)?,
                headers,
                EventFormat::Background,
            ));
        }
        Err(EventError::Unrecognised)
    }
}

/// A structured event from its JSON form.
fn structured(json: Map<String, Value>) -> Result<Event, EventError> {
    serde_json::from_value(Value::Object(json)).map_err(|e| EventError::Malformed(e.to_string()))
}

/// The event's data as JSON, whatever form the SDK holds it in (JSON, text, or bytes that
/// parse as JSON); `None` when it has none or it is not JSON.
pub(crate) fn data_json(event: &Event) -> Option<Value> {
    match event.data()? {
        cloudevents::Data::Json(value) => Some(value.clone()),
        cloudevents::Data::String(text) => serde_json::from_str(text).ok(),
        cloudevents::Data::Binary(bytes) => serde_json::from_slice(bytes).ok(),
    }
}
