//! `tracing` set-up in one call: the OpenTelemetry layer that records `tracing` spans into
//! the pipeline, `tracing` events as OTLP log records (when `OTEL_LOGS_EXPORTER` exports
//! them), and log lines on standard error.
//!
//! Log records carry the trace and span id of the span they were written in (the
//! invocation's, or a `tracing` span inside it), their level as severity, and their fields
//! as attributes. Events of the exporters' own crates (`opentelemetry*`, `hyper`,
//! `reqwest`, `h2`, `tonic`, `tower`) and of `otel_faas` itself are not exported as logs:
//! an export failure reported as a log record would feed the export that failed.

mod fields;

pub use fields::JsonFields;

use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracer;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{FilterExt as _, FilterFn, LevelFilter};
use tracing_subscriber::layer::{Identity, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::pipeline::Telemetry;

/// What [`Telemetry::init_tracing`] installs.
///
/// ```
/// use otel_faas_core::subscriber::TracingOptions;
/// use tracing_subscriber::filter::LevelFilter;
///
/// let options = TracingOptions::default()
///     .level(LevelFilter::DEBUG)
///     .hide_span("runtime invoke")
///     .timestamps(false);
/// # drop(options);
/// ```
#[derive(Debug, Clone)]
pub struct TracingOptions {
    level: LevelFilter,
    hidden_spans: Vec<&'static str>,
    timestamps: bool,
    plain_lines: bool,
}

impl Default for TracingOptions {
    /// `INFO` and above, every span exported, timestamps on each line.
    fn default() -> Self {
        Self {
            level: LevelFilter::INFO,
            hidden_spans: Vec::new(),
            timestamps: true,
            plain_lines: true,
        }
    }
}

impl TracingOptions {
    /// The most verbose level recorded (spans and log lines alike).
    #[must_use]
    pub fn level(mut self, level: LevelFilter) -> Self {
        self.level = level;
        self
    }

    /// Keeps `tracing` spans named `name` out of the traces (they still scope log lines). A
    /// runtime's own per-request span, started outside the invocation's context, would
    /// otherwise be an orphan trace of its own.
    #[must_use]
    pub fn hide_span(mut self, name: &'static str) -> Self {
        self.hidden_spans.push(name);
        self
    }

    /// Whether log lines start with a timestamp (platforms whose log service stamps each
    /// line do not need it).
    #[must_use]
    pub fn timestamps(mut self, timestamps: bool) -> Self {
        self.timestamps = timestamps;
        self
    }

    /// Whether log lines are written to standard error as plain text (on by default). A
    /// platform whose log service reads structured lines from a layer of its own turns
    /// them off, so that each line is not ingested twice.
    ///
    /// ```
    /// use otel_faas_core::subscriber::TracingOptions;
    ///
    /// let options = TracingOptions::default().plain_lines(false);
    /// # drop(options);
    /// ```
    #[must_use]
    pub fn plain_lines(mut self, plain_lines: bool) -> Self {
        self.plain_lines = plain_lines;
        self
    }
}

/// Why the subscriber could not be installed.
#[derive(Debug, thiserror::Error)]
#[error(
    "a global tracing subscriber is already installed; compose your own with \
     Telemetry::tracing_layer() instead of calling init_tracing"
)]
pub struct TracingInitError(#[source] tracing_subscriber::util::TryInitError);

impl Telemetry {
    /// The `tracing-opentelemetry` layer recording `tracing` spans into this pipeline, for
    /// those who compose their own subscriber. Its tracer is named after the service.
    ///
    /// ```
    /// use otel_faas_core::Pipeline;
    /// use otel_faas_core::env::MapEnvironment;
    /// use tracing_subscriber::layer::SubscriberExt as _;
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")])).install();
    /// let subscriber = tracing_subscriber::registry().with(telemetry.tracing_layer());
    /// tracing::subscriber::with_default(subscriber, || tracing::info_span!("work").in_scope(|| {}));
    /// ```
    pub fn tracing_layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let name = self
            .resource()
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map_or_else(|| "otel-faas".to_owned(), |value| value.to_string());
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer().with_tracer(self.tracer_provider().tracer(name))
    }

    /// The logs bridge: a layer that turns `tracing` events into log records of this
    /// pipeline's logger provider, for those who compose their own subscriber (filter out the
    /// exporters' own targets, as [`init_tracing`](Self::init_tracing) does, so that an
    /// export failure does not become a record of the export that failed).
    ///
    /// ```
    /// use otel_faas_core::Pipeline;
    /// use otel_faas_core::env::MapEnvironment;
    /// use tracing_subscriber::layer::SubscriberExt as _;
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_LOGS_EXPORTER", "none")])).install();
    /// let subscriber = tracing_subscriber::registry().with(telemetry.logs_layer());
    /// tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
    /// ```
    pub fn logs_layer(
        &self,
    ) -> OpenTelemetryTracingBridge<SdkLoggerProvider, opentelemetry_sdk::logs::SdkLogger> {
        OpenTelemetryTracingBridge::new(self.logger_provider())
    }

    /// Whether log records are exported anywhere (`OTEL_LOGS_EXPORTER` not `none`, the SDK
    /// not disabled).
    fn exports_logs(&self) -> bool {
        !self.config().sdk_disabled && !self.config().logs.exporters.is_empty()
    }

    /// Installs the global `tracing` subscriber: [`tracing_layer`](Self::tracing_layer)
    /// (without the hidden spans), log lines on standard error and — when
    /// `OTEL_LOGS_EXPORTER` exports them — the events as log records
    /// ([`logs_layer`](Self::logs_layer)), at `options`' level;
    /// and this pipeline's tracer and meter providers as `opentelemetry`'s global ones
    /// ([`set_global_providers`](Self::set_global_providers)).
    pub fn init_tracing(&self, options: TracingOptions) -> Result<(), TracingInitError> {
        self.init_tracing_with(options, Identity::new())
    }

    /// [`init_tracing`](Self::init_tracing) with one more layer, for a platform that
    /// watches `tracing` itself (a platform crate that learns from its runtime's own span when
    /// each invocation is over). The level applies to the log lines and the OpenTelemetry
    /// layer only, so `layer` sees what its own filter asks for at any level.
    ///
    /// ```no_run
    /// use otel_faas_core::{Pipeline, subscriber::TracingOptions};
    ///
    /// let telemetry = Pipeline::from_env().install();
    /// let watcher = tracing_subscriber::layer::Identity::new();
    /// telemetry.init_tracing_with(TracingOptions::default(), watcher).unwrap();
    /// ```
    pub fn init_tracing_with<L>(
        &self,
        options: TracingOptions,
        layer: L,
    ) -> Result<(), TracingInitError>
    where
        L: Layer<Registry> + Send + Sync + 'static,
    {
        let hidden = options.hidden_spans;
        let keep = FilterFn::new(move |metadata| {
            !(metadata.is_span() && hidden.contains(&metadata.name()))
        });
        let lines = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false);
        let lines = if options.timestamps {
            lines.boxed()
        } else {
            lines.without_time().boxed()
        };
        let lines = options
            .plain_lines
            .then(|| lines.with_filter(options.level));
        let logs = self.exports_logs().then(|| {
            self.logs_layer()
                .with_filter(FilterFn::new(|metadata| {
                    !is_telemetry_internal(metadata.target())
                }))
                .with_filter(options.level)
        });
        tracing_subscriber::registry()
            .with(layer)
            .with(lines)
            .with(self.tracing_layer().with_filter(keep.and(options.level)))
            .with(logs)
            .try_init()
            .map_err(TracingInitError)?;
        self.set_global_providers();
        Ok(())
    }
}

/// Whether `target` belongs to the exporters' crates or to otel-faas itself, whose events
/// are never exported as log records (see the module).
fn is_telemetry_internal(target: &str) -> bool {
    const INTERNAL: [&str; 7] = [
        "opentelemetry",
        "hyper",
        "reqwest",
        "h2",
        "tonic",
        "tower",
        "otel_faas",
    ];
    INTERNAL.iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'))
    })
}

#[cfg(test)]
mod tests {
    use super::is_telemetry_internal;

    #[test]
    fn the_exporters_own_targets_are_internal() {
        for target in [
            "opentelemetry_otlp",
            "opentelemetry_sdk::logs",
            "hyper::proto",
            "hyper_util",
            "reqwest",
            "h2::codec",
            "tonic",
            "tower::buffer",
            "otel_faas",
            "otel_faas_core::pipeline",
        ] {
            assert!(is_telemetry_internal(target), "{target}");
        }
        for target in ["orders", "my_app::hyperdrive", "h2o", "towers", "hyperion"] {
            assert!(!is_telemetry_internal(target), "{target}");
        }
    }
}
