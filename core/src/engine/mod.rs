//! The invocation engine: one span per invocation, on every platform.
//!
//! For each invocation the engine asks the [`TriggerAdapter`] for an [`InvocationSpec`](crate::InvocationSpec),
//! starts the span with its parent and links, and makes it the current OpenTelemetry
//! context while the handler runs, so `tracing` spans (through `tracing-opentelemetry`) and
//! manual spans nest under it. It then records the ending — response, error, panic, timeout
//! or cancellation — through one end path, ends the span, tells the
//! [`InvocationObserver`]s and flushes as the [`FlushPolicy`] says. Given a deadline, a
//! watchdog ends and exports the span with a timeout error shortly before the platform
//! stops the process.
//!
//! Everything an invocation needs travels with it: the engine keeps no per-invocation state
//! in globals or in the process environment, so any number of invocations can run at once
//! in one process.

mod cold_start;
pub(crate) mod current;
mod error_type;
mod exception;
pub(crate) mod flush;
mod layer;
mod metrics;
mod observer;
mod running;
pub(crate) mod scope;

pub use cold_start::ColdStart;
pub use current::CurrentInvocation;
pub use error_type::{OTHER_ERROR_TYPE, TypedError, error_type_of};
pub use exception::{ExceptionSignal, INVOCATION_EXCEPTION_EVENT};
pub use flush::{FlushError, FlushPolicy, Flusher};
pub use layer::{InvocationLayer, InvocationService};
pub use metrics::{DURATION_BUCKETS, FaasMetrics};
pub use observer::{
    InitPhase, InitPhaseKind, InvocationObserver, InvocationRecord, InvocationStart,
    InvocationStatus,
};
pub use scope::InvocationScope;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_semantic_conventions::attribute::{
    FAAS_COLDSTART, FAAS_INVOCATION_ID, FAAS_TRIGGER,
};

use crate::propagation::{CompositePropagation, Propagation};
use crate::trigger::{InvocationContext, TriggerAdapter};
use observer::Observers;
use running::{Ended, Guard, Running, Spans, Watchdog, panic_message};

/// `error.type` of an invocation stopped by its deadline (an example value of the
/// conventions).
pub const TIMEOUT_ERROR_TYPE: &str = "timeout";
/// `error.type` of an invocation whose event could not be read: a request body that does
/// not decode into the platform's event (answered `400` by the server harness), or an
/// event that cannot be read into the handler's argument. One value for every platform, so
/// that one query finds every malformed event.
///
/// ```
/// use otel_faas_core::engine::{INVALID_EVENT_ERROR_TYPE, TypedError, error_type_of};
///
/// // A handler's argument that cannot be read fails the invocation with this type.
/// let error = TypedError::new(INVALID_EVENT_ERROR_TYPE, "the event is not a Pub/Sub message");
/// assert_eq!(error_type_of(&error), "invalid_event");
/// ```
pub const INVALID_EVENT_ERROR_TYPE: &str = "invalid_event";
/// `error.type` of an invocation whose handler panicked. Rust panics have no exception
/// class, so the conventions' "exception type" is this fixed value.
pub const PANIC_ERROR_TYPE: &str = "panic";
/// `error.type` of an invocation whose future was dropped before it finished: the caller
/// hung up, or the runtime cancelled it. The conventions have no value for it; this one
/// names what happened and is low-cardinality, as `error.type` must be.
pub const CANCELLED_ERROR_TYPE: &str = "cancelled";

