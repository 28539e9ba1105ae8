//! Reading the SDK environment variables, once per signal.

use std::fmt;
#[cfg(all(
    test,
    feature = "otlp-metrics",
    feature = "otlp-logs",
    feature = "console"
))]
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use opentelemetry_sdk::trace::Sampler;

use crate::engine::ExceptionSignal;
use crate::env::Environment;
use crate::warning::ConfigWarning;

/// One of the three signals, each with its own exporter settings.
///
/// ```
/// use otel_faas_core::pipeline::Signal;
///
/// assert_eq!(Signal::Metrics.path(), "/v1/metrics");
/// assert_eq!(Signal::Logs.exporter_variable(), "OTEL_LOGS_EXPORTER");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All three, in the order they are configured.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// `traces`, `metrics` or `logs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
            Self::Logs => "logs",
        }
    }

    /// The OTLP/HTTP path appended to the general endpoint.
    pub fn path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Metrics => "/v1/metrics",
            Self::Logs => "/v1/logs",
        }
    }

    /// `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` or `OTEL_LOGS_EXPORTER`.
    pub fn exporter_variable(self) -> &'static str {
        match self {
            Self::Traces => "OTEL_TRACES_EXPORTER",
            Self::Metrics => "OTEL_METRICS_EXPORTER",
            Self::Logs => "OTEL_LOGS_EXPORTER",
        }
    }

    /// The signal-specific name of a general `OTEL_EXPORTER_OTLP_*` variable.
    fn specific(self, general: &str) -> String {
        let infix = match self {
            Self::Traces => "TRACES_",
            Self::Metrics => "METRICS_",
            Self::Logs => "LOGS_",
        };
        general.replacen(
            "OTEL_EXPORTER_OTLP_",
            &format!("OTEL_EXPORTER_OTLP_{infix}"),
            1,
        )
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a signal goes (`OTEL_{TRACES,METRICS,LOGS}_EXPORTER`).
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::{Exporter, PipelineConfig};
///
/// let config = PipelineConfig::from_env(&MapEnvironment::from([("OTEL_METRICS_EXPORTER", "console")]));
/// assert_eq!(config.metrics.exporters, [Exporter::Console]);
/// assert_eq!(config.traces.exporters, [Exporter::Otlp]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exporter {
    /// OTLP, over the configured protocol.
    Otlp,
    /// Human-readable lines on standard output, for local use.
    Console,
    /// A destination a platform crate registered under this name (metrics only; see
    /// [`Pipeline::with_metric_exporter`](crate::Pipeline::with_metric_exporter)).
    Named(&'static str),
}

/// The OTLP wire protocol (`OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// Protobuf over HTTP: the default, and the cheapest on a cold start.
    HttpProtobuf,
    /// JSON over HTTP.
    HttpJson,
    /// gRPC; needs the `otlp-grpc` cargo feature.
    Grpc,
}

/// Payload compression (`OTEL_EXPORTER_OTLP_[SIGNAL_]COMPRESSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// gzip.
    Gzip,
}

/// Headers sent with every export. Their values are often credentials, so `Debug` prints
/// the names only.
///
/// ```
/// use otel_faas_core::pipeline::Headers;
///
/// let headers = Headers::from(vec![("authorization".to_owned(), "Bearer s3cret".to_owned())]);
/// assert_eq!(format!("{headers:?}"), r#"Headers(["authorization"])"#);
/// assert_eq!(headers.get("Authorization"), Some("Bearer s3cret"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// The pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl From<Vec<(String, String)>> for Headers {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Headers")
            .field(&self.0.iter().map(|(key, _)| key).collect::<Vec<_>>())
            .finish()
    }
}

/// TLS files (`OTEL_EXPORTER_OTLP_[SIGNAL_]{CERTIFICATE,CLIENT_KEY,CLIENT_CERTIFICATE}`):
/// a CA to trust beside the public roots, and a client certificate for mutual TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of CA certificates to trust.
    pub certificate: Option<PathBuf>,
    /// PEM file of the client's private key.
    pub client_key: Option<PathBuf>,
    /// PEM file of the client's certificate chain.
    pub client_certificate: Option<PathBuf>,
}

/// The exporter settings of one signal.
#[derive(Debug, Clone)]
pub struct SignalConfig {
    /// The exporters; empty for `none`.
    pub exporters: Vec<Exporter>,
    /// The OTLP protocol.
    pub protocol: OtlpProtocol,
    /// The full URL the signal is sent to.
    pub endpoint: String,
    /// Extra headers (or gRPC metadata) on every export.
    pub headers: Headers,
    /// The export timeout.
    pub timeout: Duration,
    /// Payload compression, if any.
    pub compression: Option<Compression>,
    /// TLS files.
    pub tls: TlsFiles,
}

