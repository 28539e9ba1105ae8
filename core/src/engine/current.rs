//! The invocation the current code runs in, as the code inside it (and log layers) see
//! it. A leaf of the engine: the observers' records and the scope both hand it out.

use std::sync::Arc;

use opentelemetry::Context;

/// The invocation the current code runs in: what a log line needs to be joined to it.
///
/// The engine puts it into the context of the invocation span, so it is there inside the
/// handler and inside every span the handler starts — `tracing` spans too, whose
/// OpenTelemetry context is entered with them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use otel_faas_core::engine::CurrentInvocation;
/// use otel_faas_core::trigger::{FaasTrigger, InvocationContext};
/// use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, SpanSpec, TriggerAdapter};
///
/// struct Job;
/// impl TriggerAdapter<(), ()> for Job {
///     fn invocation_context(&self, _: &()) -> InvocationContext {
///         InvocationContext::new().with_invocation_id("req-1")
///     }
///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
///         InvocationSpec::new(FaasTrigger::Timer, SpanSpec::server("job"))
///     }
/// }
///
/// let engine = InvocationEngine::builder(&SdkTracerProvider::builder().build()).build();
/// engine.invocation(&Job, ()).run(|_| async {
///     let invocation = CurrentInvocation::get().unwrap();
///     assert_eq!(invocation.invocation_id(), Some("req-1"));
///     assert!(invocation.cold_start());
///     assert_eq!(invocation.trigger(), FaasTrigger::Timer);
///     Ok::<_, std::convert::Infallible>(())
/// }).await.unwrap();
/// assert!(CurrentInvocation::get().is_none());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CurrentInvocation {
    span_context: opentelemetry::trace::SpanContext,
    invocation_id: Option<Arc<str>>,
    cold_start: bool,
    trigger: crate::trigger::FaasTrigger,
}

impl CurrentInvocation {
    pub(crate) fn new(
        span_context: opentelemetry::trace::SpanContext,
        invocation_id: Option<&str>,
        cold_start: bool,
        trigger: crate::trigger::FaasTrigger,
    ) -> Self {
        Self {
            span_context,
            invocation_id: invocation_id.map(Arc::from),
            cold_start,
            trigger,
        }
    }

    /// The invocation this code runs in, or `None` outside one.
    pub fn get() -> Option<Self> {
        Context::map_current(|cx| cx.get::<Self>().cloned())
    }

    /// The invocation span's context (its trace id is the invocation's trace id).
    pub fn span_context(&self) -> &opentelemetry::trace::SpanContext {
        &self.span_context
    }

    /// The platform's id for the invocation (`faas.invocation_id`: Lambda's request id).
    pub fn invocation_id(&self) -> Option<&str> {
        self.invocation_id.as_deref()
    }

    /// Whether it is the process's cold invocation.
    pub fn cold_start(&self) -> bool {
        self.cold_start
    }

    /// The trigger type.
    pub fn trigger(&self) -> crate::trigger::FaasTrigger {
        self.trigger
    }
}

/// Runs `f` on the invocation's span when the current span is that span (and not a span
/// the handler started inside it); `None` outside an invocation or inside another span.
pub(crate) fn with_invocation_span<T>(
    f: impl FnOnce(&opentelemetry::trace::SpanRef<'_>) -> T,
) -> Option<T> {
    use opentelemetry::trace::TraceContextExt as _;
    Context::map_current(|cx| {
        let marker = cx.get::<CurrentInvocation>()?;
        let span = cx.span();
        (span.span_context().span_id() == marker.span_context.span_id()).then(|| f(&span))
    })
}
