//! Cloud Storage object events (`google.cloud.storage.object.v1.*`).
//!
//! `faas.trigger=datasource`; a SERVER span `{operation} {bucket}` with
//! `faas.document.collection` (the bucket), `faas.document.name` (the object),
//! `faas.document.operation` from the event type (`finalized` → `insert`, `deleted` →
//! `delete`, `archived` and `metadataUpdated` → `edit`) and `faas.document.time` (the
//! event's time).

use cloudevents::AttributesReader as _;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    FAAS_DOCUMENT_COLLECTION, FAAS_DOCUMENT_NAME, FAAS_DOCUMENT_OPERATION, FAAS_DOCUMENT_TIME,
};
use otel_faas_core::trigger::{FaasTrigger, InvocationSpec, SpanSpec};
use serde_json::Value;

use crate::CloudEventRequest;
use crate::cloud_event::data_json;

/// The type prefix of Cloud Storage object events.
pub const STORAGE_TYPE_PREFIX: &str = "google.cloud.storage.object.v1.";

/// A Cloud Storage object, as an object event describes it.
///
/// ```
/// use axum::body::Bytes;
/// use otel_faas_core::server::Envelope;
/// use otel_faas_gcp::{CloudEventRequest, StorageObject};
///
/// let request = http::Request::post("/")
///     .header("ce-specversion", "1.0")
///     .header("ce-id", "1")
///     .header("ce-source", "//storage.googleapis.com/projects/_/buckets/uploads")
///     .header("ce-type", "google.cloud.storage.object.v1.finalized")
///     .header("ce-subject", "objects/cat.png")
///     .header("content-type", "application/json")
///     .body(()).unwrap();
/// let (parts, ()) = request.into_parts();
/// let body = Bytes::from_static(br#"{"bucket": "uploads", "name": "cat.png", "size": "1024", "contentType": "image/png"}"#);
/// let object = StorageObject::from_request(&CloudEventRequest::decode(&parts, body).unwrap()).unwrap();
/// assert_eq!((object.bucket(), object.name()), ("uploads", "cat.png"));
/// assert_eq!(object.size(), Some(1024));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StorageObject {
    bucket: String,
    name: String,
    data: Value,
}

impl StorageObject {
    /// The object of a Cloud Storage event.
    pub fn from_request(request: &CloudEventRequest) -> Result<Self, String> {
        let data = data_json(request.event()).ok_or_else(|| {
            "the event has no JSON data (a Storage event carries the object)".to_owned()
        })?;
        let from_source = || {
            request
                .event()
                .source()
                .split("/buckets/")
                .nth(1)
                .map(str::to_owned)
        };
        let bucket = data
            .get("bucket")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(from_source)
            .ok_or_else(|| "the event names no bucket".to_owned())?;
        let name = data
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                request
                    .event()
                    .subject()
                    .and_then(|s| s.strip_prefix("objects/"))
                    .map(str::to_owned)
            })
            .ok_or_else(|| "the event names no object".to_owned())?;
        Ok(Self { bucket, name, data })
    }
    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `size` (a string in the event), as a number.
    pub fn size(&self) -> Option<u64> {
        match self.data.get("size")? {
            Value::String(size) => size.parse().ok(),
            Value::Number(size) => size.as_u64(),
            _ => None,
        }
    }
    /// `contentType`.
    pub fn content_type(&self) -> Option<&str> {
        self.data.get("contentType").and_then(Value::as_str)
    }
    /// `generation`.
    pub fn generation(&self) -> Option<&str> {
        self.data.get("generation").and_then(Value::as_str)
    }
    /// The whole object resource, as the event carries it.
    pub fn data(&self) -> &Value {
        &self.data
    }
}

pub(crate) fn spec(request: &CloudEventRequest) -> InvocationSpec {
    let event = request.event();
    let operation = match event.ty().strip_prefix(STORAGE_TYPE_PREFIX) {
        Some("finalized") => "insert",
        Some("deleted") => "delete",
        _ => "edit",
    };
    let mut attributes = vec![KeyValue::new(FAAS_DOCUMENT_OPERATION, operation)];
    let mut name = operation.to_owned();
    if let Ok(object) = StorageObject::from_request(request) {
        name = format!("{operation} {}", object.bucket());
        attributes.push(KeyValue::new(
            FAAS_DOCUMENT_COLLECTION,
            object.bucket().to_owned(),
        ));
        attributes.push(KeyValue::new(FAAS_DOCUMENT_NAME, object.name().to_owned()));
    }
    if let Some(time) = event.time() {
        attributes.push(KeyValue::new(
            FAAS_DOCUMENT_TIME,
            time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ));
    }
    InvocationSpec::new(
        FaasTrigger::Datasource,
        SpanSpec::server(name).with_attributes(attributes),
    )
}