/// The sampler asked for by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::{PipelineConfig, SamplerConfig};
///
/// let env = MapEnvironment::from([
///     ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
///     ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
/// ]);
/// let sampler = PipelineConfig::from_env(&env).sampler;
/// assert_eq!(sampler, SamplerConfig::ParentBasedTraceIdRatio(0.1));
/// let _sdk_sampler = sampler.to_sampler();
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SamplerConfig {
    /// Sample everything.
    AlwaysOn,
    /// Sample nothing.
    AlwaysOff,
    /// Sample this share of traces, by trace id.
    TraceIdRatio(f64),
    /// Follow the parent's decision; sample roots.
    ParentBasedAlwaysOn,
    /// Follow the parent's decision; drop roots.
    ParentBasedAlwaysOff,
    /// Follow the parent's decision; sample this share of roots.
    ParentBasedTraceIdRatio(f64),
}

impl SamplerConfig {
    /// The root sampler of a parent-based sampler; `None` for the others.
    ///
    /// ```
    /// use otel_faas_core::pipeline::SamplerConfig;
    ///
    /// assert!(SamplerConfig::ParentBasedTraceIdRatio(0.1).root_sampler().is_some());
    /// assert!(SamplerConfig::AlwaysOn.root_sampler().is_none());
    /// ```
    pub fn root_sampler(self) -> Option<Sampler> {
        match self {
            Self::ParentBasedAlwaysOn => Some(Sampler::AlwaysOn),
            Self::ParentBasedAlwaysOff => Some(Sampler::AlwaysOff),
            Self::ParentBasedTraceIdRatio(ratio) => Some(Sampler::TraceIdRatioBased(ratio)),
            Self::AlwaysOn | Self::AlwaysOff | Self::TraceIdRatio(_) => None,
        }
    }

    /// The SDK sampler.
    pub fn to_sampler(self) -> Sampler {
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
            Self::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            Self::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Self::ParentBasedTraceIdRatio(ratio) => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
            }
        }
    }
}

/// Attribute and span limits (`OTEL_ATTRIBUTE_*`, `OTEL_SPAN_*_LIMIT`, `OTEL_EVENT_*`,
/// `OTEL_LINK_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest string attribute value, in characters; `None` for no limit (the default).
    pub attribute_value_length: Option<usize>,
    /// Most attributes per span.
    pub span_attribute_count: u32,
    /// Most events per span.
    pub span_event_count: u32,
    /// Most links per span.
    pub span_link_count: u32,
    /// Most attributes per event.
    pub event_attribute_count: u32,
    /// Most attributes per link.
    pub link_attribute_count: u32,
}

