//! [`ClientTraceLayer`]: the CLIENT span and injection for any tower client of
//! `http::Request` — hyper-util's, tonic's channels, tower stacks of your own.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use opentelemetry::context::{FutureExt as _, WithContext};
use tower_layer::Layer;
use tower_service::Service;

use super::span::{ClientCall, ClientRequest, Target, transport_error_type};
use super::{UrlTemplate, grpc};
use crate::http::QueryRedaction;

/// Wraps a tower HTTP client so that each request is a CLIENT span, with the trace context
/// written into its headers (see the [module documentation](super)).
///
/// A gRPC call (`content-type: application/grpc…`, as tonic sends) follows the RPC
/// conventions instead — `rpc.system.name`, `rpc.method`, `rpc.response.status_code` — and
/// its span ends when the status arrives, in the response's trailers.
///
/// Put it directly over the client: the inner service's error must be a
/// `std::error::Error` (hyper's, hyper-util's and tonic's are), which is read for
/// `error.type` and returned unchanged.
///
/// ```
/// use otel_faas_core::http::client::ClientTraceLayer;
/// use tower::{Layer as _, ServiceExt as _};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Any `Service<http::Request<B>, Response = http::Response<_>>`: here, one that answers.
/// let client = tower::service_fn(|request: http::Request<String>| async move {
///     assert!(request.headers().contains_key("traceparent") || true);
///     Ok::<_, std::io::Error>(http::Response::new(String::new()))
/// });
/// let client = ClientTraceLayer::new().layer(client);
/// let response = client
///     .oneshot(http::Request::get("http://inventory.internal/items/7").body(String::new()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(response.status(), 200);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientTraceLayer {
    redaction: Option<Arc<QueryRedaction>>,
    origin: Option<Arc<Origin>>,
}

/// Where requests whose URI names no server go.
#[derive(Debug)]
struct Origin {
    scheme: Option<String>,
    host: Option<String>,
    port: Option<u16>,
}

impl ClientTraceLayer {
    /// Credential query values redacted with the default list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Redacts the values of `redaction`'s keys in `url.full` instead of the default list.
    #[must_use]
    pub fn with_redaction(mut self, redaction: QueryRedaction) -> Self {
        self.redaction = Some(Arc::new(redaction));
        self
    }

    /// The server that requests whose URI names none are sent to (`server.address`,
    /// `server.port`, and the start of `url.full`). tonic's channels are such clients: a
    /// call's URI is only its path, the channel adds the endpoint underneath.
    ///
    /// ```
    /// use otel_faas_core::http::client::ClientTraceLayer;
    ///
    /// let layer = ClientTraceLayer::new().with_origin(&"http://orders.internal:50051".parse().unwrap());
    /// # drop(layer);
    /// ```
    #[must_use]
    pub fn with_origin(mut self, origin: &http::Uri) -> Self {
        self.origin = Some(Arc::new(Origin {
            scheme: origin.scheme_str().map(str::to_owned),
            host: origin.host().map(str::to_owned),
            port: origin.port_u16(),
        }));
        self
    }
}

impl<S> Layer<S> for ClientTraceLayer {
    type Service = ClientTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientTrace {
            inner,
            origin: self.origin.clone(),
            redaction: self
                .redaction
                .clone()
                .unwrap_or_else(QueryRedaction::shared_default),
        }
    }
}

/// The service [`ClientTraceLayer`] makes.
#[derive(Clone)]
pub struct ClientTrace<S> {
    inner: S,
    origin: Option<Arc<Origin>>,
    redaction: Arc<QueryRedaction>,
}

impl<S: fmt::Debug> fmt::Debug for ClientTrace<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTrace")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, RB> Service<http::Request<B>> for ClientTrace<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Error: StdError + 'static,
{
    type Response = http::Response<ClientResponseBody<RB>>;
    type Error = S::Error;
    type Future = ClientResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let uri = request.uri();
        let authority = uri.authority().map(http::uri::Authority::as_str);
        let mut target = Target {
            scheme: uri.scheme_str(),
            userinfo: authority.is_some_and(|a| a.contains('@')),
            host: uri.host(),
            port: uri.port_u16(),
            path: uri.path(),
            query: uri.query(),
            fragment: None,
        };
        if target.host.is_none()
            && let Some(origin) = &self.origin
        {
            target.scheme = origin.scheme.as_deref();
            target.host = origin.host.as_deref();
            target.port = origin.port;
        }
        let described = ClientRequest {
            method: request.method(),
            target,
            template: request
                .extensions()
                .get::<UrlTemplate>()
                .map(UrlTemplate::as_str),
            resend_count: request
                .extensions()
                .get::<super::ResendCount>()
                .map_or(0, |count| count.0),
            grpc: grpc::is_grpc(request.headers()),
        };
        let call = ClientCall::start(&described, &self.redaction);
        let context = match &call {
            Some(call) => {
                call.inject(request.headers_mut());
                call.context().clone()
            }
            None => opentelemetry::Context::current(),
        };
        ClientResponseFuture {
            inner: self.inner.call(request).with_context(context),
            call,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ClientTrace`].
    pub struct ClientResponseFuture<F> {
        #[pin]
        inner: WithContext<F>,
        call: Option<ClientCall>,
    }
}

impl<F: fmt::Debug> fmt::Debug for ClientResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponseFuture")
            .finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for ClientResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    E: StdError + 'static,
{
    type Output = Result<http::Response<ClientResponseBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                // A gRPC call whose status is still to come (in the trailers) keeps its span
                // open in the body; every other call ends here.
                let mut pending = None;
                if let Some(call) = call {
                    call.record_response(response.status(), response.version(), response.headers());
                    if call.is_grpc() && grpc::status_of(response.headers()).is_none() {
                        pending = Some(call);
                    }
                }
                Ok(response.map(|inner| ClientResponseBody {
                    inner,
                    call: pending,
                }))
            }
            Err(error) => {
                if let Some(call) = call {
                    call.record_error(&transport_error_type(&error), error.to_string());
                }
                Err(error)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// The response body of [`ClientTrace`]: the client's, unchanged; for a gRPC call, it
    /// reads the status in the trailers and ends the span there.
    pub struct ClientResponseBody<B> {
        #[pin]
        inner: B,
        call: Option<ClientCall>,
    }
}

impl<B> ClientResponseBody<B> {
    /// The client's body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: fmt::Debug> fmt::Debug for ClientResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponseBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<B: http_body::Body> http_body::Body for ClientResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(call) = this.call.take()
                {
                    match grpc::status_of(trailers) {
                        Some(code) => call.record_grpc_status(code),
                        // What the gRPC clients report for trailers without a status.
                        None => call.record_grpc_status(2),
                    }
                }
            }
            Some(Err(_)) => {
                if let Some(call) = this.call.take() {
                    call.record_error("body", "the response body failed".to_owned());
                }
            }
            None => {
                // The end without trailers: the call ends with what is known.
                this.call.take();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
