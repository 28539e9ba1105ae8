//! One layer for every platform's log lines: the level, the event's fields, the trace and
//! invocation the line belongs to, and one write per line; a [`LineFormat`] says what the
//! line looks like (Lambda's JSON or text, Cloud Logging's JSON).

use std::io::Write as _;

use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context as LayerContext, Layer};

use super::JsonFields;
use crate::engine::CurrentInvocation;

/// What one log line is made of, handed to a [`LineFormat`].
///
/// ```
/// use otel_faas_core::subscriber::{LineContext, LineFormat};
///
/// /// `LEVEL trace_id message`, or `-` for the trace outside any span.
/// struct Short;
/// impl LineFormat for Short {
///     fn line(&self, line: LineContext) -> String {
///         let trace = if line.span.is_valid() { line.span.trace_id().to_string() } else { "-".into() };
///         format!("{} {trace} {}\n", line.metadata.level(), line.fields.message)
///     }
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct LineContext {
    /// The event's metadata (level, target, file and line).
    pub metadata: &'static tracing::Metadata<'static>,
    /// Its message and other fields.
    pub fields: JsonFields,
    /// The span it was written in — the invocation's, or a span inside it — as the current
    /// OpenTelemetry context has it; invalid outside any.
    pub span: SpanContext,
    /// The invocation it was written in, if any.
    pub invocation: Option<CurrentInvocation>,
}

/// A platform's log line format: one line, ending in `\n`, for each event.
///
/// ```
/// use otel_faas_core::subscriber::{LineContext, LineFormat, LogLineLayer};
///
/// struct Plain;
/// impl LineFormat for Plain {
///     fn line(&self, line: LineContext) -> String {
///         format!("{} {}\n", line.metadata.level(), line.fields.message)
///     }
/// }
/// let layer = LogLineLayer::new(Plain, std::io::stderr);
/// # drop(layer);
/// ```
pub trait LineFormat: Send + Sync + 'static {
    /// The line for one event.
    fn line(&self, line: LineContext) -> String;
}

/// Writes each `tracing` event as one line in a platform's [`LineFormat`], with one write
/// per line (a platform makes each line one log entry, and concurrent invocations never
/// interleave within one), from its level up.
///
/// The level is checked here rather than in the layer's filter, which would hide the event
/// from the other layers (the spans' and the OTLP logs') as well; `init_tracing` filters the
/// events every layer sees beforehand.
///
/// ```
/// use otel_faas_core::subscriber::{LineContext, LineFormat, LogLineLayer};
/// use tracing_subscriber::filter::LevelFilter;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// struct Message;
/// impl LineFormat for Message {
///     fn line(&self, line: LineContext) -> String {
///         format!("{}\n", line.fields.message)
///     }
/// }
///
/// let layer = LogLineLayer::new(Message, std::io::stderr).with_level(LevelFilter::WARN);
/// assert_eq!(layer.level(), LevelFilter::WARN);
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::warn!("written");
///     tracing::info!("below the level: not written");
/// });
/// ```
#[derive(Debug, Clone)]
pub struct LogLineLayer<F, W> {
    format: F,
    level: LevelFilter,
    writer: W,
}

impl<F: LineFormat, W> LogLineLayer<F, W> {
    /// Lines in `format`, written to `writer`, every level.
    pub fn new(format: F, writer: W) -> Self {
        Self {
            format,
            level: LevelFilter::TRACE,
            writer,
        }
    }
}

impl<F, W> LogLineLayer<F, W> {
    /// The format.
    pub fn format(&self) -> &F {
        &self.format
    }

    /// The format, to change it.
    pub fn format_mut(&mut self) -> &mut F {
        &mut self.format
    }

    /// The most verbose level written.
    pub fn level(&self) -> LevelFilter {
        self.level
    }

    /// Writes lines up to `level` only.
    #[must_use]
    pub fn with_level(mut self, level: LevelFilter) -> Self {
        self.level = level;
        self
    }

    /// Writes the lines elsewhere.
    #[must_use]
    pub fn with_writer<W2>(self, writer: W2) -> LogLineLayer<F, W2> {
        LogLineLayer {
            format: self.format,
            level: self.level,
            writer,
        }
    }
}

impl<S, F, W> Layer<S> for LogLineLayer<F, W>
where
    S: Subscriber,
    F: LineFormat,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() > self.level {
            return;
        }
        let line = self.format.line(LineContext {
            metadata,
            fields: JsonFields::of(event),
            span: opentelemetry::Context::map_current(|cx| cx.span().span_context().clone()),
            invocation: CurrentInvocation::get(),
        });
        let _ = self.writer.make_writer().write_all(line.as_bytes());
    }
}
