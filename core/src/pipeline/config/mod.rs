//! Reading the SDK environment variables, once per signal.
//!
//! [`PipelineConfig::from_env`] reads everything; each concern has its file: one signal's
//! exporter settings (`exporter`), the signals' variable names (`signal`), export headers (`headers`), the sampler (`sampler`), limits
//! and batching (`limits`), single values (`values`), and the check for variables nothing
//! reads (`supported`).

use std::time::Duration;

use crate::engine::ExceptionSignal;
use crate::env::Environment;
use crate::warning::ConfigWarning;

mod exporter;
mod headers;
mod limits;
mod sampler;
mod signal;
mod supported;
mod values;

pub use exporter::{Compression, Exporter, OtlpProtocol, SignalConfig, TlsFiles};
pub use headers::Headers;
pub use limits::{BatchSettings, Limits};
pub use sampler::SamplerConfig;
pub use signal::Signal;

pub(crate) use exporter::OTLP_STDOUT;
use exporter::read_signal;
use limits::{read_batch, read_limits};
use sampler::{read_sampler, read_unsampled_remote_parents};
use supported::unsupported_variables;
use values::{read_bool, read_millis};

/// Metric temporality (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemporalityPreference {
    /// Every instrument cumulative (the spec default).
    Cumulative,
    /// Counters and histograms as deltas: what a short-lived function instance reports best.
    Delta,
    /// Delta for synchronous counters and histograms, cumulative for the rest.
    LowMemory,
}

/// The pipeline settings read from the environment, with the warnings for invalid values.
///
/// ```
/// use std::time::Duration;
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::{OtlpProtocol, PipelineConfig, SamplerConfig};
///
/// let env = MapEnvironment::from([
///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
///     ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:9090/ingest"),
///     ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
///     ("OTEL_TRACES_SAMPLER", "traceidratio"),
///     ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
/// ]);
/// let config = PipelineConfig::from_env(&env);
/// assert_eq!(config.traces.endpoint, "http://collector:4318/v1/traces");
/// assert_eq!(config.logs.endpoint, "http://collector:4318/v1/logs");
/// // A signal-specific endpoint is used as given.
/// assert_eq!(config.metrics.endpoint, "http://metrics:9090/ingest");
/// assert_eq!(config.traces.protocol, OtlpProtocol::HttpProtobuf);
/// assert_eq!(config.sampler, SamplerConfig::TraceIdRatio(0.25));
/// // "soon" is not a number of milliseconds: one warning, and the default.
/// assert_eq!(config.traces.timeout, Duration::from_secs(10));
/// assert_eq!(config.warnings()[0].variable, "OTEL_EXPORTER_OTLP_TIMEOUT");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineConfig {
    /// `OTEL_SDK_DISABLED`: record and export nothing.
    pub sdk_disabled: bool,
    /// Spans.
    pub traces: SignalConfig,
    /// Metrics.
    pub metrics: SignalConfig,
    /// Logs.
    pub logs: SignalConfig,
    /// The sampler.
    pub sampler: SamplerConfig,
    /// `OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS`, when set (else the platform's default).
    pub unsampled_remote_parents: Option<crate::sampling::UnsampledRemoteParents>,
    /// `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`: where exceptions are recorded.
    pub exception_signal: ExceptionSignal,
    /// Attribute and span limits.
    pub limits: Limits,
    /// The spans' export path (`OTEL_BSP_*`).
    pub span_batch: BatchSettings,
    /// `OTEL_BSP_EXPORT_TIMEOUT`: the longest one export from the spans' exporter thread
    /// may take (each request within it is also bounded by the exporter's timeout).
    pub span_export_timeout: Duration,
    /// The log record batch processor (`OTEL_BLRP_*`).
    pub log_batch: BatchSettings,
    /// `OTEL_METRIC_EXPORT_INTERVAL`.
    pub metric_export_interval: Duration,
    /// `OTEL_METRIC_EXPORT_TIMEOUT`.
    pub metric_export_timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub metric_temporality: TemporalityPreference,
    warnings: Vec<ConfigWarning>,
}

/// What platform crates registered: names each signal's exporter variable and
/// `OTEL_TRACES_SAMPLER` accept beside the built-in ones, and the platform's default
/// exporter of a signal whose variable is unset.
#[derive(Debug, Default)]
pub(crate) struct Registered<'a> {
    pub(crate) spans: &'a [&'static str],
    pub(crate) metrics: &'a [&'static str],
    pub(crate) logs: &'a [&'static str],
    pub(crate) samplers: &'a [&'static str],
    pub(crate) defaults: Vec<(Signal, &'static str)>,
}

