//! `lambda_http` requests: the HTTP layer for `lambda_http::run` (and axum on Lambda).
//!
//! `lambda_http` turns the API Gateway (REST or HTTP API), function URL or ALB event into a
//! plain `http::Request` and keeps what the event said about the request in the request's
//! extensions. This adapter reads both: method, path, query and headers from the request;
//! the route (`resource` of a REST API, `routeKey` of an HTTP API), the client address and
//! the domain from the request context; and the invocation id, deadline, Lambda trace
//! header and ARN attributes from the Lambda context. The attributes are those of the
//! typed HTTP adapters.

use http::{Request, Response};
use lambda_http::request::RequestContext;
use otel_faas_core::{
    InvocationSpec, Propagation, TriggerAdapter,
    http::{HttpServerAttributes, RouteHook, forwarded_client_address, http_response_outcome},
    propagation::{Carrier, Chained},
    trigger::{InvocationContext, Outcome},
};

use crate::event::{invocation_attributes, invocation_context};
use crate::triggers::apigw_http::route_of_key;

/// Describes invocations that `lambda_http` delivers as `http::Request`s.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// One SERVER span per request, `faas.trigger=http`, with the stable HTTP server keys:
/// `http.request.method`, `http.route` (below), `url.path`, `url.query` (credential values
/// redacted), `url.scheme` (`X-Forwarded-Proto`, else `https`), `server.address` (`Host`,
/// else the API's domain), `server.port` (`X-Forwarded-Port`), `client.address` (the
/// request context's source IP, else `X-Forwarded-For`), `user_agent.original`,
/// `network.protocol.version`, `http.response.status_code`; a 5xx is an ERROR with
/// `error.type` = the status code. The Lambda context adds `faas.invocation_id`,
/// `aws.lambda.invoked_arn`, `cloud.account.id` and `cloud.resource_id`.
///
/// # The route
///
/// `http.route` and the span name `{method} {route}` come from what matched the request:
/// the route a router recorded (below), else the route hook ([`with_route`](Self::with_route))
/// when the layer sits where the match is known, else API Gateway's (`resource` of a REST
/// API, `routeKey` of an HTTP API). Function URLs, ALB targets and HTTP API `$default`
/// routes carry none, so a layer around a whole axum `Router` starts the span as a bare
/// `GET`; add [`HttpRouteLayer`](otel_faas_core::http::HttpRouteLayer) as the router's
/// `route_layer` and the span becomes `GET /orders/{id}` once axum has matched:
///
/// ```no_run
/// use axum::{Router, extract::MatchedPath, routing::get};
/// use otel_faas_aws::LambdaTelemetry;
/// use otel_faas_core::http::HttpRouteLayer;
/// use tower::Layer;
///
/// # async fn run() -> Result<(), lambda_http::Error> {
/// let otel = LambdaTelemetry::start().await?;
/// let app = Router::new()
///     .route("/orders/{id}", get(|| async { "order" }))
///     .route_layer(HttpRouteLayer::new(|extensions| {
///         extensions.get::<MatchedPath>().map(|path| path.as_str().to_owned())
///     }));
/// lambda_http::run(otel.http_layer().layer(app)).await
/// # }
/// ```
///
/// ```
/// use otel_faas_aws::LambdaHttpTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation};
///
/// let request = http::Request::get("/orders/7").body(()).unwrap();
/// let adapter = LambdaHttpTrigger::new();
/// let context = TriggerAdapter::<_, http::Response<()>>::invocation_context(&adapter, &request);
/// let spec = TriggerAdapter::<_, http::Response<()>>::invocation_spec(
///     &adapter, &request, &context, &CompositePropagation::w3c(),
/// );
/// assert_eq!(spec.name(), "GET");
/// ```
#[derive(Debug, Clone, Default)]
pub struct LambdaHttpTrigger {
    route: Option<RouteHook>,
}

