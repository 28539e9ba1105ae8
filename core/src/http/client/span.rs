//! The CLIENT span of one outgoing request, whatever client sends it: its name and
//! attributes from the request, injection into its headers, and its end from the response
//! or the error.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::sync::Arc;

use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, HTTP_REQUEST_RESEND_COUNT, HTTP_RESPONSE_STATUS_CODE, NETWORK_PROTOCOL_VERSION,
    SERVER_ADDRESS, SERVER_PORT, URL_FULL, URL_TEMPLATE,
};

use super::grpc;
use crate::engine::InvocationScope;
use crate::http::QueryRedaction;
use crate::http::semconv;

/// The instrumentation scope of CLIENT spans started outside an invocation (inside one,
/// the invocation's tracer starts them).
pub(crate) const SCOPE: &str = "otel-faas-http-client";

/// What the span needs to know of a request's target, read from a `url::Url` (reqwest) or
/// an `http::Uri` (tower clients).
#[derive(Debug, Default)]
pub(crate) struct Target<'a> {
    pub(crate) scheme: Option<&'a str>,
    /// Whether the URL carries a user name or password: they are never recorded.
    pub(crate) userinfo: bool,
    /// The host as the URL writes it (IPv6 literals in brackets).
    pub(crate) host: Option<&'a str>,
    /// The port the URL names explicitly.
    pub(crate) port: Option<u16>,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) fragment: Option<&'a str>,
}

impl Target<'_> {
    /// `server.address`: the host without the brackets of an IPv6 literal.
    fn server_address(&self) -> Option<&str> {
        let host = self.host?;
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        (!bare.is_empty()).then_some(bare)
    }

    /// `server.port`: the explicit port, else the scheme's.
    fn server_port(&self) -> Option<u16> {
        self.port.or(match self.scheme {
            Some(s) if s.eq_ignore_ascii_case("https") => Some(443),
            Some(s) if s.eq_ignore_ascii_case("http") => Some(80),
            _ => None,
        })
    }

    /// `url.full`: the URL with a user name and password replaced by `REDACTED:REDACTED`
    /// (the url registry's rule) and credential query values by `REDACTED`.
    pub(crate) fn full_url(&self, redaction: &QueryRedaction) -> String {
        let mut url = String::with_capacity(
            self.path.len() + self.query.map_or(0, str::len) + self.host.map_or(0, str::len) + 32,
        );
        if let Some(scheme) = self.scheme {
            url.push_str(scheme);
            url.push_str("://");
        }
        if self.userinfo {
            url.push_str("REDACTED:REDACTED@");
        }
        if let Some(host) = self.host {
            url.push_str(host);
        }
        if let Some(port) = self.port {
            url.push(':');
            // itoa: the formatting machinery of `write!` costs more than the rest of the URL.
            url.push_str(itoa::Buffer::new().format(port));
        }
        url.push_str(self.path);
        if let Some(query) = self.query {
            url.push('?');
            redaction.redact_into(query, &mut url);
        }
        if let Some(fragment) = self.fragment {
            url.push('#');
            url.push_str(fragment);
        }
        url
    }
}

/// One request about to be sent, as the span sees it.
#[derive(Debug)]
pub(crate) struct ClientRequest<'a> {
    pub(crate) method: &'a http::Method,
    pub(crate) target: Target<'a>,
    /// `url.template`, when the caller gave one.
    pub(crate) template: Option<&'a str>,
    /// How many times this request was sent before (retries, redirects followed).
    pub(crate) resend_count: u32,
    /// Whether it is a gRPC call (`content-type: application/grpc…`): the RPC conventions
    /// then, not the HTTP ones.
    pub(crate) grpc: bool,
}

