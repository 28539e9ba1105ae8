//! The spans' export path, built for functions.
//!
//! The SDK's batch processor exports on a thread of its own and its `force_flush` blocks
//! the caller until that thread is done, so flushing at the end of an invocation took two
//! thread hops and back (tokio's blocking pool, then the processor's thread). Here, an
//! ended span goes into a bounded queue (`OTEL_BSP_MAX_QUEUE_SIZE`), and the flush at the
//! end of an invocation encodes and sends it **on the invocation's own task**, with async
//! I/O: no thread hop, and no executor thread ever blocked.
//!
//! When the collector fails, nothing is lost while there is room and nothing waits:
//!
//! - **Retry buffer.** OTLP/HTTP batches the collector did not take (refused, reset,
//!   timed out, or answered 429, 502, 503 or 504) are kept as encoded bytes — bounded by
//!   `OTEL_BSP_MAX_QUEUE_SIZE` spans, the oldest dropped first — and sent with the next
//!   flush. The exporter's own retries are off: a retry inside an invocation is latency
//!   the function pays for.
//! - **Circuit breaker** ([`breaker`]). After a failure, flushes keep their spans without
//!   a network call (microseconds) until a back-off has passed — the collector's
//!   `Retry-After` when it sent one — and one probe, sent from the exporter thread, never
//!   from an invocation, decides when to send again. A hanging collector costs one
//!   invocation its flush budget; the next ones nothing.
//! - **Bounded threads** ([`worker`]). One exporter thread per path, whatever the
//!   collector does; it exports full batches during long invocations, on the schedule for
//!   long-lived servers (`OTEL_BSP_SCHEDULE_DELAY`), the probes, and the SDK's synchronous
//!   `force_flush` and `shutdown`.
//! - **Every drop counted** ([`drops`]): per reason, in
//!   [`ExportStats`](crate::pipeline::ExportStats), as the self-metric
//!   `otel.sdk.processor.span.processed` with `error.type`, and on standard error at most
//!   once a minute.
//!
//! Exporters other than OTLP/HTTP (console, gRPC, and exporters given in code) go through
//! the same queue, breaker, thread and counters, and are called on the invocation's task
//! too; as the SDK's exporters take their spans by value, a batch they fail is dropped and
//! counted, not kept.
//!
//! A batch cut by the flush budget is kept and sent again, so a collector that took it
//! before the cut receives it twice: delivery is at least once.
//!
//! A flush that succeeds has delivered every span ended before it: when the exporter
//! thread (or another task) has a request in flight — a full batch taken during a long
//! invocation, the backlog after the circuit closed — the flush waits for it within its
//! budget, and sends again what that request failed to deliver, before it returns. On
//! Lambda the instance may be frozen once the response is sent; a request left in flight
//! then would reach the collector only when the instance is thawed, if ever.

mod breaker;
mod drops;
mod otlp_http;
mod worker;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _, SpanProcessor};

pub use drops::ExportStats;
pub(crate) use drops::{DropReason, SpanCounters, register_self_metric};
pub(crate) use otlp_http::OtlpHttp;

use self::breaker::{Admit, Breaker};
use self::otlp_http::Encoded;
use self::worker::{Command, Worker};
use super::config::Signal;
use super::custom::BoxedSpanExporter;
use super::export::ExportHealth;
use crate::engine::FlushError;

/// Where spans are sent.
#[derive(Debug)]
pub(crate) enum Transport {
    /// OTLP/HTTP, encoded here: failed batches are kept and sent again.
    OtlpHttp(OtlpHttp),
    /// Any SDK exporter: failed batches are dropped and counted.
    Exporter(tokio::sync::RwLock<BoxedSpanExporter>),
}

/// The path's settings, from `OTEL_BSP_*`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Most spans queued, and most spans held for retry.
    pub(crate) queue_limit: usize,
    /// Most spans per request; a queue this long wakes the exporter thread.
    pub(crate) batch_size: usize,
    /// How often the exporter thread exports on its own.
    pub(crate) schedule_delay: Duration,
    /// The longest one export from the exporter thread takes (`OTEL_BSP_EXPORT_TIMEOUT`);
    /// each request within it is also bounded by the exporter's own timeout.
    pub(crate) timeout: Duration,
}

/// Spans waiting to be sent: encoded OTLP bodies, or spans for an SDK exporter.
#[derive(Debug)]
enum Held {
    Encoded(Encoded),
    Spans(Vec<SpanData>),
}

impl Held {
    fn spans(&self) -> usize {
        match self {
            Self::Encoded(encoded) => encoded.spans,
            Self::Spans(spans) => spans.len(),
        }
    }
}

/// The retry buffer (and the batches encoded but not yet sent), oldest first.
#[derive(Debug, Default)]
struct Pending {
    items: VecDeque<Held>,
    spans: usize,
}

impl Pending {
    fn push_back(&mut self, held: Held) {
        self.spans += held.spans();
        self.items.push_back(held);
    }

