//! Every span that leaves the export path is counted: exported, or dropped with a reason.
//!
//! Drops are never silent. They are counted per reason, readable as
//! [`ExportStats`](crate::pipeline::ExportStats), exported as the self-metric
//! `otel.sdk.processor.span.processed` (with `error.type` set to the reason) when metrics
//! are exported, and written to standard error at most once per interval with the count
//! since the last such line — standard error, not `tracing`, because the logs pipeline
//! may go to the same collector that is failing.

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often at most a drop line is written.
pub(crate) const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Why spans were dropped; each is an `error.type` of the self-metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The queue of ended spans was full (`OTEL_BSP_MAX_QUEUE_SIZE`).
    QueueFull,
    /// The retry buffer was full: its oldest spans made room.
    RetryBufferFull,
    /// The collector rejected them with a status that retrying cannot change.
    Rejected,
    /// An exporter without a retry buffer failed, or its export was cut by the budget.
    ExportFailed,
    /// They were still unsent when the pipeline shut down.
    Shutdown,
    /// They were still unsent when a snapshot of the process was taken (Lambda SnapStart):
    /// kept, every environment restored from it would send them again.
    Snapshot,
}

impl DropReason {
    pub(crate) const ALL: [Self; 6] = [
        Self::QueueFull,
        Self::RetryBufferFull,
        Self::Rejected,
        Self::ExportFailed,
        Self::Shutdown,
        Self::Snapshot,
    ];

    /// The `error.type` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::RetryBufferFull => "retry_buffer_full",
            Self::Rejected => "rejected",
            Self::ExportFailed => "export_failed",
            Self::Shutdown => "shutdown",
            Self::Snapshot => "snapshot",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The counters of one export path.
#[derive(Debug, Default)]
pub(crate) struct SpanCounters {
    exported: AtomicU64,
    dropped: [AtomicU64; 6],
    /// Drops not yet written to standard error, per reason.
    unreported: [AtomicU64; 6],
    last_warning: Mutex<Option<Instant>>,
}

impl SpanCounters {
    pub(crate) fn exported(&self, spans: usize) {
        self.exported.fetch_add(spans as u64, Ordering::Relaxed);
    }

    /// Counts `spans` dropped for `reason` and writes the drop line if one is due.
    pub(crate) fn dropped(&self, reason: DropReason, spans: usize) {
        if spans == 0 {
            return;
        }
        self.dropped[reason.index()].fetch_add(spans as u64, Ordering::Relaxed);
        self.unreported[reason.index()].fetch_add(spans as u64, Ordering::Relaxed);
        self.report_if_due(Instant::now(), false);
    }

    /// The spans exported so far.
    pub(crate) fn exported_total(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// The spans dropped so far for `reason`.
    pub(crate) fn dropped_total(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()].load(Ordering::Relaxed)
    }

