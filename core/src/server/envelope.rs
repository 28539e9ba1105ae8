//! Decode once, at the edge: a platform body becomes a typed event before the adapter sees
//! it.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use http::request::Parts;
use http::{Request, StatusCode};
use tower_service::Service;

use crate::engine::{INVALID_EVENT_ERROR_TYPE, InvocationEngine};
use crate::http::{HttpServerAttributes, http_response_outcome};
use crate::propagation::Propagation;
use crate::trigger::{InvocationContext, InvocationSpec, Outcome, TriggerAdapter};

/// A platform's event, decoded from the HTTP request that carries it (Azure's
/// `{Data, Metadata}`, a CloudEvent, a Pub/Sub push body).
///
/// ```
/// use axum::body::Bytes;
/// use otel_faas_core::server::Envelope;
///
/// /// A job runner that posts `name=value` lines.
/// struct Job(Vec<(String, String)>);
///
/// impl Envelope for Job {
///     type Rejection = String;
///
///     fn decode(_parts: &http::request::Parts, body: Bytes) -> Result<Self, String> {
///         let text = std::str::from_utf8(&body).map_err(|_| "the body is not UTF-8".to_owned())?;
///         text.lines()
///             .map(|line| {
///                 line.split_once('=')
///                     .map(|(k, v)| (k.to_owned(), v.to_owned()))
///                     .ok_or_else(|| format!("{line:?} is not name=value"))
///             })
///             .collect::<Result<_, _>>()
///             .map(Job)
///     }
/// }
///
/// let (parts, ()) = http::Request::new(()).into_parts();
/// assert!(Job::decode(&parts, Bytes::from_static(b"a=1\nb=2")).is_ok());
/// assert_eq!(Job::decode(&parts, Bytes::from_static(b"oops")).err().unwrap(), "\"oops\" is not name=value");
/// ```
pub trait Envelope: Sized + Send + 'static {
    /// Why a body was refused; its `Display` is sent back to the caller and recorded on the
    /// span, so it says what is wrong with the input, not how the code failed.
    type Rejection: fmt::Display + Send;

    /// Decodes the request.
    fn decode(parts: &Parts, body: Bytes) -> Result<Self, Self::Rejection>;
}

/// Serves a function whose event arrives in the request body: decodes it with
/// [`Envelope::decode`], runs `handler` inside the invocation the adapter describes, and
/// answers with the handler's response (anything axum can turn into a response — the
/// encode step).
///
/// A body that cannot be read or decoded is answered `400 Bad Request` with the reason,
/// recorded as an invocation span with ERROR status and `error.type` =
/// [`INVALID_EVENT_ERROR_TYPE`](crate::engine::INVALID_EVENT_ERROR_TYPE), and the server keeps serving. A handler error is answered `500`
/// with its message; a panic `500` without one (the span has it).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::body::{Body, Bytes};
/// use otel_faas_core::server::{Envelope, EnvelopeService};
/// use otel_faas_core::trigger::{FaasTrigger, InvocationContext};
/// use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, SpanSpec, TriggerAdapter};
/// use tower::ServiceExt as _;
///
/// struct Order(u64);
/// impl Envelope for Order {
///     type Rejection = String;
///     fn decode(_: &http::request::Parts, body: Bytes) -> Result<Self, String> {
///         std::str::from_utf8(&body).ok().and_then(|s| s.trim().parse().ok()).map(Order)
///             .ok_or_else(|| "the body must be an order number".to_owned())
///     }
/// }
/// struct OrderTrigger;
/// impl TriggerAdapter<Order, String> for OrderTrigger {
///     fn invocation_spec(&self, _: &Order, _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("orders"))
///     }
/// }
///
/// let engine = InvocationEngine::builder(&opentelemetry_sdk::trace::SdkTracerProvider::builder().build()).build();
/// let service = EnvelopeService::new(engine, OrderTrigger, |order: Order| async move {
///     Ok::<_, std::convert::Infallible>(format!("order {} accepted", order.0))
/// });
/// let ok = service.clone().oneshot(http::Request::post("/").body(Body::from("42")).unwrap()).await.unwrap();
/// assert_eq!(ok.status(), 200);
/// let bad = service.oneshot(http::Request::post("/").body(Body::from("soon")).unwrap()).await.unwrap();
/// assert_eq!(bad.status(), 400);
/// # }
/// ```
pub struct EnvelopeService<E, A, H> {
    engine: InvocationEngine,
    adapter: Arc<A>,
    handler: H,
    body_limit: usize,
    event: PhantomData<fn() -> E>,
}

