//! The invocation's log lines, returned to the host in `Logs`.
//!
//! The host writes each line of `Logs` into the function's log stream (Application Insights,
//! the portal's log view), tied to the invocation. [`InvocationLogs`] collects them: as an
//! [`InvocationObserver`] it opens a buffer when an invocation starts and drops what is left
//! when it ends, and as a `tracing` layer it appends every event recorded inside that
//! invocation — in its own task, in spans the handler started — with the trace and span
//! ids of where it was recorded. The app takes the lines when the handler returns.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::Context;
use opentelemetry::trace::{SpanId, TraceContextExt as _};
use otel_faas_core::InvocationObserver;
use otel_faas_core::engine::{InvocationRecord, InvocationScope, InvocationStart};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
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
        Self {
            inner: Arc::new(Inner {
                buffers: Mutex::new(HashMap::new()),
                level,
                max_lines: DEFAULT_MAX_LINES,
            }),
        }
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
        self.inner
            .buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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

impl<S: Subscriber> Layer<S> for InvocationLogs {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() > self.inner.level {
            return;
        }
        let Some(invocation) = InvocationScope::current_invocation_span_id() else {
            return;
        };
        // Cheap check first: most events of a busy server belong to no open buffer.
        if !self.buffers().contains_key(&invocation) {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        let (trace_id, span_id) = Context::map_current(|cx| {
            let span = cx.span();
            let context = span.span_context();
            (context.trace_id(), context.span_id())
        });
        let mut text = format!(
            "{} {}: {}",
            metadata.level(),
            metadata.target(),
            line.message
        );
        text.push_str(&line.fields);
        let _ = write!(text, " trace_id={trace_id} span_id={span_id}");
        let mut buffers = self.buffers();
        if let Some(buffer) = buffers.get_mut(&invocation) {
            if buffer.lines.len() < self.inner.max_lines {
                buffer.lines.push(text);
            } else {
                buffer.dropped += 1;
            }
        }
    }
}

/// An event's message and its other fields as ` key=value`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}
