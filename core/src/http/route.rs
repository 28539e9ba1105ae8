//! The route a router matched, recorded on the invocation span after the span started.
//!
//! A layer around a whole router starts the SERVER span before the router has matched, so
//! it cannot know `http.route`. [`HttpRouteLayer`], placed *inside* the router where the
//! match is known (axum's `route_layer`), records it on the invocation span: the span is
//! renamed `{method} {route}` and gets `http.route`, as if the route had been known from
//! the start.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::HTTP_ROUTE;
use tower_layer::Layer;
use tower_service::Service;

use crate::engine::current::with_invocation_span;

type RouteFn = dyn Fn(&http::Extensions) -> Option<String> + Send + Sync;

/// How to read the route a router matched from a request's extensions (axum keeps it as
/// `MatchedPath`, other routers in types of their own). Adapters and [`HttpRouteLayer`]
/// take one.
///
/// ```
/// use otel_faas_core::http::{HttpRoute, RouteHook};
///
/// let hook = RouteHook::new(|extensions| extensions.get::<HttpRoute>().map(|r| r.0.clone()));
/// let mut extensions = http::Extensions::new();
/// extensions.insert(HttpRoute("/orders/{id}".into()));
/// assert_eq!(hook.route(&extensions).as_deref(), Some("/orders/{id}"));
/// ```
#[derive(Clone)]
pub struct RouteHook(Arc<RouteFn>);

impl RouteHook {
    /// A hook reading the route with `route`.
    pub fn new<F>(route: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<String> + Send + Sync + 'static,
    {
        Self(Arc::new(route))
    }

    /// The route in `extensions`, if the router put one there.
    pub fn route(&self, extensions: &http::Extensions) -> Option<String> {
        (self.0)(extensions)
    }
}

impl fmt::Debug for RouteHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RouteHook(fn)")
    }
}

/// Names the running invocation's span after `route`: `{method} {route}`, with
/// `http.route`. Returns whether there was an invocation span to name — `false` outside an
/// invocation, or inside a span the handler started within it.
///
/// ```
/// assert!(!otel_faas_core::http::record_route("GET", "/orders/{id}"), "no invocation here");
/// ```
pub fn record_route(method: &str, route: &str) -> bool {
    with_invocation_span(|span| {
        span.update_name(format!("{method} {route}"));
        span.set_attribute(KeyValue::new(HTTP_ROUTE, route.to_owned()));
    })
    .is_some()
}

/// A layer that records the route a router matched on the invocation span (see
/// [`record_route`]); `route` reads it from the request's extensions. With axum:
///
/// ```
/// use axum::{Router, extract::MatchedPath, routing::get};
/// use otel_faas_core::http::HttpRouteLayer;
///
/// let app: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "order" }))
///     .route_layer(HttpRouteLayer::new(|extensions| {
///         extensions.get::<MatchedPath>().map(|path| path.as_str().to_owned())
///     }));
/// ```
#[derive(Debug, Clone)]
pub struct HttpRouteLayer {
    route: RouteHook,
}

impl HttpRouteLayer {
    /// A layer reading the route with `route`.
    pub fn new<F>(route: F) -> Self
    where
        F: Fn(&http::Extensions) -> Option<String> + Send + Sync + 'static,
    {
        Self {
            route: RouteHook::new(route),
        }
    }
}

impl<S> Layer<S> for HttpRouteLayer {
    type Service = HttpRouteService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpRouteService {
            inner,
            route: self.route.clone(),
        }
    }
}

/// The service of [`HttpRouteLayer`].
#[derive(Debug, Clone)]
pub struct HttpRouteService<S> {
    inner: S,
    route: RouteHook,
}

impl<S, B> Service<http::Request<B>> for HttpRouteService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Some(route) = self.route.route(request.extensions()) {
            record_route(request.method().as_str(), &route);
        }
        self.inner.call(request)
    }
}

/// The route template axum matched (`/orders/{id}`), for `http.route` and the span name: a
/// route hook for [`HttpRouteLayer::new`] and [`HttpTrigger::with_route`](super::HttpTrigger::with_route),
/// read after routing (put the layer on with `route_layer`). Feature `axum` (on with
/// `server`).
///
/// ```
/// use axum::{Router, routing::get};
/// use otel_faas_core::http::{HttpRouteLayer, HttpTrigger, axum_route};
///
/// let app: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "order" }))
///     .route_layer(HttpRouteLayer::new(axum_route));
/// let trigger = HttpTrigger::new().with_route(axum_route);
/// # drop((app, trigger));
/// ```
#[cfg(feature = "axum")]
pub fn axum_route(extensions: &http::Extensions) -> Option<String> {
    extensions
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    use super::*;
    use crate::engine::InvocationScope;
    use crate::trigger::{FaasTrigger, InvocationContext};
    use crate::{InvocationEngine, InvocationSpec, Propagation, SpanSpec, TriggerAdapter};

    struct Request;
    impl TriggerAdapter<(), ()> for Request {
        fn invocation_spec(
            &self,
            _: &(),
            _: &InvocationContext,
            _: &dyn Propagation,
        ) -> InvocationSpec {
            InvocationSpec::new(FaasTrigger::Http, SpanSpec::server("GET"))
        }
    }

    #[tokio::test]
    async fn only_the_invocation_span_is_named() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let engine = InvocationEngine::builder(&provider).build();
        engine
            .invocation(&Request, ())
            .run(|_| async {
                let scope = InvocationScope::current().expect("an invocation");
                let child = scope.tracer().start("child");
                let cx = opentelemetry::Context::current_with_span(child);
                let inside_child = {
                    let _guard = cx.attach();
                    record_route("GET", "/wrong")
                };
                assert!(!inside_child, "a span the handler started is not renamed");
                assert!(record_route("GET", "/orders/{id}"));
                Ok::<_, std::convert::Infallible>(())
            })
            .await
            .unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        let server = spans.iter().find(|s| s.name == "GET /orders/{id}");
        let route = server.and_then(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "http.route")
                .map(|kv| kv.value.to_string())
        });
        assert_eq!(route.as_deref(), Some("/orders/{id}"), "{spans:#?}");
        assert!(
            spans
                .iter()
                .all(|s| s.name != "/wrong" && !s.name.contains("wrong"))
        );
    }
}
