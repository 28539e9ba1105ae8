//! HTTP server invocations: the stable HTTP server conventions, once, for every platform.
//!
//! [`HttpServerAttributes`] turns a request, in whatever shape a platform delivers it, into
//! the span name and attributes of the conventions (`http.request.method`, `url.path`,
//! `http.route`, credential query values redacted by [`QueryRedaction`], no headers
//! recorded);
//! [`http_response_outcome`] reads the status code. [`HttpTrigger`] is the cloud-free
//! adapter for `http::Request`, and the reference for writing one.
//!
//! Outgoing calls: [`client`], CLIENT spans and context injection for reqwest and tower
//! clients.

pub mod client;
mod redaction;
mod route;
mod semconv;
mod trigger;

pub use redaction::{
    CLOUD_QUERY_KEYS, COMMON_SECRET_QUERY_KEYS, QueryRedaction, REDACT_QUERY_KEYS_VARIABLE,
    REDACTED, SPEC_QUERY_KEYS,
};
#[cfg(feature = "axum")]
pub use route::axum_route;
pub use route::{HttpRouteLayer, HttpRouteService, RouteHook, record_route};
pub use semconv::{HttpServerAttributes, forwarded_client_address, http_response_outcome};
pub use trigger::{HttpRoute, HttpTrigger};
