//! The HTTP server conventions, once, for every HTTP trigger on every platform.
//!
//! Platforms hand the same request over in different shapes (a `http::Request`, an API
//! gateway's JSON, a host envelope). Each HTTP adapter fills an [`HttpServerAttributes`] from
//! its shape and gets the same span name, the same attribute keys and the same privacy rules:
//!
//! * span name `{method} {route}`, or `{method}` without a known route; `HTTP` stands in
//!   for a method outside the known set, which is recorded as `_OTHER` with
//!   `http.request.method_original`, so a client cannot blow up the cardinality;
//! * query values that are credentials are `REDACTED` ([`QueryRedaction`]: the keys of the
//!   url registry, the clouds' signed-URL parameters and common secret names, case-insensitive,
//!   extendable);
//! * no header is ever recorded;
//! * the response is an ERROR only for 5xx ([`http_response_outcome`]).

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    CLIENT_ADDRESS, HTTP_REQUEST_METHOD, HTTP_REQUEST_METHOD_ORIGINAL, HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE, NETWORK_PROTOCOL_VERSION, SERVER_ADDRESS, SERVER_PORT, URL_PATH, URL_QUERY,
    URL_SCHEME, USER_AGENT_ORIGINAL,
};

use std::sync::Arc;

use super::redaction::QueryRedaction;
use crate::trigger::{FaasTrigger, InvocationSpec, Outcome, SpanSpec};

/// The methods the conventions treat as known.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The attributes of an HTTP server invocation span.
///
/// ```
/// use otel_faas_core::http::HttpServerAttributes;
///
/// let attributes = HttpServerAttributes::new("GET")
///     .route(Some("/pets/{id}"))
///     .path("/pets/7")
///     .query("X-Goog-Signature=abc&limit=3")
///     .scheme("https")
///     .authority("api.example.com")
///     .client_address("198.51.100.4")
///     .user_agent("curl/8.5.0");
/// assert_eq!(attributes.span_name(), "GET /pets/{id}");
/// let spec = attributes.into_spec();
/// let query = spec.attributes().iter().find(|kv| kv.key.as_str() == "url.query").unwrap();
/// assert_eq!(query.value.as_str(), "X-Goog-Signature=REDACTED&limit=3");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpServerAttributes {
    method: String,
    route: Option<String>,
    path: Option<String>,
    query: Option<String>,
    scheme: Option<String>,
    server_address: Option<String>,
    server_port: Option<u16>,
    client_address: Option<String>,
    user_agent: Option<String>,
    protocol_version: Option<String>,
    redaction: Option<Arc<QueryRedaction>>,
}

fn non_empty(value: impl Into<String>) -> Option<String> {
    let value = value.into();
    (!value.trim().is_empty()).then_some(value)
}