    /// Puts a batch that was not sent back in front: it is older than what came since.
    fn put_back(&mut self, batch: Vec<Held>) {
        for held in batch.into_iter().rev() {
            self.spans += held.spans();
            self.items.push_front(held);
        }
    }

    /// Drops the oldest batches until at most `limit` spans are held; returns how many
    /// spans were dropped.
    fn trim(&mut self, limit: usize) -> usize {
        let mut dropped = 0;
        while self.spans > limit {
            let Some(oldest) = self.items.pop_front() else {
                break;
            };
            self.spans -= oldest.spans();
            dropped += oldest.spans();
        }
        dropped
    }

    /// The next request: bodies that join, up to `batch_size` spans (at least one body),
    /// or one batch of spans.
    fn next_request(&mut self, batch_size: usize, joins: bool) -> Option<Vec<Held>> {
        let first = self.items.pop_front()?;
        let mut spans = first.spans();
        let mut request = vec![first];
        if joins {
            while let Some(Held::Encoded(next)) = self.items.front() {
                if spans + next.spans > batch_size {
                    break;
                }
                spans += next.spans;
                request.extend(self.items.pop_front());
            }
        }
        self.spans -= spans;
        Some(request)
    }
}

/// Who is exporting: an invocation's flush may not probe; the exporter thread may; a
/// shutdown sends whatever the circuit says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    Task,
    ExporterThread,
    Shutdown,
}

/// The state of one export path, shared by its processor, its handle and its thread.
#[derive(Debug)]
pub(crate) struct Shared {
    queue: Mutex<Vec<SpanData>>,
    pending: Mutex<Pending>,
    breaker: Mutex<Breaker>,
    transport: Transport,
    settings: Settings,
    counters: Arc<SpanCounters>,
    health: Arc<ExportHealth>,
    /// For failure messages: without user information or query.
    endpoint: String,
    worker: OnceLock<Worker>,
    this: std::sync::Weak<Shared>,
    shut_down: AtomicBool,
    /// The budget of the last invocation's flush, in nanoseconds: a send from the exporter
    /// thread that takes this long leaves the circuit slow (see [`breaker`]).
    slow_after: AtomicU64,
    /// Requests taken from the retry buffer and not yet settled (sent, kept or dropped).
    in_flight: AtomicUsize,
    /// Told when `in_flight` falls to zero.
    settled: tokio::sync::Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The exporter thread, started on first use; `None` if no thread can be started
    /// (then invocations' flushes still export). Two first uses at once may both start
    /// one: the thread not kept sees its channel closed and ends at once.
    fn worker(&self) -> Option<&Worker> {
        if let Some(worker) = self.worker.get() {
            return Some(worker);
        }
        match Worker::start(
            self.this.clone(),
            self.settings.schedule_delay,
            self.settings.timeout,
        ) {
            Ok(worker) => Some(self.worker.get_or_init(|| worker)),
            Err(error) => {
                crate::warning::report_once(
                    "otel-faas-exporter-thread",
                    &format!("the exporter thread could not start ({error})"),
                );
                None
            }
        }
    }

    fn queue(&self, span: SpanData) {
        if self.shut_down.load(Ordering::Acquire) {
            self.counters.dropped(DropReason::Shutdown, 1);
            return;
        }
        let queued = {
            let mut queue = lock(&self.queue);
            if queue.len() >= self.settings.queue_limit {
                None
            } else {
                queue.push(span);
                Some(queue.len())
            }
        };
        match queued {
            None => self.counters.dropped(DropReason::QueueFull, 1),
            // The first span starts the thread (for the schedule); a full batch wakes it.
            Some(1) => {
                self.worker();
            }
            Some(length) if length == self.settings.batch_size => {
                if let Some(worker) = self.worker() {
                    worker.wake();
                }
            }
            Some(_) => {}
        }
    }

