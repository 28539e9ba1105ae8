//! HTTP triggers (`httpTrigger`), in the host's three modes.
//!
//! * Default: the request arrives inside the envelope, `Data.<binding>` =
//!   `{Url, Method, Query, Headers: {name: [values]}, Params, Identities, Body}`; the reply goes
//!   in `Outputs.<http output>` = `{statusCode, body, headers}` (or `ReturnValue` for
//!   `$return`).
//! * `enableForwardingHttpRequest` (legacy) and `enableProxyingHttpRequest`: the request
//!   itself, at its own path (`/api/…`), answered with a plain HTTP response.
//!
//! A handler sees one [`HttpRequest`] and returns one [`HttpResponse`] in every mode. The
//! span follows the stable HTTP server conventions: `{method} {route}` with
//! `http.route` = `/<routePrefix>/<route>` (the function's `route`, else its name), `url.*`,
//! `server.*`, `client.address`, `user_agent.original`, `http.response.status_code`; ERROR
//! for 5xx only. No header is recorded, and credential query values are redacted: core's
//! default keys, `OTEL_FAAS_REDACT_QUERY_KEYS`, and the function keys Azure Functions
//! accepts in the query ([`FUNCTION_KEY_QUERY_KEYS`]).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use otel_faas_core::InvocationSpec;
use otel_faas_core::http::{HttpServerAttributes, QueryRedaction};
use otel_faas_core::propagation::{Carrier, Propagation};
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

fn decode_component(text: &str) -> String {
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

/// The request's headers as a carrier, for the trace context a caller sent.
struct Headers<'a>(&'a HeaderMap);

impl Carrier for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// The query parameters that carry an Azure Functions key: `code`, which every
/// function-level or admin-level HTTP trigger is called with (`?code=<key>`), and
/// `x-functions-key`, the header's name, which some clients send in the query too. Their
/// values are redacted in `url.query` beside core's default keys.
///
/// ```
/// assert_eq!(otel_faas_azure::triggers::http::FUNCTION_KEY_QUERY_KEYS, ["code", "x-functions-key"]);
/// ```
pub const FUNCTION_KEY_QUERY_KEYS: [&str; 2] = ["code", "x-functions-key"];

/// Core's default redaction (with `OTEL_FAAS_REDACT_QUERY_KEYS`) and the function keys.
static REDACTION: std::sync::LazyLock<std::sync::Arc<QueryRedaction>> =
    std::sync::LazyLock::new(|| {
        std::sync::Arc::new(
            FUNCTION_KEY_QUERY_KEYS
                .into_iter()
                .fold(QueryRedaction::default(), QueryRedaction::with_key),
        )
    });

/// The invocation span of an HTTP trigger. `route` is the full route template
/// (`/api/orders/{id}`).
pub(crate) fn spec(
    request: &HttpRequest,
    route: &str,
    propagation: &dyn Propagation,
) -> InvocationSpec {
    let header = |name: &str| {
        request
            .header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let uri = request.uri();
    let mut attributes = HttpServerAttributes::new(request.method().as_str())
        .redaction(std::sync::Arc::clone(&REDACTION))
        .route(Some(route))
        .path(uri.path());
    if let Some(query) = uri.query() {
        attributes = attributes.query(query);
    }
    let scheme = header("x-forwarded-proto")
        .or(uri.scheme_str())
        .unwrap_or("https");
    attributes = attributes.scheme(scheme.split(',').next().unwrap_or(scheme).trim());
    if let Some(authority) = header("x-forwarded-host")
        .or(header("disguised-host"))
        .or(uri.authority().map(|a| a.as_str()))
        .or(header("host"))
    {
        attributes = attributes.authority(authority);
    }
    if let Some(client) = header("x-forwarded-for")
        .and_then(|hops| hops.split(',').next())
        .or(header("client-ip"))
        .map(strip_port)
    {
        attributes = attributes.client_address(client);
    }
    if let Some(agent) = header("user-agent") {
        attributes = attributes.user_agent(agent);
    }
    attributes
        .into_spec()
        .with_parent(propagation.extract_from(&Headers(request.headers())))
}

/// `203.0.113.9:41710` → `203.0.113.9`; `[2001:db8::1]:443` → `2001:db8::1`; an address
/// without a port as it is. Azure's front ends write the client's port into
/// `X-Forwarded-For` and `CLIENT-IP`.
fn strip_port(address: &str) -> String {
    let address = address.trim();
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_owned();
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            host.to_owned()
        }
        _ => address.to_owned(),
    }
}

