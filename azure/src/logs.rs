//! The invocation's log lines, returned to the host in `Logs`.
//!
//! The host writes each line of `Logs` into the function's log stream (Application Insights,
//! the portal's log view), tied to the invocation. [`InvocationLogs`] collects them: as an
//! [`InvocationObserver`] it opens a buffer when an invocation starts and drops what is left
//! when it ends, and as a `tracing` layer it appends every event recorded inside that
//! invocation — in its own task, in spans the handler started — with the trace and span
//! ids of where it was recorded. The app takes the lines when the handler returns.
//!
//! The lines are core's [`LogLineLayer`] in the host's text format ([`HostLine`]), written
//! into the invocation's buffer rather than to a stream.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::trace::SpanId;
use otel_faas_core::InvocationObserver;
use otel_faas_core::engine::{InvocationRecord, InvocationScope, InvocationStart};
use otel_faas_core::subscriber::{LineContext, LineFormat, LogLineLayer};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context as LayerContext, Layer};

/// Lines kept per invocation; beyond it, a last line says how many were dropped.
const DEFAULT_MAX_LINES: usize = 1000;

/// Collects each invocation's log lines (see the module documentation).
///
/// ```
/// use otel_faas_azure::InvocationLogs;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// // With your own subscriber: add the layer (`otel_faas_azure::start` installs the shared one otherwise).
/// let logs = InvocationLogs::new(tracing::Level::INFO);
/// let subscriber = tracing_subscriber::registry().with(logs.clone());
/// # drop(subscriber);
/// ```
#[derive(Clone)]
pub struct InvocationLogs {
    inner: Arc<Inner>,
    lines: LogLineLayer<HostLine, Buffers>,
}

struct Inner {
    buffers: Mutex<HashMap<SpanId, Buffer>>,
    level: Level,
    max_lines: usize,
}

#[derive(Default)]
struct Buffer {
    lines: Vec<String>,
    dropped: usize,
}

impl std::fmt::Debug for InvocationLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationLogs")
            .field("level", &self.inner.level)
            .field("max_lines", &self.inner.max_lines)
            .finish_non_exhaustive()
    }
}

impl InvocationLogs {
    /// Collects events at `level` and above (more severe), at most 1000 lines per
    /// invocation.
    pub fn new(level: Level) -> Self {
        let inner = Arc::new(Inner {
            buffers: Mutex::new(HashMap::new()),
            level,
            max_lines: DEFAULT_MAX_LINES,
        });
        let lines = LogLineLayer::new(HostLine, Buffers(Arc::clone(&inner)))
            .with_level(LevelFilter::from_level(level));
        Self { inner, lines }
    }

    /// The process's capture, at `INFO`: what [`start`](crate::start) installs in the
    /// `tracing` subscriber and [`FunctionApp::new`](crate::FunctionApp::new) reads each
    /// invocation's lines from. Lines are kept per invocation, so any number of apps in one
    /// process share it.
    ///
    /// ```
    /// let logs = otel_faas_azure::InvocationLogs::shared();
    /// assert!(logs.take_current().is_empty(), "outside an invocation");
    /// ```
    pub fn shared() -> Self {
        static SHARED: std::sync::LazyLock<InvocationLogs> =
            std::sync::LazyLock::new(|| InvocationLogs::new(Level::INFO));
        SHARED.clone()
    }

    fn buffers(&self) -> std::sync::MutexGuard<'_, HashMap<SpanId, Buffer>> {
        self.inner.buffers()
    }

    /// Takes the lines recorded so far by the invocation running on this task; empty
    /// outside an invocation.
    pub fn take_current(&self) -> Vec<String> {
        let Some(invocation) = InvocationScope::current_invocation_span_id() else {
            return Vec::new();
        };
        let mut buffers = self.buffers();
        let Some(buffer) = buffers.get_mut(&invocation) else {
            return Vec::new();
        };
        let mut lines = std::mem::take(&mut buffer.lines);
        if buffer.dropped > 0 {
            lines.push(format!(
                "otel-faas: {} more log line(s) of this invocation were dropped (the limit is {})",
                buffer.dropped, self.inner.max_lines
            ));
            buffer.dropped = 0;
        }
        lines
    }
}

impl InvocationObserver for InvocationLogs {
    fn on_start(&self, start: &InvocationStart) {
        self.buffers()
            .insert(start.span_context().span_id(), Buffer::default());
    }

    fn on_end(&self, record: &InvocationRecord) {
        self.buffers().remove(&record.span_context().span_id());
    }
}

