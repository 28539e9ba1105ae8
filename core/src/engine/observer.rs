//! Observers: code that hears about every invocation's start and end.
//!
//! The engine calls each [`InvocationObserver`] when an invocation starts and exactly once
//! when it ends, whichever way it ends — returned, failed, panicked, timed out or dropped.
//! Metrics, per-invocation log capture and platform hooks (a Lambda extension that flushes
//! after the response) are observers; none of them needs a change to the engine.

use std::fmt;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::SpanContext;

use crate::trigger::FaasTrigger;

/// Hears about invocations. Both hooks do nothing by default, so an observer implements only
/// what it needs, in the spirit of `tracing-subscriber`'s `Layer` and the SDK's
/// `SpanProcessor`.
///
/// Hooks run on the invocation's task (or on its watchdog's, for a timeout, or in a `Drop`
/// for a cancelled invocation): keep them short and never block. A panicking hook is caught
/// and reported once on stderr; it never fails the invocation.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use otel_faas_core::engine::{InvocationRecord, InvocationStatus};
/// use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
/// use otel_faas_core::{InvocationEngine, InvocationObserver, InvocationSpec, Propagation, TriggerAdapter};
///
/// #[derive(Default)]
/// struct Failures(AtomicUsize);
///
/// impl InvocationObserver for Failures {
///     fn on_end(&self, record: &InvocationRecord) {
///         if record.status() != InvocationStatus::Succeeded {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// struct Job;
/// impl TriggerAdapter<(), ()> for Job {
///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
///     }
/// }
///
/// let failures = Arc::new(Failures::default());
/// let provider = SdkTracerProvider::builder().build();
/// let engine = InvocationEngine::builder(&provider).observer(Arc::clone(&failures)).build();
/// let _ = engine.invocation(&Job, ()).run(|_| async { Err::<(), _>("no") }).await;
/// assert_eq!(failures.0.load(Ordering::Relaxed), 1);
/// # }
/// ```
pub trait InvocationObserver: Send + Sync + 'static {
    /// An invocation has started: its span exists and the handler is about to run.
    fn on_start(&self, _start: &InvocationStart) {}

    /// An invocation has ended: its spans are ended (not yet exported). Called exactly once
    /// per started invocation.
    fn on_end(&self, _record: &InvocationRecord) {}
}

impl<O: InvocationObserver + ?Sized> InvocationObserver for std::sync::Arc<O> {
    fn on_start(&self, start: &InvocationStart) {
        (**self).on_start(start);
    }
    fn on_end(&self, record: &InvocationRecord) {
        (**self).on_end(record);
    }
}

/// What an observer learns when an invocation starts.
#[derive(Debug, Clone)]
pub struct InvocationStart {
    pub(crate) sequence: u64,
    pub(crate) trigger: FaasTrigger,
    pub(crate) cold_start: bool,
    pub(crate) invocation_id: Option<String>,
    pub(crate) span_context: SpanContext,
    pub(crate) started_at: SystemTime,
    pub(crate) init_phase: Option<InitPhase>,
}

impl InvocationStart {
    /// A number unique to this invocation within the engine, the same in
    /// [`InvocationRecord::sequence`]: pairs a start with its end when the platform gives
    /// no invocation id.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
    /// The trigger type (`faas.trigger`).
    pub fn trigger(&self) -> FaasTrigger {
        self.trigger
    }
    /// Whether this is the process's cold invocation (`faas.coldstart`).
    pub fn cold_start(&self) -> bool {
        self.cold_start
    }
    /// The platform's id for the invocation (`faas.invocation_id`).
    pub fn invocation_id(&self) -> Option<&str> {
        self.invocation_id.as_deref()
    }
    /// The invocation span's context: trace and span id, for correlating logs.
    pub fn span_context(&self) -> &SpanContext {
        &self.span_context
    }
    /// When the invocation started.
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }
    /// What the cold invocation waited for — the process's initialisation or its restore
    /// from a snapshot — when the engine knows when it began
    /// ([`EngineBuilder::init_started`](crate::engine::EngineBuilder::init_started),
    /// [`ColdStart::restored`](crate::engine::ColdStart::restored)); `None` for warm
    /// invocations.
    pub fn init_phase(&self) -> Option<InitPhase> {
        self.init_phase
    }

    /// The invocation as the code inside it sees it ([`CurrentInvocation::get`]), for an
    /// observer that creates telemetry for the invocation after it has ended: a span started
    /// in a context holding it follows the invocation's sampling decision (the tail sampler
    /// keeps or drops it with the invocation).
    ///
    /// [`CurrentInvocation::get`]: crate::engine::CurrentInvocation::get
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use otel_faas_core::engine::{CurrentInvocation, InvocationObserver, InvocationStart};
    ///
    /// /// Keeps each invocation, to join telemetry that arrives after it ended.
    /// #[derive(Default)]
    /// struct Remember(Arc<Mutex<Vec<CurrentInvocation>>>);
    ///
    /// impl InvocationObserver for Remember {
    ///     fn on_start(&self, start: &InvocationStart) {
    ///         self.0.lock().unwrap().push(start.current_invocation());
    ///     }
    /// }
    /// ```
    pub fn current_invocation(&self) -> super::CurrentInvocation {
        super::CurrentInvocation::new(
            self.span_context.clone(),
            self.invocation_id.as_deref(),
            self.cold_start,
            self.trigger,
        )
    }
}

