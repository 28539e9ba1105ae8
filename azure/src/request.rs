//! The invocation request: `POST /<function>` with `{"Data": …, "Metadata": …}`, decoded once
//! at the edge.

use axum::body::Bytes;
use http::HeaderMap;
use http::request::Parts;
use otel_faas_core::server::Envelope;
use serde_json::{Map, Value};

use crate::http_messages::HttpRequest;
use crate::value;

/// The header carrying the host's id for the invocation (`faas.invocation_id`).
pub const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";
/// The header carrying the host's version.
pub const HOST_VERSION_HEADER: &str = "x-azure-functions-hostversion";
/// The header the host's proxy adds to proxied HTTP requests (`enableProxyingHttpRequest`).
pub const PROXY_INVOCATION_ID_HEADER: &str = "x-ms-invocation-id";

/// One invocation as the host sent it: the function, the `Data` (trigger and input binding
/// values, by binding name), the `Metadata` (trigger metadata, `sys`, `RetryContext`) and
/// the request's headers (invocation id, host version, trace context).
///
/// Handlers rarely see it: typed inputs ([`QueueMessage`](crate::QueueMessage),
/// [`HttpRequest`], …) are read from it. Ask for it as a handler argument for everything
/// the host sent.
///
/// ```
/// use otel_faas_azure::InvocationRequest;
/// use otel_faas_core::server::Envelope;
///
/// let body = br#"{"Data":{"inMsg":"\"aaaaa\""},"Metadata":{"DequeueCount":"1","sys":{"MethodName":"queue"}}}"#;
/// let (parts, ()) = http::Request::post("/queue")
///     .header("X-Azure-Functions-InvocationId", "3f1c9e2a-5b7d-4c1e-9a0b-6d2e8f4a1c3b")
///     .body(())
///     .unwrap()
///     .into_parts();
/// let request = InvocationRequest::decode(&parts, axum::body::Bytes::from_static(body)).unwrap();
/// assert_eq!(request.function_name(), "queue");
/// assert_eq!(request.invocation_id(), Some("3f1c9e2a-5b7d-4c1e-9a0b-6d2e8f4a1c3b"));
/// assert_eq!(request.metadata_integer("DequeueCount"), Some(1));
/// assert_eq!(request.data_text("inMsg").as_deref(), Some("aaaaa"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct InvocationRequest {
    function: String,
    data: Map<String, Value>,
    metadata: Map<String, Value>,
    headers: HeaderMap,
    pub(crate) forwarded: Option<HttpRequest>,
}

/// `Metadata.RetryContext`, present when the function has a retry policy.
///
/// ```
/// use otel_faas_azure::{InvocationRequest, RetryContext};
///
/// let request = InvocationRequest::new(
///     "f",
///     serde_json::json!({}),
///     serde_json::json!({"RetryContext": {"RetryCount": 1, "MaxRetryCount": 2}}),
/// );
/// assert_eq!(request.retry_context(), Some(RetryContext { retry_count: 1, max_retry_count: 2 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryContext {
    /// The retry this is (0 for the first attempt).
    pub retry_count: i64,
    /// The most retries the policy allows (`-1`: unlimited).
    pub max_retry_count: i64,
}

impl InvocationRequest {
    /// A request for `function` with `data` and `metadata` (JSON objects; anything else is
    /// taken as empty), as a test or a local runner builds one.
    pub fn new(function: impl Into<String>, data: Value, metadata: Value) -> Self {
        let object = |value: Value| match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self {
            function: function.into(),
            data: object(data),
            metadata: object(metadata),
            headers: HeaderMap::new(),
            forwarded: None,
        }
    }

    /// The same request with `headers`.
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// A forwarded or proxied HTTP request, as an invocation of `function`.
    pub(crate) fn forwarded(function: impl Into<String>, request: HttpRequest) -> Self {
        Self {
            function: function.into(),
            headers: request.headers().clone(),
            forwarded: Some(request),
            ..Self::default()
        }
    }

    /// The function invoked (the request's path).
    pub fn function_name(&self) -> &str {
        &self.function
    }
    /// `Data`: the trigger's and input bindings' values, by binding name, as sent.
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }
    /// `Metadata`: the trigger's metadata, as sent.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }
    /// The headers of the host's request (not of an HTTP trigger's request).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }
    /// The host's id for this invocation (`X-Azure-Functions-InvocationId`, or
    /// `x-ms-invocation-id` on a proxied HTTP request).
    pub fn invocation_id(&self) -> Option<&str> {
        self.header(INVOCATION_ID_HEADER)
            .or_else(|| self.header(PROXY_INVOCATION_ID_HEADER))
    }
    /// The host's version (`X-Azure-Functions-HostVersion`).
    pub fn host_version(&self) -> Option<&str> {
        self.header(HOST_VERSION_HEADER)
    }
    /// A `Data` value with the host's string encoding undone once (`"\"hello\""` →
    /// `hello`); `None` when absent or not a scalar.
    pub fn data_text(&self, binding: &str) -> Option<String> {
        value::member(&self.data, binding).and_then(value::text)
    }
    /// A `Metadata` value with the host's string encoding undone once.
    pub fn metadata_text(&self, key: &str) -> Option<String> {
        value::member(&self.metadata, key).and_then(value::text)
    }
    /// A `Metadata` integer, sent as a number or as a string (`DequeueCount: "1"`).
    pub fn metadata_integer(&self, key: &str) -> Option<i64> {
        value::member(&self.metadata, key).and_then(value::integer)
    }
    /// `Metadata.sys.MethodName`: the function's name as the host knows it.
    pub fn method_name(&self) -> Option<String> {
        self.sys("MethodName")
    }
    /// `Metadata.sys.UtcNow`: when the host started the invocation.
    pub fn utc_now(&self) -> Option<String> {
        self.sys("UtcNow")
    }
    fn sys(&self, key: &str) -> Option<String> {
        value::member(&self.metadata, "sys")
            .and_then(Value::as_object)
            .and_then(|sys| value::member(sys, key))
            .and_then(value::text)
    }
    /// `Metadata.RetryContext`, when the function has a retry policy.
    pub fn retry_context(&self) -> Option<RetryContext> {
        let retry = value::json(value::member(&self.metadata, "RetryContext")?);
        let retry = retry.as_object()?;
        Some(RetryContext {
            retry_count: value::member(retry, "RetryCount").and_then(value::integer)?,
            max_retry_count: value::member(retry, "MaxRetryCount")
                .and_then(value::integer)
                .unwrap_or(-1),
        })
    }
}