/// Batch processor settings (`OTEL_BSP_*` for spans, `OTEL_BLRP_*` for log records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Delay between two consecutive exports.
    pub schedule_delay: Duration,
    /// Most records kept waiting; more are dropped.
    pub max_queue_size: usize,
    /// Most records per export.
    pub max_export_batch_size: usize,
}

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
        Self::from_env_with_exporters(env, &[], metric_exporters)
    }

    /// The configuration, with `span_exporters` and `metric_exporters` accepted as
    /// exporter names beside the built-in ones.
    pub(crate) fn from_env_with_exporters(
        env: &dyn Environment,
        span_exporters: &[&'static str],
        metric_exporters: &[&'static str],
    ) -> Self {
        let mut warnings = Vec::new();
        let w = &mut warnings;
        let sdk_disabled = read_bool(env, "OTEL_SDK_DISABLED", false, w);
        let traces = read_signal(env, Signal::Traces, span_exporters, w);
        let metrics = read_signal(env, Signal::Metrics, metric_exporters, w);
        let logs = read_signal(env, Signal::Logs, &[], w);
        let sampler = read_sampler(env, w);
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

/// The first of the signal-specific and the general variable that is set, with its name.
fn signal_var(
    env: &dyn Environment,
    signal: Signal,
    general: &'static str,
) -> Option<(String, String)> {
    let specific = signal.specific(general);
    env.get_non_empty(&specific)
        .map(|value| (specific, value))
        .or_else(|| {
            env.get_non_empty(general)
                .map(|value| (general.to_owned(), value))
        })
}

fn read_signal(
    env: &dyn Environment,
    signal: Signal,
    named: &[&'static str],
    w: &mut Vec<ConfigWarning>,
) -> SignalConfig {
    let exporters = read_exporters(env, signal, named, w);
    let protocol = read_protocol(env, signal, w);
    let endpoint = read_endpoint(env, signal, protocol, w);
    let headers = read_headers(env, signal, w);
    let timeout = match signal_var(env, signal, "OTEL_EXPORTER_OTLP_TIMEOUT") {
        None => Duration::from_secs(10),
        Some((var, value)) => parse_millis(&var, value, 10_000, w),
    };
    let compression = read_compression(env, signal, w);
    let path = |general: &'static str| {
        signal_var(env, signal, general).map(|(_, value)| PathBuf::from(value))
    };
    let tls = TlsFiles {
        certificate: path("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        client_key: path("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        client_certificate: path("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
    };
    if tls.client_key.is_some() != tls.client_certificate.is_some() {
        w.push(ConfigWarning::new(
            signal.specific("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
            "<only one of the client key and certificate>",
            "both OTEL_EXPORTER_OTLP_CLIENT_KEY and OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, or neither",
            "no client certificate",
        ));
    }
    SignalConfig {
        exporters,
        protocol,
        endpoint,
        headers: Headers(headers),
        timeout,
        compression,
        tls,
    }
}

fn read_bool(env: &dyn Environment, var: &str, default: bool, w: &mut Vec<ConfigWarning>) -> bool {
    match env.get_non_empty(var) {
        None => default,
        Some(value) if value.eq_ignore_ascii_case("true") => true,
        Some(value) if value.eq_ignore_ascii_case("false") => false,
        Some(value) => {
            w.push(ConfigWarning::new(
                var,
                value,
                "true, false",
                default.to_string(),
            ));
            default
        }
    }
}

/// The cargo feature that builds `signal`'s OTLP exporter in, if it is not always there.
fn otlp_feature(signal: Signal) -> Option<&'static str> {
    match signal {
        Signal::Traces => None,
        Signal::Metrics => Some("otlp-metrics"),
        Signal::Logs => Some("otlp-logs"),
    }
}

/// Whether `signal`'s OTLP exporter is compiled in (spans always are).
fn otlp_built(signal: Signal) -> bool {
    match signal {
        Signal::Traces => true,
        Signal::Metrics => cfg!(feature = "otlp-metrics"),
        Signal::Logs => cfg!(feature = "otlp-logs"),
    }
}

fn read_exporters(
    env: &dyn Environment,
    signal: Signal,
    named: &[&'static str],
    w: &mut Vec<ConfigWarning>,
) -> Vec<Exporter> {
    let var = signal.exporter_variable();
    let otlp = otlp_built(signal);
    let console = cfg!(feature = "console");
    // The specification's default is `otlp`; where the OTLP exporter of this signal is not
    // compiled in, the default is `none` (a function built without it chose so).
    let default = || {
        if otlp {
            vec![Exporter::Otlp]
        } else {
            Vec::new()
        }
    };
    let Some(raw) = env.get_non_empty(var) else {
        return default();
    };
    let mut names: Vec<&str> = Vec::new();
    if otlp {
        names.push("otlp");
    }
    if console {
        names.push("console");
    }
    names.extend(named);
    names.push("none");
    let mut accepted = names.join(", ");
    let mut missing = Vec::new();
    if let (false, Some(feature)) = (otlp, otlp_feature(signal)) {
        missing.push(format!("otlp needs the {feature} cargo feature"));
    }
    if !console {
        missing.push("console needs the console cargo feature".to_owned());
    }
    if !missing.is_empty() {
        accepted = format!("{accepted} ({} of otel-faas-core)", missing.join(", "));
    }
    let fallback = if otlp { "otlp" } else { "none" };
    let mut exporters = Vec::new();
    let mut refused = Vec::new();
    for name in raw.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        let exporter = match name.as_str() {
            "otlp" if otlp => Exporter::Otlp,
            "console" | "stdout" if console => Exporter::Console,
            "none" => return Vec::new(),
            "" => continue,
            other => match named.iter().find(|n| n.eq_ignore_ascii_case(other)) {
                Some(registered) => Exporter::Named(registered),
                None => {
                    refused.push(name);
                    continue;
                }
            },
        };
        if !exporters.contains(&exporter) {
            exporters.push(exporter);
        }
    }
    // One warning per name refused, or one for the whole value when nothing was accepted.
    if exporters.is_empty() {
        w.push(ConfigWarning::new(var, raw, accepted, fallback));
        return default();
    }
    for name in refused {
        w.push(ConfigWarning::new(
            var,
            name,
            accepted.clone(),
            "the other listed exporters",
        ));
    }
    exporters
}

fn read_protocol(
    env: &dyn Environment,
    signal: Signal,
    w: &mut Vec<ConfigWarning>,
) -> OtlpProtocol {
    let Some((var, value)) = signal_var(env, signal, "OTEL_EXPORTER_OTLP_PROTOCOL") else {
        return OtlpProtocol::HttpProtobuf;
    };
    match value.to_ascii_lowercase().as_str() {
        "http/protobuf" => OtlpProtocol::HttpProtobuf,
        "http/json" => OtlpProtocol::HttpJson,
        "grpc" if cfg!(feature = "otlp-grpc") => OtlpProtocol::Grpc,
        "grpc" => {
            w.push(ConfigWarning::new(
                var,
                value,
                "http/protobuf, http/json (grpc needs the otlp-grpc cargo feature of otel-faas-core)",
                "http/protobuf",
            ));
            OtlpProtocol::HttpProtobuf
        }
        _ => {
            let accepted = if cfg!(feature = "otlp-grpc") {
                "http/protobuf, http/json, grpc"
            } else {
                "http/protobuf, http/json"
            };
            w.push(ConfigWarning::new(var, value, accepted, "http/protobuf"));
            OtlpProtocol::HttpProtobuf
        }
    }
}

/// Resolves a signal's URL as the OTLP exporter spec says: a signal-specific endpoint is
/// used as given; the general one gets `/v1/<signal>` appended for HTTP.
fn read_endpoint(
    env: &dyn Environment,
    signal: Signal,
    protocol: OtlpProtocol,
    w: &mut Vec<ConfigWarning>,
) -> String {
    let http = protocol != OtlpProtocol::Grpc;
    let default_base = if http {
        "http://localhost:4318"
    } else {
        "http://localhost:4317"
    };
    let with_path = |base: &str| {
        if http {
            format!("{}{}", base.trim_end_matches('/'), signal.path())
        } else {
            base.to_owned()
        }
    };
    let specific = signal.specific("OTEL_EXPORTER_OTLP_ENDPOINT");
    let candidates = [
        (specific.as_str(), false),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", true),
    ];
    for (var, append) in candidates {
        let Some(value) = env.get_non_empty(var) else {
            continue;
        };
        if !is_http_url(&value) {
            let default = with_path(default_base);
            w.push(ConfigWarning::new(
                var,
                value,
                "an http:// or https:// URL",
                default.clone(),
            ));
            return default;
        }
        if value.starts_with("https://")
            && protocol == OtlpProtocol::Grpc
            && !cfg!(feature = "otlp-grpc-tls")
        {
            w.push(ConfigWarning::new(
                var,
                value.clone(),
                "http:// URLs for grpc (https with grpc needs the otlp-grpc-tls cargo feature of otel-faas-core)",
                "the URL as given: the gRPC exporter cannot be built",
            ));
        } else if value.starts_with("https://") && !cfg!(feature = "tls") {
            w.push(ConfigWarning::new(
                var,
                value.clone(),
                "http:// URLs (https needs the tls cargo feature of otel-faas-core, on by default)",
                "the URL as given: every export to it fails",
            ));
        }
        return if append { with_path(&value) } else { value };
    }
    with_path(default_base)
}

fn is_http_url(value: &str) -> bool {
    value.parse::<http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some()
    })
}

fn read_headers(
    env: &dyn Environment,
    signal: Signal,
    w: &mut Vec<ConfigWarning>,
) -> Vec<(String, String)> {
    let Some((var, raw)) = signal_var(env, signal, "OTEL_EXPORTER_OTLP_HEADERS") else {
        return Vec::new();
    };
    let mut headers = Vec::new();
    let mut invalid = Vec::new();
    for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
        let parsed = pair.split_once('=').and_then(|(key, value)| {
            let key = key.trim();
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .ok()?;
            let valid = http::HeaderName::from_bytes(key.as_bytes()).is_ok()
                && http::HeaderValue::from_str(&value).is_ok();
            valid.then(|| (key.to_owned(), value.into_owned()))
        });
        match parsed {
            Some(header) => headers.push(header),
            None => invalid.push(header_key_for_warning(pair)),
        }
    }
    if !invalid.is_empty() {
        // Header values are often credentials: the warning names the keys, never the values.
        w.push(ConfigWarning::new(
            var,
            format!("<pairs with keys {invalid:?}>"),
            "comma-separated key=value pairs with percent-encoded values",
            "the valid pairs only",
        ));
    }
    headers
}

/// What a warning may say about an invalid header pair: its key, when there is one, and
/// never anything that could be the value. A pair without `=` (`Authorization: Bearer …`)
/// has no key the spec recognises; it is named by what precedes a `:` or a space, if that
/// looks like a header name, else not at all.
fn header_key_for_warning(pair: &str) -> String {
    let candidate = match pair.split_once('=') {
        Some((key, _)) => key.trim(),
        None => pair.split([':', ' ']).next().unwrap_or_default().trim(),
    };
    if http::HeaderName::from_bytes(candidate.as_bytes()).is_ok() && candidate.len() <= 64 {
        candidate.to_owned()
    } else {
        "<unnamed>".to_owned()
    }
}

fn read_compression(
    env: &dyn Environment,
    signal: Signal,
    w: &mut Vec<ConfigWarning>,
) -> Option<Compression> {
    let (var, value) = signal_var(env, signal, "OTEL_EXPORTER_OTLP_COMPRESSION")?;
    match value.to_ascii_lowercase().as_str() {
        "gzip" => Some(Compression::Gzip),
        "none" => None,
        _ => {
            w.push(ConfigWarning::new(var, value, "gzip, none", "none"));
            None
        }
    }
}

fn parse_millis(var: &str, value: String, default: u64, w: &mut Vec<ConfigWarning>) -> Duration {
    match value.parse::<u64>() {
        Ok(millis) => Duration::from_millis(millis),
        Err(_) => {
            w.push(ConfigWarning::new(
                var,
                value,
                "a whole number of milliseconds",
                default.to_string(),
            ));
            Duration::from_millis(default)
        }
    }
}

fn read_millis(
    env: &dyn Environment,
    var: &str,
    default: u64,
    w: &mut Vec<ConfigWarning>,
) -> Duration {
    match env.get_non_empty(var) {
        None => Duration::from_millis(default),
        Some(value) => parse_millis(var, value, default, w),
    }
}

fn read_count(env: &dyn Environment, var: &str, default: u64, w: &mut Vec<ConfigWarning>) -> u64 {
    let Some(value) = env.get_non_empty(var) else {
        return default;
    };
    match value.parse::<u64>() {
        Ok(count) => count,
        Err(_) => {
            w.push(ConfigWarning::new(
                var,
                value,
                "a whole number",
                default.to_string(),
            ));
            default
        }
    }
}

fn read_limits(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> Limits {
    let attribute_value_length = env
        .get_non_empty("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")
        .map(|_| read_count(env, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", u64::MAX, w))
        .filter(|limit| *limit != u64::MAX)
        .map(|limit| usize::try_from(limit).unwrap_or(usize::MAX));
    let general = read_count(env, "OTEL_ATTRIBUTE_COUNT_LIMIT", 128, w);
    let count = |var: &str, default: u64, w: &mut Vec<ConfigWarning>| {
        u32::try_from(read_count(env, var, default, w)).unwrap_or(u32::MAX)
    };
    Limits {
        attribute_value_length,
        span_attribute_count: count("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", general, w),
        span_event_count: count("OTEL_SPAN_EVENT_COUNT_LIMIT", 128, w),
        span_link_count: count("OTEL_SPAN_LINK_COUNT_LIMIT", 128, w),
        event_attribute_count: count("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", general, w),
        link_attribute_count: count("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", general, w),
    }
}

fn read_batch(
    env: &dyn Environment,
    prefix: &str,
    delay: u64,
    w: &mut Vec<ConfigWarning>,
) -> BatchSettings {
    let var = |name: &str| format!("{prefix}{name}");
    let usize_of = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).max(1);
    let max_queue_size = usize_of(read_count(env, &var("MAX_QUEUE_SIZE"), 2048, w));
    let mut max_export_batch_size =
        usize_of(read_count(env, &var("MAX_EXPORT_BATCH_SIZE"), 512, w));
    if max_export_batch_size > max_queue_size {
        // The spec: the batch size must be at most the queue size.
        w.push(ConfigWarning::new(
            var("MAX_EXPORT_BATCH_SIZE"),
            max_export_batch_size.to_string(),
            format!("at most {}MAX_QUEUE_SIZE ({max_queue_size})", prefix),
            max_queue_size.to_string(),
        ));
        max_export_batch_size = max_queue_size;
    }
    BatchSettings {
        schedule_delay: read_millis(env, &var("SCHEDULE_DELAY"), delay, w),
        max_queue_size,
        max_export_batch_size,
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

fn read_unsampled_remote_parents(
    env: &dyn Environment,
    w: &mut Vec<ConfigWarning>,
) -> Option<crate::sampling::UnsampledRemoteParents> {
    let variable = crate::sampling::UNSAMPLED_REMOTE_PARENTS_VARIABLE;
    let raw = env.get_non_empty(variable)?;
    let parsed = crate::sampling::UnsampledRemoteParents::parse(&raw);
    if parsed.is_none() {
        w.push(ConfigWarning::new(
            variable,
            raw,
            "honor, decide_locally",
            "the platform's default",
        ));
    }
    parsed
}

fn read_sampler(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> SamplerConfig {
    const VAR: &str = "OTEL_TRACES_SAMPLER";
    const ACCEPTED: &str = "always_on, always_off, traceidratio, parentbased_always_on, \
                            parentbased_always_off, parentbased_traceidratio";
    let ratio = |w: &mut Vec<ConfigWarning>| {
        let Some(raw) = env.get_non_empty("OTEL_TRACES_SAMPLER_ARG") else {
            return 1.0;
        };
        match raw.parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
            _ => {
                w.push(ConfigWarning::new(
                    "OTEL_TRACES_SAMPLER_ARG",
                    raw,
                    "a number from 0 to 1",
                    "1.0",
                ));
                1.0
            }
        }
    };
    let Some(name) = env.get_non_empty(VAR) else {
        return SamplerConfig::ParentBasedAlwaysOn;
    };
    match name.to_ascii_lowercase().as_str() {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(ratio(w)),
        "parentbased_always_on" => SamplerConfig::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerConfig::ParentBasedTraceIdRatio(ratio(w)),
        _ => {
            w.push(ConfigWarning::new(
                VAR,
                name,
                ACCEPTED,
                "parentbased_always_on",
            ));
            SamplerConfig::ParentBasedAlwaysOn
        }
    }
}

/// The `OTEL_*` variables this crate reads (or that the cloud crates read: the `OTEL_FAAS_`
/// family and the semantic-convention opt-ins).
const SUPPORTED: &[&str] = &[
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_PROPAGATORS",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN",
];

/// The exporter variables, each also in its `TRACES_`, `METRICS_` and `LOGS_` form.
const EXPORTER_VARIABLES: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
];

/// Whether `name` is an `OTEL_*` variable that something in otel-faas reads.
pub(crate) fn is_supported(name: &str) -> bool {
    SUPPORTED.contains(&name)
        || name.starts_with("OTEL_FAAS_")
        || EXPORTER_VARIABLES.iter().any(|general| {
            name == *general
                || Signal::ALL
                    .iter()
                    .any(|signal| name == signal.specific(general))
        })
}

/// One warning per `OTEL_*` variable that is set but that nothing here reads, so that a
/// setting never silently does nothing.
fn unsupported_variables(env: &dyn Environment, w: &mut Vec<ConfigWarning>) {
    let mut names: Vec<String> = env
        .names()
        .into_iter()
        .filter(|name| name.starts_with("OTEL_") && !is_supported(name))
        .filter(|name| env.get_non_empty(name).is_some())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let why = match name.as_str() {
            "OTEL_BLRP_EXPORT_TIMEOUT" => {
                "the SDK's batch log processor has no export timeout; \
                 OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT bounds each export"
            }
            name if name.starts_with("OTEL_EXPORTER_OTLP") && name.ends_with("INSECURE") => {
                "the endpoint's scheme (http:// or https://) decides whether TLS is used"
            }
            _ => "it has no effect",
        };
        // The value is not repeated: an unknown variable may hold anything, secrets included.
        w.push(ConfigWarning::unsupported(name, why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    fn config(pairs: &[(&str, &str)]) -> PipelineConfig {
        PipelineConfig::from_env(&pairs.iter().copied().collect::<MapEnvironment>())
    }

    /// Built without the exporter features (`default-features = false`): spans still go
    /// over OTLP; metrics and logs default to `none`, and asking for what is not built in
    /// says which feature builds it.
    #[cfg(not(any(feature = "otlp-metrics", feature = "otlp-logs", feature = "console")))]
    #[test]
    fn without_the_exporter_features_metrics_and_logs_default_to_none() {
        let defaults = config(&[]);
        assert_eq!(defaults.traces.exporters, [Exporter::Otlp]);
        assert!(defaults.metrics.exporters.is_empty());
        assert!(defaults.logs.exporters.is_empty());
        assert!(defaults.warnings().is_empty(), "{:?}", defaults.warnings());

        let asked = config(&[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_LOGS_EXPORTER", "otlp"),
            ("OTEL_TRACES_EXPORTER", "console,otlp"),
        ]);
        assert!(asked.metrics.exporters.is_empty());
        assert!(asked.logs.exporters.is_empty());
        assert_eq!(asked.traces.exporters, [Exporter::Otlp]);
        let warnings = asked.warnings();
        let about = |variable: &str| {
            warnings
                .iter()
                .filter(|w| w.variable == variable)
                .collect::<Vec<_>>()
        };
        let metrics = about("OTEL_METRICS_EXPORTER");
        assert_eq!(metrics.len(), 1, "{warnings:?}");
        assert_eq!(metrics[0].value, "otlp");
        assert_eq!(metrics[0].fallback, "none");
        assert_eq!(
            metrics[0].accepted,
            "none (otlp needs the otlp-metrics cargo feature, console needs the console cargo \
             feature of otel-faas-core)"
        );
        assert!(
            about("OTEL_LOGS_EXPORTER")[0]
                .accepted
                .contains("otlp-logs")
        );
        let traces = about("OTEL_TRACES_EXPORTER");
        assert_eq!(traces.len(), 1, "{warnings:?}");
        assert_eq!(traces[0].value, "console");
        assert_eq!(
            traces[0].accepted,
            "otlp, none (console needs the console cargo feature of otel-faas-core)"
        );
    }

    // With the exporters of the default features (metrics and logs over OTLP, console).
    #[cfg(all(feature = "otlp-metrics", feature = "otlp-logs", feature = "console"))]
    #[test]
    fn registered_metric_exporters_are_accepted_for_metrics_only() {
        let env: MapEnvironment = [
            ("OTEL_METRICS_EXPORTER", "AwsEmf, otlp"),
            ("OTEL_TRACES_EXPORTER", "awsemf"),
        ]
        .into_iter()
        .collect();
        let config = PipelineConfig::from_env_with_metric_exporters(&env, &["awsemf"]);
        assert_eq!(
            config.metrics.exporters,
            [Exporter::Named("awsemf"), Exporter::Otlp]
        );
        // Spans have no registered names: the value is refused with the accepted list.
        assert_eq!(config.traces.exporters, [Exporter::Otlp]);
        let warning = &config.warnings()[0];
        assert_eq!(warning.variable, "OTEL_TRACES_EXPORTER");
        assert_eq!(warning.accepted, "otlp, console, none");
        // Unregistered, the name is refused and the warning lists what is accepted.
        let plain = PipelineConfig::from_env(&env);
        assert_eq!(plain.metrics.exporters, [Exporter::Otlp]);
        let env: MapEnvironment = [("OTEL_METRICS_EXPORTER", "statsd")].into_iter().collect();
        let with_names = PipelineConfig::from_env_with_metric_exporters(&env, &["awsemf"]);
        assert_eq!(
            with_names.warnings()[0].accepted,
            "otlp, console, awsemf, none"
        );
    }

    // With the exporters of the default features (metrics and logs over OTLP, console).
    #[cfg(all(feature = "otlp-metrics", feature = "otlp-logs", feature = "console"))]
    #[test]
    fn defaults_follow_the_spec() {
        let config = config(&[]);
        assert!(!config.sdk_disabled);
        for signal in Signal::ALL {
            let settings = config.signal(signal);
            assert_eq!(settings.exporters, [Exporter::Otlp], "{signal}");
            assert_eq!(settings.protocol, OtlpProtocol::HttpProtobuf);
            assert_eq!(
                settings.endpoint,
                format!("http://localhost:4318{}", signal.path())
            );
            assert_eq!(settings.timeout, Duration::from_secs(10));
            assert_eq!(settings.compression, None);
            assert_eq!(settings.tls, TlsFiles::default());
        }
        assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
        assert_eq!(config.limits.attribute_value_length, None);
        assert_eq!(config.limits.span_attribute_count, 128);
        assert_eq!(
            config.span_batch.schedule_delay,
            Duration::from_millis(5000)
        );
        assert_eq!(config.log_batch.schedule_delay, Duration::from_millis(1000));
        assert_eq!(config.span_batch.max_queue_size, 2048);
        assert_eq!(config.span_batch.max_export_batch_size, 512);
        assert_eq!(config.metric_export_interval, Duration::from_secs(60));
        assert_eq!(config.metric_temporality, TemporalityPreference::Cumulative);
        assert!(config.warnings().is_empty());
    }

    /// Every exporter variable, general and specific, for every signal: the specific one
    /// wins for its own signal and leaves the others on the general value.
    // With the exporters of the default features (metrics and logs over OTLP, console).
    #[cfg(all(feature = "otlp-metrics", feature = "otlp-logs", feature = "console"))]
    #[test]
    fn each_signal_specific_variable_wins_for_its_signal_only() {
        for signal in Signal::ALL {
            let specific = |general: &str| signal.specific(general);
            let pairs = [
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                    "http://general:4318",
                ),
                (
                    specific("OTEL_EXPORTER_OTLP_ENDPOINT"),
                    "http://specific:9999/custom",
                ),
                ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), "http/protobuf"),
                (specific("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/json"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT".to_owned(), "100"),
                (specific("OTEL_EXPORTER_OTLP_TIMEOUT"), "250"),
                ("OTEL_EXPORTER_OTLP_HEADERS".to_owned(), "a=general"),
                (
                    specific("OTEL_EXPORTER_OTLP_HEADERS"),
                    "api-key=s%3Dcret,x=1",
                ),
                ("OTEL_EXPORTER_OTLP_COMPRESSION".to_owned(), "none"),
                (specific("OTEL_EXPORTER_OTLP_COMPRESSION"), "gzip"),
                (
                    "OTEL_EXPORTER_OTLP_CERTIFICATE".to_owned(),
                    "/general/ca.pem",
                ),
                (
                    specific("OTEL_EXPORTER_OTLP_CERTIFICATE"),
                    "/specific/ca.pem",
                ),
                (
                    specific("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
                    "/specific/key.pem",
                ),
                (
                    specific("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
                    "/specific/cert.pem",
                ),
                (signal.exporter_variable().to_owned(), "console"),
            ];
            let env: MapEnvironment = pairs.iter().map(|(k, v)| (k.clone(), *v)).collect();
            let config = PipelineConfig::from_env(&env);
            assert!(config.warnings().is_empty(), "{:?}", config.warnings());
            let own = config.signal(signal);
            assert_eq!(own.endpoint, "http://specific:9999/custom", "{signal}");
            assert_eq!(own.protocol, OtlpProtocol::HttpJson);
            assert_eq!(own.timeout, Duration::from_millis(250));
            assert_eq!(
                own.headers.pairs(),
                [
                    ("api-key".to_owned(), "s=cret".to_owned()),
                    ("x".to_owned(), "1".to_owned())
                ]
            );
            assert_eq!(own.compression, Some(Compression::Gzip));
            assert_eq!(
                own.tls.certificate.as_deref(),
                Some(Path::new("/specific/ca.pem"))
            );
            assert_eq!(
                own.tls.client_key.as_deref(),
                Some(Path::new("/specific/key.pem"))
            );
            assert_eq!(own.exporters, [Exporter::Console]);
            for other in Signal::ALL.into_iter().filter(|s| *s != signal) {
                let other_config = config.signal(other);
                assert_eq!(
                    other_config.endpoint,
                    format!("http://general:4318{}", other.path())
                );
                assert_eq!(other_config.protocol, OtlpProtocol::HttpProtobuf);
                assert_eq!(other_config.timeout, Duration::from_millis(100));
                assert_eq!(other_config.headers.get("a"), Some("general"));
                assert_eq!(other_config.compression, None);
                assert_eq!(
                    other_config.tls.certificate.as_deref(),
                    Some(Path::new("/general/ca.pem"))
                );
                assert_eq!(other_config.tls.client_key, None);
                assert_eq!(other_config.exporters, [Exporter::Otlp]);
            }
        }
    }

    #[test]
    fn limits_batches_and_metric_settings_are_read() {
        let config = config(&[
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "20"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "3"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "4"),
            ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "5"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "50"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "60"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
            ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "7"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "900"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
        ]);
        let limits = config.limits;
        assert_eq!(limits.attribute_value_length, Some(64));
        assert_eq!(limits.span_attribute_count, 20);
        assert_eq!(
            limits.event_attribute_count, 10,
            "the general count applies"
        );
        assert_eq!(limits.link_attribute_count, 5);
        assert_eq!((limits.span_event_count, limits.span_link_count), (3, 4));
        assert_eq!(config.span_batch.schedule_delay, Duration::from_millis(100));
        assert_eq!(config.span_batch.max_queue_size, 50);
        // A batch larger than the queue is cut to the queue, with a warning.
        assert_eq!(config.span_batch.max_export_batch_size, 50);
        assert_eq!(config.log_batch.schedule_delay, Duration::from_millis(200));
        assert_eq!(config.log_batch.max_export_batch_size, 7);
        assert_eq!(config.metric_export_interval, Duration::from_millis(1500));
        assert_eq!(config.metric_export_timeout, Duration::from_millis(900));
        assert_eq!(config.metric_temporality, TemporalityPreference::Delta);
        let variables: Vec<&str> = config
            .warnings()
            .iter()
            .map(|w| w.variable.as_str())
            .collect();
        assert_eq!(variables, ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"]);
    }

    #[test]
    fn every_invalid_value_warns_once_and_uses_the_default() {
        let config = config(&[
            ("OTEL_SDK_DISABLED", "maybe"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "carrier-pigeon"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "good=1,Authorization=Bearer%0Asecret",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-5"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "short"),
        ]);
        assert!(!config.sdk_disabled);
        assert_eq!(config.traces.exporters, [Exporter::Otlp]);
        assert_eq!(config.traces.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(config.traces.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(
            config.traces.headers.pairs(),
            [("good".to_owned(), "1".to_owned())]
        );
        assert_eq!(config.traces.timeout, Duration::from_secs(10));
        assert_eq!(config.traces.compression, None);
        assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
        assert_eq!(config.limits.attribute_value_length, None);
        let variables: Vec<&str> = config
            .warnings()
            .iter()
            .map(|w| w.variable.as_str())
            .collect();
        assert_eq!(
            variables,
            [
                "OTEL_SDK_DISABLED",
                // Once: `zipkin` was the whole value (it said so twice before).
                "OTEL_TRACES_EXPORTER",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                "OTEL_TRACES_SAMPLER",
                "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            ]
        );
        let all = format!("{:?}", config.warnings());
        assert!(!all.contains("secret"), "{all}");
    }

    #[test]
    fn a_header_pair_without_equals_sign_is_named_by_its_key_never_by_its_value() {
        let config = config(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization: Bearer hunter2,x-ok=1,hunter3",
        )]);
        assert_eq!(
            config.traces.headers.pairs(),
            [("x-ok".to_owned(), "1".to_owned())]
        );
        let warning = config.warnings()[0].to_string();
        assert!(warning.contains("Authorization"), "{warning}");
        assert!(
            warning.contains("<unnamed>") || warning.contains("hunter3"),
            "{warning}"
        );
        assert!(!warning.contains("hunter2"), "{warning}");
        assert!(!warning.contains("Bearer"), "{warning}");
        // Debug output of the configuration never shows header values either.
        let config = self::config(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20hunter2",
        )]);
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn an_unsupported_variable_is_warned_once_without_its_value() {
        let config = config(&[
            (
                "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                "http://zipkin?token=hunter2",
            ),
            ("OTEL_BLRP_EXPORT_TIMEOUT", "100"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "100"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://logs:4318/v1/logs",
            ),
            ("OTEL_FAAS_FLUSH", "after-response"),
            ("OTEL_SEMCONV_STABILITY_OPT_IN", "http"),
            ("OTEL_UNHEARD_OF", ""),
        ]);
        let unsupported: Vec<&str> = config
            .warnings()
            .iter()
            .filter(|w| w.is_unsupported())
            .map(|w| w.variable.as_str())
            .collect();
        assert_eq!(
            unsupported,
            ["OTEL_BLRP_EXPORT_TIMEOUT", "OTEL_EXPORTER_ZIPKIN_ENDPOINT"]
        );
        assert_eq!(config.span_export_timeout, Duration::from_millis(100));
        let all = format!("{:?}", config.warnings());
        assert!(!all.contains("hunter2"), "{all}");
    }

    #[cfg(not(feature = "otlp-grpc"))]
    #[test]
    fn grpc_without_the_feature_warns_and_uses_http() {
        let config = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert_eq!(config.traces.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(config.traces.endpoint, "http://localhost:4318/v1/traces");
        assert!(config.warnings()[0].accepted.contains("otlp-grpc"));
    }

    #[cfg(feature = "otlp-grpc")]
    #[test]
    fn grpc_uses_the_grpc_default_port() {
        let config = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert_eq!(config.traces.protocol, OtlpProtocol::Grpc);
        assert_eq!(config.metrics.endpoint, "http://localhost:4317");
        assert!(config.warnings().is_empty());
    }

    #[test]
    fn sampler_ratio_is_validated_for_ratio_samplers() {
        let config = config(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "abc"),
        ]);
        assert_eq!(config.sampler, SamplerConfig::ParentBasedTraceIdRatio(1.0));
        assert_eq!(config.warnings()[0].variable, "OTEL_TRACES_SAMPLER_ARG");
    }

    #[test]
    fn disabled_sdk_records_nothing() {
        let telemetry = crate::Pipeline::with_environment(MapEnvironment::from([(
            "OTEL_SDK_DISABLED",
            "TRUE",
        )]))
        .install();
        assert!(telemetry.config().sdk_disabled);
        use opentelemetry::trace::{Span as _, Tracer as _};
        let span = telemetry.tracer("t").start("s");
        assert!(!span.is_recording());
    }
}
