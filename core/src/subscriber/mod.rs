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
mod lines;

pub use fields::JsonFields;
pub use lines::{LineContext, LineFormat, LogLineLayer};

use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracer;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{FilterExt as _, FilterFn, LevelFilter, Targets};
use tracing_subscriber::layer::{Identity, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::env::Environment as _;
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
    rust_log: bool,
    hidden_spans: Vec<&'static str>,
    timestamps: bool,
    plain_lines: bool,
}

impl Default for TracingOptions {
    /// `INFO` and above (or what `RUST_LOG` says), every span exported, timestamps on each
    /// line.
    fn default() -> Self {
        Self {
            level: LevelFilter::INFO,
            rust_log: true,
            hidden_spans: Vec::new(),
            timestamps: true,
            plain_lines: true,
        }
    }
}

impl TracingOptions {
    /// The most verbose level recorded (spans and log lines alike) when `RUST_LOG` is not
    /// set; `INFO` by default. OpenTelemetry's own crates are held at `WARN` at most, so
    /// the SDK's start-up notices ("Global tracer provider is set") and per-export debug
    /// lines stay out of a function's logs unless `RUST_LOG` names them.
    #[must_use]
    pub fn level(mut self, level: LevelFilter) -> Self {
        self.level = level;
        self
    }

    /// Whether `RUST_LOG`, when set, replaces [`level`](Self::level) (on by default). It
    /// takes `tracing-subscriber`'s `Targets` syntax: a level, and `target=level`
    /// directives, comma-separated (`warn,orders=debug`); span and field filters
    /// (`[span{field}]`) are refused with a warning — they need the regex engine, which a
    /// function's binary should not carry for this. A platform whose own log level setting
    /// must win turns it off (the Lambda crate does when `AWS_LAMBDA_LOG_LEVEL` is set).
    ///
    /// ```
    /// use otel_faas_core::subscriber::TracingOptions;
    ///
    /// let options = TracingOptions::default().rust_log(false);
    /// # drop(options);
    /// ```
    #[must_use]
    pub fn rust_log(mut self, rust_log: bool) -> Self {
        self.rust_log = rust_log;
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

    /// [`init_tracing`](Self::init_tracing) with one more layer: a platform's own log lines
    /// (Cloud Logging's JSON, Lambda's format, the Azure host's `Logs`) and whatever
    /// watches `tracing` (a platform crate that learns from its runtime's own span when each
    /// invocation is over). `layer` sees every span, at any level, and the events the
    /// options' level (or `RUST_LOG`) lets through — the same events as the plain lines.
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
        let rust_log = if options.rust_log {
            crate::env::ProcessEnvironment.get_non_empty("RUST_LOG")
        } else {
            None
        };
        let filter = log_filter(options.level, rust_log.as_deref());
        let hidden = options.hidden_spans;
        let keep = FilterFn::new(move |metadata| {
            !(metadata.is_span() && hidden.contains(&metadata.name()))
        });
        // Spans always reach `layer` (a watcher needs its runtime's span whatever the level);
        // events only as the filter says, or every library's TRACE line would be written.
        let events = filter.clone();
        let layer = layer.with_filter(FilterFn::new(move |metadata| {
            metadata.is_span() || events.would_enable(metadata.target(), metadata.level())
        }));
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
            .then(|| lines.with_filter(filter.clone()));
        let logs = self.exports_logs().then(|| {
            self.logs_layer()
                .with_filter(FilterFn::new(|metadata| {
                    !is_telemetry_internal(metadata.target())
                }))
                .with_filter(filter.clone())
        });
        tracing_subscriber::registry()
            .with(layer)
            .with(lines)
            .with(self.tracing_layer().with_filter(keep.and(filter)))
            .with(logs)
            .try_init()
            .map_err(TracingInitError)?;
        self.set_global_providers();
        Ok(())
    }
}

/// OpenTelemetry's own crates (`opentelemetry`, `opentelemetry_sdk`, `opentelemetry_otlp`,
/// …: a `Targets` directive matches every target its name starts with).
const OPENTELEMETRY_TARGETS: &str = "opentelemetry";

/// What is recorded: `RUST_LOG`'s directives when it is set and valid, else `level` with
/// OpenTelemetry's own crates at `WARN` at most. An invalid `RUST_LOG` warns and is ignored.
fn log_filter(level: LevelFilter, rust_log: Option<&str>) -> Targets {
    if let Some(directives) = rust_log {
        match directives.parse::<Targets>() {
            Ok(targets) => return targets,
            Err(error) => crate::env::ConfigWarning::new(
                "RUST_LOG",
                directives,
                format!(
                    "a level and target=level directives, comma-separated ({error}; span and field filters are not supported)"
                ),
                level.to_string(),
            )
            .emit(),
        }
    }
    Targets::new()
        .with_default(level)
        .with_target(OPENTELEMETRY_TARGETS, level.min(LevelFilter::WARN))
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
    use super::{is_telemetry_internal, log_filter};
    use tracing::Level;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn by_default_the_level_holds_and_opentelemetry_speaks_only_from_warn() {
        let filter = log_filter(LevelFilter::INFO, None);
        assert!(filter.would_enable("orders", &Level::INFO));
        assert!(!filter.would_enable("orders", &Level::DEBUG));
        assert!(!filter.would_enable("hyper_util::client::legacy", &Level::DEBUG));
        // "Global tracer provider is set" is an INFO line of the `opentelemetry` target.
        assert!(!filter.would_enable("opentelemetry", &Level::INFO));
        assert!(!filter.would_enable("opentelemetry_sdk", &Level::INFO));
        assert!(filter.would_enable("opentelemetry_sdk", &Level::WARN));
        // A quieter level is not raised for OpenTelemetry.
        let errors = log_filter(LevelFilter::ERROR, None);
        assert!(!errors.would_enable("opentelemetry_otlp", &Level::WARN));
        assert!(errors.would_enable("opentelemetry_otlp", &Level::ERROR));
    }

    #[test]
    fn rust_log_replaces_the_level_with_its_directives() {
        let filter = log_filter(LevelFilter::INFO, Some("warn,orders=trace"));
        assert!(filter.would_enable("orders::db", &Level::TRACE));
        assert!(!filter.would_enable("billing", &Level::INFO));
        assert!(filter.would_enable("billing", &Level::WARN));
        let debug = log_filter(LevelFilter::INFO, Some("debug"));
        assert!(debug.would_enable("hyper_util", &Level::DEBUG));
        assert!(debug.would_enable("opentelemetry_sdk", &Level::DEBUG));
        assert!(!debug.would_enable("orders", &Level::TRACE));
    }

    #[test]
    fn an_invalid_rust_log_is_ignored() {
        // Span filters need EnvFilter's regex engine: refused, the level used.
        let filter = log_filter(LevelFilter::INFO, Some("[request{id=1}]=trace"));
        assert!(filter.would_enable("orders", &Level::INFO));
        assert!(!filter.would_enable("orders", &Level::DEBUG));
    }

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
