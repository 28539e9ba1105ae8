//! Metric destinations that a platform crate adds under a name of `OTEL_METRICS_EXPORTER`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

/// A metrics destination of a platform's own, selected by name in `OTEL_METRICS_EXPORTER`
/// beside `otlp` and `console` (see [`Pipeline::with_metric_exporter`]).
///
/// The pipeline exports to it as to the others: from a periodic reader's thread, every
/// `OTEL_METRIC_EXPORT_INTERVAL` and at each flush, so `export` may block briefly (write a
/// line, for instance) but never runs on an executor thread. Its temporality is its own:
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` is OTLP's setting.
///
/// [`Pipeline::with_metric_exporter`]: crate::Pipeline::with_metric_exporter
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use opentelemetry_sdk::error::OTelSdkResult;
/// use opentelemetry_sdk::metrics::data::ResourceMetrics;
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::MetricSink;
/// use otel_faas_core::Pipeline;
///
/// #[derive(Default)]
/// struct Exports(Mutex<usize>);
///
/// impl MetricSink for Exports {
///     fn export(&self, _: &ResourceMetrics) -> OTelSdkResult {
///         *self.0.lock().unwrap() += 1;
///         Ok(())
///     }
/// }
///
/// let exports = Arc::new(Exports::default());
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_METRICS_EXPORTER", "counting"),
///     ("OTEL_TRACES_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .with_metric_exporter("counting", Arc::clone(&exports))
/// .install();
/// assert!(telemetry.warnings().is_empty());
/// telemetry.meter("orders").u64_counter("orders.placed").build().add(1, &[]);
/// telemetry.meter_provider().force_flush().unwrap();
/// assert_eq!(*exports.0.lock().unwrap(), 1);
/// ```
pub trait MetricSink: Send + Sync + 'static {
    /// Writes one collection of metrics.
    fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult;

    /// The temporality the destination wants; delta by default, as a destination that
    /// aggregates what it receives (a log-based metric service) needs.
    fn temporality(&self) -> Temporality {
        Temporality::Delta
    }
}

impl<S: MetricSink + ?Sized> MetricSink for Arc<S> {
    fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        (**self).export(metrics)
    }
    fn temporality(&self) -> Temporality {
        (**self).temporality()
    }
}

/// A registered sink under its name.
#[derive(Clone)]
pub(crate) struct NamedSink {
    pub(crate) name: &'static str,
    pub(crate) sink: Arc<dyn MetricSink>,
}

impl fmt::Debug for NamedSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// Lets the SDK's periodic reader drive a [`MetricSink`].
pub(crate) struct SinkExporter(pub(crate) Arc<dyn MetricSink>);

impl PushMetricExporter for SinkExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.0.export(metrics)
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        self.0.temporality()
    }
}
