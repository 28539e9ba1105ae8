//! Blob triggers (`blobTrigger`): `faas.trigger=datasource` with `faas.document.collection`
//! (the container), `faas.document.name` (the blob), `faas.document.operation` and
//! `faas.document.time` (its last modification).
//!
//! The host fires for new and for updated blobs without saying which; the operation is
//! `insert` when the blob's `Created` equals its `LastModified`, else `edit`.

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    FAAS_DOCUMENT_COLLECTION, FAAS_DOCUMENT_NAME, FAAS_DOCUMENT_OPERATION, FAAS_DOCUMENT_TIME,
};
use otel_faas_core::trigger::FaasTrigger;
use otel_faas_core::{InvocationSpec, SpanSpec};
use serde_json::{Map, Value};

use crate::function_json::Binding;
use crate::request::InvocationRequest;
use crate::value;

/// A blob, as a blob trigger delivers it.
///
/// ```
/// use otel_faas_azure::{BlobInput, InvocationRequest};
/// use serde_json::json;
///
/// let request = InvocationRequest::new(
///     "thumbnails",
///     json!({"blob": "aGVsbG8="}),
///     json!({"name": "\"cat.png\"", "Uri": "\"https://acct.blob.core.windows.net/images/cat.png\""}),
/// );
/// let blob = BlobInput::from_request(&request, Some("blob"));
/// assert_eq!(blob.content(), b"hello");
/// assert_eq!(blob.name(), Some("cat.png"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobInput {
    content: Vec<u8>,
    name: Option<String>,
    uri: Option<String>,
    content_type: Option<String>,
    length: Option<i64>,
}

impl BlobInput {
    /// Reads `Data.<binding>` (base64, as the host sends byte arrays; text otherwise) and the
    /// blob's metadata.
    pub fn from_request(request: &InvocationRequest, binding: Option<&str>) -> Self {
        let data = match binding {
            Some(binding) => value::member(request.data(), binding),
            None => request.data().values().next(),
        };
        let properties = properties(request);
        Self {
            content: data.map(value::bytes).unwrap_or_default(),
            name: request.metadata_text("name"),
            uri: request.metadata_text("Uri"),
            content_type: value::member(&properties, "ContentType").and_then(value::text),
            length: value::member(&properties, "Length").and_then(value::integer),
        }
    }

    /// The blob's content.
    pub fn content(&self) -> &[u8] {
        &self.content
    }
    /// The blob's name (the `{name}` of the trigger's path).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The blob's URI.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }
    /// `Properties.ContentType`.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
    /// `Properties.Length`.
    pub fn length(&self) -> Option<i64> {
        self.length
    }
}

fn properties(request: &InvocationRequest) -> Map<String, Value> {
    value::member(request.metadata(), "Properties")
        .map(value::json)
        .and_then(|p| p.as_object().cloned())
        .unwrap_or_default()
}

pub(crate) fn spec(request: &InvocationRequest, binding: &Binding) -> InvocationSpec {
    let container = binding
        .setting("path")
        .and_then(|path| path.trim_start_matches('/').split('/').next())
        .filter(|c| !c.is_empty() && !c.contains('{'))
        .map(str::to_owned);
    let name = request
        .metadata_text("BlobTrigger")
        .and_then(|path| path.split_once('/').map(|(_, name)| name.to_owned()))
        .or_else(|| request.metadata_text("name"));
    let properties = properties(request);
    let created = value::member(&properties, "Created").and_then(value::text);
    let modified = value::member(&properties, "LastModified").and_then(value::text);
    let operation = match (&created, &modified) {
        (Some(created), Some(modified)) if created != modified => "edit",
        _ => "insert",
    };
    let mut attributes = vec![KeyValue::new(FAAS_DOCUMENT_OPERATION, operation)];
    if let Some(container) = &container {
        attributes.push(KeyValue::new(FAAS_DOCUMENT_COLLECTION, container.clone()));
    }
    if let Some(name) = name {
        attributes.push(KeyValue::new(FAAS_DOCUMENT_NAME, name));
    }
    if let Some(time) = modified {
        attributes.push(KeyValue::new(FAAS_DOCUMENT_TIME, time));
    }
    let span_name = match container {
        Some(container) => format!("{operation} {container}"),
        None => operation.to_owned(),
    };
    InvocationSpec::new(
        FaasTrigger::Datasource,
        SpanSpec::server(span_name).with_attributes(attributes),
    )
}