/// A handler's panic, as an error: see [`Invoke::catch_panics`].
///
/// ```
/// use otel_faas_core::engine::HandlerPanic;
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
/// use otel_faas_core::{SpanSpec, InvocationEngine, InvocationSpec, Propagation, TriggerAdapter, trigger::{FaasTrigger, InvocationContext}};
///
/// struct Ping;
/// impl TriggerAdapter<String, usize> for Ping {
///     fn invocation_spec(&self, _: &String, _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("ping"))
///     }
/// }
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_batch_exporter(exporter.clone()).build();
/// let engine = InvocationEngine::builder(&provider).build();
///
/// let reply = engine
///     .invocation(&Ping, "hello".to_owned()).run(|event| async move { Ok::<_, std::io::Error>(event.len()) })
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
    observers: Observers,
    sequence: AtomicU64,
    exceptions: exception::Exceptions,
    link_limit: Option<usize>,
}

impl fmt::Debug for InvocationEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationEngine")
            .field("propagation", &self.inner.propagation)
            .field("flush_policy", &self.inner.flush_policy)
            .field("deadline_margin", &self.inner.deadline_margin)
            .field("observers", &self.inner.observers)
            .finish_non_exhaustive()
    }
}

/// Configures an [`InvocationEngine`].
///
/// ```
/// use std::time::Duration;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use otel_faas_core::{InvocationEngine, engine::{ColdStart, FlushPolicy}};
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
    observers: Observers,
    flusher: Option<Flusher>,
    exceptions: exception::Exceptions,
    link_limit: Option<usize>,
}