impl PipelineConfig {
    /// Reads the settings from `env`.
    pub fn from_env(env: &dyn Environment) -> Self {
        Self::from_env_with_metric_exporters(env, &[])
    }

    /// Reads the settings from `env`, where `OTEL_METRICS_EXPORTER` may also name
    /// `metric_exporters` (registered by platform crates).
    pub(crate) fn from_env_with_metric_exporters(
        env: &dyn Environment,
        metric_exporters: &[&'static str],
    ) -> Self {
        Self::from_env_with_exporters(
            env,
            &Registered {
                metrics: metric_exporters,
                ..Registered::default()
            },
        )
    }

    /// The configuration, with the `registered` names accepted beside the built-in ones.
    pub(crate) fn from_env_with_exporters(env: &dyn Environment, registered: &Registered) -> Self {
        let mut warnings = Vec::new();
        let w = &mut warnings;
        let sdk_disabled = read_bool(env, "OTEL_SDK_DISABLED", false, w);
        let [traces, metrics, logs] = [
            (Signal::Traces, registered.spans),
            (Signal::Metrics, registered.metrics),
            (Signal::Logs, registered.logs),
        ]
        .map(|(signal, names)| {
            let default = registered
                .defaults
                .iter()
                .find(|(of, _)| *of == signal)
                .map(|(_, name)| *name);
            read_signal(env, signal, names, default, w)
        });
        let sampler = read_sampler(env, registered.samplers, w);
        let unsampled_remote_parents = read_unsampled_remote_parents(env, w);
        let exception_signal = read_exception_signal(env, w);
        let limits = read_limits(env, w);
        let span_batch = read_batch(env, "OTEL_BSP_", 5000, w);
        let span_export_timeout = read_millis(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000, w);
        let log_batch = read_batch(env, "OTEL_BLRP_", 1000, w);
        let metric_export_interval = read_millis(env, "OTEL_METRIC_EXPORT_INTERVAL", 60_000, w)
            .max(Duration::from_millis(1));
        let metric_export_timeout = read_millis(env, "OTEL_METRIC_EXPORT_TIMEOUT", 30_000, w);
        let metric_temporality = read_temporality(env, w);
        unsupported_variables(env, w);
        // A general variable is read once per signal; an invalid one is still one warning.
        let mut unique: Vec<ConfigWarning> = Vec::with_capacity(warnings.len());
        for warning in warnings {
            if !unique.contains(&warning) {
                unique.push(warning);
            }
        }
        let warnings = unique;
        Self {
            sdk_disabled,
            traces,
            metrics,
            logs,
            sampler,
            unsampled_remote_parents,
            exception_signal,
            limits,
            span_batch,
            span_export_timeout,
            log_batch,
            metric_export_interval,
            metric_export_timeout,
            metric_temporality,
            warnings,
        }
    }

    /// The settings of `signal`.
    pub fn signal(&self, signal: Signal) -> &SignalConfig {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// The problems found, each already resolved to a default.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }
}

fn read_temporality(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> TemporalityPreference {
    const VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    let Some(value) = env.get_non_empty(VAR) else {
        return TemporalityPreference::Cumulative;
    };
    match value.to_ascii_lowercase().as_str() {
        "cumulative" => TemporalityPreference::Cumulative,
        "delta" => TemporalityPreference::Delta,
        "lowmemory" => TemporalityPreference::LowMemory,
        _ => {
            w.push(ConfigWarning::new(
                VAR,
                value,
                "cumulative, delta, lowmemory",
                "cumulative",
            ));
            TemporalityPreference::Cumulative
        }
    }
}

fn read_exception_signal(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> ExceptionSignal {
    const VAR: &str = "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN";
    let Some(raw) = env.get_non_empty(VAR) else {
        return ExceptionSignal::SpanEvents;
    };
    // A comma-separated list, like the stability opt-in; unknown entries are warned about.
    let mut signal = ExceptionSignal::SpanEvents;
    for entry in raw.split(',').map(|e| e.trim().to_ascii_lowercase()) {
        match entry.as_str() {
            "logs" if signal == ExceptionSignal::SpanEvents => signal = ExceptionSignal::Logs,
            "logs" => {}
            "logs/dup" => signal = ExceptionSignal::SpanEventsAndLogs,
            "" => {}
            _ => w.push(ConfigWarning::new(
                VAR,
                entry,
                "logs, logs/dup",
                "exceptions as span events",
            )),
        }
    }
    signal
}

#[cfg(test)]
mod tests;