impl Inner {
    fn buffers(&self) -> std::sync::MutexGuard<'_, HashMap<SpanId, Buffer>> {
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: Subscriber> Layer<S> for InvocationLogs {
    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        if *event.metadata().level() > self.inner.level {
            return;
        }
        // Cheap check first: most events of a busy server belong to no open buffer, and
        // need no line.
        let Some(invocation) = InvocationScope::current_invocation_span_id() else {
            return;
        };
        if !self.buffers().contains_key(&invocation) {
            return;
        }
        self.lines.on_event(event, ctx);
    }
}

/// The host's text line: `LEVEL target: message key=value… trace_id=… span_id=…`, the
/// fields as [`JsonFields::write_key_values`](otel_faas_core::subscriber::JsonFields::write_key_values)
/// writes them.
#[derive(Clone, Copy)]
struct HostLine;

impl LineFormat for HostLine {
    fn line(&self, line: LineContext) -> String {
        let mut text = format!(
            "{} {}: {}",
            line.metadata.level(),
            line.metadata.target(),
            line.fields.message
        );
        line.fields.write_key_values(&mut text);
        let _ = writeln!(
            text,
            " trace_id={} span_id={}",
            line.span.trace_id(),
            line.span.span_id()
        );
        text
    }
}

/// Writes each line into the buffer of the invocation running on the writing task; up to
/// the limit, then counts what it drops.
#[derive(Clone)]
struct Buffers(Arc<Inner>);

impl<'a> MakeWriter<'a> for Buffers {
    type Writer = BufferWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BufferWriter(&self.0)
    }
}

struct BufferWriter<'a>(&'a Inner);

impl std::io::Write for BufferWriter<'_> {
    // The layer writes each line whole, in one call: one call is one line.
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let Some(invocation) = InvocationScope::current_invocation_span_id() else {
            return Ok(line.len());
        };
        let mut buffers = self.0.buffers();
        if let Some(buffer) = buffers.get_mut(&invocation) {
            if buffer.lines.len() < self.0.max_lines {
                let text = String::from_utf8_lossy(line);
                buffer.lines.push(text.trim_end_matches('\n').to_owned());
            } else {
                buffer.dropped += 1;
            }
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
    use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, TriggerAdapter};
    use tracing_subscriber::layer::SubscriberExt as _;

    struct Job;
    impl<R> TriggerAdapter<(), R> for Job {
        fn invocation_spec(
            &self,
            _: &(),
            _: &InvocationContext,
            _: &dyn Propagation,
        ) -> InvocationSpec {
            InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
        }
    }

    /// Runs one invocation that logs `lines` times, under a subscriber with `logs`, and
    /// returns what the invocation took, with its trace id.
    async fn invocation_lines(logs: InvocationLogs, lines: usize) -> (Vec<String>, String) {
        let provider = SdkTracerProvider::builder().build();
        let engine = InvocationEngine::builder(&provider)
            .observer(logs.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(logs.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        tracing::info!("outside any invocation: not kept");
        engine
            .invocation(&Job, ())
            .run(|_| async move {
                let trace = opentelemetry::Context::map_current(|cx| {
                    use opentelemetry::trace::TraceContextExt as _;
                    cx.span().span_context().trace_id().to_string()
                });
                tracing::debug!("below the level: not kept");
                for i in 0..lines {
                    tracing::warn!(sku = "A 1", order = i, urgent = true, "low stock");
                }
                Ok::<_, std::convert::Infallible>((logs.take_current(), trace))
            })
            .await
            .expect("the invocation")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn lines_are_the_hosts_text_with_the_fields_in_order_and_the_ids() {
        let (lines, trace) = invocation_lines(InvocationLogs::new(Level::INFO), 1).await;
        assert_eq!(lines.len(), 1, "{lines:?}");
        let prefix = format!(
            r#"WARN otel_faas_azure::logs::tests: low stock sku="A 1" order=0 urgent=true trace_id={trace} span_id="#
        );
        assert!(lines[0].starts_with(&prefix), "{}", lines[0]);
        let span_id = &lines[0][prefix.len()..];
        assert_eq!(span_id.len(), 16, "{}", lines[0]);
        assert!(
            span_id.chars().all(|c| c.is_ascii_hexdigit()),
            "{}",
            lines[0]
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn beyond_the_limit_a_last_line_counts_the_dropped_ones() {
        let (lines, _) = invocation_lines(InvocationLogs::new(Level::INFO), 1003).await;
        assert_eq!(lines.len(), 1001);
        assert!(lines[999].contains("order=999"), "{}", lines[999]);
        assert_eq!(
            lines[1000],
            "otel-faas: 3 more log line(s) of this invocation were dropped (the limit is 1000)"
        );
    }
}