/// The phase a cold invocation waited for, and how long it lasted.
///
/// ```
/// use std::time::Duration;
/// use otel_faas_core::engine::{InitPhase, InitPhaseKind};
///
/// let phase = InitPhase::new(InitPhaseKind::Init, Duration::from_millis(120));
/// assert_eq!(phase.kind().span_name(), "init");
/// assert_eq!(phase.duration(), Duration::from_millis(120));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitPhase {
    kind: InitPhaseKind,
    duration: Duration,
}

impl InitPhase {
    /// A phase of `kind` that lasted `duration`.
    pub fn new(kind: InitPhaseKind, duration: Duration) -> Self {
        Self { kind, duration }
    }
    /// Initialisation or restore.
    pub fn kind(&self) -> InitPhaseKind {
        self.kind
    }
    /// From the start of the phase to the start of the cold invocation.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// Which phase a cold invocation waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InitPhaseKind {
    /// A fresh process initialised.
    Init,
    /// A process was restored from a snapshot.
    Restore,
}

impl InitPhaseKind {
    /// The name of the span the engine records for the phase.
    pub fn span_name(self) -> &'static str {
        match self {
            Self::Init => "init",
            Self::Restore => "restore",
        }
    }
}

/// How an invocation ended.
///
/// ```
/// use otel_faas_core::engine::InvocationStatus;
///
/// assert!(InvocationStatus::Succeeded.is_success());
/// assert!(!InvocationStatus::Cancelled.is_success());
/// assert_eq!(InvocationStatus::TimedOut.as_str(), "timed_out");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvocationStatus {
    /// The handler returned a response that reports no failure.
    Succeeded,
    /// The handler returned a response that reports a failure (an HTTP 5xx, failed batch
    /// items).
    Failed,
    /// The handler returned an error.
    Errored,
    /// The handler panicked.
    Panicked,
    /// The deadline came first: the watchdog ended the invocation.
    TimedOut,
    /// The invocation was dropped before it finished (the caller went away, the runtime
    /// cancelled it).
    Cancelled,
}

impl InvocationStatus {
    /// Whether the invocation succeeded.
    pub fn is_success(self) -> bool {
        self == Self::Succeeded
    }

    /// A stable, lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Errored => "errored",
            Self::Panicked => "panicked",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for InvocationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one record of an ended invocation, whichever way it ended: what metrics, logs and
/// platform hooks need.
#[derive(Debug, Clone)]
pub struct InvocationRecord {
    pub(crate) start: InvocationStart,
    pub(crate) status: InvocationStatus,
    pub(crate) error_type: Option<String>,
    pub(crate) duration: Duration,
}

impl InvocationRecord {
    /// Pairs this record with its [`InvocationStart::sequence`].
    pub fn sequence(&self) -> u64 {
        self.start.sequence
    }
    /// The trigger type (`faas.trigger`).
    pub fn trigger(&self) -> FaasTrigger {
        self.start.trigger
    }
    /// Whether this was the process's cold invocation.
    pub fn cold_start(&self) -> bool {
        self.start.cold_start
    }
    /// The platform's id for the invocation.
    pub fn invocation_id(&self) -> Option<&str> {
        self.start.invocation_id.as_deref()
    }
    /// The invocation span's context.
    pub fn span_context(&self) -> &SpanContext {
        &self.start.span_context
    }
    /// When the invocation started.
    pub fn started_at(&self) -> SystemTime {
        self.start.started_at
    }
    /// The phase the cold invocation waited for (see [`InvocationStart::init_phase`]).
    pub fn init_phase(&self) -> Option<InitPhase> {
        self.start.init_phase
    }
    /// How it ended.
    pub fn status(&self) -> InvocationStatus {
        self.status
    }
    /// The `error.type` recorded on the span, if it failed.
    pub fn error_type(&self) -> Option<&str> {
        self.error_type.as_deref()
    }
    /// From the start of the invocation to its end (for a timeout: to the watchdog).
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// The engine's observers, called so that one misbehaving observer cannot fail an
/// invocation or starve the others.
#[derive(Clone, Default)]
pub(crate) struct Observers(pub(crate) Vec<std::sync::Arc<dyn InvocationObserver>>);

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} observer(s)", self.0.len())
    }
}

impl Observers {
    pub(crate) fn start(&self, start: &InvocationStart) {
        for observer in &self.0 {
            guarded("on_start", || observer.on_start(start));
        }
    }

    pub(crate) fn end(&self, record: &InvocationRecord) {
        for observer in &self.0 {
            guarded("on_end", || observer.on_end(record));
        }
    }
}

fn guarded(hook: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        crate::warning::report_once(
            "observer-panic",
            &format!("an InvocationObserver panicked in {hook}; the invocation went on"),
        );
    }
}