    /// Moves the queued spans into the pending batches, encoded for OTLP/HTTP.
    fn collect(&self) {
        let spans = std::mem::take(&mut *lock(&self.queue));
        if spans.is_empty() {
            return;
        }
        let batch_size = self.settings.batch_size.max(1);
        let mut chunks = Vec::new();
        let mut rest = spans;
        while rest.len() > batch_size {
            let tail = rest.split_off(batch_size);
            chunks.push(std::mem::replace(&mut rest, tail));
        }
        chunks.push(rest);
        let mut held = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            match &self.transport {
                Transport::OtlpHttp(otlp) => {
                    let count = chunk.len();
                    match otlp.encode(chunk) {
                        Ok(encoded) => held.push(Held::Encoded(encoded)),
                        Err(error) => {
                            self.failed(&error);
                            self.counters.dropped(DropReason::Rejected, count);
                        }
                    }
                }
                Transport::Exporter(_) => held.push(Held::Spans(chunk)),
            }
        }
        let dropped = {
            let mut pending = lock(&self.pending);
            for item in held {
                pending.push_back(item);
            }
            pending.trim(self.settings.queue_limit)
        };
        self.counters.dropped(DropReason::RetryBufferFull, dropped);
    }

    fn succeeded(&self, took: Duration) {
        let slow_after = Duration::from_nanos(self.slow_after.load(Ordering::Relaxed));
        lock(&self.breaker).succeeded(took, slow_after);
    }

    fn failed(&self, error: &dyn std::fmt::Display) {
        self.health.failed(Signal::Traces, &self.endpoint, error);
    }

    /// Spans held for a later send.
    fn held(&self) -> usize {
        lock(&self.pending).spans
    }

    /// Exports what is queued and held, within `limit`. A flush (not the exporter thread)
    /// also waits for the requests in flight elsewhere, and sends again what they did not
    /// deliver (see the module documentation).
    pub(crate) async fn export(&self, caller: Caller, limit: Duration) -> Result<(), FlushError> {
        use opentelemetry::context::FutureExt as _;
        // Telemetry is suppressed for the export, as the SDK's processors do: an exporter of
        // the user's that sends with an instrumented client (`http::client`) records no
        // span of its own export and injects nothing — on the invocation's task too, where
        // the current context is the invocation's.
        let suppressed = opentelemetry::Context::current().with_telemetry_suppressed();
        self.export_suppressed(caller, limit)
            .with_context(suppressed)
            .await
    }

    async fn export_suppressed(&self, caller: Caller, limit: Duration) -> Result<(), FlushError> {
        let deadline = tokio::time::Instant::now() + limit;
        self.collect();
        let result = loop {
            let result = self.send_held(caller, deadline, limit).await;
            if caller == Caller::ExporterThread || result.is_err() {
                break result;
            }
            match self.settle(deadline).await {
                // Nothing was in flight: everything ended before this flush is delivered.
                Settled::Idle => break result,
                // What a request in flight failed to deliver is back in the buffer.
                Settled::Waited => {}
                Settled::OutOfTime => break Err(FlushError::Timeout(limit)),
            }
        };
        self.counters.report_if_due(Instant::now(), false);
        result
    }

    /// Waits until no request is in flight, or `deadline`.
    async fn settle(&self, deadline: tokio::time::Instant) -> Settled {
        let mut waited = false;
        loop {
            let settled = self.settled.notified();
            let mut settled = std::pin::pin!(settled);
            // Registered before the count is read, so that a fall to zero in between is
            // not missed.
            settled.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return if waited {
                    Settled::Waited
                } else {
                    Settled::Idle
                };
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return Settled::OutOfTime;
            }
            waited = true;
        }
    }

    /// Sends what is held, request by request, as the circuit allows.
    async fn send_held(
        &self,
        caller: Caller,
        deadline: tokio::time::Instant,
        limit: Duration,
    ) -> Result<(), FlushError> {
        let joins = match &self.transport {
            Transport::OtlpHttp(otlp) => otlp.joins_bodies(),
            Transport::Exporter(_) => false,
        };
        loop {
            if lock(&self.pending).spans == 0 {
                break Ok(());
            }
            let admit = {
                let mut breaker = lock(&self.breaker);
                match caller {
                    Caller::Task => breaker.admit(Instant::now()),
                    Caller::ExporterThread => breaker.admit_probe(Instant::now()),
                    Caller::Shutdown => Admit::Send,
                }
            };
            // Held means kept for later; when the exporter thread took the last spans since
            // the check above, nothing is kept and the next turn ends the loop.
            match admit {
                Admit::Send => {}
                Admit::Hold => match self.held() {
                    0 => continue,
                    held => break Err(FlushError::Held(held)),
                },
                Admit::ProbeDue => {
                    if let Some(worker) = self.worker() {
                        worker.wake();
                    }
                    match self.held() {
                        0 => continue,
                        held => break Err(FlushError::Held(held)),
                    }
                }
            }
            // Counted in flight under the buffer's lock: a flush that finds the buffer
            // empty finds this request counted.
            let (request, in_flight) = {
                let mut pending = lock(&self.pending);
                let Some(request) = pending.next_request(self.settings.batch_size.max(1), joins)
                else {
                    break Ok(());
                };
                (request, InFlight::new(self))
            };
            if let Err(error) = self.send(request, in_flight, deadline, limit).await {
                break Err(error);
            }
        }
    }

    /// Sends one request; on failure, keeps or drops it and opens the circuit. The request
    /// stops counting as in flight once it is settled: `in_flight` is bound first, so it is
    /// dropped after the guard that puts the request back.
    async fn send(
        &self,
        request: Vec<Held>,
        in_flight: InFlight<'_>,
        deadline: tokio::time::Instant,
        limit: Duration,
    ) -> Result<(), FlushError> {
        let _in_flight = in_flight;
        let spans: usize = request.iter().map(Held::spans).sum();
        match &self.transport {
            Transport::OtlpHttp(otlp) => {
                let bodies: Vec<Encoded> = request
                    .into_iter()
                    .filter_map(|held| match held {
                        Held::Encoded(encoded) => Some(encoded),
                        Held::Spans(_) => None,
                    })
                    .collect();
                // If this future is dropped mid-send (the caller's own budget), the bodies
                // go back to the buffer: nothing is lost to a cancellation.
                let mut guard = PutBack {
                    shared: self,
                    bodies: Some(bodies),
                };
                let sending = guard.bodies.as_deref().unwrap_or_default();
                let started = Instant::now();
                let outcome = tokio::time::timeout_at(
                    deadline,
                    otlp.send(sending, super::client::on_exporter_thread()),
                )
                .await;
                match outcome {
                    Ok(Ok(accepted)) => {
                        guard.bodies = None;
                        self.succeeded(started.elapsed());
                        // The collector's count, never more than it was sent.
                        let rejected = accepted.rejected.min(spans);
                        self.counters.exported(spans - rejected);
                        self.counters.dropped(DropReason::Rejected, rejected);
                        Ok(())
                    }
                    Ok(Err(error)) if error.retryable => {
                        // Kept by the guard when it drops.
                        lock(&self.breaker).failed(Instant::now(), error.retry_after);
                        self.failed(&error.message);
                        Err(FlushError::Export(error.message))
                    }
                    Ok(Err(error)) => {
                        guard.bodies = None;
                        lock(&self.breaker).failed(Instant::now(), error.retry_after);
                        self.counters.dropped(DropReason::Rejected, spans);
                        self.failed(&error.message);
                        Err(FlushError::Export(error.message))
                    }
                    Err(_elapsed) => {
                        // Not an export failure: the bodies are kept (put back now, so
                        // that the exporter thread woken by `cut` finds them).
                        drop(guard);
                        Err(self.cut(limit))
                    }
                }
            }
            Transport::Exporter(exporter) => {
                let batch: Vec<SpanData> = request
                    .into_iter()
                    .flat_map(|held| match held {
                        Held::Spans(spans) => spans,
                        Held::Encoded(_) => Vec::new(),
                    })
                    .collect();
                // The exporter owns the spans from here: a cut or a failure loses them, and
                // the guard counts them.
                let mut guard = CountLost {
                    counters: &self.counters,
                    spans: Some(spans),
                };
                let exporter = exporter.read().await;
                let started = Instant::now();
                let outcome = tokio::time::timeout_at(deadline, exporter.export(batch)).await;
                match outcome {
                    Ok(Ok(())) => {
                        guard.spans = None;
                        self.succeeded(started.elapsed());
                        self.counters.exported(spans);
                        Ok(())
                    }
                    Ok(Err(error)) => {
                        lock(&self.breaker).failed(Instant::now(), None);
                        Err(FlushError::Export(error.to_string()))
                    }
                    Err(_elapsed) => Err(self.cut(limit)),
                }
            }
        }
    }

    /// A send cut by its caller's budget `limit`. A long budget that ran out means the
    /// collector hangs: the circuit opens, so that the next invocations do not wait for it
    /// too. A short one (the last milliseconds before an invocation's deadline, on a loaded
    /// machine) tells nothing of the collector: the circuit stays as it is and the exporter
    /// thread, whose send has the exporter's own timeout, sends what was kept and decides.
    fn cut(&self, limit: Duration) -> FlushError {
        if limit >= breaker::SHORTEST_TELLING_CUT {
            lock(&self.breaker).failed(Instant::now(), None);
        } else if let Some(worker) = self.worker() {
            worker.wake();
        }
        FlushError::Timeout(limit)
    }

    /// Exports within `budget` whatever the circuit says, then counts what is left as
    /// dropped and writes the last drop line.
    pub(crate) async fn shut_down(&self, budget: Duration) {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.export(Caller::Shutdown, budget).await;
        self.discard_unsent(DropReason::Shutdown);
        self.counters.report_if_due(Instant::now(), true);
    }

    /// Drops what is queued and held, counted for `reason`.
    fn discard_unsent(&self, reason: DropReason) {
        let left = {
            let mut pending = lock(&self.pending);
            pending.items.clear();
            std::mem::take(&mut pending.spans)
        } + std::mem::take(&mut *lock(&self.queue)).len();
        self.counters.dropped(reason, left);
    }
}

