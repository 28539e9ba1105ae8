//! A cloud-free trigger for [`http::Request`]: the reference adapter.
//!
//! It follows the stable HTTP server conventions: span `{method} {route}` (or `{method}`
//! when no route is known), kind SERVER, `http.request.method`, `url.path`, `url.query`,
//! `url.scheme`, `server.address`, `server.port`, `client.address`, `user_agent.original`,
//! `network.protocol.version`, and `http.response.status_code` from the response. Status is
//! ERROR for 5xx only: a 4xx is the client's failure, not the server's.
//!
//! Privacy: no header is recorded, and query values the conventions name as credentials
//! (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`) are replaced by `REDACTED`.

use std::sync::Arc;

use ::http::{Request, Response};

use super::redaction::QueryRedaction;
use super::route::RouteHook;
use super::semconv::{HttpServerAttributes, forwarded_client_address, http_response_outcome};
use crate::propagation::{Carrier, Chained, Propagation};
use crate::trigger::{FaasTrigger, InvocationContext, InvocationSpec, Outcome, TriggerAdapter};

/// The route template that matched a request (`/users/{id}`), for routers to put in the
/// request's extensions. [`HttpTrigger`] uses it for `http.route` and the span name.
///
/// ```
/// use otel_faas_core::http::HttpRoute;
///
/// let mut request = http::Request::get("/users/7").body(()).unwrap();
/// request.extensions_mut().insert(HttpRoute("/users/{id}".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute(pub String);

/// Describes invocations started by an HTTP request.
///
/// ```
/// use opentelemetry::trace::TraceContextExt;
/// use otel_faas_core::{TriggerAdapter, http::{HttpRoute, HttpTrigger}, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let mut request = http::Request::post("https://api.example.com/orders/42?expand=items")
///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .body(())
///     .unwrap();
/// request.extensions_mut().insert(HttpRoute("/orders/{id}".into()));
///
/// let spec = TriggerAdapter::<_, http::Response<()>>::invocation_spec(
///     &HttpTrigger::new(),
///     &request,
///     &InvocationContext::new(),
///     &CompositePropagation::w3c(),
/// );
/// assert_eq!(spec.name(), "POST /orders/{id}");
/// assert!(spec.parent().span().span_context().is_remote());
/// ```
#[derive(Clone, Default)]
pub struct HttpTrigger {
    route: Option<RouteHook>,
    default_scheme: Option<&'static str>,
    redaction: Option<Arc<QueryRedaction>>,
}

impl std::fmt::Debug for HttpTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTrigger")
            .field("route", &self.route)
            .field("default_scheme", &self.default_scheme)
            .finish()
    }
}

impl HttpTrigger {
    /// An adapter that reads the route from an [`HttpRoute`] extension, if present.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the matched route from the request's extensions with `route`, for routers that
    /// store it in their own type (axum's `MatchedPath`, when the layer is a `route_layer`).
    ///
    /// ```
    /// use otel_faas_core::http::HttpTrigger;
    ///
    /// /// What a router stores after matching.
    /// #[derive(Clone)]
    /// struct MatchedPath(String);
    ///
    /// let trigger = HttpTrigger::new().with_route(|extensions| {
    ///     extensions.get::<MatchedPath>().map(|path| path.0.clone())
    /// });
    /// ```
    #[must_use]
    pub fn with_route<F>(mut self, route: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<String> + Send + Sync + 'static,
    {
        self.route = Some(RouteHook::new(route));
        self
    }

    /// The scheme to report when neither the URI nor `X-Forwarded-Proto` says (`http` by
    /// default). Platforms that terminate TLS in front of the function set `https`.
    #[must_use]
    pub fn with_default_scheme(mut self, scheme: &'static str) -> Self {
        self.default_scheme = Some(scheme);
        self
    }

    /// Which query values are redacted in `url.query`; [`QueryRedaction::default`] (the
    /// conventions' keys, the clouds' signed-URL keys, common secret names and
    /// `OTEL_FAAS_REDACT_QUERY_KEYS`) when not set.
    ///
    /// ```
    /// use otel_faas_core::http::{HttpTrigger, QueryRedaction};
    ///
    /// let trigger = HttpTrigger::new().with_query_redaction(QueryRedaction::default().with_key("session"));
    /// # drop(trigger);
    /// ```
    #[must_use]
    pub fn with_query_redaction(mut self, redaction: QueryRedaction) -> Self {
        self.redaction = Some(Arc::new(redaction));
        self
    }

    fn route_of(&self, extensions: &http::Extensions) -> Option<String> {
        match &self.route {
            Some(route) => route.route(extensions),
            None => extensions.get::<HttpRoute>().map(|route| route.0.clone()),
        }
    }
}

/// The response body must have a `Default` (every body type axum, hyper's `Full` and
/// lambda_http use has): a panicking handler is answered `500` with an empty one.
impl<B, RB: Default> TriggerAdapter<Request<B>, Response<RB>> for HttpTrigger {
    fn invocation_spec(
        &self,
        request: &Request<B>,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let headers = request.headers();
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let uri = request.uri();
        let scheme = uri
            .scheme_str()
            .or_else(|| {
                header("x-forwarded-proto")
                    .and_then(|p| p.split(',').next())
                    .map(str::trim)
            })
            .unwrap_or(self.default_scheme.unwrap_or("http"));
        let mut attributes = HttpServerAttributes::new(request.method().as_str())
            .redaction(
                self.redaction
                    .clone()
                    .unwrap_or_else(QueryRedaction::shared_default),
            )
            .route(self.route_of(request.extensions()))
            .path(uri.path())
            .query(uri.query().unwrap_or_default())
            .scheme(scheme);
        if let Some(authority) = uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| header("host"))
        {
            attributes = attributes.authority(authority);
        }
        if let Some(client) = forwarded_client_address(header) {
            attributes = attributes.client_address(client);
        }
        if let Some(agent) = header("user-agent") {
            attributes = attributes.user_agent(agent);
        }
        if let Some(version) = protocol_version(request.version()) {
            attributes = attributes.protocol_version(version);
        }
        // The request's own headers first, then whatever the platform delivered beside it.
        let carrier = Chained::new([headers as &dyn Carrier, context.carrier()]);
        attributes
            .into_spec()
            .with_parent(propagation.extract_from(&carrier))
    }