/// A route template matched against a path: `orders/{id}`, `{id:int}`, `{id?}`, `{*rest}`
/// as the host's routing accepts them. Returns the parameters when it matches.
pub(crate) fn match_route(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    let mut segments = path.trim_matches('/').split('/').filter(|s| !s.is_empty());
    let parts: Vec<&str> = template
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    for part in &parts {
        if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let optional = inner.ends_with('?');
            let name = inner.trim_end_matches('?');
            let name = name.split(':').next().unwrap_or(name);
            if let Some(name) = name.strip_prefix('*').or_else(|| name.strip_prefix("**")) {
                let rest: Vec<&str> = segments.by_ref().collect();
                params.insert(name.trim_start_matches('*').to_owned(), rest.join("/"));
                return Some(params);
            }
            match segments.next() {
                Some(segment) => {
                    params.insert(name.to_owned(), decode_component(segment));
                }
                None if optional => {}
                None => return None,
            }
        } else if !segments
            .next()
            .is_some_and(|s| s.eq_ignore_ascii_case(part))
        {
            return None;
        }
    }
    segments.next().is_none().then_some(params)
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TraceContextExt as _;
    use otel_faas_core::propagation::CompositePropagation;

    use super::*;

    fn fixture(path: &str) -> Value {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/azure-custom-handler");
        let text = std::fs::read(root.join(path)).unwrap();
        serde_json::from_slice(&text).unwrap()
    }

    fn attribute(spec: &InvocationSpec, key: &str) -> Option<String> {
        spec.attributes()
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    }

    #[test]
    fn a_real_capture_reads_as_its_request() {
        let envelope = fixture("ballerina/simple.json");
        let request = HttpRequest::from_host_json(&envelope["Data"]["httpPayload"]).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.text(), Some("Jack"));
        assert_eq!(request.header("x-forwarded-proto"), Some("https"));
        let spec = spec(&request, "/api/hello", &CompositePropagation::w3c());
        assert_eq!(spec.name(), "POST /api/hello");
        assert_eq!(
            attribute(&spec, "http.route").as_deref(),
            Some("/api/hello")
        );
        assert_eq!(attribute(&spec, "url.path").as_deref(), Some("/hello"));
        assert_eq!(attribute(&spec, "url.scheme").as_deref(), Some("https"));
        assert_eq!(
            attribute(&spec, "server.address").as_deref(),
            Some("functions1778.azurewebsites.net")
        );
        assert_eq!(attribute(&spec, "server.port").as_deref(), Some("443"));
        // Azure's front end writes the client's port; the conventions want the address.
        assert_eq!(
            attribute(&spec, "client.address").as_deref(),
            Some("45.30.94.9")
        );
        assert_eq!(
            attribute(&spec, "user_agent.original").as_deref(),
            Some("curl/7.71.1")
        );
    }

    #[test]
    fn binary_bodies_arrive_base64() {
        let envelope = fixture("ballerina/payload-octa-byte.json");
        let data = envelope["Data"].as_object().unwrap();
        let (_, payload) = data.iter().next().unwrap();
        let request = HttpRequest::from_host_json(payload).unwrap();
        let raw = payload["Body"].as_str().unwrap();
        assert_ne!(
            request.body().as_ref(),
            raw.as_bytes(),
            "the body must be decoded"
        );
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(request.body()),
            raw.trim()
        );
    }

    #[test]
    fn trace_context_in_the_request_headers_is_the_parent() {
        let request = HttpRequest::from_host_json(&serde_json::json!({
            "Url": "http://localhost:7071/api/x", "Method": "GET",
            "Headers": {"traceparent": ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]}
        }))
        .unwrap();
        let spec = spec(&request, "/api/x", &CompositePropagation::w3c());
        assert_eq!(
            spec.parent().span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn bad_requests_are_refused_with_the_reason() {
        assert!(HttpRequest::from_host_json(&serde_json::json!([1])).is_err());
        assert!(
            HttpRequest::from_host_json(&serde_json::json!({"Method": "GE T"}))
                .unwrap_err()
                .contains("method")
        );
        assert!(
            HttpRequest::from_host_json(&serde_json::json!({"Url": "ht tp://x"}))
                .unwrap_err()
                .contains("URL")
        );
        let binary = serde_json::json!({"Headers": {"Content-Type": "application/octet-stream"}, "Body": "%%%"});
        assert!(
            HttpRequest::from_host_json(&binary)
                .unwrap_err()
                .contains("base64")
        );
    }

    #[test]
    fn routes_match_as_the_host_routes() {
        assert_eq!(
            match_route("orders/{id}", "/orders/42").unwrap()["id"],
            "42"
        );
        assert_eq!(
            match_route("orders/{id:int}", "/orders/42").unwrap()["id"],
            "42"
        );
        assert!(match_route("orders/{id}", "/orders").is_none());
        assert!(match_route("orders/{id?}", "/orders").is_some());
        assert_eq!(
            match_route("orders/{id:int?}", "/orders/7").unwrap()["id"],
            "7"
        );
        assert!(match_route("orders/{id:int?}", "/orders").is_some());
        assert!(match_route("orders", "/orders/42").is_none());
        assert_eq!(
            match_route("files/{*path}", "/files/a/b.txt").unwrap()["path"],
            "a/b.txt"
        );
        assert!(match_route("Orders", "/orders").is_some());
        assert_eq!(match_route("x/{name}", "/x/a%20b").unwrap()["name"], "a b");
    }

    #[test]
    fn responses_take_the_hosts_shape() {
        let response = HttpResponse::new(404).header("x-a", "1").body("nope");
        let json = response.to_host_json();
        assert_eq!(json["statusCode"], "404");
        assert_eq!(json["headers"]["x-a"], "1");
        assert_eq!(json["body"], "nope");
        let binary = HttpResponse::ok(vec![0xff, 0x00]).to_host_json();
        assert_eq!(binary["body"], "/wA=");
        assert_eq!(HttpResponse::new(7).status(), 500);
    }

    #[test]
    fn queries_and_ports() {
        let request = HttpRequest::new(
            Method::GET,
            Uri::from_static("/x?a=1&name=J%C3%BCrgen+X"),
            HeaderMap::new(),
            Bytes::new(),
        );
        assert_eq!(request.query("name").as_deref(), Some("Jürgen X"));
        assert_eq!(request.query("b"), None);
        assert_eq!(strip_port("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
        assert_eq!(strip_port("10.0.0.1"), "10.0.0.1");
    }
}
