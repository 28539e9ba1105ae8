//! The engine as a tower [`Layer`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::InvocationEngine;
use crate::trigger::TriggerAdapter;

/// Wraps a service so that every call is an invocation with its own span.
///
/// It wraps whatever speaks tower: a runtime's handler service, an axum `Router`, a hyper
/// service, or a user's own. A handler that panics is recorded and, when the adapter
/// answers panics ([`TriggerAdapter::panic_response`]: [`HttpTrigger`](crate::http::HttpTrigger)
/// answers `500`), answered; otherwise the panic goes on to the runtime around the layer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use otel_faas_core::{InvocationEngine, InvocationLayer, http::HttpTrigger};
/// use tower::{Layer, Service, ServiceExt, service_fn};
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_batch_exporter(exporter.clone()).build();
/// let engine = InvocationEngine::builder(&provider).build();
///
/// let handler = service_fn(|_request: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new("hello".to_owned()))
/// });
/// let mut service = InvocationLayer::new(engine, HttpTrigger::new()).layer(handler);
///
/// let request = http::Request::get("/hello").body(String::new()).unwrap();
/// let response = service.ready().await.unwrap().call(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert_eq!(exporter.get_finished_spans().unwrap()[0].name, "GET");
/// # }
/// ```
pub struct InvocationLayer<A> {
    engine: InvocationEngine,
    adapter: Arc<A>,
}

impl<A> InvocationLayer<A> {
    /// A layer that runs calls through `engine`, described by `adapter`.
    pub fn new(engine: InvocationEngine, adapter: A) -> Self {
        Self {
            engine,
            adapter: Arc::new(adapter),
        }
    }
}

impl<A> Clone for InvocationLayer<A> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            adapter: Arc::clone(&self.adapter),
        }
    }
}

impl<A> fmt::Debug for InvocationLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationLayer")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl<S, A> Layer<S> for InvocationLayer<A> {
    type Service = InvocationService<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            engine: self.engine.clone(),
            adapter: Arc::clone(&self.adapter),
        }
    }
}

/// The service [`InvocationLayer`] produces; see the layer for an example.
pub struct InvocationService<S, A> {
    inner: S,
    engine: InvocationEngine,
    adapter: Arc<A>,
}

impl<S: Clone, A> Clone for InvocationService<S, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            engine: self.engine.clone(),
            adapter: Arc::clone(&self.adapter),
        }
    }
}

impl<S: fmt::Debug, A> fmt::Debug for InvocationService<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationService")
            .field("inner", &self.inner)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl<S, A, E> Service<E> for InvocationService<S, A>
where
    S: Service<E> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: fmt::Display + fmt::Debug + Send + 'static,
    A: TriggerAdapter<E, S::Response> + 'static,
    E: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: E) -> Self::Future {
        // The clone that was driven to readiness is the one to call (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let engine = self.engine.clone();
        let adapter = Arc::clone(&self.adapter);
        Box::pin(async move {
            engine
                .invocation(adapter.as_ref(), event)
                .run(move |event| inner.call(event))
                .await
        })
    }
}
