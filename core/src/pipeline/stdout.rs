//! `otlp/stdout`: the three signals as OTLP JSON lines on standard output, for platforms
//! whose log capture is the transport (CloudWatch Logs, Cloud Logging, a log-forwarding
//! pipeline that hands the lines to a collector).
//!
//! **Format.** The specification's OTLP File exporter's: one `ExportTraceServiceRequest`,
//! `ExportMetricsServiceRequest` or `ExportLogsServiceRequest` per line, in the OTLP/JSON
//! encoding (lowerCamelCase keys, ids in hex, 64-bit integers as strings), uncompressed —
//! what the Collector's `otlpjsonfile` receiver and every OTLP/JSON decoder read. Not the
//! gzip+base64 envelope of `otlp-stdout-span-exporter` (serverless-otlp-forwarder), which
//! no specification defines.
//!
//! **Never blocking.** Lines are handed to one writer thread per process, started with the
//! first line (so lines of the
//! three signals never interleave) through a queue bounded at [`QUEUE_BYTES`]; an export
//! that finds it full drops its line, fails, and is counted like any failed export. The
//! writer takes standard output's lock for each whole line. An export then waits — on the
//! span path without blocking its thread, on the SDK's threads blocking — up to
//! [`WRITE_WAIT`] for its line to be written, so that a function frozen right after its
//! flush has its lines out; a line still queued then is written later, not lost.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// The most bytes queued for the writer; an export beyond it drops its line.
pub const QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// How long an export waits for its line to be written before it returns.
pub const WRITE_WAIT: Duration = Duration::from_millis(200);

/// The process's one writer of OTLP lines.
struct Writer {
    lines: Mutex<Sender<Vec<u8>>>,
    queued_bytes: AtomicUsize,
    /// Lines handed over, and written (or failed to write: stdout closed).
    handed: AtomicU64,
    written: Mutex<u64>,
    written_changed: Condvar,
    /// Wakes async waiters.
    notify: tokio::sync::Notify,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

/// Where the writer thread writes; standard output except in tests.
type Sink = Box<dyn FnMut(&[u8]) -> std::io::Result<()> + Send>;

impl Writer {
    fn start(mut sink: Sink) -> Arc<Self> {
        let (sender, receiver) = channel::<Vec<u8>>();
        let writer = Arc::new(Self {
            lines: Mutex::new(sender),
            queued_bytes: AtomicUsize::new(0),
            handed: AtomicU64::new(0),
            written: Mutex::new(0),
            written_changed: Condvar::new(),
            notify: tokio::sync::Notify::new(),
        });
        let shared = Arc::clone(&writer);
        let spawned = std::thread::Builder::new()
            .name("otel-faas-stdout".to_owned())
            .spawn(move || {
                for line in receiver {
                    // A closed standard output loses the line; nothing else can be done.
                    let _ = sink(&line);
                    shared.queued_bytes.fetch_sub(line.len(), Ordering::SeqCst);
                    *shared
                        .written
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) += 1;
                    shared.written_changed.notify_all();
                    shared.notify.notify_waiters();
                }
            });
        if spawned.is_err() {
            // No thread: every export will find the queue "full".
            writer.queued_bytes.store(usize::MAX / 2, Ordering::SeqCst);
        }
        writer
    }

    /// The process's writer to standard output.
    fn global() -> &'static Arc<Writer> {
        static WRITER: OnceLock<Arc<Writer>> = OnceLock::new();
        WRITER.get_or_init(|| {
            Writer::start(Box::new(|line| {
                let mut out = std::io::stdout().lock();
                out.write_all(line)?;
                out.flush()
            }))
        })
    }

    /// Queues `line` (a newline is added); its sequence number, or why it was dropped.
    fn hand(&self, mut line: Vec<u8>) -> Result<u64, OTelSdkError> {
        line.push(b'\n');
        let len = line.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::SeqCst);
        if before.saturating_add(len) > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(len, Ordering::SeqCst);
            return Err(OTelSdkError::InternalFailure(format!(
                "standard output is not keeping up ({before} bytes queued): a line of {len} bytes was dropped"
            )));
        }
        let sender = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let sequence = self.handed.fetch_add(1, Ordering::SeqCst) + 1;
        if sender.send(line).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::SeqCst);
            return Err(OTelSdkError::InternalFailure(
                "the standard output writer has stopped".to_owned(),
            ));
        }
        Ok(sequence)
    }

    fn is_written(&self, sequence: u64) -> bool {
        *self.written.lock().unwrap_or_else(PoisonError::into_inner) >= sequence
    }

    /// Waits, blocking, up to `wait` for line `sequence` (the SDK's threads).
    #[cfg_attr(not(any(test, feature = "otlp-stdout")), allow(dead_code))]
    fn wait_blocking(&self, sequence: u64, wait: Duration) {
        let deadline = Instant::now() + wait;
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        while *written < sequence {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            written = self
                .written_changed
                .wait_timeout(written, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits, without blocking the thread, up to `wait` for line `sequence`.
    async fn wait_async(&self, sequence: u64, wait: Duration) {
        let waiting = async {
            loop {
                let notified = self.notify.notified();
                if self.is_written(sequence) {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(wait, waiting).await;
    }
}

/// The encoded resource, replaced by `set_resource`.
#[derive(Debug)]
struct EncodedResource(RwLock<Arc<ResourceAttributesWithSchema>>);

impl EncodedResource {
    fn new() -> Self {
        Self(RwLock::new(Arc::new(
            (&Resource::builder_empty().build()).into(),
        )))
    }
    fn set(&self, resource: &Resource) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(resource.into());
    }
    fn get(&self) -> Arc<ResourceAttributesWithSchema> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }
}

fn json<T: serde::Serialize>(request: &T, what: &str) -> Result<Vec<u8>, OTelSdkError> {
    serde_json::to_vec(request).map_err(|error| {
        OTelSdkError::InternalFailure(format!("the {what} could not be encoded as JSON: {error}"))
    })
}

/// Spans as `ExportTraceServiceRequest` lines.
pub(crate) struct StdoutSpanExporter {
    /// The process's writer unless a test gives one; started on the first line.
    writer: Option<Arc<Writer>>,
    resource: EncodedResource,
}

impl std::fmt::Debug for StdoutSpanExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StdoutSpanExporter")
    }
}

impl StdoutSpanExporter {
    pub(crate) fn new() -> Self {
        Self {
            writer: None,
            resource: EncodedResource::new(),
        }
    }

    #[cfg(test)]
    fn with_writer(writer: Arc<Writer>) -> Self {
        Self {
            writer: Some(writer),
            resource: EncodedResource::new(),
        }
    }
}

impl SpanExporter for StdoutSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if batch.is_empty() {
            return Ok(());
        }
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource.get()),
        };
        let writer = self.writer.as_ref().unwrap_or_else(|| Writer::global());
        let sequence = writer.hand(json(&request, "spans")?)?;
        writer.wait_async(sequence, WRITE_WAIT).await;
        Ok(())
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.resource.set(resource);
    }
}