impl<E, A, H: Clone> Clone for EnvelopeService<E, A, H> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            adapter: Arc::clone(&self.adapter),
            handler: self.handler.clone(),
            body_limit: self.body_limit,
            event: PhantomData,
        }
    }
}

impl<E, A, H> fmt::Debug for EnvelopeService<E, A, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeService")
            .field("engine", &self.engine)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl<E, A, H> EnvelopeService<E, A, H> {
    /// Runs `handler` for each decoded event, described by `adapter`.
    pub fn new(engine: InvocationEngine, adapter: A, handler: H) -> Self {
        Self {
            engine,
            adapter: Arc::new(adapter),
            handler,
            body_limit: 100 * 1024 * 1024,
            event: PhantomData,
        }
    }

    /// The largest body read, in bytes; 100 MiB by default (Azure's and Cloud Run's
    /// request limits are of that order). A larger body is refused with `413`.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }
}

impl<E, A, H, Fut, R, Err> Service<Request<Body>> for EnvelopeService<E, A, H>
where
    E: Envelope,
    A: TriggerAdapter<E, R> + 'static,
    H: FnOnce(E) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<R, Err>> + Send,
    R: IntoResponse + Send + 'static,
    Err: fmt::Display + fmt::Debug + Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let engine = self.engine.clone();
        let adapter = Arc::clone(&self.adapter);
        let handler = self.handler.clone();
        let limit = self.body_limit;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let event = match axum::body::to_bytes(body, limit).await {
                Ok(bytes) => E::decode(&parts, bytes).map_err(|reason| {
                    (
                        StatusCode::BAD_REQUEST,
                        format!("the request does not hold a valid event: {reason}"),
                    )
                }),
                Err(_) => Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body could not be read within {limit} bytes"),
                )),
            };
            let event = match event {
                Ok(event) => event,
                Err((status, reason)) => return Ok(refuse(&engine, &parts, status, reason).await),
            };
            let run = engine.invocation(adapter.as_ref(), event).run(handler);
            Ok(match AssertUnwindSafe(run).catch_unwind().await {
                Ok(Ok(response)) => response.into_response(),
                Ok(Err(error)) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the function failed: {error}"),
                )
                    .into_response(),
                Err(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "the function panicked").into_response()
                }
            })
        })
    }
}

/// Answers a request that holds no valid event, and records it as a failed invocation.
async fn refuse(
    engine: &InvocationEngine,
    parts: &Parts,
    status: StatusCode,
    reason: String,
) -> Response {
    let rejected = Rejected {
        parts: parts.clone(),
        status,
        reason,
    };
    let answered = engine
        .invocation(&RejectedTrigger, rejected)
        .run(|rejected| async move { Ok::<_, Infallible>(rejected) })
        .await;
    match answered {
        Ok(rejected) => (rejected.status, rejected.reason).into_response(),
        Err(never) => match never {},
    }
}

/// A request refused before any adapter could see it.
struct Rejected {
    parts: Parts,
    status: StatusCode,
    reason: String,
}

/// Describes a refused request as an HTTP server invocation that failed with
/// [`INVALID_EVENT_ERROR_TYPE`](crate::engine::INVALID_EVENT_ERROR_TYPE) (a 4xx alone would not be an error for the HTTP conventions; here
/// the function never ran, which the operator must see).
struct RejectedTrigger;

impl TriggerAdapter<Rejected, Rejected> for RejectedTrigger {
    fn invocation_spec(
        &self,
        rejected: &Rejected,
        _: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let parts = &rejected.parts;
        let mut attributes =
            HttpServerAttributes::new(parts.method.as_str()).path(parts.uri.path());
        if let Some(query) = parts.uri.query() {
            attributes = attributes.query(query);
        }
        attributes
            .into_spec()
            .with_parent(propagation.extract_from(&parts.headers))
    }

    fn outcome(&self, rejected: &Rejected) -> Outcome {
        let status = http_response_outcome(rejected.status.as_u16());
        let mut outcome = Outcome::failed(INVALID_EVENT_ERROR_TYPE, Some(rejected.reason.clone()));
        for attribute in status.attributes() {
            outcome = outcome.with_attribute(attribute.clone());
        }
        outcome
    }
}