/// What waiting for the requests in flight came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// None was in flight.
    Idle,
    /// Some were, and have settled.
    Waited,
    /// The deadline came first.
    OutOfTime,
}

/// One request in flight, until dropped.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.settled.notify_waiters();
        }
    }
}

/// Puts unsent bodies back in the retry buffer when dropped armed.
struct PutBack<'a> {
    shared: &'a Shared,
    bodies: Option<Vec<Encoded>>,
}

impl Drop for PutBack<'_> {
    fn drop(&mut self) {
        let Some(bodies) = self.bodies.take() else {
            return;
        };
        let dropped = {
            let mut pending = lock(&self.shared.pending);
            pending.put_back(bodies.into_iter().map(Held::Encoded).collect());
            pending.trim(self.shared.settings.queue_limit)
        };
        self.shared
            .counters
            .dropped(DropReason::RetryBufferFull, dropped);
    }
}

/// Counts spans handed to an exporter as dropped unless disarmed.
struct CountLost<'a> {
    counters: &'a SpanCounters,
    spans: Option<usize>,
}

impl Drop for CountLost<'_> {
    fn drop(&mut self) {
        if let Some(spans) = self.spans.take() {
            self.counters.dropped(DropReason::ExportFailed, spans);
        }
    }
}

/// The SDK's side of an export path.
#[derive(Debug)]
pub(crate) struct DirectSpanProcessor {
    shared: Arc<Shared>,
}

