//! Outgoing HTTP calls: one CLIENT span per request, and the trace context written into
//! its headers, so that the service called continues the trace.
//!
//! Two doors to the same span:
//!
//! * `TracingMiddleware` (feature `reqwest-middleware`) for reqwest, through
//!   reqwest-middleware;
//! * [`ClientTraceLayer`] for any tower client of `http::Request` — hyper-util's legacy
//!   client, hyper's connections, tonic's channels (gRPC calls get the RPC conventions).
//!
//! The span follows the stable HTTP client conventions of v1.44: name `{method}`, or
//! `{method} {url.template}` when the request carries a [`UrlTemplate`]; `HTTP` for a method
//! the conventions do not know, with `http.request.method=_OTHER` and
//! `http.request.method_original`. Attributes: `http.request.method`, `server.address`,
//! `server.port` (the scheme's default when the URL names none), `url.full`,
//! `url.template`, `http.request.resend_count` from the second attempt on (with a retry
//! middleware or layer outside this one), `network.protocol.version` and
//! `http.response.status_code` from the response. From status 400 on the span is an
//! error with `error.type` = the code, as the conventions ask of clients; a request that
//! gets no response is an error with `error.type` = what failed (`timeout`, `connect`,
//! `tls`, …) and the error's message, the caller's error returned unchanged. No header is
//! recorded.
//!
//! **No credential is recorded.** A user name and password in the URL become
//! `REDACTED:REDACTED`, as the url registry asks (rather than being dropped, so the URL
//! still says some were sent); the values of credential query keys become `REDACTED`
//! ([`QueryRedaction`](crate::http::QueryRedaction): the spec's keys, the clouds' signed-URL
//! keys, common token names, any case, and `OTEL_FAAS_REDACT_QUERY_KEYS`). reqwest names the
//! URL in its error messages: the recorded form replaces it in the span status.
//!
//! **Parent and propagation.** The span is a child of the current context — the current
//! `tracing` span's when `tracing-opentelemetry` is installed, so inside an invocation it
//! sits under the invocation or the step that made the call. The context is written with
//! the invocation's propagation inside an invocation and the global propagator outside
//! one; both are what `OTEL_PROPAGATORS` says once the pipeline is installed
//! (`Telemetry::set_global_providers`, which the cloud crates' `start` call), so a service
//! that reads only X-Ray headers receives `X-Amzn-Trace-Id` when `xray` is configured.
//!
//! **The library never traces itself.** Where OpenTelemetry's context says telemetry is
//! suppressed — around every export: the spans' export path (on the invocation's task as
//! well as on the exporter thread), the SDK's metric and log processors, and so an exporter
//! of yours given to the pipeline — a request passes through untouched: no span, nothing
//! injected. So a client you share with an exporter can carry the middleware. The library's
//! other requests (the metadata servers, the Telemetry API) go over connections of their
//! own, never through a client you could instrument.
//!
//! gRPC calls follow the RPC conventions of v1.44, which replaced `rpc.system`,
//! `rpc.service` and the numeric `rpc.grpc.status_code` by `rpc.system.name`, a fully
//! qualified `rpc.method` (`package.Service/Method`, also the span's name) and
//! `rpc.response.status_code` (the status's name, `OK`, `NOT_FOUND`, …); every status but
//! `OK` is an error for a client. The older keys are not written.

mod grpc;
#[cfg(feature = "reqwest-middleware")]
mod reqwest;
mod span;
mod tower;

use std::borrow::Cow;

#[cfg(feature = "reqwest-middleware")]
pub use self::reqwest::{TracingMiddleware, traced_reqwest_client};
pub use self::tower::{ClientResponseBody, ClientResponseFuture, ClientTrace, ClientTraceLayer};

/// The route template of a request (`url.template`, and the span's name `{method}
/// {template}`): a request extension. Low-cardinality, with the ids left as placeholders.
///
/// ```
/// use otel_faas_core::http::client::UrlTemplate;
///
/// let mut request = http::Request::get("https://inventory.example.com/items/7").body(()).unwrap();
/// request.extensions_mut().insert(UrlTemplate::new("/items/{id}"));
/// assert_eq!(request.extensions().get::<UrlTemplate>().unwrap().as_str(), "/items/{id}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate(Cow<'static, str>);

impl UrlTemplate {
    /// The template, as `/items/{id}`.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        Self(template.into())
    }

    /// The template.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many times a request was sent before: a request extension a retry or redirect
/// layer outside [`ClientTraceLayer`] sets on each attempt (`http.request.resend_count`).
/// The reqwest `TracingMiddleware` counts for itself.
///
/// ```
/// use otel_faas_core::http::client::ResendCount;
///
/// let mut request = http::Request::get("http://inventory.internal/items/7").body(()).unwrap();
/// request.extensions_mut().insert(ResendCount(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResendCount(pub u32);