impl ClientRequest<'_> {
    /// `{method}` or `{method} {url.template}`; `HTTP` for a method the conventions do not
    /// know. A gRPC call: its `rpc.method`.
    fn span_name(&self) -> Cow<'static, str> {
        if self.grpc {
            return grpc::method(self.target.path).into();
        }
        semconv::span_name(self.method.as_str(), self.template)
    }

    fn attributes(&self, redaction: &QueryRedaction) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(8);
        if let Some(address) = self.target.server_address() {
            attributes.push(KeyValue::new(SERVER_ADDRESS, address.to_owned()));
        }
        if let Some(port) = self.target.server_port() {
            attributes.push(KeyValue::new(SERVER_PORT, i64::from(port)));
        }
        if self.grpc {
            attributes.push(KeyValue::new(grpc::RPC_SYSTEM_NAME, "grpc"));
            attributes.push(KeyValue::new(
                grpc::RPC_METHOD,
                grpc::method(self.target.path),
            ));
            return attributes;
        }
        semconv::push_method(&mut attributes, self.method.as_str());
        attributes.push(KeyValue::new(URL_FULL, self.target.full_url(redaction)));
        if let Some(template) = self.template {
            attributes.push(KeyValue::new(URL_TEMPLATE, template.to_owned()));
        }
        if self.resend_count > 0 {
            attributes.push(KeyValue::new(
                HTTP_REQUEST_RESEND_COUNT,
                i64::from(self.resend_count),
            ));
        }
        attributes
    }
}

/// A started CLIENT span; ended by one of the `end_*` methods, or when dropped (a request
/// given up on before it finished: no status).
#[derive(Debug)]
pub(crate) struct ClientCall {
    cx: Context,
    grpc: bool,
}

impl ClientCall {
    /// Starts the span for `request` as a child of the current context, or `None` when
    /// telemetry is suppressed there (the library's own export requests, anything a
    /// exporter sends): then nothing is recorded and nothing injected.
    pub(crate) fn start(
        request: &ClientRequest<'_>,
        redaction: &Arc<QueryRedaction>,
    ) -> Option<Self> {
        // The SDK would start a non-recording span in a suppressed context anyway (and so
        // nothing would be injected); checking first skips building the attributes.
        if Context::is_current_telemetry_suppressed() {
            return None;
        }
        let builder = SpanBuilder::from_name(request.span_name())
            .with_kind(SpanKind::Client)
            .with_attributes(request.attributes(redaction));
        Some(Self {
            cx: InvocationScope::start_span(builder, SCOPE),
            grpc: request.grpc,
        })
    }

    /// Whether the call follows the RPC conventions.
    pub(crate) fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// The context holding the span, for the request's future (so that what the client
    /// does underneath is its child).
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// Writes the span's context into `headers`, with the configured propagation (the
    /// invocation's inside one, else the global propagator, which the pipeline's
    /// `set_global_providers` sets).
    pub(crate) fn inject(&self, headers: &mut http::HeaderMap) {
        if self.cx.span().span_context().is_valid() {
            InvocationScope::inject(&self.cx, headers);
        }
    }

    /// The response's status line arrived. HTTP: `http.response.status_code`, and a
    /// failure (`error.type` = the code) from 400 on, as the conventions ask of clients.
    /// gRPC: the status, when the server answered with headers only.
    pub(crate) fn record_response(
        &self,
        status: http::StatusCode,
        version: http::Version,
        headers: &http::HeaderMap,
    ) {
        let span = self.cx.span();
        if let Some(version) = protocol_version(version) {
            span.set_attribute(KeyValue::new(NETWORK_PROTOCOL_VERSION, version));
        }
        if self.grpc {
            if let Some(code) = grpc::status_of(headers) {
                self.record_grpc_status(code);
            } else if !status.is_success() {
                span.set_attribute(KeyValue::new(ERROR_TYPE, status.as_u16().to_string()));
                span.set_status(Status::error(""));
            }
            return;
        }
        span.set_attribute(KeyValue::new(
            HTTP_RESPONSE_STATUS_CODE,
            i64::from(status.as_u16()),
        ));
        if status.as_u16() >= 400 {
            span.set_attribute(KeyValue::new(ERROR_TYPE, status.as_u16().to_string()));
            // The conventions leave the description empty for a status code: the code says it.
            span.set_status(Status::error(""));
        }
    }

    /// A gRPC status arrived (in the headers or the trailers): `rpc.response.status_code`,
    /// and a failure for every code but `OK` (the conventions' rule for clients).
    pub(crate) fn record_grpc_status(&self, code: i32) {
        let span = self.cx.span();
        let name = grpc::status_name(code);
        span.set_attribute(KeyValue::new(grpc::RPC_RESPONSE_STATUS_CODE, name.clone()));
        if code != 0 {
            span.set_attribute(KeyValue::new(ERROR_TYPE, name));
            span.set_status(Status::error(""));
        }
    }