/// The flusher's side of an export path.
#[derive(Debug, Clone)]
pub(crate) struct DirectHandle {
    shared: Arc<Shared>,
}

impl DirectSpanProcessor {
    pub(crate) fn new(
        transport: Transport,
        settings: Settings,
        health: Arc<ExportHealth>,
        endpoint: String,
        counters: Arc<SpanCounters>,
    ) -> Self {
        let shared = Arc::new_cyclic(|this| Shared {
            queue: Mutex::new(Vec::new()),
            pending: Mutex::new(Pending::default()),
            breaker: Mutex::new(Breaker::default()),
            transport,
            settings,
            counters,
            health,
            endpoint,
            worker: OnceLock::new(),
            this: this.clone(),
            shut_down: AtomicBool::new(false),
            slow_after: AtomicU64::new(u64::MAX),
            in_flight: AtomicUsize::new(0),
            settled: tokio::sync::Notify::new(),
        });
        Self { shared }
    }

    pub(crate) fn handle(&self) -> DirectHandle {
        DirectHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs a command on the exporter thread and waits for its answer: the SDK's
    /// synchronous API. Never called by otel-faas itself on a task.
    fn on_thread<T>(
        &self,
        timeout: Duration,
        command: impl FnOnce(std::sync::mpsc::SyncSender<T>) -> Command,
    ) -> Option<T> {
        let worker = self.shared.worker()?;
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if !worker.send(command(reply)) {
            return None;
        }
        answer.recv_timeout(timeout).ok()
    }
}

impl SpanProcessor for DirectSpanProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        self.shared.queue(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        if self.shared.shut_down.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        // A little more than the thread's own timeout, so that its answer arrives.
        let wait = self.shared.settings.timeout + Duration::from_millis(100);
        match self.on_thread(wait, Command::Flush) {
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err(OTelSdkError::InternalFailure(error.to_string())),
            None => Err(OTelSdkError::Timeout(wait)),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if self.shared.shut_down.load(Ordering::Acquire) {
            return Ok(());
        }
        self.on_thread(timeout + Duration::from_millis(100), |reply| {
            Command::Shutdown(timeout, reply)
        })
        .ok_or(OTelSdkError::Timeout(timeout))
    }

    fn set_resource(&mut self, resource: &Resource) {
        match &self.shared.transport {
            Transport::OtlpHttp(otlp) => otlp.set_resource(resource),
            Transport::Exporter(exporter) => {
                // At build time nothing else holds the lock.
                if let Ok(mut exporter) = exporter.try_write() {
                    exporter.set_resource(resource);
                }
            }
        }
    }
}

impl DirectHandle {
    /// Exports on the calling task within `budget`: an invocation's flush.
    pub(crate) async fn flush(&self, budget: Duration) -> Result<(), FlushError> {
        let nanos = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
        self.shared.slow_after.store(nanos, Ordering::Relaxed);
        self.shared.export(Caller::Task, budget).await
    }

    /// Before a snapshot of the process: one last send of everything, whatever the
    /// circuit, within `budget`; what is still unsent is then dropped and counted
    /// (`snapshot`), as every environment restored from the snapshot would send it again.
    pub(crate) async fn before_snapshot(&self, budget: Duration) -> Result<(), FlushError> {
        let result = self.shared.export(Caller::Shutdown, budget).await;
        self.shared.discard_unsent(DropReason::Snapshot);
        result
    }

    /// Exports what is left within `budget` and stops the exporter thread.
    pub(crate) async fn shutdown(&self, budget: Duration) {
        self.shared.shut_down(budget).await;
        if let Some(worker) = self.shared.worker.get() {
            worker.send(Command::Stop);
        }
    }

