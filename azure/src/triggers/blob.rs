//! Blob triggers (`blobTrigger`): `faas.trigger=datasource` with `faas.document.collection`
//! (the container), `faas.document.name` (the blob), `faas.document.operation` and
//! `faas.document.time` (its last modification).
//!
//! The host fires for new and for updated blobs without saying which; the operation is
//! `insert` when the blob's `Created` equals its `LastModified`, else `edit`.
//!
//! The container and the blob's name come from the blob's `Uri` (virtual-hosted
//! `https://<account>.blob.core.windows.net/<container>/<name>`, or path-style
//! `http://127.0.0.1:10000/<account>/<container>/<name>` as Azurite serves it),
//! percent-decoded: the trigger's `path` may be a pattern (`{container}/{name}`) and the
//! `{name}` metadata key is whatever the pattern calls it. Without a `Uri`: the literal
//! container of `path`, and the name from `BlobTrigger`, the metadata key of the path's
//! last placeholder, or `name`.

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

/// The container and blob name of a blob URI; `None` when it has no blob in it.
fn container_and_name(uri: &str) -> Option<(String, String)> {
    let (_, rest) = uri.split_once("://")?;
    let (host, path) = rest.split_once('/')?;
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or(host);
    // Path-style URLs (the emulator's, or an IP) name the account first.
    let hostname = host.split(':').next().unwrap_or(host);
    let path_style = hostname == "localhost" || hostname.parse::<std::net::IpAddr>().is_ok();
    let path = if path_style {
        path.split_once('/')?.1
    } else {
        path
    };
    let (container, name) = path.split_once('/')?;
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    (!container.is_empty() && !name.is_empty()).then(|| (decode(container), decode(name)))
}

fn properties(request: &InvocationRequest) -> Map<String, Value> {
    value::member(request.metadata(), "Properties")
        .map(value::json)
        .and_then(|p| p.as_object().cloned())
        .unwrap_or_default()
}

pub(crate) fn spec(request: &InvocationRequest, binding: &Binding) -> InvocationSpec {
    let from_uri = request
        .metadata_text("Uri")
        .and_then(|uri| container_and_name(&uri));
    let container = from_uri
        .as_ref()
        .map(|(container, _)| container.clone())
        .or_else(|| {
            binding
                .setting("path")
                .and_then(|path| path.trim_start_matches('/').split('/').next())
                .filter(|c| !c.is_empty() && !c.contains('{'))
                .map(str::to_owned)
        });
    let name = from_uri
        .map(|(_, name)| name)
        .or_else(|| {
            request
                .metadata_text("BlobTrigger")
                .and_then(|path| path.split_once('/').map(|(_, name)| name.to_owned()))
        })
        .or_else(|| {
            // `uploads/{file}`: the host passes the blob's name under `file`.
            let key = binding
                .setting("path")?
                .rsplit('/')
                .next()?
                .strip_prefix('{')?
                .strip_suffix('}')?;
            request.metadata_text(key)
        })
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

#[cfg(test)]
mod tests {
    use opentelemetry::Value as OtelValue;

    use super::*;
    use crate::function_json::FunctionJson;

    fn fixture(path: &str) -> Vec<u8> {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/azure-custom-handler/"
        );
        std::fs::read(format!("{root}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn attribute<'a>(spec: &'a InvocationSpec, key: &str) -> Option<&'a OtelValue> {
        spec.span()
            .attributes()
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    #[test]
    fn a_real_blob_capture_reads_as_a_datasource_insert() {
        let capture: Value =
            serde_json::from_slice(&fixture("ballerina/blob-trigger.json")).unwrap();
        let request = InvocationRequest::new(
            "blobspread",
            capture["Data"].clone(),
            capture["Metadata"].clone(),
        );
        // The host sample's function.json, whose path names another container: the Uri wins.
        let function = FunctionJson::parse(
            "blobspread",
            &fixture("host-samples/Node/BlobTrigger/function.json"),
        )
        .unwrap();
        let spec = spec(&request, function.trigger().unwrap());
        assert_eq!(spec.trigger(), FaasTrigger::Datasource);
        assert_eq!(spec.span().name(), "insert bpath1");
        assert_eq!(
            attribute(&spec, FAAS_DOCUMENT_COLLECTION).map(ToString::to_string),
            Some("bpath1".to_owned())
        );
        assert_eq!(
            attribute(&spec, FAAS_DOCUMENT_NAME).map(ToString::to_string),
            Some("hello.txt".to_owned())
        );
        assert_eq!(
            attribute(&spec, FAAS_DOCUMENT_OPERATION).map(ToString::to_string),
            Some("insert".to_owned()),
            "Created equals LastModified"
        );
        assert_eq!(
            attribute(&spec, FAAS_DOCUMENT_TIME).map(ToString::to_string),
            Some("2022-07-25T10:26:34+00:00".to_owned())
        );
        let blob = BlobInput::from_request(&request, Some("blobIn"));
        assert_eq!(blob.content(), b"hello from byte\n");
        assert_eq!(blob.name(), Some("hello.txt"));
        assert_eq!(blob.content_type(), Some("text/plain"));
        assert_eq!(blob.length(), Some(16));
    }

    #[test]
    fn an_updated_blob_is_an_edit_and_the_path_serves_without_a_uri() {
        let function = FunctionJson::parse(
            "f",
            br#"{"bindings":[{"type":"blobTrigger","direction":"in","name":"b","path":"uploads/{file}"}]}"#,
        )
        .unwrap();
        let request = InvocationRequest::new(
            "f",
            serde_json::json!({"b": "aGk="}),
            serde_json::json!({"file": "\"a.csv\"", "Properties": {
                "Created": "2024-01-01T00:00:00+00:00", "LastModified": "2024-02-01T00:00:00+00:00"}}),
        );
        let spec = spec(&request, function.trigger().unwrap());
        assert_eq!(spec.span().name(), "edit uploads");
        assert_eq!(
            attribute(&spec, FAAS_DOCUMENT_NAME).map(ToString::to_string),
            Some("a.csv".to_owned()),
            "the name under the path's own placeholder"
        );
        assert_eq!(
            attribute(&spec, FAAS_DOCUMENT_OPERATION).map(ToString::to_string),
            Some("edit".to_owned())
        );
    }

    #[test]
    fn blob_uris_in_both_styles() {
        assert_eq!(
            container_and_name("https://acct.blob.core.windows.net/images/2024/cat%20one.png"),
            Some(("images".to_owned(), "2024/cat one.png".to_owned()))
        );
        assert_eq!(
            container_and_name("http://127.0.0.1:10000/devstoreaccount1/images/cat.png?sv=1"),
            Some(("images".to_owned(), "cat.png".to_owned()))
        );
        assert_eq!(
            container_and_name("https://acct.blob.core.windows.net/images"),
            None
        );
        assert_eq!(container_and_name("not a uri"), None);
    }
}