impl Envelope for InvocationRequest {
    type Rejection = String;

    fn decode(parts: &Parts, body: Bytes) -> Result<Self, String> {
        let function = parts.uri.path().trim_matches('/').to_owned();
        // Some writers put a byte order mark before the JSON.
        let text = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&body);
        let json: Value = serde_json::from_slice(text).map_err(|error| {
            format!(
                "the body is not JSON ({error}); expected {{\"Data\": {{…}}, \"Metadata\": {{…}}}}"
            )
        })?;
        let Value::Object(mut envelope) = json else {
            return Err(
                "the body is not a JSON object; expected {\"Data\": {…}, \"Metadata\": {…}}"
                    .to_owned(),
            );
        };
        let mut member = |key: &str| -> Result<Map<String, Value>, String> {
            let name = envelope
                .keys()
                .find(|name| name.eq_ignore_ascii_case(key))
                .cloned();
            match name.and_then(|name| envelope.remove(&name)) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(map)) => Ok(map),
                Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(map)) => Ok(map),
                    _ => Err(format!("\"{key}\" is a string, not an object")),
                },
                Some(other) => Err(format!("\"{key}\" is {}, not an object", kind(&other))),
            }
        };
        let data = member("Data")?;
        let metadata = member("Metadata")?;
        Ok(Self {
            function,
            data,
            metadata,
            headers: parts.headers.clone(),
            forwarded: None,
        })
    }
}

/// The trigger's value: `Data.<binding>` (the first `Data` value when the binding is not
/// known) as one element, or each element of a batch when `batch` (`cardinality: many`).
pub(crate) fn trigger_values(
    request: &InvocationRequest,
    binding: Option<&str>,
    batch: bool,
) -> Vec<Value> {
    let data = match binding {
        Some(binding) => value::member(request.data(), binding),
        None => request.data().values().next(),
    }
    .cloned()
    .unwrap_or(Value::Null);
    if batch {
        value::elements(&data)
    } else {
        vec![data]
    }
}

/// Metadata of one message: `<key>` for a single message, `<key>Array[index]` for message
/// `index` of a batch (`cardinality: many`).
pub(crate) fn batch_meta(
    request: &InvocationRequest,
    key: &str,
    batch: Option<usize>,
) -> Option<Value> {
    match batch {
        None => value::member(request.metadata(), key).cloned(),
        Some(index) => value::member(request.metadata(), &format!("{key}Array"))
            .map(value::elements)
            .and_then(|items| items.into_iter().nth(index)),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &[u8]) -> Result<InvocationRequest, String> {
        let (parts, ()) = http::Request::post("/fn").body(()).unwrap().into_parts();
        InvocationRequest::decode(&parts, Bytes::copy_from_slice(body))
    }

    #[test]
    fn envelopes_decode_with_their_quirks() {
        let request = decode(b"\xEF\xBB\xBF{\"Data\":{\"m\":\"\\\"x\\\"\"},\"Metadata\":{\"RetryContext\":{\"RetryCount\":\"1\",\"MaxRetryCount\":2},\"sys\":{\"MethodName\":\"fn\",\"UtcNow\":\"2022-06-13T06:00:18Z\"}}}").unwrap();
        assert_eq!(request.function_name(), "fn");
        assert_eq!(request.data_text("m").as_deref(), Some("x"));
        assert_eq!(request.method_name().as_deref(), Some("fn"));
        assert_eq!(request.utc_now().as_deref(), Some("2022-06-13T06:00:18Z"));
        assert_eq!(
            request.retry_context(),
            Some(RetryContext {
                retry_count: 1,
                max_retry_count: 2
            })
        );
        // Lower-case keys and a missing Metadata are accepted.
        let request = decode(b"{\"data\":{\"a\":1}}").unwrap();
        assert_eq!(request.data().len(), 1);
        assert!(request.metadata().is_empty());
        assert!(request.retry_context().is_none());
    }

    #[test]
    fn what_is_not_an_envelope_is_refused_with_the_reason() {
        assert!(decode(b"soon").unwrap_err().contains("not JSON"));
        assert!(decode(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(
            decode(b"{\"Data\":[1]}")
                .unwrap_err()
                .contains("\"Data\" is an array")
        );
        assert!(
            decode(b"{\"Metadata\":\"x\"}")
                .unwrap_err()
                .contains("\"Metadata\" is a string")
        );
    }
}
