//! Flushing without blocking the executor.
//!
//! A pipeline's spans are exported by its own export path: the
//! [`Flusher`] sends them on the calling task with async I/O — no thread hop — within the
//! budget. Metrics and log records are exported by the SDK's periodic reader and batch
//! processor on their own threads, whose `force_flush` blocks its caller until they are
//! done; calling it inside `poll` would stall every other task of the executor thread (on
//! a current-thread runtime: every task of the process), so the flusher runs it on tokio's
//! blocking pool, and only when those signals are exported at all. A flusher made from a
//! bare SDK provider ([`Flusher::new`]) flushes it that way too.
//!
//! Concurrent invocations share flushes: a flush that starts after an invocation's span
//! ended covers that invocation too, so 50 invocations ending together cause one or two
//! exports, not 50.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// What a [`Flusher`] exports: a pipeline's providers and export paths (the pipeline
/// implements it), or a bare tracer provider ([`Flusher::new`]). The engine knows only this,
/// so that the pipeline, the composition root, depends on the engine and never the other
/// way. Futures are boxed: the trait is used as an object, and a flush happens once per
/// invocation at most.
pub(crate) trait FlushTarget: std::fmt::Debug + Send + Sync + 'static {
    /// Exports everything recorded so far, within `budget`.
    fn flush(&self, budget: Duration) -> BoxFuture<'_, Result<(), FlushError>>;

    /// After the flush that precedes a snapshot: one more try for what is still held, then
    /// drop and count what is left. `None` when there is nothing of the kind (the result of
    /// the flush then stands).
    fn before_snapshot(&self, budget: Duration) -> Option<BoxFuture<'_, Result<(), FlushError>>>;

    /// Exports what is left and stops, within `budget`.
    fn shutdown(&self, budget: Duration) -> BoxFuture<'_, Result<(), FlushError>>;
}

/// A bare tracer provider, flushed on tokio's blocking pool (its `force_flush` blocks).
#[derive(Debug)]
struct TracerProviderTarget(SdkTracerProvider);

impl FlushTarget for TracerProviderTarget {
    fn flush(&self, budget: Duration) -> BoxFuture<'_, Result<(), FlushError>> {
        let provider = self.0.clone();
        Box::pin(on_blocking_pool(budget, move || {
            provider.force_flush().map_err(|error| error.to_string())
        }))
    }

    fn before_snapshot(&self, _budget: Duration) -> Option<BoxFuture<'_, Result<(), FlushError>>> {
        None
    }

    fn shutdown(&self, budget: Duration) -> BoxFuture<'_, Result<(), FlushError>> {
        let provider = self.0.clone();
        Box::pin(on_blocking_pool(budget, move || {
            provider
                .shutdown_with_timeout(budget)
                .map_err(|error| error.to_string())
        }))
    }
}

/// Runs blocking export work on tokio's blocking pool, waiting at most `budget` for it.
pub(crate) async fn on_blocking_pool(
    budget: Duration,
    work: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(), FlushError> {
    match tokio::time::timeout(budget, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(result)) => result.map_err(FlushError::Export),
        Ok(Err(join)) => Err(FlushError::Export(join.to_string())),
        Err(_) => Err(FlushError::Timeout(budget)),
    }
}

/// When the spans of an invocation are exported.
///
/// ```
/// use std::time::Duration;
/// use otel_faas_core::engine::FlushPolicy;
///
/// // A platform that freezes the instance after the response: export first, within 1 s.
/// let frozen_after_response = FlushPolicy::EndOfInvocation { budget: Duration::from_secs(1) };
/// // A long-lived server: let the export path's thread export on its schedule.
/// let long_lived = FlushPolicy::Background;
/// assert_ne!(frozen_after_response, long_lived);
/// assert_eq!(FlushPolicy::default(), FlushPolicy::end_of_invocation());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushPolicy {
    /// Export before the invocation returns, waiting at most `budget` and never past the
    /// invocation's deadline. For platforms that freeze or reclaim the instance once the
    /// response is sent.
    EndOfInvocation {
        /// The longest an invocation waits for its export.
        budget: Duration,
    },
    /// Leave export to the pipeline's own schedule (`OTEL_BSP_SCHEDULE_DELAY`, the export
    /// path's thread). For long-lived servers that keep
    /// running between requests.
    Background,
}

impl FlushPolicy {
    /// `EndOfInvocation` with a budget of 2 seconds.
    pub const fn end_of_invocation() -> Self {
        Self::EndOfInvocation {
            budget: Duration::from_secs(2),
        }
    }
}

impl Default for FlushPolicy {
    fn default() -> Self {
        Self::end_of_invocation()
    }
}

/// Why a flush did not complete.
///
/// ```
/// use std::time::Duration;
/// use otel_faas_core::engine::FlushError;
///
/// let error = FlushError::Timeout(Duration::from_millis(300));
/// assert!(error.to_string().contains("stay queued"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The budget ran out first; the spans stay queued (or kept for retry) and are exported
    /// by the next flush or the export path's thread.
    #[error("flush did not finish within {0:?}; the spans stay queued for the next export")]
    Timeout(Duration),
    /// The exporter reported an error.
    #[error("telemetry export failed: {0}")]
    Export(String),
    /// The collector failed recently and the export path is waiting before it tries again
    /// (its circuit is open); this many spans are kept and sent once it answers.
    #[error("the collector is unavailable; {0} span(s) are kept and sent once it answers again")]
    Held(usize),
}