    fn outcome(&self, response: &Response<RB>) -> Outcome {
        http_response_outcome(response.status().as_u16())
    }

    /// `500 Internal Server Error`, empty: an HTTP caller must get a status, and hyper
    /// closes the connection without one when a handler's panic unwinds through it.
    fn panic_response(&self, _trigger: FaasTrigger) -> Option<Response<RB>> {
        Some(internal_server_error())
    }
}

/// The answer to a handler's panic: `500` with an empty body (the panic message is for the
/// span, not for the caller).
pub(crate) fn internal_server_error<RB: Default>() -> Response<RB> {
    let mut response = Response::new(RB::default());
    *response.status_mut() = ::http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

fn protocol_version(version: http::Version) -> Option<&'static str> {
    match version {
        http::Version::HTTP_09 => Some("0.9"),
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::Value;

    use super::*;
    use crate::propagation::CompositePropagation;

    fn spec_of(request: &Request<()>) -> InvocationSpec {
        TriggerAdapter::<_, Response<()>>::invocation_spec(
            &HttpTrigger::new(),
            request,
            &InvocationContext::new(),
            &CompositePropagation::w3c(),
        )
    }

    fn attribute(spec: &InvocationSpec, key: &str) -> Option<Value> {
        spec.attributes()
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }

    #[test]
    fn records_the_stable_server_attributes() {
        let request = Request::get("/search?q=rust&sig=secret")
            .header("host", "api.example.com:8443")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
            .header("user-agent", "curl/8.5.0")
            .header("authorization", "Bearer hunter2")
            .body(())
            .unwrap();
        let spec = spec_of(&request);
        assert_eq!(spec.name(), "GET");
        assert_eq!(attribute(&spec, "http.request.method"), Some("GET".into()));
        assert_eq!(attribute(&spec, "url.path"), Some("/search".into()));
        assert_eq!(
            attribute(&spec, "url.query"),
            Some("q=rust&sig=REDACTED".into())
        );
        assert_eq!(attribute(&spec, "url.scheme"), Some("https".into()));
        assert_eq!(
            attribute(&spec, "server.address"),
            Some("api.example.com".into())
        );
        assert_eq!(attribute(&spec, "server.port"), Some(8443_i64.into()));
        assert_eq!(
            attribute(&spec, "client.address"),
            Some("203.0.113.7".into())
        );
        assert_eq!(
            attribute(&spec, "user_agent.original"),
            Some("curl/8.5.0".into())
        );
        assert_eq!(
            attribute(&spec, "network.protocol.version"),
            Some("1.1".into())
        );
        let recorded = format!("{:?}", spec.attributes());
        assert!(
            !recorded.contains("hunter2"),
            "a credential leaked: {recorded}"
        );
        assert!(
            !recorded.contains("secret"),
            "a credential leaked: {recorded}"
        );
    }

    #[test]
    fn unknown_methods_are_other() {
        let request = Request::builder()
            .method("PURGE")
            .uri("/cache")
            .body(())
            .unwrap();
        let spec = spec_of(&request);
        assert_eq!(spec.name(), "HTTP");
        assert_eq!(
            attribute(&spec, "http.request.method"),
            Some("_OTHER".into())
        );
        assert_eq!(
            attribute(&spec, "http.request.method_original"),
            Some("PURGE".into())
        );
    }

    #[test]
    fn only_server_errors_fail() {
        let outcome = |code: u16| {
            let response = Response::builder().status(code).body(()).unwrap();
            TriggerAdapter::<Request<()>, _>::outcome(&HttpTrigger::new(), &response)
        };
        assert!(outcome(404).failure().is_none());
        assert_eq!(
            outcome(503).failure().map(|f| f.error_type().to_owned()),
            Some("503".into())
        );
        assert_eq!(
            outcome(201).attributes()[0],
            opentelemetry::KeyValue::new("http.response.status_code", 201_i64)
        );
    }
}