impl HttpServerAttributes {
    /// Starts from the request method as received.
    pub fn new(method: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            ..Self::default()
        }
    }

    /// The matched route template, if the platform or router knows it.
    #[must_use]
    pub fn route(mut self, route: Option<impl Into<String>>) -> Self {
        self.route = route.and_then(non_empty);
        self
    }

    /// The path, without the query.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = non_empty(path);
        self
    }

    /// The raw query string, without `?`; credential values are redacted when recorded.
    #[must_use]
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = non_empty(query);
        self
    }

    /// Which query values are redacted; [`QueryRedaction::default`] when not set.
    #[must_use]
    pub fn redaction(mut self, redaction: Arc<QueryRedaction>) -> Self {
        self.redaction = Some(redaction);
        self
    }

    /// The scheme (`http`, `https`).
    #[must_use]
    pub fn scheme(mut self, scheme: impl Into<String>) -> Self {
        self.scheme = non_empty(scheme).map(|s| s.to_ascii_lowercase());
        self
    }

    /// `host[:port]` as in a `Host` header; the port defaults from the scheme when recorded.
    #[must_use]
    pub fn authority(mut self, authority: &str) -> Self {
        if let Some((host, port)) = split_host_port(authority) {
            self.server_address = Some(host.to_owned());
            self.server_port = port;
        }
        self
    }

    /// The server port, when it is known apart from the host.
    #[must_use]
    pub fn server_port(mut self, port: u16) -> Self {
        self.server_port = Some(port);
        self
    }

    /// The original client's address.
    #[must_use]
    pub fn client_address(mut self, address: impl Into<String>) -> Self {
        self.client_address = non_empty(address);
        self
    }

    /// The `User-Agent`.
    #[must_use]
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = non_empty(agent);
        self
    }

    /// The protocol version, as `1.1` or as platforms spell it (`HTTP/1.1`, `HTTP/2.0`).
    #[must_use]
    pub fn protocol_version(mut self, version: &str) -> Self {
        let version = version.trim();
        let version = version
            .strip_prefix("HTTP/")
            .or_else(|| version.strip_prefix("http/"))
            .unwrap_or(version);
        let version = match version {
            "2.0" => "2",
            "3.0" => "3",
            other => other,
        };
        self.protocol_version = non_empty(version);
        self
    }

    /// `{method} {route}`, `{method}`, `HTTP {route}` or `HTTP`.
    pub fn span_name(&self) -> String {
        span_name(&self.method, self.route.as_deref()).into_owned()
    }

    /// The attributes, in the conventions' keys.
    pub fn to_attributes(&self) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(12);
        push_method(&mut attributes, &self.method);
        let mut push = |key: &'static str, value: &Option<String>| {
            if let Some(value) = value {
                attributes.push(KeyValue::new(key, value.clone()));
            }
        };
        push(HTTP_ROUTE, &self.route);
        push(URL_PATH, &self.path);
        let redaction = self
            .redaction
            .clone()
            .unwrap_or_else(QueryRedaction::shared_default);
        push(
            URL_QUERY,
            &self.query.as_deref().map(|q| redaction.redact(q)),
        );
        push(URL_SCHEME, &self.scheme);
        push(SERVER_ADDRESS, &self.server_address);
        push(CLIENT_ADDRESS, &self.client_address);
        push(USER_AGENT_ORIGINAL, &self.user_agent);
        push(NETWORK_PROTOCOL_VERSION, &self.protocol_version);
        let default_port = match self.scheme.as_deref() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        };
        if self.server_address.is_some()
            && let Some(port) = self.server_port.or(default_port)
        {
            attributes.push(KeyValue::new(SERVER_PORT, i64::from(port)));
        }
        attributes
    }

    /// An HTTP invocation spec with this name and these attributes, parent still to be set.
    pub fn into_spec(self) -> InvocationSpec {
        InvocationSpec::new(
            FaasTrigger::Http,
            SpanSpec::server(self.span_name()).with_attributes(self.to_attributes()),
        )
    }
}

/// A method the conventions know, as they spell it.
fn known_method(method: &str) -> Option<&'static str> {
    KNOWN_METHODS.iter().copied().find(|known| *known == method)
}

/// A server's or a client's span name: `{method} {route or template}`, `{method}`, with
/// `HTTP` for a method the conventions do not know.
/// Borrowed when it is the method alone: a client span without a template names itself
/// without allocating.
pub(crate) fn span_name(method: &str, route: Option<&str>) -> std::borrow::Cow<'static, str> {
    let method = known_method(method).unwrap_or("HTTP");
    match route {
        Some(route) => format!("{method} {route}").into(),
        None => method.into(),
    }
}

/// `http.request.method`, or `_OTHER` with `http.request.method_original` for a method the
/// conventions do not know.
pub(crate) fn push_method(attributes: &mut Vec<KeyValue>, method: &str) {
    match known_method(method) {
        Some(method) => attributes.push(KeyValue::new(HTTP_REQUEST_METHOD, method)),
        None => {
            attributes.push(KeyValue::new(HTTP_REQUEST_METHOD, "_OTHER"));
            attributes.push(KeyValue::new(
                HTTP_REQUEST_METHOD_ORIGINAL,
                method.to_owned(),
            ));
        }
    }
}