#[cfg(feature = "otlp-stdout")]
mod metrics_and_logs {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
    use opentelemetry_sdk::logs::{LogBatch, LogExporter};
    use opentelemetry_sdk::metrics::Temporality;
    use opentelemetry_sdk::metrics::data::ResourceMetrics;
    use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

    use super::*;

    /// Metrics as `ExportMetricsServiceRequest` lines.
    pub(crate) struct StdoutMetricExporter {
        temporality: Temporality,
    }

    impl StdoutMetricExporter {
        pub(crate) fn new(temporality: Temporality) -> Self {
            Self { temporality }
        }
    }

    impl PushMetricExporter for StdoutMetricExporter {
        async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
            let request = ExportMetricsServiceRequest::from(metrics);
            if request
                .resource_metrics
                .iter()
                .all(|resource| resource.scope_metrics.is_empty())
            {
                return Ok(());
            }
            let writer = Writer::global();
            let sequence = writer.hand(json(&request, "metrics")?)?;
            // On the periodic reader's own thread: blocking is its way.
            writer.wait_blocking(sequence, WRITE_WAIT);
            Ok(())
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            Ok(())
        }
        fn temporality(&self) -> Temporality {
            self.temporality
        }
    }

    /// Log records as `ExportLogsServiceRequest` lines.
    #[derive(Debug)]
    pub(crate) struct StdoutLogExporter {
        resource: EncodedResource,
    }

    impl StdoutLogExporter {
        pub(crate) fn new() -> Self {
            Self {
                resource: EncodedResource::new(),
            }
        }
    }

    impl LogExporter for StdoutLogExporter {
        async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
            let resource = self.resource.get();
            let request = ExportLogsServiceRequest {
                resource_logs: group_logs_by_resource_and_scope(&batch, &resource),
            };
            if request.resource_logs.is_empty() {
                return Ok(());
            }
            let writer = Writer::global();
            let sequence = writer.hand(json(&request, "log records")?)?;
            // On the batch processor's own thread.
            writer.wait_blocking(sequence, WRITE_WAIT);
            Ok(())
        }
        fn set_resource(&mut self, resource: &Resource) {
            self.resource.set(resource);
        }
    }
}

#[cfg(feature = "otlp-stdout")]
pub(crate) use metrics_and_logs::{StdoutLogExporter, StdoutMetricExporter};

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    /// Opened by the test; the sink waits until then.
    type Gate = Arc<(Mutex<bool>, Condvar)>;

    /// A writer whose sink the test holds shut until it says so.
    fn gated() -> (Arc<Writer>, Gate, Arc<Mutex<Vec<u8>>>) {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let (g, o) = (Arc::clone(&gate), Arc::clone(&out));
        let writer = Writer::start(Box::new(move |line| {
            let (open, changed) = &*g;
            let mut open = open.lock().unwrap();
            while !*open {
                open = changed.wait(open).unwrap();
            }
            o.lock().unwrap().extend_from_slice(line);
            Ok(())
        }));
        (writer, gate, out)
    }

    fn spans(n: usize) -> Vec<SpanData> {
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("t");
        for i in 0..n {
            drop(tracer.start(format!("span {i}")));
        }
        exporter.get_finished_spans().unwrap()
    }

    #[tokio::test]
    async fn a_stuck_pipe_costs_an_export_the_wait_at_most_and_a_full_queue_drops_with_an_error() {
        let (writer, gate, out) = gated();
        let exporter = StdoutSpanExporter::with_writer(Arc::clone(&writer));
        let started = Instant::now();
        exporter.export(spans(1)).await.expect("queued");
        assert!(
            started.elapsed() < WRITE_WAIT * 5,
            "{:?}",
            started.elapsed()
        );
        assert!(out.lock().unwrap().is_empty(), "the pipe is stuck");
        // Fill the queue beyond its bound.
        writer.queued_bytes.fetch_add(QUEUE_BYTES, Ordering::SeqCst);
        let error = exporter.export(spans(1)).await.expect_err("dropped");
        assert!(error.to_string().contains("not keeping up"), "{error}");
        writer.queued_bytes.fetch_sub(QUEUE_BYTES, Ordering::SeqCst);
        // Opened: the first line is written, whole, and nothing else.
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        writer.wait_blocking(1, Duration::from_secs(5));
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(
            line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"],
            "span 0"
        );
        assert!(text.ends_with('\n'));
    }
}
