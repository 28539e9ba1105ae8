//! The HTTP request a function sees and the response it returns, the same in the host's
//! three modes (decoded from the envelope's `{Url, Method, Query, Headers, Params, Body}`,
//! or taken as the forwarded request itself). A leaf: the envelope, the reply and the
//! HTTP trigger's adapter all use these types.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde_json::{Map, Value};

use crate::value;

/// An HTTP trigger's request, the same in the host's three modes.
///
/// ```
/// use otel_faas_azure::HttpRequest;
///
/// let request = HttpRequest::from_host_json(&serde_json::json!({
///     "Url": "https://orders.azurewebsites.net/api/orders/42?expand=items",
///     "Method": "POST",
///     "Query": {"expand": "items"},
///     "Headers": {"Content-Type": ["application/json"]},
///     "Params": {"id": "42"},
///     "Body": "{\"qty\":1}"
/// })).unwrap();
/// assert_eq!(request.method(), "POST");
/// assert_eq!(request.uri().path(), "/api/orders/42");
/// assert_eq!(request.param("id"), Some("42"));
/// assert_eq!(request.body().as_ref(), br#"{"qty":1}"#);
/// ```
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    params: HashMap<String, String>,
    body: Bytes,
    identities: Value,
}

impl HttpRequest {
    /// A request as a test or another runtime builds one.
    pub fn new(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            method,
            uri,
            headers,
            params: HashMap::new(),
            body,
            identities: Value::Null,
        }
    }

    /// Reads the host's JSON form of a request (default mode). `Body` is text, or base64
    /// when the request's content type is `application/octet-stream` or `multipart/*` (the
    /// host sends those bytes as a byte array).
    pub fn from_host_json(value: &Value) -> Result<Self, String> {
        Self::parse(value, true)
    }

    /// The request without its body: what the invocation span needs, read without copying
    /// or decoding a body the handler reads once, later.
    pub(crate) fn head_from_host_json(value: &Value) -> Result<Self, String> {
        Self::parse(value, false)
    }

    fn parse(value: &Value, with_body: bool) -> Result<Self, String> {
        // Borrowed as it came: the request (and its body) is not copied to be read.
        let parsed;
        let object = match value {
            Value::Object(object) => object,
            Value::String(_) => match value::json(value) {
                Value::Object(object) => {
                    parsed = object;
                    &parsed
                }
                _ => return Err("the HTTP request is not a JSON object".to_owned()),
            },
            _ => return Err("the HTTP request is not a JSON object".to_owned()),
        };
        let get = |key: &str| value::member(object, key);
        let method = get("Method")
            .and_then(value::text)
            .unwrap_or_else(|| "GET".to_owned());
        let method = Method::from_bytes(method.trim().as_bytes())
            .map_err(|_| format!("{method:?} is not an HTTP method"))?;
        let uri: Uri = match get("Url").and_then(value::text) {
            Some(url) => url
                .parse()
                .map_err(|error| format!("the request URL {url:?} is not valid: {error}"))?,
            None => Uri::from_static("/"),
        };
        let mut headers = HeaderMap::new();
        if let Some(Value::Object(map)) = get("Headers").map(value::json) {
            for (name, values) in &map {
                let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                    continue;
                };
                let values = match values {
                    Value::Array(values) => values.iter().filter_map(value::text).collect(),
                    other => value::text(other).into_iter().collect::<Vec<_>>(),
                };
                for text in values {
                    if let Ok(header) = HeaderValue::from_str(&text) {
                        headers.append(name.clone(), header);
                    }
                }
            }
        }
        let params = get("Params").map(value::string_map).unwrap_or_default();
        let body = match get("Body") {
            _ if !with_body => Bytes::new(),
            None | Some(Value::Null) => Bytes::new(),
            Some(Value::String(text)) if is_binary(&headers) => Bytes::from(
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| "the binary request body is not base64".to_owned())?,
            ),
            Some(Value::String(text)) => Bytes::from(text.clone().into_bytes()),
            Some(other) => Bytes::from(other.to_string().into_bytes()),
        };
        Ok(Self {
            method,
            uri,
            headers,
            params,
            body,
            identities: get("Identities").cloned().unwrap_or(Value::Null),
        })
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }
    /// The URI: absolute in default mode (the host sends the original URL), the path and
    /// query in forwarding and proxying modes.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// One header's value, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// A route parameter (`{id}` in the function's `route`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
    /// Every route parameter.
    pub fn params(&self) -> &HashMap<String, String> {
        &self.params
    }
    /// A query parameter, decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        self.uri.query().and_then(|query| {
            query.split('&').find_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_component(key) == name).then(|| decode_component(value))
            })
        })
    }
    /// The body.
    pub fn body(&self) -> &Bytes {
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
    /// `Identities`: the caller's identities as the host saw them (default mode only).
    pub fn identities(&self) -> &Value {
        &self.identities
    }

    pub(crate) fn with_params(mut self, params: HashMap<String, String>) -> Self {
        self.params = params;
        self
    }
}

pub(crate) fn decode_component(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether the host sends this request's body as bytes (base64 in JSON), as its
/// `IsMediaTypeOctetOrMultipart` decides.
fn is_binary(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim().to_ascii_lowercase())
        .is_some_and(|t| t.starts_with("application/octet-stream") || t.starts_with("multipart/"))
}

/// An HTTP trigger's response.
///
/// ```
/// use otel_faas_azure::HttpResponse;
///
/// let response = HttpResponse::new(201).header("location", "/orders/42").body("created");
/// assert_eq!(response.status().as_u16(), 201);
/// let json = HttpResponse::json(&serde_json::json!({"id": 42}));
/// assert_eq!(json.headers()["content-type"], "application/json");
/// ```
#[derive(Debug, Clone)]
pub struct HttpResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Default for HttpResponse {
    fn default() -> Self {
        Self::new(200)
    }
}

impl HttpResponse {
    /// A response with `status` and no body. A status outside 100–999 becomes 500.
    pub fn new(status: u16) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
    /// `200 OK` with `body`.
    pub fn ok(body: impl Into<Bytes>) -> Self {
        Self::new(200).body(body)
    }
    /// `200 OK` with `value` as JSON.
    pub fn json(value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::ok(body).header("content-type", "application/json"),
            Err(error) => Self::new(500).body(format!("the response is not serialisable: {error}")),
        }
    }
    /// Adds a header; a name or value HTTP forbids is skipped.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.append(name, value);
        }
        self
    }
    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// The body.
    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }

    /// The host's JSON form (`Outputs.res`): `statusCode` as a string (as the host's own
    /// type declares it), `headers` as an object, `body` as text — or base64 when it is not
    /// UTF-8, which the default mode cannot carry otherwise (use a proxying mode for binary
    /// responses).
    pub fn to_host_json(&self) -> Value {
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            if let Ok(text) = value.to_str() {
                headers.insert(name.as_str().to_owned(), Value::String(text.to_owned()));
            }
        }
        let body = match std::str::from_utf8(&self.body) {
            Ok(text) => text.to_owned(),
            Err(_) => base64::engine::general_purpose::STANDARD.encode(&self.body),
        };
        serde_json::json!({
            "statusCode": self.status.as_u16().to_string(),
            "headers": headers,
            "body": body,
        })
    }
}

impl IntoResponse for HttpResponse {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}