/// The outcome of an HTTP response: `http.response.status_code`, and a failure with
/// `error.type` = the status code for 5xx only (a 4xx is the client's failure).
///
/// ```
/// use otel_faas_core::http::http_response_outcome;
///
/// assert!(http_response_outcome(404).failure().is_none());
/// assert_eq!(http_response_outcome(502).failure().unwrap().error_type(), "502");
/// ```
pub fn http_response_outcome(status: u16) -> Outcome {
    let outcome = if (500..600).contains(&status) {
        Outcome::failed(status.to_string(), None)
    } else {
        Outcome::success()
    };
    outcome.with_attribute(KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status)))
}

/// The original client from forwarding headers: the first `X-Forwarded-For` hop, else the
/// `for=` of `Forwarded`. `header` looks a header up by lower-case name.
///
/// ```
/// use otel_faas_core::http::forwarded_client_address;
///
/// let client = forwarded_client_address(|name| (name == "x-forwarded-for").then_some("203.0.113.9, 10.0.0.2"));
/// assert_eq!(client.as_deref(), Some("203.0.113.9"));
/// ```
pub fn forwarded_client_address<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    if let Some(first) = header("x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        return Some(first.to_owned());
    }
    let element = header("forwarded")?.split(',').next()?;
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        let host = match value.strip_prefix('[') {
            Some(v6) => v6.split(']').next()?,
            None => value.split(':').next()?,
        };
        (!host.is_empty()).then(|| host.to_owned())
    })
}

/// Splits `host[:port]`, including bracketed IPv6 literals. `None` for an empty host.
pub(crate) fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let authority = authority.rsplit('@').next().unwrap_or(authority).trim();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            _ => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port.and_then(|p| p.parse().ok())))
}

/// Replaces credential values in a raw query string, keeping everything else byte for byte.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_other_with_the_original_kept() {
        let attributes = HttpServerAttributes::new("PURGE").route(Some("/cache"));
        assert_eq!(attributes.span_name(), "HTTP /cache");
        let recorded = attributes.to_attributes();
        assert!(recorded.contains(&KeyValue::new(HTTP_REQUEST_METHOD, "_OTHER")));
        assert!(recorded.contains(&KeyValue::new(HTTP_REQUEST_METHOD_ORIGINAL, "PURGE")));
        // Lower-case is not the known method: the conventions compare exactly.
        assert_eq!(HttpServerAttributes::new("get").span_name(), "HTTP");
    }

    #[test]
    fn empty_values_are_not_recorded_and_ports_default_from_the_scheme() {
        let recorded = HttpServerAttributes::new("GET")
            .route(Some(""))
            .query("")
            .scheme("HTTPS")
            .authority("example.com")
            .to_attributes();
        assert!(!recorded.iter().any(|kv| kv.key.as_str() == "http.route"));
        assert!(!recorded.iter().any(|kv| kv.key.as_str() == "url.query"));
        assert!(recorded.contains(&KeyValue::new(URL_SCHEME, "https")));
        assert!(recorded.contains(&KeyValue::new(SERVER_PORT, 443_i64)));
    }

    #[test]
    fn protocol_versions_are_normalised() {
        let version = |raw: &str| {
            HttpServerAttributes::new("GET")
                .protocol_version(raw)
                .protocol_version
        };
        assert_eq!(version("HTTP/1.1").as_deref(), Some("1.1"));
        assert_eq!(version("HTTP/2.0").as_deref(), Some("2"));
        assert_eq!(version("").as_deref(), None);
    }

    #[test]
    fn forwarded_and_ipv6_hosts_parse() {
        let client = forwarded_client_address(|name| {
            (name == "forwarded").then_some("for=\"[2001:db8::1]:4711\";proto=https")
        });
        assert_eq!(client.as_deref(), Some("2001:db8::1"));
        assert_eq!(split_host_port("[::1]:8080"), Some(("::1", Some(8080))));
        assert_eq!(split_host_port("example.com"), Some(("example.com", None)));
        assert_eq!(split_host_port(""), None);
        assert_eq!(split_host_port("host:notaport"), Some(("host", None)));
    }
}
