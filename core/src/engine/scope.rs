//! The invocation's scope: what code running inside an invocation can reach.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt as _;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry_sdk::trace::SdkTracer;

use super::current::CurrentInvocation;
use super::running::{Ended, Spans};
use crate::propagation::Propagation;
use crate::trigger::{Outcome, SpanSpec};

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
/// use otel_faas_core::{SpanSpec, InvocationEngine, InvocationSpec, Propagation, TriggerAdapter, engine::InvocationScope, trigger::{FaasTrigger, InvocationContext}};
///
/// struct Job;
/// impl TriggerAdapter<(), ()> for Job {
///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
///     }
/// }
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_batch_exporter(exporter.clone()).build();
/// let engine = InvocationEngine::builder(&provider).build();
/// engine.invocation(&Job, ()).run(|_| async {
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
    pub(crate) tracer: SdkTracer,
    pub(crate) propagation: Arc<dyn Propagation>,
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

    /// The span id of the invocation span this code runs in (also from inside spans the
    /// handler started), or `None` outside an invocation. It is the id an
    /// [`InvocationObserver`](crate::InvocationObserver) sees in
    /// [`InvocationStart::span_context`](crate::engine::InvocationStart::span_context), so
    /// per-invocation state an observer keeps (captured log lines, for instance) can be
    /// found from inside the handler without a global keyed by anything else.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use opentelemetry::trace::{TraceContextExt, Tracer};
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, SpanSpec, TriggerAdapter, engine::InvocationScope, trigger::{FaasTrigger, InvocationContext}};
    ///
    /// struct Job;
    /// impl TriggerAdapter<(), ()> for Job {
    ///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
    ///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
    ///     }
    /// }
    ///
    /// let engine = InvocationEngine::builder(&SdkTracerProvider::builder().build()).build();
    /// engine.invocation(&Job, ()).run(|_| async {
    ///     let invocation = InvocationScope::current_invocation_span_id().unwrap();
    ///     let scope = InvocationScope::current().unwrap();
    ///     // Inside a child span, still the invocation's id.
    ///     scope.tracer().in_span("step", |cx| {
    ///         assert_ne!(cx.span().span_context().span_id(), invocation);
    ///         assert_eq!(InvocationScope::current_invocation_span_id(), Some(invocation));
    ///     });
    ///     Ok::<_, std::convert::Infallible>(())
    /// }).await.unwrap();
    /// assert!(InvocationScope::current_invocation_span_id().is_none());
    /// # }
    /// ```
    pub fn current_invocation_span_id() -> Option<opentelemetry::trace::SpanId> {
        Context::map_current(|cx| {
            cx.get::<CurrentInvocation>()
                .map(|marker| marker.span_context().span_id())
        })
    }

    /// Starts `builder` as a child of the current context — with the invocation's tracer
    /// inside an invocation, else with the global tracer named `outside` — and returns the
    /// context holding the span. What every producer helper (a send, a publish, a message
    /// created for an output binding) does first.
    ///
    /// ```
    /// use opentelemetry::trace::{SpanBuilder, TraceContextExt};
    /// use otel_faas_core::engine::InvocationScope;
    ///
    /// // Outside an invocation, without a global provider: a no-op span, never a panic.
    /// let cx = InvocationScope::start_span(SpanBuilder::from_name("send orders"), "my-lib");
    /// cx.span().end();
    /// ```
    pub fn start_span(
        builder: opentelemetry::trace::SpanBuilder,
        outside: &'static str,
    ) -> Context {
        use opentelemetry::trace::TraceContextExt as _;
        let parent = Context::current();
        // Borrowed from the context, not cloned: this runs for every outgoing call.
        match parent.get::<Self>() {
            Some(scope) => {
                let span = builder.start_with_context(&scope.tracer, &parent);
                parent.with_span(span)
            }
            None => parent.with_span(
                builder.start_with_context(&opentelemetry::global::tracer(outside), &parent),
            ),
        }
    }

    /// Writes `cx` into `carrier` with the propagation of the invocation `cx` was made in
    /// (or else of the one running now), outside any invocation with the global propagator.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use opentelemetry::Context;
    /// use otel_faas_core::engine::InvocationScope;
    ///
    /// let mut headers = HashMap::new();
    /// // No span in the context: nothing to write.
    /// InvocationScope::inject(&Context::new(), &mut headers);
    /// assert!(!headers.contains_key("traceparent"));
    /// ```
    pub fn inject(cx: &Context, carrier: &mut dyn crate::propagation::CarrierMut) {
        // A context started inside an invocation carries its scope: no look-up, no clone.
        if let Some(scope) = cx.get::<Self>() {
            return scope.propagation.inject_into(cx, carrier);
        }
        match Self::current() {
            Some(scope) => scope.propagation().inject_into(cx, carrier),
            None => opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.inject_context(cx, &mut crate::propagation::AsInjector(carrier));
            }),
        }
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
    /// use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, SpanSpec, TriggerAdapter, engine::InvocationScope, trigger::{FaasTrigger, InvocationContext}};
    ///
    /// struct Job;
    /// impl TriggerAdapter<(), ()> for Job {
    ///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
    ///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
    ///     }
    /// }
    ///
    /// let exporter = InMemorySpanExporter::default();
    /// let provider = SdkTracerProvider::builder().with_batch_exporter(exporter.clone()).build();
    /// let engine = InvocationEngine::builder(&provider).build();
    /// let _ = engine.invocation(&Job, ()).run(|_| async {
    ///     let scope = InvocationScope::current().unwrap();
    ///     scope.in_span(SpanSpec::new("step", SpanKind::Internal), async {
    ///         Err::<(), _>(std::io::Error::other("disk full"))
    ///     }).await
    /// }).await;
    /// let spans = exporter.get_finished_spans().unwrap();
    /// let step = spans.iter().find(|s| s.name == "step").unwrap();
    /// assert_eq!(step.status, opentelemetry::trace::Status::error("disk full"));
    /// # }
    /// ```
    pub async fn in_span<F, T, E>(&self, span: SpanSpec, future: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: fmt::Display + fmt::Debug + 'static,
    {
        let cx = span.start(&self.tracer, &Context::current());
        let result = AssertUnwindSafe(future.with_context(cx.clone()))
            .catch_unwind()
            .await;
        // A step's failure stays a span event: the log event is the invocation's.
        let spans = Spans {
            invocation: cx,
            inner: None,
            exceptions: super::exception::Exceptions::default(),
        };
        spans.end_with(Ended::from_result(&result, |_| Outcome::success()));
        match result {
            Ok(result) => result,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::trace::{SpanBuilder, TraceContextExt as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;
    use crate::propagation::{Carrier, CarrierMut};
    use crate::trigger::{FaasTrigger, InvocationContext};
    use crate::{InvocationEngine, InvocationSpec, SpanSpec, TriggerAdapter};

    /// A propagation that says which one it is.
    #[derive(Debug)]
    struct Named;

    impl Propagation for Named {
        fn extract_with(&self, cx: &Context, _: &dyn Carrier) -> Context {
            cx.clone()
        }
        fn inject_into(&self, cx: &Context, carrier: &mut dyn CarrierMut) {
            if cx.span().span_context().is_valid() {
                carrier.set("x-named", "the invocation's".to_owned());
            }
        }
        fn fields(&self) -> Vec<String> {
            vec!["x-named".to_owned()]
        }
    }

    struct Job;

    impl TriggerAdapter<(), Context> for Job {
        fn invocation_spec(
            &self,
            _: &(),
            _: &InvocationContext,
            _: &dyn Propagation,
        ) -> InvocationSpec {
            InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
        }
    }

    /// A context started inside an invocation is injected with that invocation's
    /// propagation, also where it is used after the invocation (a task it spawned).
    #[tokio::test]
    async fn a_context_from_an_invocation_injects_with_its_propagation() {
        let provider = SdkTracerProvider::builder().build();
        let engine = InvocationEngine::builder(&provider)
            .propagation(Arc::new(Named))
            .build();
        let started = engine
            .invocation(&Job, ())
            .run(|()| async {
                Ok::<_, std::convert::Infallible>(InvocationScope::start_span(
                    SpanBuilder::from_name("call"),
                    "test",
                ))
            })
            .await
            .unwrap();
        assert!(
            InvocationScope::current().is_none(),
            "outside the invocation now"
        );
        let mut headers = HashMap::new();
        InvocationScope::inject(&started, &mut headers);
        assert_eq!(
            headers.get("x-named").map(String::as_str),
            Some("the invocation's")
        );
    }
}