impl EngineBuilder {
    /// How many links a span keeps, told to adapters through
    /// [`InvocationContext::link_limit`] for invocations whose context does not say; the
    /// pipeline sets it from `OTEL_SPAN_LINK_COUNT_LIMIT`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use otel_faas_core::env::MapEnvironment;
    /// use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
    /// use otel_faas_core::{InvocationSpec, Pipeline, Propagation, TriggerAdapter};
    ///
    /// struct Batch;
    /// impl TriggerAdapter<(), ()> for Batch {
    ///     fn invocation_spec(&self, _: &(), context: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
    ///         // An adapter that links one producer per message stops here.
    ///         assert_eq!(context.link_limit(), 4);
    ///         InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server("batch"))
    ///     }
    /// }
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([
    ///     ("OTEL_SPAN_LINK_COUNT_LIMIT", "4"),
    ///     ("OTEL_TRACES_EXPORTER", "none"),
    ///     ("OTEL_METRICS_EXPORTER", "none"),
    ///     ("OTEL_LOGS_EXPORTER", "none"),
    /// ]))
    /// .install();
    /// let engine = telemetry.engine().build();
    /// engine.invocation(&Batch, ()).run(|_| async { Ok::<_, std::convert::Infallible>(()) }).await.unwrap();
    /// # }
    /// ```
    #[must_use]
    pub fn link_limit(mut self, limit: usize) -> Self {
        self.link_limit = Some(limit);
        self
    }

    /// Flushes with `flusher` (a pipeline's, which flushes every signal) instead of one
    /// made for the tracer provider alone.
    pub(crate) fn flusher(mut self, flusher: Flusher) -> Self {
        self.flusher = Some(flusher);
        self
    }

    /// Where an invocation's exception is recorded: as an `exception` event on its span
    /// (the default), and/or as a `faas.invocation.exception` log record at severity ERROR
    /// emitted with `logger`, in the invocation's trace context. The pipeline sets it from
    /// `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN` (`logs`, `logs/dup`).
    ///
    /// ```
    /// use opentelemetry::logs::LoggerProvider as _;
    /// use opentelemetry_sdk::logs::SdkLoggerProvider;
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use otel_faas_core::InvocationEngine;
    /// use otel_faas_core::engine::ExceptionSignal;
    ///
    /// let logs = SdkLoggerProvider::builder().build();
    /// let engine = InvocationEngine::builder(&SdkTracerProvider::builder().build())
    ///     .exceptions(ExceptionSignal::Logs, logs.logger("otel-faas"))
    ///     .build();
    /// # drop(engine);
    /// ```
    #[must_use]
    pub fn exceptions(
        mut self,
        signal: ExceptionSignal,
        logger: opentelemetry_sdk::logs::SdkLogger,
    ) -> Self {
        self.exceptions = exception::Exceptions {
            signal,
            logger: Some(Arc::new(logger)),
        };
        self
    }

    /// Adds an observer, told of every invocation's start and end (see
    /// [`InvocationObserver`]). Observers are called in the order they were added.
    #[must_use]
    pub fn observer(mut self, observer: impl InvocationObserver) -> Self {
        self.observers.0.push(Arc::new(observer));
        self
    }

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
        let flusher = match (self.flusher, self.provider) {
            (Some(flusher), _) => flusher,
            (None, Some(provider)) => Flusher::new(provider),
            (None, None) => Flusher::disabled(),
        };
        InvocationEngine {
            inner: Arc::new(EngineInner {
                tracer: self.tracer,
                propagation: self.propagation,
                flusher,
                flush_policy: self.flush_policy,
                deadline_margin: self.deadline_margin,
                cold_start: self.cold_start,
                init_started: self.init_started,
                observers: self.observers,
                sequence: AtomicU64::new(0),
                exceptions: self.exceptions,
                link_limit: self.link_limit,
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
            observers: Observers::default(),
            exceptions: exception::Exceptions::default(),
            flusher: None,
            link_limit: None,
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

    /// Starts describing one invocation of `event`, read by `adapter`; finish with
    /// [`Invoke::run`]. This is the engine's one entry: the tower [`InvocationLayer`] and
    /// every platform integration go through it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
    /// use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, TriggerAdapter};
    ///
    /// struct Job;
    /// impl TriggerAdapter<u32, u32> for Job {
    ///     fn invocation_spec(&self, _: &u32, _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
    ///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
    ///     }
    /// }
    ///
    /// let engine = InvocationEngine::builder(&SdkTracerProvider::builder().build()).build();
    /// let doubled = engine
    ///     .invocation(&Job, 21)
    ///     .context(InvocationContext::new().with_invocation_id("req-1").with_deadline_in(Duration::from_secs(3)))
    ///     .run(|n| async move { Ok::<_, std::io::Error>(n * 2) })
    ///     .await;
    /// assert_eq!(doubled.unwrap(), 42);
    /// # }
    /// ```
    pub fn invocation<'a, E, A>(&'a self, adapter: &'a A, event: E) -> Invoke<'a, E, A, Resume>
    where
        A: ?Sized,
    {
        Invoke {
            engine: self,
            adapter,
            event,
            context: None,
            panics: PhantomData,
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
        Err: fmt::Display + fmt::Debug + 'static,
    {
        let context = match self.inner.link_limit {
            Some(limit) if context.link_limit_unset() => context.with_link_limit(limit),
            _ => context,
        };
        let guard = self.start(adapter, &event, &context);
        let cx = guard.running.spans.handler_cx().clone();
        let future = {
            // Some services do work in `call` itself, before the first poll.
            let _current = cx.clone().attach();
            handler(event)
        };
        let result = AssertUnwindSafe(future.with_context(cx))
            .catch_unwind()
            .await;
        let trigger = guard.running.start.trigger;
        let mut ended =
            Ended::from_result(&result, |response| adapter.outcome_for(trigger, response));
        // A protocol that must answer every request (HTTP) answers the panic instead of
        // letting it close the connection; the span records what the caller got.
        let answer = match (&result, &mut ended) {
            (Err(_), Ended::Panic { answered, .. }) => {
                adapter.panic_response(trigger).inspect(|response| {
                    answered.extend_from_slice(adapter.outcome_for(trigger, response).attributes());
                })
            }
            _ => None,
        };
        if let Some(ticket) = guard.running.end(ended) {
            self.flush_after(ticket, &context).await;
        }
        match answer {
            Some(response) => Ok(Ok(response)),
            None => result,
        }
    }

    fn start<E, R, A>(&self, adapter: &A, event: &E, context: &InvocationContext) -> Guard
    where
        A: TriggerAdapter<E, R> + ?Sized,
    {
        let spec = adapter.invocation_spec(event, context, self.inner.propagation.as_ref());
        let mut span = spec.span;
        span.attributes
            .push(KeyValue::new(FAAS_TRIGGER, spec.trigger.as_str()));
        let started_at = SystemTime::now();
        let cold = self.inner.cold_start.take();
        span.attributes.push(KeyValue::new(FAAS_COLDSTART, cold));
        if let Some(id) = context.invocation_id() {
            span.attributes
                .push(KeyValue::new(FAAS_INVOCATION_ID, id.to_owned()));
        }
        let tracer = &self.inner.tracer;
        // Helpers inside the handler (per-message spans, outgoing injection) find the
        // engine's tracer and propagation here instead of in a global.
        let parent = spec.parent.with_value(InvocationScope {
            tracer: tracer.clone(),
            propagation: Arc::clone(&self.inner.propagation),
        });
        let invocation_cx = span.start(tracer, &parent);
        // Marks which span is the invocation's (for what later names it: a router's route) and
        // what log lines need to be joined to it.
        let current = CurrentInvocation::new(
            invocation_cx.span().span_context().clone(),
            context.invocation_id(),
            cold,
            spec.trigger,
        );
        let invocation_cx = invocation_cx.with_value(current);
        // The cold invocation shows what it waited for: the process's initialisation, or
        // its restore from a snapshot.
        let phase = if cold {
            match self.inner.cold_start.take_restore() {
                Some(restored_at) => Some((InitPhaseKind::Restore, restored_at)),
                None => self.inner.init_started.map(|at| (InitPhaseKind::Init, at)),
            }
        } else {
            None
        };
        let init_phase = phase.map(|(kind, phase_started)| {
            let phase_started = phase_started.min(started_at);
            let mut init = tracer
                .span_builder(kind.span_name())
                .with_kind(SpanKind::Internal)
                .with_start_time(phase_started)
                .start_with_context(tracer, &invocation_cx);
            init.end_with_timestamp(started_at);
            InitPhase::new(
                kind,
                started_at.duration_since(phase_started).unwrap_or_default(),
            )
        });
        let inner_cx = spec.inner.map(|inner| inner.start(tracer, &invocation_cx));
        let start = InvocationStart {
            sequence: self.inner.sequence.fetch_add(1, Ordering::Relaxed),
            trigger: spec.trigger,
            cold_start: cold,
            invocation_id: context.invocation_id().map(str::to_owned),
            span_context: invocation_cx.span().span_context().clone(),
            started_at,
            init_phase,
        };
        let spans = Spans {
            invocation: invocation_cx,
            inner: inner_cx,
            exceptions: self.inner.exceptions.clone(),
        };
        let running = Running::new(
            spans,
            start,
            self.inner.flusher.clone(),
            self.inner.observers.clone(),
        );
        let watchdog = context.deadline().map(|deadline| {
            tokio::spawn(
                Watchdog {
                    running: Arc::clone(&running),
                    flusher: self.inner.flusher.clone(),
                    deadline,
                    margin: self.inner.deadline_margin,
                }
                .run(),
            )
        });
        Guard { running, watchdog }
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

/// Panics are resumed after the invocation is recorded (the default of [`Invoke`]).
#[derive(Debug)]
pub enum Resume {}

/// Panics come back as an error built from [`HandlerPanic`] (see [`Invoke::catch_panics`]).
#[derive(Debug)]
pub enum Catch {}

/// One invocation being described: made by [`InvocationEngine::invocation`], run by
/// [`run`](Self::run).
#[must_use = "an invocation does nothing until `run` is awaited"]
pub struct Invoke<'a, E, A: ?Sized, P> {
    engine: &'a InvocationEngine,
    adapter: &'a A,
    event: E,
    context: Option<InvocationContext>,
    panics: PhantomData<P>,
}

impl<E, A: ?Sized, P> fmt::Debug for Invoke<'_, E, A, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invoke")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl<'a, E, A: ?Sized, P> Invoke<'a, E, A, P> {
    /// Gives the invocation context explicitly, for platforms that deliver it beside the
    /// event. Without it, the adapter's
    /// [`invocation_context`](TriggerAdapter::invocation_context) reads it from the event.
    pub fn context(mut self, context: InvocationContext) -> Self {
        self.context = Some(context);
        self
    }

    /// Turns a panic in the handler into an error built from [`HandlerPanic`], for runtimes
    /// that expect a failed invocation rather than an unwinding task. Any error type with
    /// `From<HandlerPanic>` works, including `Box<dyn std::error::Error + Send + Sync>`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
    /// use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, TriggerAdapter};
    ///
    /// struct Job;
    /// impl TriggerAdapter<(), ()> for Job {
    ///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
    ///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
    ///     }
    /// }
    ///
    /// let engine = InvocationEngine::builder(&SdkTracerProvider::builder().build()).build();
    /// let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = engine
    ///     .invocation(&Job, ())
    ///     .catch_panics()
    ///     .run(|_| async { panic!("out of cheese") })
    ///     .await;
    /// assert_eq!(result.unwrap_err().to_string(), "the handler panicked: out of cheese");
    /// # }
    /// ```
    pub fn catch_panics(self) -> Invoke<'a, E, A, Catch> {
        Invoke {
            engine: self.engine,
            adapter: self.adapter,
            event: self.event,
            context: self.context,
            panics: PhantomData,
        }
    }

    async fn run_inner<R, Err, F, Fut>(
        self,
        handler: F,
    ) -> Result<Result<R, Err>, Box<dyn Any + Send>>
    where
        A: TriggerAdapter<E, R>,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = Result<R, Err>>,
        Err: fmt::Display + fmt::Debug + 'static,
    {
        let context = self
            .context
            .unwrap_or_else(|| self.adapter.invocation_context(&self.event));
        self.engine
            .run(self.adapter, self.event, context, handler)
            .await
    }
}

impl<E, A: ?Sized> Invoke<'_, E, A, Resume> {
    /// Runs `handler` for the event inside the invocation span.
    ///
    /// A panic in the handler is recorded, the span is ended and flushed, and the panic is
    /// then resumed, so the runtime around the engine handles it exactly as it would without
    /// the engine (lambda_runtime, for instance, reports it as an invocation error); see
    /// [`catch_panics`](Self::catch_panics) to get an error instead. An adapter whose
    /// protocol must answer every request gives the answer instead
    /// ([`TriggerAdapter::panic_response`]: the HTTP adapters answer `500`), and that answer
    /// is returned as the handler's response. If the returned future
    /// is dropped before it finishes, the invocation is recorded as cancelled.
    ///
    /// Runs on a tokio runtime with the time driver enabled (the deadline watchdog and the
    /// flush budget are tokio timers).
    pub async fn run<R, Err, F, Fut>(self, handler: F) -> Result<R, Err>
    where
        A: TriggerAdapter<E, R>,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = Result<R, Err>>,
        Err: fmt::Display + fmt::Debug + 'static,
    {
        match self.run_inner(handler).await {
            Ok(result) => result,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

impl<E, A: ?Sized> Invoke<'_, E, A, Catch> {
    /// Runs `handler` like [`Invoke::run`], with a panic returned as an error.
    pub async fn run<R, Err, F, Fut>(self, handler: F) -> Result<R, Err>
    where
        A: TriggerAdapter<E, R>,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = Result<R, Err>>,
        Err: fmt::Display + fmt::Debug + 'static + From<HandlerPanic>,
    {
        match self.run_inner(handler).await {
            Ok(result) => result,
            Err(payload) => Err(HandlerPanic {
                message: panic_message(payload.as_ref()),
            }
            .into()),
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