    /// Writes the drops not yet reported when the interval has passed since the last line
    /// (or always, with `force`, at shutdown). Returns the line written.
    pub(crate) fn report_if_due(&self, now: Instant, force: bool) -> Option<String> {
        if self
            .unreported
            .iter()
            .all(|count| count.load(Ordering::Relaxed) == 0)
        {
            return None;
        }
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due =
            force || last.is_none_or(|at| now.saturating_duration_since(at) >= WARNING_INTERVAL);
        if !due {
            return None;
        }
        let mut parts = Vec::new();
        let mut total = 0;
        for reason in DropReason::ALL {
            let count = self.unreported[reason.index()].swap(0, Ordering::Relaxed);
            if count > 0 {
                total += count;
                parts.push(format!("{count} {}", reason.as_str()));
            }
        }
        if total == 0 {
            return None;
        }
        *last = Some(now);
        let line = format!(
            "otel-faas: {total} span(s) dropped since the last report ({}); counted in \
             otel.sdk.processor.span.processed with error.type",
            parts.join(", ")
        );
        // A failed write to standard error has nowhere else to go.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_per_reason_and_reported_once_per_interval() {
        let counters = SpanCounters::default();
        let start = Instant::now();
        counters.dropped[DropReason::Rejected.index()].fetch_add(3, Ordering::Relaxed);
        counters.unreported[DropReason::Rejected.index()].fetch_add(3, Ordering::Relaxed);
        let first = counters
            .report_if_due(start, false)
            .expect("first drops reported");
        assert!(
            first.contains("3 span(s) dropped") && first.contains("3 rejected"),
            "{first}"
        );
        counters.dropped(DropReason::QueueFull, 2);
        // Within the interval: counted, not written.
        assert_eq!(
            counters.report_if_due(start + Duration::from_secs(59), false),
            None
        );
        assert_eq!(counters.dropped_total(DropReason::QueueFull), 2);
        let second = counters
            .report_if_due(start + WARNING_INTERVAL, false)
            .expect("due after the interval");
        assert!(
            second.contains("2 span(s)") && second.contains("2 queue_full"),
            "{second}"
        );
        // Nothing new: nothing written, even forced.
        assert_eq!(
            counters.report_if_due(start + WARNING_INTERVAL * 3, true),
            None
        );
        counters.dropped(DropReason::Shutdown, 1);
        assert!(
            counters
                .report_if_due(start + WARNING_INTERVAL, true)
                .is_some(),
            "forced"
        );
        assert_eq!(counters.dropped_total(DropReason::Rejected), 3);
    }
}

/// What the spans' export paths have done since start-up:
/// [`Telemetry::export_stats`](crate::Telemetry::export_stats).
///
/// ```
/// use otel_faas_core::{Pipeline, env::MapEnvironment};
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_TRACES_EXPORTER", "console"),
///     ("OTEL_METRICS_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .install();
/// let stats = telemetry.export_stats();
/// assert_eq!(stats.exported, 0);
/// assert_eq!(stats.dropped(), 0);
/// assert_eq!(stats.held, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans the exporters took.
    pub exported: u64,
    /// Spans kept for a later send (the retry buffer and batches not yet sent).
    pub held: u64,
    /// Dropped because the queue was full (`OTEL_BSP_MAX_QUEUE_SIZE`).
    pub dropped_queue_full: u64,
    /// Dropped from a full retry buffer, oldest first.
    pub dropped_retry_buffer_full: u64,
    /// Rejected by the collector with a status retrying cannot change, or in a partial
    /// success.
    pub dropped_rejected: u64,
    /// Lost by an exporter without a retry buffer (not OTLP/HTTP) that failed.
    pub dropped_export_failed: u64,
    /// Still unsent at shutdown.
    pub dropped_shutdown: u64,
    /// Still unsent when a snapshot was taken (SnapStart): every restored environment
    /// would have sent them again.
    pub dropped_snapshot: u64,
}

impl ExportStats {
    /// Every span dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_retry_buffer_full
            + self.dropped_rejected
            + self.dropped_export_failed
            + self.dropped_shutdown
            + self.dropped_snapshot
    }

    pub(crate) fn read(counters: &SpanCounters, held: u64) -> Self {
        Self {
            exported: counters.exported_total(),
            held,
            dropped_queue_full: counters.dropped_total(DropReason::QueueFull),
            dropped_retry_buffer_full: counters.dropped_total(DropReason::RetryBufferFull),
            dropped_rejected: counters.dropped_total(DropReason::Rejected),
            dropped_export_failed: counters.dropped_total(DropReason::ExportFailed),
            dropped_shutdown: counters.dropped_total(DropReason::Shutdown),
            dropped_snapshot: counters.dropped_total(DropReason::Snapshot),
        }
    }
}

/// The self-metric of the semantic conventions' SDK metrics: spans whose processing ended
/// in a drop, with `error.type` set to the reason. Only drops are reported — spans exported
/// are in [`ExportStats`] — so a pipeline that drops nothing exports no self-metric (and
/// sends no metrics request it was not already sending). An observable counter, so
/// recording costs the export path nothing.
pub(crate) fn register_self_metric(
    meter_provider: &opentelemetry_sdk::metrics::SdkMeterProvider,
    counters: std::sync::Arc<SpanCounters>,
) {
    use opentelemetry::KeyValue;
    use opentelemetry::metrics::MeterProvider as _;
    let component = [
        KeyValue::new("otel.component.type", "otel_faas_span_processor"),
        KeyValue::new("otel.component.name", "otel_faas_span_processor/0"),
    ];
    let meter = meter_provider.meter("otel-faas");
    let _counter = meter
        .u64_observable_counter("otel.sdk.processor.span.processed")
        .with_unit("{span}")
        .with_description("The number of spans for which the processing has finished, either successful or failed")
        .with_callback(move |observer| {
            for reason in DropReason::ALL {
                let dropped = counters.dropped_total(reason);
                if dropped > 0 {
                    let mut attributes = component.to_vec();
                    attributes.push(KeyValue::new("error.type", reason.as_str()));
                    observer.observe(dropped, &attributes);
                }
            }
        })
        .build();
}
