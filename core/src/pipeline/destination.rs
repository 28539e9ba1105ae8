//! Metric and log destinations that a platform crate adds under a name of
//! `OTEL_METRICS_EXPORTER` / `OTEL_LOGS_EXPORTER` (a vendor's ingestion API), and the rule
//! that makes a platform's destination the default where the platform says so.
//!
//! Span destinations are [`SpanDestination`](super::SpanDestination); these are their
//! siblings for the SDK's two other exporter traits. Each is built only when its variable
//! names it (or when it is the default), from the environment and the signal's settings.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;

use super::{Signal, SignalConfig};
use crate::env::Environment;

type ExportFuture<'a> = Pin<Box<dyn Future<Output = OTelSdkResult> + Send + 'a>>;

/// `PushMetricExporter` as a trait object (its `export` returns `impl Future`).
trait DynMetricExporter: Send + Sync {
    fn export<'a>(&'a self, metrics: &'a ResourceMetrics) -> ExportFuture<'a>;
    fn force_flush(&self) -> OTelSdkResult;
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult;
    fn temporality(&self) -> Temporality;
}

impl<E: PushMetricExporter> DynMetricExporter for E {
    fn export<'a>(&'a self, metrics: &'a ResourceMetrics) -> ExportFuture<'a> {
        Box::pin(PushMetricExporter::export(self, metrics))
    }
    fn force_flush(&self) -> OTelSdkResult {
        PushMetricExporter::force_flush(self)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        PushMetricExporter::shutdown_with_timeout(self, timeout)
    }
    fn temporality(&self) -> Temporality {
        PushMetricExporter::temporality(self)
    }
}

/// A metric exporter built by a [`MetricDestination`], for the SDK's periodic reader.
pub(crate) struct BoxedMetricExporter(Box<dyn DynMetricExporter>);

impl fmt::Debug for BoxedMetricExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxedMetricExporter")
    }
}

impl PushMetricExporter for BoxedMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.0.export(metrics).await
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.0.temporality()
    }
}

/// `LogExporter` as a trait object.
trait DynLogExporter: Send + Sync + fmt::Debug {
    fn export<'a>(&'a self, batch: LogBatch<'a>) -> ExportFuture<'a>;
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult;
    fn set_resource(&mut self, resource: &Resource);
}

impl<E: LogExporter + 'static> DynLogExporter for E {
    fn export<'a>(&'a self, batch: LogBatch<'a>) -> ExportFuture<'a> {
        Box::pin(LogExporter::export(self, batch))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        LogExporter::shutdown_with_timeout(self, timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        LogExporter::set_resource(self, resource);
    }
}

/// A log exporter built by a [`LogDestination`], for the SDK's batch processor.
#[derive(Debug)]
pub(crate) struct BoxedLogExporter(Box<dyn DynLogExporter>);

impl LogExporter for BoxedLogExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        self.0.export(batch).await
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

type Build<T> = Box<dyn FnOnce(&dyn Environment, &SignalConfig) -> Result<T, String> + Send>;

/// A metrics destination that `OTEL_METRICS_EXPORTER` may select by name, beside `otlp`
/// and `console`: a vendor's ingestion API with an exporter of its own (Application
/// Insights, for instance). Its exporter is built only when the variable names it (or when
/// it is the platform's default, see [`Pipeline::with_default_destination`]), and a
/// periodic reader drives it like the others — every `OTEL_METRIC_EXPORT_INTERVAL` and at
/// each flush, failures reported and counted. For a destination that only writes lines,
/// [`MetricSink`](super::MetricSink) is simpler.
///
/// [`Pipeline::with_default_destination`]: crate::Pipeline::with_default_destination
///
/// ```
/// use opentelemetry_sdk::metrics::InMemoryMetricExporter;
/// use otel_faas_core::{Pipeline, env::MapEnvironment, pipeline::MetricDestination};
///
/// let exporter = InMemoryMetricExporter::default();
/// let given = exporter.clone();
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_METRICS_EXPORTER", "memory"),
///     ("OTEL_TRACES_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .with_metric_destination(MetricDestination::new("memory", move |_env, _settings| Ok(given)))
/// .install();
/// assert!(telemetry.warnings().is_empty());
/// telemetry.meter("orders").u64_counter("orders.placed").build().add(1, &[]);
/// telemetry.meter_provider().force_flush().unwrap();
/// assert!(!exporter.get_finished_metrics().unwrap().is_empty());
/// ```
pub struct MetricDestination {
    pub(crate) name: &'static str,
    pub(crate) build: Build<BoxedMetricExporter>,
}

