//! Which invocations have finished, for the after-response extension to wait on.
//!
//! Two sources tell when a Lambda request is over:
//!
//! * `lambda_runtime` wraps every invocation in its own `tracing` span
//!   ([`RUNTIME_SPAN_NAME`](super::RUNTIME_SPAN_NAME), with the `requestId`), from before
//!   the event is deserialised until the response or error has been posted to the Runtime
//!   API. [`RuntimeSpanEnds`], a `tracing` layer, records the request id when that span
//!   closes: every invocation, including one whose event the runtime could not deserialise
//!   (it never reaches the engine), and only once Lambda has the response.
//! * Without that layer in the subscriber, the engine's [`InvocationObserver`] hook:
//!   [`CompletionObserver`] records the id when the engine ends the invocation, whichever
//!   way it ends — but it never hears of an event the runtime refused.
//!
//! The extension, woken by Lambda's INVOKE event for an id, waits for it before flushing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use otel_faas_core::InvocationObserver;
use otel_faas_core::engine::InvocationRecord;
use tokio::sync::Notify;

/// Invocations that have finished. Bounded: an id nobody waits for (a flush policy change,
/// an uninstrumented request) does not accumulate.
#[derive(Clone, Default)]
pub(crate) struct Completions {
    finished: Arc<Mutex<VecDeque<String>>>,
    notify: Arc<Notify>,
    /// Set once [`RuntimeSpanEnds`] has seen a runtime span: from then on it, not the
    /// engine, says when a request is over.
    from_runtime_spans: Arc<AtomicBool>,
}

pub(crate) const REMEMBERED_COMPLETIONS: usize = 256;

impl Completions {
    pub(crate) fn finish(&self, request_id: String) {
        {
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            if finished.len() == REMEMBERED_COMPLETIONS {
                finished.pop_front();
            }
            finished.push_back(request_id);
        }
        self.notify.notify_waiters();
    }

    pub(crate) fn take(&self, request_id: &str) -> bool {
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        match finished.iter().position(|id| id == request_id) {
            Some(index) => {
                finished.remove(index);
                true
            }
            None => false,
        }
    }

    /// Waits until `request_id` has finished, or the deadline has passed.
    pub(crate) async fn wait(&self, request_id: &str, deadline: Option<SystemTime>) {
        loop {
            let notified = self.notify.notified();
            if self.take(request_id) {
                return;
            }
            let left = deadline.map(|d| {
                d.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            });
            match left {
                Some(left) if left.is_zero() => return,
                Some(left) => {
                    if tokio::time::timeout(left, notified).await.is_err() {
                        return;
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Marks each ended invocation's request id finished.
pub(crate) struct CompletionObserver(pub(crate) Completions);

impl InvocationObserver for CompletionObserver {
    fn on_end(&self, record: &InvocationRecord) {
        if self.0.from_runtime_spans.load(Ordering::Acquire) {
            return;
        }
        if let Some(id) = record.invocation_id() {
            self.0.finish(id.to_owned());
        }
    }
}

/// The `tracing` layer that records a request as finished when `lambda_runtime`'s span for
/// it closes (see the module documentation). Give it a per-layer filter for that span only
/// ([`RuntimeSpanEnds::filtered`]), so that it costs nothing for other spans and sees the
/// runtime's span at any log level.
pub(crate) struct RuntimeSpanEnds(pub(crate) Completions);

/// The request id of a runtime span, kept in the span's extensions until it closes.
struct RuntimeRequestId(String);

impl RuntimeSpanEnds {
    /// The layer, filtered to the runtime's span.
    pub(crate) fn filtered<S>(completions: Completions) -> impl tracing_subscriber::Layer<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        let runtime_span = tracing_subscriber::filter::filter_fn(|metadata| {
            metadata.is_span() && metadata.name() == super::RUNTIME_SPAN_NAME
        })
        // `lambda_runtime` opens it with `info_span!`; the hint keeps debug and trace
        // callsites from being asked on this layer's behalf.
        .with_max_level_hint(tracing::Level::INFO);
        Self(completions).with_filter(runtime_span)
    }
}

impl<S> tracing_subscriber::Layer<S> for RuntimeSpanEnds
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attributes.metadata().name() != super::RUNTIME_SPAN_NAME {
            return;
        }
        let mut request_id = RequestIdField(None);
        attributes.record(&mut request_id);
        if let (Some(request_id), Some(span)) = (request_id.0, context.span(id)) {
            span.extensions_mut().insert(RuntimeRequestId(request_id));
            self.0.from_runtime_spans.store(true, Ordering::Release);
        }
    }

    fn on_close(&self, id: tracing::span::Id, context: tracing_subscriber::layer::Context<'_, S>) {
        let Some(span) = context.span(&id) else {
            return;
        };
        let request_id = span.extensions_mut().remove::<RuntimeRequestId>();
        if let Some(RuntimeRequestId(request_id)) = request_id {
            self.0.finish(request_id);
        }
    }
}

/// Reads the runtime span's `requestId` field.
struct RequestIdField(Option<String>);

impl tracing::field::Visit for RequestIdField {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "requestId" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "requestId" && self.0.is_none() {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_completion_before_the_wait_is_not_missed() {
        let completions = Completions::default();
        completions.finish("a".into());
        completions.wait("a", None).await;
        assert!(!completions.take("a"), "taken once");
    }

    #[tokio::test]
    async fn a_wait_ends_at_the_deadline_without_a_completion() {
        let completions = Completions::default();
        let deadline = SystemTime::now() + Duration::from_millis(50);
        let started = std::time::Instant::now();
        completions.wait("never", Some(deadline)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn remembered_completions_are_bounded() {
        let completions = Completions::default();
        for i in 0..(REMEMBERED_COMPLETIONS + 10) {
            completions.finish(i.to_string());
        }
        assert!(!completions.take("0"));
        assert!(completions.take(&(REMEMBERED_COMPLETIONS + 9).to_string()));
    }
}