    /// The request failed without a response: `error.type` = `kind`, and the error's
    /// message (already free of credentials) as the status description.
    pub(crate) fn record_error(&self, kind: &str, message: String) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(ERROR_TYPE, kind.to_owned()));
        span.set_status(Status::error(message));
    }
}

impl Drop for ClientCall {
    fn drop(&mut self) {
        self.cx.span().end();
    }
}

/// `network.protocol.version` as the conventions spell it.
fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// `error.type` for a transport error that has no better name: read from the error chain
/// (an I/O timeout, a refused or reset connection, a TLS failure), else the error's type.
pub(crate) fn transport_error_type(error: &(dyn StdError + 'static)) -> String {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(error) = current {
        if is_tls(error) {
            return "tls".to_owned();
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut => return "timeout".to_owned(),
                ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected
                | AddrNotAvailable | HostUnreachable | NetworkUnreachable => {
                    return "connect".to_owned();
                }
                _ => {}
            }
            // io::Error's `source` skips the error it wraps: look at it too.
            if let Some(inner) = io.get_ref()
                && is_tls(inner)
            {
                return "tls".to_owned();
            }
        }
        if type_name_of_error(error).is_some_and(|name| name.ends_with("Elapsed")) {
            return "timeout".to_owned();
        }
        current = error.source();
    }
    type_name_of_error(error).unwrap_or_else(|| crate::engine::OTHER_ERROR_TYPE.to_owned())
}

/// A TLS failure: rustls's error when the crate has it, else a message that says so.
pub(crate) fn is_tls(error: &(dyn StdError + 'static)) -> bool {
    #[cfg(feature = "tls")]
    if error.is::<rustls::Error>() {
        return true;
    }
    let message = error.to_string().to_ascii_lowercase();
    message.contains("certificate")
        || message.contains("tls handshake")
        || message.contains("invalid peer")
}

/// The leading name of an error's `Debug` output (`Elapsed(())` → `Elapsed`).
fn type_name_of_error(error: &(dyn StdError + 'static)) -> Option<String> {
    let debug = format!("{error:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(request: &ClientRequest<'_>) -> Vec<(String, String)> {
        request
            .attributes(&QueryRedaction::defaults())
            .into_iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect()
    }

    fn get<'a>(attributes: &'a [(String, String)], key: &str) -> Option<&'a str> {
        attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn an_unknown_method_is_other_with_the_original_and_the_span_is_named_http() {
        let method = http::Method::from_bytes(b"PURGE").unwrap();
        let request = ClientRequest {
            method: &method,
            target: Target {
                scheme: Some("https"),
                host: Some("cache.example.com"),
                path: "/items/7",
                ..Target::default()
            },
            template: Some("/items/{id}"),
            resend_count: 0,
            grpc: false,
        };
        assert_eq!(request.span_name(), "HTTP /items/{id}");
        let attributes = attributes(&request);
        assert_eq!(get(&attributes, "http.request.method"), Some("_OTHER"));
        assert_eq!(
            get(&attributes, "http.request.method_original"),
            Some("PURGE")
        );
        assert_eq!(
            get(&attributes, "server.port"),
            Some("443"),
            "the scheme's port"
        );
        assert_eq!(
            get(&attributes, "url.full"),
            Some("https://cache.example.com/items/7")
        );
    }

    #[test]
    fn ipv6_hosts_are_bracketed_in_the_url_only() {
        let method = http::Method::GET;
        let request = ClientRequest {
            method: &method,
            target: Target {
                scheme: Some("http"),
                host: Some("[::1]"),
                port: Some(8080),
                path: "/",
                query: Some("q=1&sig=abc"),
                fragment: Some("top"),
                ..Target::default()
            },
            template: None,
            resend_count: 3,
            grpc: false,
        };
        assert_eq!(request.span_name(), "GET");
        let attributes = attributes(&request);
        assert_eq!(get(&attributes, "server.address"), Some("::1"));
        assert_eq!(get(&attributes, "server.port"), Some("8080"));
        assert_eq!(
            get(&attributes, "url.full"),
            Some("http://[::1]:8080/?q=1&sig=REDACTED#top")
        );
        assert_eq!(get(&attributes, "http.request.resend_count"), Some("3"));
    }
}