    /// Spans held for a later send.
    pub(crate) fn held(&self) -> usize {
        self.shared.held()
    }
}

#[cfg(test)]
pub(crate) fn test_span(name: &'static str) -> SpanData {
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
    SpanData {
        span_context: SpanContext::empty_context(),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: name.into(),
        start_time: std::time::SystemTime::UNIX_EPOCH,
        end_time: std::time::SystemTime::UNIX_EPOCH,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: Status::Unset,
        instrumentation_scope: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    /// An SDK exporter that fails while told to, else hands spans to an in-memory one.
    #[derive(Debug, Clone)]
    struct Switchable {
        failing: Arc<AtomicBool>,
        inner: InMemorySpanExporter,
    }

    impl opentelemetry_sdk::trace::SpanExporter for Switchable {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            if self.failing.load(Ordering::SeqCst) {
                Err(OTelSdkError::InternalFailure("down".into()))
            } else {
                self.inner.export(batch).await
            }
        }
    }

    fn path(exporter: Switchable, queue_limit: usize) -> (DirectSpanProcessor, Arc<SpanCounters>) {
        path_with(
            exporter,
            Settings {
                queue_limit,
                batch_size: 512,
                schedule_delay: Duration::from_secs(3600),
                timeout: Duration::from_secs(1),
            },
        )
    }

    fn path_with(
        exporter: Switchable,
        settings: Settings,
    ) -> (DirectSpanProcessor, Arc<SpanCounters>) {
        let counters = Arc::new(SpanCounters::default());
        let processor = DirectSpanProcessor::new(
            Transport::Exporter(tokio::sync::RwLock::new(BoxedSpanExporter::new(exporter))),
            settings,
            Arc::new(ExportHealth::default()),
            "http://collector".to_owned(),
            Arc::clone(&counters),
        );
        (processor, counters)
    }

    impl Switchable {
        /// The names of the spans exported, in order.
        fn names(&self) -> Vec<String> {
            self.inner
                .get_finished_spans()
                .expect("spans")
                .iter()
                .map(|s| s.name.to_string())
                .collect()
        }
    }

    fn switchable() -> Switchable {
        Switchable {
            failing: Arc::new(AtomicBool::new(false)),
            inner: InMemorySpanExporter::default(),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_drops_and_counts_each_span() {
        let exporter = switchable();
        let (processor, counters) = path(exporter.clone(), 3);
        for _ in 0..5 {
            processor.on_end(test_span("s"));
        }
        assert_eq!(counters.dropped_total(DropReason::QueueFull), 2);
        processor
            .handle()
            .flush(Duration::from_secs(1))
            .await
            .expect("flushed");
        assert_eq!(exporter.inner.get_finished_spans().expect("spans").len(), 3);
        assert_eq!(counters.exported_total(), 3);
    }

    /// A path whose exporter failed one flush (of a span named `lost`), and is healthy
    /// again; and that flush's result.
    async fn after_a_failed_export() -> (
        Switchable,
        DirectSpanProcessor,
        Arc<SpanCounters>,
        Result<(), FlushError>,
    ) {
        let exporter = switchable();
        let (processor, counters) = path(exporter.clone(), 100);
        exporter.failing.store(true, Ordering::SeqCst);
        processor.on_end(test_span("lost"));
        let failed = processor.handle().flush(Duration::from_secs(1)).await;
        exporter.failing.store(false, Ordering::SeqCst);
        (exporter, processor, counters, failed)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failing_exporter_loses_only_the_batch_it_had_and_the_circuit_holds_the_rest() {
        let (exporter, processor, counters, failed) = after_a_failed_export().await;
        let handle = processor.handle();
        assert!(matches!(failed, Err(FlushError::Export(_))), "{failed:?}");
        // The SDK exporter took the spans by value: lost, and counted.
        assert_eq!(counters.dropped_total(DropReason::ExportFailed), 1);
        // The circuit is open: the next flush keeps its spans without calling the exporter.
        processor.on_end(test_span("held"));
        let held = handle.flush(Duration::from_secs(1)).await;
        assert!(matches!(held, Err(FlushError::Held(1))), "{held:?}");
        assert!(
            exporter
                .inner
                .get_finished_spans()
                .expect("spans")
                .is_empty()
        );
        assert_eq!(handle.held(), 1);
        // Once the back-off has passed, the exporter thread's probe sends them.
        tokio::time::sleep(breaker::FIRST_BACK_OFF).await;
        let _ = handle.flush(Duration::from_secs(1)).await;
        let started = Instant::now();
        // Counted once the probe's outcome is recorded (the exporter holds the spans a
        // moment before): only then is the circuit closed.
        while counters.exported_total() == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the probe sends them"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(exporter.names(), ["held"]);
        // Closed again: the invocation sends on its own task.
        processor.on_end(test_span("direct"));
        handle.flush(Duration::from_secs(1)).await.expect("closed");
        assert_eq!(exporter.inner.get_finished_spans().expect("spans").len(), 2);
        assert_eq!(counters.exported_total(), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn before_a_snapshot_held_spans_are_sent_whatever_the_circuit() {
        // The circuit is open for a second; the collector is back meanwhile.
        let (exporter, processor, counters, _) = after_a_failed_export().await;
        let handle = processor.handle();
        processor.on_end(test_span("init"));
        let held = handle.flush(Duration::from_secs(1)).await;
        assert!(matches!(held, Err(FlushError::Held(1))), "{held:?}");
        handle
            .before_snapshot(Duration::from_secs(1))
            .await
            .expect("sent before the back-off has passed");
        assert_eq!(exporter.names(), ["init"]);
        assert_eq!(counters.dropped_total(DropReason::Snapshot), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn before_a_snapshot_what_cannot_be_sent_is_dropped_and_counted() {
        // A port nobody listens on: refused, so the spans are kept for a retry.
        let refused = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let counters = Arc::new(SpanCounters::default());
        let processor = DirectSpanProcessor::new(
            Transport::OtlpHttp(otlp_http::tests::transport_to(format!(
                "http://{refused}/v1/traces"
            ))),
            Settings {
                queue_limit: 100,
                batch_size: 512,
                schedule_delay: Duration::from_secs(3600),
                timeout: Duration::from_secs(1),
            },
            Arc::new(ExportHealth::default()),
            "http://collector".to_owned(),
            Arc::clone(&counters),
        );
        let handle = processor.handle();
        processor.on_end(test_span("init"));
        let failed = handle.flush(Duration::from_secs(1)).await;
        assert!(matches!(failed, Err(FlushError::Export(_))), "{failed:?}");
        assert_eq!(handle.held(), 1, "kept for a retry");
        let last = handle.before_snapshot(Duration::from_secs(1)).await;
        assert!(last.is_err(), "{last:?}");
        // Not in the snapshot: every restored environment would send it again.
        assert_eq!(handle.held(), 0);
        assert_eq!(counters.dropped_total(DropReason::Snapshot), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn shutdown_sends_what_is_left_and_counts_what_it_could_not() {
        let exporter = switchable();
        let (processor, counters) = path(exporter.clone(), 100);
        processor.on_end(test_span("left"));
        processor.handle().shutdown(Duration::from_secs(1)).await;
        assert_eq!(exporter.inner.get_finished_spans().expect("spans").len(), 1);
        // After shutdown, spans are counted as dropped, not queued.
        processor.on_end(test_span("late"));
        assert_eq!(counters.dropped_total(DropReason::Shutdown), 1);
        assert!(
            processor
                .shutdown_with_timeout(Duration::from_secs(1))
                .is_ok()
        );
    }

    #[test]
    fn a_full_batch_is_exported_by_the_thread_while_the_invocation_goes_on() {
        let exporter = switchable();
        // A queue of 100, batches of 10, no schedule to speak of: only full batches can
        // make room while 300 spans end without a flush.
        let (processor, counters) = path_with(
            exporter.clone(),
            Settings {
                queue_limit: 100,
                batch_size: 10,
                schedule_delay: Duration::from_secs(3600),
                timeout: Duration::from_secs(1),
            },
        );
        for index in 0..300 {
            processor.on_end(test_span("long"));
            if index % 10 == 9 {
                // The invocation's own work between spans.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let started = Instant::now();
        while counters.exported_total() < 300 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "exported {} of 300, dropped {}",
                counters.exported_total(),
                counters.dropped_total(DropReason::QueueFull)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(counters.dropped_total(DropReason::QueueFull), 0);
        assert_eq!(
            exporter.inner.get_finished_spans().expect("spans").len(),
            300
        );
    }

    /// An exporter that takes two seconds.
    #[derive(Debug)]
    struct Sluggish;

    impl opentelemetry_sdk::trace::SpanExporter for Sluggish {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(())
        }
    }

    /// An exporter that takes the given time, then hands spans to an in-memory one.
    #[derive(Debug, Clone)]
    struct Delayed(Duration, InMemorySpanExporter);

    impl opentelemetry_sdk::trace::SpanExporter for Delayed {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            tokio::time::sleep(self.0).await;
            self.1.export(batch).await
        }
    }

    fn delayed_path(delay: Duration) -> (DirectSpanProcessor, InMemorySpanExporter) {
        delayed_path_with(delay, 512)
    }

    fn delayed_path_with(
        delay: Duration,
        batch_size: usize,
    ) -> (DirectSpanProcessor, InMemorySpanExporter) {
        let received = InMemorySpanExporter::default();
        let processor = DirectSpanProcessor::new(
            Transport::Exporter(tokio::sync::RwLock::new(BoxedSpanExporter::new(Delayed(
                delay,
                received.clone(),
            )))),
            Settings {
                queue_limit: 100,
                batch_size,
                schedule_delay: Duration::from_secs(3600),
                timeout: Duration::from_secs(5),
            },
            Arc::new(ExportHealth::default()),
            "http://collector".to_owned(),
            Arc::new(SpanCounters::default()),
        );
        (processor, received)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_flush_returns_once_the_batch_in_flight_on_the_exporter_thread_is_delivered() {
        // Batches of 10, each taking 300 ms to export: ten spans make the exporter thread
        // take a batch while the invocation goes on.
        let (processor, received) = delayed_path_with(Duration::from_millis(300), 10);
        let handle = processor.handle();
        for _ in 0..10 {
            processor.on_end(test_span("long"));
        }
        let started = Instant::now();
        while handle.shared.in_flight.load(Ordering::Acquire) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the thread takes the full batch"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The invocation ends: its flush has nothing left to send itself, but its spans
        // are not delivered until the thread's request is.
        handle
            .flush(Duration::from_secs(2))
            .await
            .expect("delivered");
        assert_eq!(received.get_finished_spans().expect("spans").len(), 10);
        // A budget shorter than the request in flight is cut, and says so.
        for _ in 0..10 {
            processor.on_end(test_span("long"));
        }
        while handle.shared.in_flight.load(Ordering::Acquire) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let cut = handle.flush(Duration::from_millis(20)).await;
        assert!(matches!(cut, Err(FlushError::Timeout(_))), "{cut:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_send_cut_by_a_short_budget_leaves_the_circuit_closed() {
        let (processor, received) = delayed_path(Duration::from_millis(50));
        let handle = processor.handle();
        processor.on_end(test_span("cut"));
        let cut = handle.flush(Duration::from_millis(5)).await;
        assert!(matches!(cut, Err(FlushError::Timeout(_))), "{cut:?}");
        // The next invocation's flush sends: it is not held for a second.
        processor.on_end(test_span("next"));
        handle
            .flush(Duration::from_secs(1))
            .await
            .expect("the circuit is still closed");
        assert!(
            received
                .get_finished_spans()
                .expect("spans")
                .iter()
                .any(|span| span.name == "next")
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_send_cut_by_a_long_budget_opens_the_circuit() {
        let long = breaker::SHORTEST_TELLING_CUT;
        let (processor, _received) = delayed_path(long * 4);
        let handle = processor.handle();
        processor.on_end(test_span("hangs"));
        let cut = handle.flush(long).await;
        assert!(matches!(cut, Err(FlushError::Timeout(_))), "{cut:?}");
        processor.on_end(test_span("next"));
        let held = handle.flush(Duration::from_secs(1)).await;
        assert!(matches!(held, Err(FlushError::Held(_))), "{held:?}");
    }

    #[test]
    fn the_exporter_thread_gives_up_after_otel_bsp_export_timeout() {
        use opentelemetry::trace::{Tracer as _, TracerProvider as _};
        let telemetry = crate::Pipeline::with_environment(crate::env::MapEnvironment::from([
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "200"),
        ]))
        .with_span_exporter(Sluggish)
        .install();
        drop(telemetry.tracer_provider().tracer("t").start("slow"));
        let started = Instant::now();
        let flushed = telemetry.tracer_provider().force_flush();
        let took = started.elapsed();
        assert!(flushed.is_err(), "cut, not exported: {flushed:?}");
        assert!(took < Duration::from_secs(1), "gave up after {took:?}");
        assert_eq!(telemetry.export_stats().dropped_export_failed, 1);
    }

    #[test]
    fn the_sdk_s_synchronous_flush_runs_on_the_exporter_thread() {
        let exporter = switchable();
        let (processor, counters) = path(exporter.clone(), 100);
        processor.on_end(test_span("sync"));
        // No runtime here: the exporter thread has its own.
        processor.force_flush().expect("flushed");
        assert_eq!(exporter.inner.get_finished_spans().expect("spans").len(), 1);
        assert_eq!(counters.exported_total(), 1);
        processor
            .shutdown_with_timeout(Duration::from_secs(1))
            .expect("shut down");
        assert!(processor.force_flush().is_err(), "after shutdown");
    }

    fn encoded(spans: usize) -> Held {
        Held::Encoded(Encoded {
            body: bytes::Bytes::from(vec![0; spans]),
            spans,
        })
    }

    #[test]
    fn the_retry_buffer_drops_its_oldest_spans_first_and_counts_them() {
        let mut pending = Pending::default();
        pending.push_back(encoded(3));
        pending.push_back(encoded(4));
        pending.push_back(encoded(5));
        assert_eq!(pending.trim(9), 3, "the oldest batch goes");
        assert_eq!(pending.trim(8), 4, "then the next oldest");
        assert_eq!(pending.spans, 5);
        assert_eq!(pending.items.len(), 1);
    }

    #[test]
    fn a_batch_put_back_goes_in_front_of_newer_ones() {
        let mut pending = Pending::default();
        pending.push_back(encoded(2));
        let taken = pending.next_request(10, true).expect("one request");
        pending.push_back(encoded(3));
        pending.put_back(taken);
        assert_eq!(pending.spans, 5);
        assert_eq!(pending.items.front().map(Held::spans), Some(2));
        // Over the limit, the put-back (older) batch is dropped first.
        assert_eq!(pending.trim(3), 2);
        assert_eq!(pending.items.front().map(Held::spans), Some(3));
    }

    #[test]
    fn requests_join_bodies_up_to_the_batch_size() {
        let mut pending = Pending::default();
        for spans in [200, 200, 200, 50] {
            pending.push_back(encoded(spans));
        }
        let first = pending.next_request(512, true).expect("first");
        assert_eq!(
            first.iter().map(Held::spans).collect::<Vec<_>>(),
            [200, 200]
        );
        let second = pending.next_request(512, true).expect("second");
        assert_eq!(
            second.iter().map(Held::spans).collect::<Vec<_>>(),
            [200, 50]
        );
        assert!(pending.next_request(512, true).is_none());
        assert_eq!(pending.spans, 0);
        // JSON bodies do not join.
        pending.push_back(encoded(1));
        pending.push_back(encoded(1));
        assert_eq!(pending.next_request(512, false).map(|r| r.len()), Some(1));
    }
}