impl MetricDestination {
    /// A destination called `name` (case insensitive) whose exporter `build` makes from
    /// the environment and the metrics' settings, or says why it cannot (the reason
    /// becomes the pipeline's warning).
    pub fn new<E, F>(name: &'static str, build: F) -> Self
    where
        E: PushMetricExporter,
        F: FnOnce(&dyn Environment, &SignalConfig) -> Result<E, String> + Send + 'static,
    {
        Self {
            name,
            build: Box::new(move |env, settings| {
                build(env, settings).map(|exporter| BoxedMetricExporter(Box::new(exporter)))
            }),
        }
    }

    /// The name `OTEL_METRICS_EXPORTER` selects it by.
    ///
    /// ```
    /// use opentelemetry_sdk::metrics::InMemoryMetricExporter;
    /// use otel_faas_core::pipeline::MetricDestination;
    ///
    /// let destination = MetricDestination::new("memory", |_, _| Ok(InMemoryMetricExporter::default()));
    /// assert_eq!(destination.name(), "memory");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for MetricDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricDestination")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A log destination that `OTEL_LOGS_EXPORTER` may select by name, beside `otlp` and
/// `console`; built and driven like the others (the SDK's batch processor, the late
/// resource attributes, failures reported and counted). See [`MetricDestination`].
///
/// ```
/// use opentelemetry_sdk::logs::InMemoryLogExporter;
/// use otel_faas_core::{Pipeline, env::MapEnvironment, pipeline::LogDestination};
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_LOGS_EXPORTER", "memory"),
///     ("OTEL_TRACES_EXPORTER", "none"),
///     ("OTEL_METRICS_EXPORTER", "none"),
/// ]))
/// .with_log_destination(LogDestination::new("memory", |_env, _settings| {
///     Ok(InMemoryLogExporter::default())
/// }))
/// .install();
/// assert!(telemetry.warnings().is_empty());
/// ```
pub struct LogDestination {
    pub(crate) name: &'static str,
    pub(crate) build: Build<BoxedLogExporter>,
}

impl LogDestination {
    /// A destination called `name` (case insensitive) whose exporter `build` makes from
    /// the environment and the logs' settings, or says why it cannot.
    pub fn new<E, F>(name: &'static str, build: F) -> Self
    where
        E: LogExporter + 'static,
        F: FnOnce(&dyn Environment, &SignalConfig) -> Result<E, String> + Send + 'static,
    {
        Self {
            name,
            build: Box::new(move |env, settings| {
                build(env, settings).map(|exporter| BoxedLogExporter(Box::new(exporter)))
            }),
        }
    }

    /// The name `OTEL_LOGS_EXPORTER` selects it by.
    ///
    /// ```
    /// use opentelemetry_sdk::logs::InMemoryLogExporter;
    /// use otel_faas_core::pipeline::LogDestination;
    ///
    /// let destination = LogDestination::new("memory", |_, _| Ok(InMemoryLogExporter::default()));
    /// assert_eq!(destination.name(), "memory");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for LogDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogDestination")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// When a platform's destination replaces `otlp` as a signal's default (see
/// [`Pipeline::with_default_destination`](crate::Pipeline::with_default_destination)):
/// given the environment and the signal whose `OTEL_{SIGNAL}_EXPORTER` is unset.
///
/// ```
/// use otel_faas_core::env::{Environment, MapEnvironment};
/// use otel_faas_core::pipeline::{DefaultWhen, Signal};
///
/// let wired: DefaultWhen = |env, signal| {
///     signal == Signal::Traces && env.get_non_empty("VENDOR_KEY").is_some()
/// };
/// assert!(wired(&MapEnvironment::from([("VENDOR_KEY", "k")]), Signal::Traces));
/// assert!(!wired(&MapEnvironment::default(), Signal::Traces));
/// ```
pub type DefaultWhen = fn(&dyn Environment, Signal) -> bool;

/// A registered default: the destination's name and when it applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DefaultDestination {
    pub(crate) name: &'static str,
    pub(crate) when: DefaultWhen,
}

#[cfg(test)]
mod tests {
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
    use opentelemetry_sdk::logs::InMemoryLogExporter;
    use opentelemetry_sdk::metrics::InMemoryMetricExporter;
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    use super::*;
    use crate::Pipeline;
    use crate::env::MapEnvironment;
    use crate::pipeline::{Exporter, SpanDestination};

    fn wired(env: &dyn Environment, signal: Signal) -> bool {
        env.get_non_empty("VENDOR_KEY").is_some() && signal != Signal::Logs
    }

    fn vendor(env: MapEnvironment) -> Pipeline {
        Pipeline::with_environment(env)
            .with_span_destination(SpanDestination::new("vendor", |_, _| {
                Ok(InMemorySpanExporter::default())
            }))
            .with_metric_destination(MetricDestination::new("vendor", |_, _| {
                Ok(InMemoryMetricExporter::default())
            }))
            .with_log_destination(LogDestination::new("vendor", |_, _| {
                Ok(InMemoryLogExporter::default())
            }))
            .with_default_destination("vendor", wired)
    }

    #[test]
    fn the_platform_default_applies_where_its_rule_holds_and_the_variable_is_unset() {
        let telemetry = vendor(MapEnvironment::from([
            ("VENDOR_KEY", "k"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]))
        .install();
        let config = telemetry.config();
        assert_eq!(config.traces.exporters, [Exporter::Named("vendor")]);
        assert!(config.metrics.exporters.is_empty(), "the variable wins");
        assert_ne!(
            config.logs.exporters,
            [Exporter::Named("vendor")],
            "the rule said no for logs"
        );
        assert!(
            telemetry.warnings().is_empty(),
            "{:?}",
            telemetry.warnings()
        );

        let telemetry = vendor(MapEnvironment::default()).install();
        assert_eq!(telemetry.config().traces.exporters, [Exporter::Otlp]);

        // A value with nothing usable falls back to the platform's default, and says so.
        let telemetry = vendor(MapEnvironment::from([
            ("VENDOR_KEY", "k"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
        ]))
        .install();
        assert_eq!(
            telemetry.config().traces.exporters,
            [Exporter::Named("vendor")]
        );
        assert_eq!(telemetry.warnings()[0].fallback, "vendor");
    }

    #[test]
    fn a_default_without_a_destination_of_its_name_changes_nothing() {
        let telemetry = Pipeline::with_environment(MapEnvironment::from([("VENDOR_KEY", "k")]))
            .with_default_destination("vendor", wired)
            .install();
        assert_eq!(telemetry.config().traces.exporters, [Exporter::Otlp]);
        assert!(telemetry.warnings().is_empty());
    }

    #[test]
    fn named_metric_and_log_destinations_receive_their_signal() {
        let metrics = InMemoryMetricExporter::default();
        let logs = InMemoryLogExporter::default();
        let (given_metrics, given_logs) = (metrics.clone(), logs.clone());
        let telemetry = Pipeline::with_environment(MapEnvironment::from([
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "Vendor"),
            ("OTEL_LOGS_EXPORTER", "vendor"),
        ]))
        .with_metric_destination(MetricDestination::new("vendor", move |_, settings| {
            assert_eq!(
                settings.timeout,
                Duration::from_secs(10),
                "the metrics' settings"
            );
            Ok(given_metrics)
        }))
        .with_log_destination(LogDestination::new("vendor", move |_, _| Ok(given_logs)))
        .install();
        assert!(
            telemetry.warnings().is_empty(),
            "{:?}",
            telemetry.warnings()
        );
        telemetry
            .meter("orders")
            .u64_counter("orders.placed")
            .build()
            .add(1, &[]);
        telemetry.meter_provider().force_flush().unwrap();
        let exported = metrics.get_finished_metrics().unwrap();
        let names: Vec<String> = exported
            .iter()
            .flat_map(|resource| resource.scope_metrics())
            .flat_map(|scope| scope.metrics())
            .map(|metric| metric.name().to_owned())
            .collect();
        assert!(names.contains(&"orders.placed".to_owned()), "{names:?}");

        let logger = telemetry.logger_provider().logger("orders");
        let mut record = logger.create_log_record();
        record.set_body("placed".into());
        logger.emit(record);
        telemetry.logger_provider().force_flush().unwrap();
        assert_eq!(logs.get_emitted_logs().unwrap().len(), 1);
    }

    #[test]
    fn a_log_destination_that_cannot_be_built_is_a_warning_naming_it_and_why() {
        let telemetry = Pipeline::with_environment(MapEnvironment::from([
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "vendor"),
            ("OTEL_LOGS_EXPORTER", "vendor"),
        ]))
        .with_metric_destination(MetricDestination::new("vendor", |_, _| {
            Err::<InMemoryMetricExporter, _>("no key in the connection string".to_owned())
        }))
        .with_log_destination(LogDestination::new("vendor", |_, _| {
            Err::<InMemoryLogExporter, _>("no key in the connection string".to_owned())
        }))
        .install();
        let warnings: Vec<(&str, &str, &str)> = telemetry
            .warnings()
            .iter()
            .map(|w| (w.variable.as_str(), w.value.as_str(), w.accepted.as_str()))
            .collect();
        assert_eq!(
            warnings,
            [
                (
                    "OTEL_METRICS_EXPORTER",
                    "vendor",
                    "no key in the connection string"
                ),
                (
                    "OTEL_LOGS_EXPORTER",
                    "vendor",
                    "no key in the connection string"
                ),
            ]
        );
    }
}