/// Flushes a tracer provider from async code without blocking the executor.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use otel_faas_core::engine::Flusher;
///
/// let provider = SdkTracerProvider::builder()
///     .with_batch_exporter(InMemorySpanExporter::default())
///     .build();
/// let flusher = Flusher::new(provider);
/// flusher.flush(Duration::from_secs(1)).await.expect("in-memory export cannot fail");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Flusher {
    state: Arc<FlushState>,
}

#[derive(Debug)]
struct FlushState {
    target: Option<Arc<dyn FlushTarget>>,
    /// Spans ended so far; each ending invocation takes the next number as its ticket.
    ended: AtomicU64,
    /// Every ticket up to this number has been exported.
    flushed: AtomicU64,
    /// One `force_flush` at a time: the SDK refuses a flood of concurrent control messages.
    in_flight: tokio::sync::Mutex<()>,
}

impl Flusher {
    /// A flusher for `provider`.
    pub fn new(provider: SdkTracerProvider) -> Self {
        Self::with_target(Some(Arc::new(TracerProviderTarget(provider))))
    }

    /// A flusher for `target` (a pipeline's providers: one flush, one budget, three
    /// signals).
    pub(crate) fn for_target(target: Arc<dyn FlushTarget>) -> Self {
        Self::with_target(Some(target))
    }

    /// A flusher with nothing to flush, for a disabled pipeline.
    pub fn disabled() -> Self {
        Self::with_target(None)
    }

    fn with_target(target: Option<Arc<dyn FlushTarget>>) -> Self {
        Self {
            state: Arc::new(FlushState {
                target,
                ended: AtomicU64::new(0),
                flushed: AtomicU64::new(0),
                in_flight: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Records that a span has ended and returns the ticket to flush it with.
    pub(crate) fn span_ended(&self) -> u64 {
        self.state.ended.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Exports everything recorded so far — spans, and the metrics and log records of a
    /// pipeline's flusher — waiting at most `budget`.
    pub async fn flush(&self, budget: Duration) -> Result<(), FlushError> {
        // A fresh ticket: spans ended outside the engine (and metrics, and logs) have none,
        // and must still be covered by a flush asked for now.
        let ticket = self.span_ended();
        self.flush_ticket(ticket, budget).await
    }

    /// Exports at least everything up to `ticket`, waiting at most `budget`.
    pub(crate) async fn flush_ticket(
        &self,
        ticket: u64,
        budget: Duration,
    ) -> Result<(), FlushError> {
        let Some(target) = &self.state.target else {
            return Ok(());
        };
        // A zero budget means "do not wait": starting a flush that nobody waits for would
        // still export, which is not what the caller asked for.
        if budget.is_zero() {
            return Err(FlushError::Timeout(budget));
        }
        let state = &self.state;
        let started = tokio::time::Instant::now();
        let work = async move {
            let _turn = state.in_flight.lock().await;
            // What is left of the budget after waiting for an earlier flush.
            let budget = budget.saturating_sub(started.elapsed());
            if state.flushed.load(Ordering::Acquire) >= ticket {
                return Ok(());
            }
            let covers = state.ended.load(Ordering::Acquire);
            target.flush(budget).await?;
            state.flushed.fetch_max(covers, Ordering::AcqRel);
            Ok(())
        };
        // The export paths keep their own time, and put back what a cut leaves unsent.
        tokio::time::timeout(budget, work)
            .await
            .unwrap_or(Err(FlushError::Timeout(budget)))
    }

    /// Before a snapshot of the process is taken (Lambda SnapStart's `before_snapshot`):
    /// flushes within `budget`, tries once more to send the spans the export path still
    /// holds whatever its circuit breaker says, then drops what is left and counts it
    /// (the pipeline's `ExportStats::dropped_snapshot`).
    /// Kept, those spans would be in the snapshot, and every environment restored from it
    /// would send them again: duplicates, as many as restores.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use otel_faas_core::{Pipeline, env::MapEnvironment};
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([
    ///     ("OTEL_TRACES_EXPORTER", "none"),
    ///     ("OTEL_METRICS_EXPORTER", "none"),
    ///     ("OTEL_LOGS_EXPORTER", "none"),
    /// ]))
    /// .install();
    /// telemetry
    ///     .flusher()
    ///     .before_snapshot(Duration::from_secs(2))
    ///     .await
    ///     .expect("nothing to send");
    /// assert_eq!(telemetry.export_stats().dropped_snapshot, 0);
    /// # }
    /// ```
    pub async fn before_snapshot(&self, budget: Duration) -> Result<(), FlushError> {
        let started = tokio::time::Instant::now();
        let flushed = self.flush(budget).await;
        let Some(target) = &self.state.target else {
            return flushed;
        };
        // The last attempt decides for the spans (a flush held by an open circuit may have
        // been followed by a send that went through); a metrics or logs failure of the
        // flush is reported as it happened.
        match target.before_snapshot(budget.saturating_sub(started.elapsed())) {
            Some(last_try) => last_try.await,
            None => flushed,
        }
    }

    /// Shuts the provider down, exporting what is left, without blocking the executor.
    pub async fn shutdown(&self, budget: Duration) -> Result<(), FlushError> {
        match &self.state.target {
            Some(target) => target.shutdown(budget).await,
            None => Ok(()),
        }
    }
}
