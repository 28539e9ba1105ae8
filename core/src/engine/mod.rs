//! The invocation engine: one span per invocation, on every platform.
//!
//! For each invocation the engine asks the [`TriggerAdapter`] for an [`InvocationSpec`],
//! starts the span with its parent and links, and makes it the current OpenTelemetry
//! context while the handler runs, so `tracing` spans (through `tracing-opentelemetry`) and
//! manual spans nest under it. It then records the outcome — response, error or panic —,
//! ends the span and flushes as the [`FlushPolicy`] says. Given a deadline, a watchdog ends
//! and exports the span with a timeout error shortly before the platform stops the process.
//!
//! Everything an invocation needs travels with it: the engine keeps no per-invocation state
//! in globals or in the process environment, so any number of invocations can run at once
//! in one process.

mod cold_start;
mod flush;
mod layer;

pub use cold_start::ColdStart;
pub use flush::{FlushError, FlushPolicy, Flusher};
pub use layer::{InvocationLayer, InvocationService};

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt as _;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, EXCEPTION_MESSAGE, EXCEPTION_TYPE, FAAS_COLDSTART, FAAS_INVOCATION_ID, FAAS_TRIGGER,
};

use crate::propagation::{CompositePropagation, Propagation};
use crate::trigger::{InnerSpan, InvocationContext, Outcome, TriggerAdapter};

/// `error.type` of an invocation stopped by its deadline (an example value of the
/// conventions).
pub const TIMEOUT_ERROR_TYPE: &str = "timeout";
/// `error.type` of an invocation whose handler panicked. Rust panics have no exception
/// class, so the conventions' "exception type" is this fixed value.
pub const PANIC_ERROR_TYPE: &str = "panic";

/// The engine's tracer and propagation, available to code running inside an invocation.
///
/// The engine puts it into the context every handler runs in, so that helpers — a span per
/// message of a batch, context injection into an outgoing request — record with the same
/// pipeline as the invocation, without a global tracer provider.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use opentelemetry::trace::{Tracer, TraceContextExt};
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use otel_faas_core::{FaasTrigger, InvocationContext, InvocationEngine, InvocationScope, InvocationSpec, Propagation, TriggerAdapter};
///
/// struct Job;
/// impl TriggerAdapter<(), ()> for Job {
///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
///         InvocationSpec::new("job", FaasTrigger::Other)
///     }
/// }
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_batch_exporter(exporter.clone()).build();
/// let engine = InvocationEngine::builder(&provider).build();
/// engine.invoke(&Job, (), |_| async {
///     let scope = InvocationScope::current().expect("inside an invocation");
///     let _step = scope.tracer().start("step");
///     Ok::<_, std::convert::Infallible>(())
/// }).await.unwrap();
/// assert!(InvocationScope::current().is_none());
/// assert_eq!(exporter.get_finished_spans().unwrap().len(), 2);
/// # }
/// ```
#[derive(Clone)]
pub struct InvocationScope {
    tracer: SdkTracer,
    propagation: Arc<dyn Propagation>,
}

impl fmt::Debug for InvocationScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationScope")
            .field("propagation", &self.propagation)
            .finish_non_exhaustive()
    }
}

impl InvocationScope {
    /// The scope of the invocation running on this task, if any.
    pub fn current() -> Option<Self> {
        Context::current().get::<Self>().cloned()
    }

    /// The engine's tracer.
    pub fn tracer(&self) -> &SdkTracer {
        &self.tracer
    }

    /// The engine's propagation.
    pub fn propagation(&self) -> &Arc<dyn Propagation> {
        &self.propagation
    }