impl LambdaHttpTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the matched route from the request's extensions with `route`, as
    /// `otel_faas_core::http::HttpTrigger::with_route` does — for a layer placed where the
    /// router has matched (axum's `MatchedPath` under a `route_layer`). The route found
    /// wins over API Gateway's.
    ///
    /// ```
    /// use otel_faas_aws::LambdaHttpTrigger;
    /// use otel_faas_core::{TriggerAdapter, http::HttpRoute, propagation::CompositePropagation};
    ///
    /// let adapter = LambdaHttpTrigger::new()
    ///     .with_route(|extensions| extensions.get::<HttpRoute>().map(|route| route.0.clone()));
    /// let mut request = http::Request::get("/orders/7").body(()).unwrap();
    /// request.extensions_mut().insert(HttpRoute("/orders/{id}".into()));
    /// let context = TriggerAdapter::<_, http::Response<()>>::invocation_context(&adapter, &request);
    /// let spec = TriggerAdapter::<_, http::Response<()>>::invocation_spec(
    ///     &adapter, &request, &context, &CompositePropagation::w3c(),
    /// );
    /// assert_eq!(spec.name(), "GET /orders/{id}");
    /// ```
    #[must_use]
    pub fn with_route<F>(mut self, route: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<String> + Send + Sync + 'static,
    {
        self.route = Some(RouteHook::new(route));
        self
    }
}

impl<B, RB> TriggerAdapter<Request<B>, Response<RB>> for LambdaHttpTrigger {
    fn invocation_context(&self, request: &Request<B>) -> InvocationContext {
        request
            .extensions()
            .get::<lambda_runtime::Context>()
            .map(invocation_context)
            .unwrap_or_default()
    }

    fn invocation_spec(
        &self,
        request: &Request<B>,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let headers = request.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        let uri = request.uri();
        let scheme = header("x-forwarded-proto")
            .and_then(|p| p.split(',').next())
            .map(str::trim)
            .or(uri.scheme_str())
            .unwrap_or("https");
        let mut attributes = HttpServerAttributes::new(request.method().as_str())
            .path(uri.path())
            .query(uri.query().unwrap_or_default())
            .scheme(scheme);
        if let Some(port) = header("x-forwarded-port").and_then(|p| p.parse().ok()) {
            attributes = attributes.server_port(port);
        }
        let mut domain = None;
        let mut client = None;
        match request.extensions().get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV1(rest)) => {
                attributes = attributes.route(rest.resource_path.clone());
                domain = rest.domain_name.clone();
                client = rest.identity.source_ip.clone();
                if let Some(protocol) = rest.protocol.as_deref() {
                    attributes = attributes.protocol_version(protocol);
                }
            }
            Some(RequestContext::ApiGatewayV2(http_api)) => {
                attributes = attributes.route(route_of_key(http_api.route_key.as_deref()));
                domain = http_api.domain_name.clone();
                client = http_api.http.source_ip.clone();
                if let Some(protocol) = http_api.http.protocol.as_deref() {
                    attributes = attributes.protocol_version(protocol);
                }
            }
            _ => {}
        }
        if let Some(route) = self
            .route
            .as_ref()
            .and_then(|hook| hook.route(request.extensions()))
        {
            attributes = attributes.route(Some(route));
        }
        if let Some(host) = header("host").map(str::to_owned).or(domain) {
            attributes = attributes.authority(&host);
        }
        if let Some(client) = client.or_else(|| forwarded_client_address(header)) {
            attributes = attributes.client_address(client);
        }
        if let Some(agent) = header("user-agent") {
            attributes = attributes.user_agent(agent);
        }
        let carrier = Chained::new([headers as &dyn Carrier, context.carrier()]);
        let lambda = request
            .extensions()
            .get::<lambda_runtime::Context>()
            .map(invocation_attributes)
            .unwrap_or_default();
        attributes
            .into_spec()
            .map_span(|span| span.with_attributes(lambda))
            .with_parent(propagation.extract_from(&carrier))
    }

    fn outcome(&self, response: &Response<RB>) -> Outcome {
        http_response_outcome(response.status().as_u16())
    }
}
