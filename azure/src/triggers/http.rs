//! HTTP triggers (`httpTrigger`), in the host's three modes.
//!
//! * Default: the request arrives inside the envelope, `Data.<binding>` =
//!   `{Url, Method, Query, Headers: {name: [values]}, Params, Identities, Body}`; the reply goes
//!   in `Outputs.<http output>` = `{statusCode, body, headers}` (or `ReturnValue` for
//!   `$return`).
//! * `enableForwardingHttpRequest` (legacy) and `enableProxyingHttpRequest`: the request
//!   itself, at its own path (`/api/…`), answered with a plain HTTP response.
//!
//! A handler sees one [`HttpRequest`] and returns one [`HttpResponse`](crate::HttpResponse) in every mode. The
//! span follows the stable HTTP server conventions: `{method} {route}` with
//! `http.route` = `/<routePrefix>/<route>` (the function's `route`, else its name), `url.*`,
//! `server.*`, `client.address`, `user_agent.original`, `http.response.status_code`; ERROR
//! for 5xx only. No header is recorded, and credential query values are redacted: core's
//! default keys, `OTEL_FAAS_REDACT_QUERY_KEYS`, and the function keys Azure Functions
//! accepts in the query ([`FUNCTION_KEY_QUERY_KEYS`]).

use std::collections::HashMap;

use http::{HeaderMap, HeaderName};
use otel_faas_core::InvocationSpec;
use otel_faas_core::http::{HttpServerAttributes, QueryRedaction};
use otel_faas_core::propagation::{Carrier, Propagation};

use crate::http_messages::{HttpRequest, decode_component};

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
/// assert_eq!(otel_faas_azure::triggers::FUNCTION_KEY_QUERY_KEYS, ["code", "x-functions-key"]);
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
    use axum::body::Bytes;
    use base64::Engine as _;
    use http::{HeaderMap, Method, Uri};
    use serde_json::Value;

    use crate::http_messages::HttpResponse;
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