    /// Runs `future` in a child of the current span, described by `span`, and records a
    /// returned error or a panic on it the way the engine does for invocations. The panic is
    /// resumed after the span has ended.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use opentelemetry::trace::SpanKind;
    /// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    /// use otel_faas_core::{FaasTrigger, InnerSpan, InvocationContext, InvocationEngine, InvocationScope, InvocationSpec, Propagation, TriggerAdapter};
    ///
    /// struct Job;
    /// impl TriggerAdapter<(), ()> for Job {
    ///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
    ///         InvocationSpec::new("job", FaasTrigger::Other)
    ///     }
    /// }
    ///
    /// let exporter = InMemorySpanExporter::default();
    /// let provider = SdkTracerProvider::builder().with_batch_exporter(exporter.clone()).build();
    /// let engine = InvocationEngine::builder(&provider).build();
    /// let _ = engine.invoke(&Job, (), |_| async {
    ///     let scope = InvocationScope::current().unwrap();
    ///     scope.in_span(InnerSpan::new("step", SpanKind::Internal), async {
    ///         Err::<(), _>(std::io::Error::other("disk full"))
    ///     }).await
    /// }).await;
    /// let spans = exporter.get_finished_spans().unwrap();
    /// let step = spans.iter().find(|s| s.name == "step").unwrap();
    /// assert_eq!(step.status, opentelemetry::trace::Status::error("disk full"));
    /// # }
    /// ```
    pub async fn in_span<F, T, E>(&self, span: InnerSpan, future: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: fmt::Display,
    {
        let parent = Context::current();
        let started = self
            .tracer
            .span_builder(span.name)
            .with_kind(span.kind)
            .with_attributes(span.attributes)
            .with_links(span.links)
            .start_with_context(&self.tracer, &parent);
        let cx = parent.with_span(started);
        let result = AssertUnwindSafe(future.with_context(cx.clone()))
            .catch_unwind()
            .await;
        let spans = Spans {
            invocation: cx,
            inner: None,
        };
        match &result {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => spans.record(Ended::Error {
                error_type: short_type_name::<E>(),
                message: error.to_string(),
            }),
            Err(payload) => spans.record(Ended::Panic(panic_message(payload.as_ref()))),
        }
        spans.end();
        match result {
            Ok(result) => result,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

/// A handler's panic, as an error: see [`InvocationEngine::invoke_catching`].
///
/// ```
/// use otel_faas_core::HandlerPanic;
///
/// fn report<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a str> {
///     error.downcast_ref::<HandlerPanic>().map(HandlerPanic::message)
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the handler panicked: {message}")]
pub struct HandlerPanic {
    message: String,
}

impl HandlerPanic {
    /// The panic message, or a note that the payload was not a string.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Runs handlers inside invocation spans. Cheap to clone; clones share one configuration,
/// one cold-start flag and one flusher.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use otel_faas_core::{
///     FaasTrigger, InvocationContext, InvocationEngine, InvocationSpec, Propagation,
///     TriggerAdapter,
/// };
///
/// struct Ping;
/// impl TriggerAdapter<String, usize> for Ping {
///     fn invocation_spec(&self, _: &String, _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
///         InvocationSpec::new("ping", FaasTrigger::Other)
///     }
/// }
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_batch_exporter(exporter.clone()).build();
/// let engine = InvocationEngine::builder(&provider).build();
///
/// let reply = engine
///     .invoke(&Ping, "hello".to_owned(), |event| async move { Ok::<_, std::io::Error>(event.len()) })
///     .await;
/// assert_eq!(reply.unwrap(), 5);
///
/// let spans = exporter.get_finished_spans().unwrap();
/// assert_eq!(spans[0].name, "ping");
/// # }
/// ```
#[derive(Clone)]
pub struct InvocationEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    tracer: SdkTracer,
    propagation: Arc<dyn Propagation>,
    flusher: Flusher,
    flush_policy: FlushPolicy,
    deadline_margin: Duration,
    cold_start: ColdStart,
    init_started: Option<SystemTime>,
}

impl fmt::Debug for InvocationEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationEngine")
            .field("propagation", &self.inner.propagation)
            .field("flush_policy", &self.inner.flush_policy)
            .field("deadline_margin", &self.inner.deadline_margin)
            .finish_non_exhaustive()
    }
}

/// Configures an [`InvocationEngine`].
///
/// ```
/// use std::time::Duration;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use otel_faas_core::{ColdStart, FlushPolicy, InvocationEngine};
///
/// let provider = SdkTracerProvider::builder().build();
/// let engine = InvocationEngine::builder(&provider)
///     .flush_policy(FlushPolicy::EndOfInvocation { budget: Duration::from_millis(800) })
///     .deadline_margin(Duration::from_millis(300))
///     .cold_start(ColdStart::pre_initialized())
///     .build();
/// # drop(engine);
/// ```
#[derive(Debug)]
pub struct EngineBuilder {
    provider: Option<SdkTracerProvider>,
    tracer: SdkTracer,
    propagation: Arc<dyn Propagation>,
    flush_policy: FlushPolicy,
    deadline_margin: Duration,
    cold_start: ColdStart,
    init_started: Option<SystemTime>,
}

impl EngineBuilder {
    /// How context is read from events; W3C tracecontext and baggage by default. The
    /// pipeline sets it from `OTEL_PROPAGATORS`.
    #[must_use]
    pub fn propagation(mut self, propagation: Arc<dyn Propagation>) -> Self {
        self.propagation = propagation;
        self
    }

    /// When spans are exported; [`FlushPolicy::EndOfInvocation`] by default.
    #[must_use]
    pub fn flush_policy(mut self, policy: FlushPolicy) -> Self {
        self.flush_policy = policy;
        self
    }

    /// How long before the deadline the watchdog ends and exports a running invocation's
    /// span; 500 ms by default. The export must fit in this margin.
    #[must_use]
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// The cold-start tracker; [`ColdStart::new`] by default. Platforms that pre-initialise
    /// processes pass [`ColdStart::pre_initialized`].
    #[must_use]
    pub fn cold_start(mut self, cold_start: ColdStart) -> Self {
        self.cold_start = cold_start;
        self
    }

    /// When the process began initialising. The cold invocation then gets a child span
    /// named `init` from this instant to the start of the invocation, so the cost of the
    /// cold start is visible in the trace that paid it.
    #[must_use]
    pub fn init_started(mut self, at: SystemTime) -> Self {
        self.init_started = Some(at);
        self
    }

    /// Builds the engine.
    pub fn build(self) -> InvocationEngine {
        let flusher = self.provider.map_or_else(Flusher::disabled, Flusher::new);
        InvocationEngine {
            inner: Arc::new(EngineInner {
                tracer: self.tracer,
                propagation: self.propagation,
                flusher,
                flush_policy: self.flush_policy,
                deadline_margin: self.deadline_margin,
                cold_start: self.cold_start,
                init_started: self.init_started,
            }),
        }
    }
}

impl InvocationEngine {
    /// Starts configuring an engine that records into `provider`.
    pub fn builder(provider: &SdkTracerProvider) -> EngineBuilder {
        EngineBuilder {
            tracer: scoped_tracer(provider),
            provider: Some(provider.clone()),
            propagation: Arc::new(CompositePropagation::w3c()),
            flush_policy: FlushPolicy::default(),
            deadline_margin: Duration::from_millis(500),
            cold_start: ColdStart::new(),
            init_started: None,
        }
    }

    /// The propagation the engine hands adapters; use it to inject context into outgoing
    /// requests and messages too.
    pub fn propagation(&self) -> &Arc<dyn Propagation> {
        &self.inner.propagation
    }

    /// The flusher, for platform hooks that flush outside an invocation (shutdown signals,
    /// after-response extensions).
    pub fn flusher(&self) -> &Flusher {
        &self.inner.flusher
    }

    /// Runs `handler` for `event` inside an invocation span, with the invocation context the
    /// adapter reads from the event.
    ///
    /// A panic in the handler is recorded, the span is ended and flushed, and the panic is
    /// then resumed, so the runtime around the engine handles it exactly as it would without
    /// the engine (lambda_runtime, for instance, reports it as an invocation error). Use
    /// [`invoke_catching`](Self::invoke_catching) to get an error instead.
    ///
    /// Runs on a tokio runtime with the time driver enabled (the deadline watchdog and the
    /// flush budget are tokio timers).
    pub async fn invoke<E, R, Err, A, F, Fut>(
        &self,
        adapter: &A,
        event: E,
        handler: F,
    ) -> Result<R, Err>
    where
        A: TriggerAdapter<E, R> + ?Sized,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = Result<R, Err>>,
        Err: fmt::Display,
    {
        let context = adapter.invocation_context(&event);
        self.invoke_with_context(adapter, event, context, handler)
            .await
    }

    /// Like [`invoke`](Self::invoke), with the invocation context given explicitly, for
    /// platforms that deliver it beside the event.
    pub async fn invoke_with_context<E, R, Err, A, F, Fut>(
        &self,
        adapter: &A,
        event: E,
        context: InvocationContext,
        handler: F,
    ) -> Result<R, Err>
    where
        A: TriggerAdapter<E, R> + ?Sized,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = Result<R, Err>>,
        Err: fmt::Display,
    {
        match self.run(adapter, event, context, handler).await {
            Ok(result) => result,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Like [`invoke`](Self::invoke), but a panic comes back as an error built from
    /// [`HandlerPanic`], for runtimes that expect a failed invocation rather than an
    /// unwinding task. Any error type with `From<HandlerPanic>` works, including
    /// `Box<dyn std::error::Error + Send + Sync>`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    /// use otel_faas_core::{FaasTrigger, InvocationContext, InvocationEngine, InvocationSpec, Propagation, TriggerAdapter};
    ///
    /// struct Job;
    /// impl TriggerAdapter<(), ()> for Job {
    ///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
    ///         InvocationSpec::new("job", FaasTrigger::Other)
    ///     }
    /// }
    ///
    /// let provider = SdkTracerProvider::builder().with_batch_exporter(InMemorySpanExporter::default()).build();
    /// let engine = InvocationEngine::builder(&provider).build();
    /// let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = engine
    ///     .invoke_catching(&Job, (), |_| async { panic!("out of cheese") })
    ///     .await;
    /// assert_eq!(result.unwrap_err().to_string(), "the handler panicked: out of cheese");
    /// # }
    /// ```
    pub async fn invoke_catching<E, R, Err, A, F, Fut>(
        &self,
        adapter: &A,
        event: E,
        handler: F,
    ) -> Result<R, Err>
    where
        A: TriggerAdapter<E, R> + ?Sized,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = Result<R, Err>>,
        Err: fmt::Display + From<HandlerPanic>,
    {
        let context = adapter.invocation_context(&event);
        self.invoke_catching_with_context(adapter, event, context, handler)
            .await
    }

    /// [`invoke_catching`](Self::invoke_catching) with the invocation context given
    /// explicitly.
    pub async fn invoke_catching_with_context<E, R, Err, A, F, Fut>(
        &self,
        adapter: &A,
        event: E,
        context: InvocationContext,
        handler: F,
    ) -> Result<R, Err>
    where
        A: TriggerAdapter<E, R> + ?Sized,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = Result<R, Err>>,
        Err: fmt::Display + From<HandlerPanic>,
    {
        match self.run(adapter, event, context, handler).await {
            Ok(result) => result,
            Err(payload) => Err(HandlerPanic {
                message: panic_message(payload.as_ref()),
            }
            .into()),
        }
    }

    /// Runs one invocation; a panic comes back as its payload, after the span is ended and
    /// flushed, for the caller to resume or convert.
    async fn run<E, R, Err, A, F, Fut>(
        &self,
        adapter: &A,
        event: E,
        context: InvocationContext,
        handler: F,
    ) -> Result<Result<R, Err>, Box<dyn Any + Send>>
    where
        A: TriggerAdapter<E, R> + ?Sized,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = Result<R, Err>>,
        Err: fmt::Display,
    {
        let invocation = self.start(adapter, &event, &context);
        let cx = invocation.spans.handler_cx().clone();
        let future = {
            // Some services do work in `call` itself, before the first poll.
            let _current = cx.clone().attach();
            handler(event)
        };
        let result = AssertUnwindSafe(future.with_context(cx))
            .catch_unwind()
            .await;

        let ended = match &result {
            Ok(Ok(response)) => Ended::Outcome(adapter.outcome(response)),
            Ok(Err(error)) => Ended::Error {
                error_type: short_type_name::<Err>(),
                message: error.to_string(),
            },
            Err(payload) => Ended::Panic(panic_message(payload.as_ref())),
        };
        if let Some(ticket) = invocation.finish(ended) {
            self.flush_after(ticket, &context).await;
        }
        result
    }

    fn start<E, R, A>(&self, adapter: &A, event: &E, context: &InvocationContext) -> Invocation
    where
        A: TriggerAdapter<E, R> + ?Sized,
    {
        let mut spec = adapter.invocation_spec(event, context, self.inner.propagation.as_ref());
        spec.attributes
            .push(KeyValue::new(FAAS_TRIGGER, spec.trigger.as_str()));
        let started = SystemTime::now();
        let cold = self.inner.cold_start.take();
        spec.attributes.push(KeyValue::new(FAAS_COLDSTART, cold));
        if let Some(id) = context.invocation_id() {
            spec.attributes
                .push(KeyValue::new(FAAS_INVOCATION_ID, id.to_owned()));
        }
        let tracer = &self.inner.tracer;
        // Helpers inside the handler (per-message spans, outgoing injection) find the
        // engine's tracer and propagation here instead of in a global.
        let parent = spec.parent.with_value(InvocationScope {
            tracer: tracer.clone(),
            propagation: Arc::clone(&self.inner.propagation),
        });
        let span = tracer
            .span_builder(spec.name)
            .with_kind(spec.kind)
            .with_attributes(spec.attributes)
            .with_links(spec.links)
            .start_with_context(tracer, &parent);
        let invocation_cx = parent.with_span(span);
        if let (true, Some(init_started)) = (cold, self.inner.init_started) {
            let mut init = tracer
                .span_builder("init")
                .with_kind(SpanKind::Internal)
                .with_start_time(init_started.min(started))
                .start_with_context(tracer, &invocation_cx);
            init.end_with_timestamp(started);
        }
        let inner_cx = spec.inner.map(|inner| {
            let span = tracer
                .span_builder(inner.name)
                .with_kind(inner.kind)
                .with_attributes(inner.attributes)
                .with_links(inner.links)
                .start_with_context(tracer, &invocation_cx);
            invocation_cx.with_span(span)
        });
        let spans = Spans {
            invocation: invocation_cx,
            inner: inner_cx,
        };
        let ended = Arc::new(AtomicBool::new(false));
        let watchdog = context.deadline().map(|deadline| {
            let watchdog = Watchdog {
                spans: spans.clone(),
                ended: Arc::clone(&ended),
                flusher: self.inner.flusher.clone(),
                deadline,
                margin: self.inner.deadline_margin,
            };
            tokio::spawn(watchdog.run())
        });
        Invocation {
            spans,
            ended,
            flusher: self.inner.flusher.clone(),
            watchdog,
        }
    }

    async fn flush_after(&self, ticket: u64, context: &InvocationContext) {
        let FlushPolicy::EndOfInvocation { budget } = self.inner.flush_policy else {
            return;
        };
        let budget = context.time_left().map_or(budget, |left| budget.min(left));
        if budget.is_zero() {
            return;
        }
        if let Err(error) = self.inner.flusher.flush_ticket(ticket, budget).await {
            tracing::debug!(target: "otel_faas", %error, "end-of-invocation flush incomplete");
        }
    }
}

/// The tracer every engine records with: named after this crate, with the semantic
/// conventions' schema URL so back ends can translate attribute names.
fn scoped_tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer_with_scope(
        InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
            .with_version(env!("CARGO_PKG_VERSION"))
            .with_schema_url(opentelemetry_semantic_conventions::SCHEMA_URL)
            .build(),
    )
}

/// How the handler ended.
enum Ended {
    Outcome(Outcome),
    Error { error_type: String, message: String },
    Panic(String),
}

/// The spans of one invocation: the invocation span and, if the adapter asked for one, the
/// inner span the handler runs in.
#[derive(Clone)]
struct Spans {
    invocation: Context,
    inner: Option<Context>,
}

impl Spans {
    /// The context the handler runs in: the innermost span.
    fn handler_cx(&self) -> &Context {
        self.inner.as_ref().unwrap_or(&self.invocation)
    }

    /// Records how the handler ended. Response attributes and the exception event go on the
    /// invocation span; an inner span gets the same status and `error.type`.
    fn record(&self, ended: Ended) {
        let failure = match ended {
            Ended::Outcome(outcome) => {
                let span = self.invocation.span();
                span.set_attributes(outcome.attributes().iter().cloned());
                outcome.failure().map(|failure| {
                    let description = failure.description().unwrap_or_default().to_owned();
                    (failure.error_type().to_owned(), description)
                })
            }
            Ended::Error {
                error_type,
                message,
            } => {
                record_exception(&self.invocation, &error_type, &message);
                Some((error_type, message))
            }
            Ended::Panic(message) => {
                record_exception(&self.invocation, PANIC_ERROR_TYPE, &message);
                Some((PANIC_ERROR_TYPE.to_owned(), message))
            }
        };
        if let Some((error_type, description)) = failure {
            for cx in self.inner.iter().chain([&self.invocation]) {
                let span = cx.span();
                span.set_attribute(KeyValue::new(ERROR_TYPE, error_type.clone()));
                span.set_status(Status::error(description.clone()));
            }
        }
    }

    /// Ends the inner span, then the invocation span.
    fn end(&self) {
        if let Some(inner) = &self.inner {
            inner.span().end();
        }
        self.invocation.span().end();
    }
}

/// One running invocation: its spans and who ends them.
struct Invocation {
    spans: Spans,
    /// Set by whichever ends the spans first: the invocation or its watchdog.
    ended: Arc<AtomicBool>,
    flusher: Flusher,
    watchdog: Option<tokio::task::JoinHandle<()>>,
}

impl Invocation {
    /// Records how the handler ended and ends the spans, unless the watchdog already did.
    /// Returns the flush ticket when this call ended them.
    fn finish(&self, ended: Ended) -> Option<u64> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return None;
        }
        self.spans.record(ended);
        self.spans.end();
        Some(self.flusher.span_ended())
    }
}

impl Drop for Invocation {
    /// A dropped invocation future (a client that hung up) still ends its spans and stops
    /// its watchdog, so nothing outlives the request.
    fn drop(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
        if !self.ended.swap(true, Ordering::AcqRel) {
            self.spans.end();
            self.flusher.span_ended();
        }
    }
}

fn record_exception(cx: &Context, error_type: &str, message: &str) {
    cx.span().add_event(
        "exception",
        vec![
            KeyValue::new(EXCEPTION_TYPE, error_type.to_owned()),
            KeyValue::new(EXCEPTION_MESSAGE, message.to_owned()),
        ],
    );
}

/// Ends and exports the spans of an invocation that is about to be stopped by the platform.
struct Watchdog {
    spans: Spans,
    ended: Arc<AtomicBool>,
    flusher: Flusher,
    deadline: Instant,
    margin: Duration,
}

impl Watchdog {
    async fn run(self) {
        let fire_at = self
            .deadline
            .checked_sub(self.margin)
            .unwrap_or(self.deadline);
        tokio::time::sleep_until(fire_at.into()).await;
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        self.spans.record(Ended::Error {
            error_type: TIMEOUT_ERROR_TYPE.to_owned(),
            message: format!(
                "the invocation was still running {} ms before its deadline",
                self.margin.as_millis()
            ),
        });
        self.spans.end();
        let ticket = self.flusher.span_ended();
        let budget = self.deadline.saturating_duration_since(Instant::now());
        if let Err(error) = self.flusher.flush_ticket(ticket, budget).await {
            tracing::warn!(target: "otel_faas", %error, "could not export the timed-out invocation before its deadline");
        }
    }
}

/// The error's type name for `error.type`: the full path, so it stays unambiguous, with the
/// standard library's prefixes trimmed (`Box<dyn Error + Send + Sync>`, not
/// `alloc::boxed::Box<dyn core::error::Error + core::marker::Send + core::marker::Sync>`).
fn short_type_name<T: ?Sized>() -> String {
    std::any::type_name::<T>()
        .replace("alloc::boxed::", "")
        .replace("core::error::", "")
        .replace("core::marker::", "")
        .replace("alloc::string::", "")
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "the handler panicked with a non-string payload".to_owned()
    }
}
