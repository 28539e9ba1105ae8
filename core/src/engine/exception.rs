//! Where an invocation's exception is recorded: a span event, a log record, or both.

use std::sync::Arc;

use opentelemetry::logs::{LogRecord as _, Logger as _, Severity};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::logs::SdkLogger;
use opentelemetry_semantic_conventions::attribute::{EXCEPTION_MESSAGE, EXCEPTION_TYPE};

/// Where an invocation's exception is recorded (`OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`,
/// from the semantic conventions' migration of exceptions from span events to log
/// events).
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::engine::ExceptionSignal;
/// use otel_faas_core::pipeline::PipelineConfig;
///
/// let config = PipelineConfig::from_env(&MapEnvironment::from([("OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN", "logs/dup")]));
/// assert_eq!(config.exception_signal, ExceptionSignal::SpanEventsAndLogs);
/// assert!(config.exception_signal.span_events() && config.exception_signal.logs());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExceptionSignal {
    /// An `exception` event on the invocation span (the default).
    #[default]
    SpanEvents,
    /// A `faas.invocation.exception` log record at severity ERROR, in the invocation's
    /// trace context, instead (`logs`).
    Logs,
    /// Both (`logs/dup`), while back ends move from one to the other.
    SpanEventsAndLogs,
}

impl ExceptionSignal {
    /// Whether the span event is recorded.
    pub fn span_events(self) -> bool {
        matches!(self, Self::SpanEvents | Self::SpanEventsAndLogs)
    }
    /// Whether the log record is emitted.
    pub fn logs(self) -> bool {
        matches!(self, Self::Logs | Self::SpanEventsAndLogs)
    }
}

/// The event name of an invocation's exception recorded as a log record.
pub const INVOCATION_EXCEPTION_EVENT: &str = "faas.invocation.exception";

/// Where exceptions go: span events, log records, or both
/// (`OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`).
#[derive(Clone, Default)]
pub(crate) struct Exceptions {
    pub(crate) signal: ExceptionSignal,
    pub(crate) logger: Option<Arc<SdkLogger>>,
}

impl std::fmt::Debug for Exceptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exceptions")
            .field("signal", &self.signal)
            .finish_non_exhaustive()
    }
}

impl Exceptions {
    /// Records the exception of the span in `cx`: an `exception` span event, and/or a
    /// `faas.invocation.exception` log record at ERROR in the span's trace context.
    pub(crate) fn record(&self, cx: &Context, error_type: &str, message: &str) {
        if self.signal.span_events() {
            cx.span().add_event(
                "exception",
                vec![
                    KeyValue::new(EXCEPTION_TYPE, error_type.to_owned()),
                    KeyValue::new(EXCEPTION_MESSAGE, message.to_owned()),
                ],
            );
        }
        if let (true, Some(logger)) = (self.signal.logs(), &self.logger) {
            let span = cx.span();
            let span_context = span.span_context();
            let mut record = logger.create_log_record();
            record.set_event_name(INVOCATION_EXCEPTION_EVENT);
            record.set_severity_number(Severity::Error);
            record.set_severity_text("ERROR");
            record.set_timestamp(std::time::SystemTime::now());
            record.set_trace_context(
                span_context.trace_id(),
                span_context.span_id(),
                Some(span_context.trace_flags()),
            );
            record.add_attribute(EXCEPTION_TYPE, error_type.to_owned());
            record.add_attribute(EXCEPTION_MESSAGE, message.to_owned());
            logger.emit(record);
        }
    }
}
