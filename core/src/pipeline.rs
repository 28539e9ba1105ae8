//! The telemetry pipeline, configured from the standard `OTEL_*` variables.
//!
//! [`Pipeline::install`] reads the [SDK environment
//! variables](https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/)
//! once at start-up, without any network I/O, and never fails: an invalid value produces one
//! [`ConfigWarning`] naming the variable and the accepted values, and the spec default is
//! used instead. A function must not stop because its telemetry is misconfigured.
//!
//! | variable | accepted | default |
//! |---|---|---|
//! | `OTEL_SDK_DISABLED` | `true`, `false` | `false` |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | see [`build_resource`] | |
//! | `OTEL_TRACES_EXPORTER` | `otlp`, `console`, `none` (comma-separated) | `otlp` |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` | `http/protobuf`, `http/json`, `grpc` (feature `otlp-grpc`) | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` | an `http` or `https` URL | `http://localhost:4318` (4317 for gRPC) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` | `key=value` pairs, values percent-encoded | none |
//! | `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` | milliseconds | `10000` |
//! | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` | `parentbased_always_on` |
//! | `OTEL_TRACES_SAMPLER_ARG` | a ratio in `[0, 1]` | `1.0` |
//! | `OTEL_PROPAGATORS` | the names in the [`PropagatorRegistry`] | `tracecontext,baggage` |
//!
//! The signal-specific `TRACES_` variable wins over the general one, as the spec says.
//! Spans are exported by the SDK's batch processor on its own thread (tuned by the SDK's
//! own `OTEL_BSP_*` variables), so ending a span never blocks a request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    IdGenerator, Sampler, SdkTracer, SdkTracerProvider, TracerProviderBuilder,
};

use crate::engine::{EngineBuilder, FlushError, Flusher, InvocationEngine};
use crate::env::{Environment, ProcessEnvironment};
use crate::propagation::{CompositePropagation, PropagatorRegistry};
use crate::resource::{ResourceDetector, build_resource};
use crate::warning::ConfigWarning;

/// Where finished spans go (`OTEL_TRACES_EXPORTER`).
///
/// ```
/// use otel_faas_core::{env::MapEnvironment, pipeline::{PipelineConfig, TracesExporter}};
///
/// let config = PipelineConfig::from_env(&MapEnvironment::from([("OTEL_TRACES_EXPORTER", "console")]));
/// assert_eq!(config.exporters, [TracesExporter::Console]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TracesExporter {
    /// OTLP, over the configured protocol.
    Otlp,
    /// Human-readable lines on standard output, for local use.
    Console,
}

/// The OTLP wire protocol (`OTEL_EXPORTER_OTLP_PROTOCOL`).
///
/// ```
/// use otel_faas_core::{env::MapEnvironment, pipeline::{OtlpProtocol, PipelineConfig}};
///
/// let config = PipelineConfig::from_env(&MapEnvironment::from([("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]));
/// assert_eq!(config.protocol, OtlpProtocol::HttpJson);
/// ```
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

/// The sampler asked for by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
///
/// ```
/// use otel_faas_core::{env::MapEnvironment, pipeline::{PipelineConfig, SamplerConfig}};
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

/// The pipeline settings read from the environment, with the warnings for invalid values.
///
/// ```
/// use std::time::Duration;
/// use otel_faas_core::{env::MapEnvironment, pipeline::{OtlpProtocol, PipelineConfig, SamplerConfig}};
///
/// let env = MapEnvironment::from([
///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
///     ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
///     ("OTEL_TRACES_SAMPLER", "traceidratio"),
///     ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
/// ]);
/// let config = PipelineConfig::from_env(&env);
/// assert_eq!(config.endpoint, "http://collector:4318/v1/traces");
/// assert_eq!(config.protocol, OtlpProtocol::HttpProtobuf);
/// assert_eq!(config.sampler, SamplerConfig::TraceIdRatio(0.25));
/// // "soon" is not a number of milliseconds: one warning, and the default.
/// assert_eq!(config.timeout, Duration::from_secs(10));
/// assert_eq!(config.warnings()[0].variable, "OTEL_EXPORTER_OTLP_TIMEOUT");
/// ```
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// `OTEL_SDK_DISABLED`: record and export nothing.
    pub sdk_disabled: bool,
    /// `OTEL_TRACES_EXPORTER`; empty for `none`.
    pub exporters: Vec<TracesExporter>,
    /// The OTLP protocol.
    pub protocol: OtlpProtocol,
    /// The full URL spans are sent to.
    pub endpoint: String,
    /// Extra headers (or gRPC metadata) on every export.
    pub headers: Vec<(String, String)>,
    /// The export timeout.
    pub timeout: Duration,
    /// The sampler.
    pub sampler: SamplerConfig,
    warnings: Vec<ConfigWarning>,
}

impl PipelineConfig {
    /// Reads the settings from `env`.
    pub fn from_env(env: &dyn Environment) -> Self {
        let mut warnings = Vec::new();
        let w = &mut warnings;
        let sdk_disabled = read_bool(env, "OTEL_SDK_DISABLED", false, w);
        let exporters = read_exporters(env, w);
        let protocol = read_protocol(env, w);
        let endpoint = read_endpoint(env, protocol, w);
        let headers = read_headers(env, w);
        let timeout = read_timeout(env, w);
        let sampler = read_sampler(env, w);
        Self {
            sdk_disabled,
            exporters,
            protocol,
            endpoint,
            headers,
            timeout,
            sampler,
            warnings,
        }
    }

    /// The problems found, each already resolved to a default.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }
}

/// The first of the signal-specific and the general variable that is set, with its name.
fn signal_var(env: &dyn Environment, general: &'static str) -> Option<(String, String)> {
    let specific = general.replacen("OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_", 1);
    env.get_non_empty(&specific)
        .map(|value| (specific, value))
        .or_else(|| {
            env.get_non_empty(general)
                .map(|value| (general.to_owned(), value))
        })
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

fn read_exporters(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> Vec<TracesExporter> {
    const VAR: &str = "OTEL_TRACES_EXPORTER";
    let Some(raw) = env.get_non_empty(VAR) else {
        return vec![TracesExporter::Otlp];
    };
    let mut exporters = Vec::new();
    for name in raw.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        let exporter = match name.as_str() {
            "otlp" => TracesExporter::Otlp,
            "console" | "stdout" => TracesExporter::Console,
            "none" => return Vec::new(),
            "" => continue,
            _ => {
                w.push(ConfigWarning::new(
                    VAR,
                    name,
                    "otlp, console, none",
                    "the other listed exporters",
                ));
                continue;
            }
        };
        if !exporters.contains(&exporter) {
            exporters.push(exporter);
        }
    }
    if exporters.is_empty() {
        w.push(ConfigWarning::new(VAR, raw, "otlp, console, none", "otlp"));
        exporters.push(TracesExporter::Otlp);
    }
    exporters
}

fn read_protocol(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> OtlpProtocol {
    let Some((var, value)) = signal_var(env, "OTEL_EXPORTER_OTLP_PROTOCOL") else {
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

/// Resolves the traces URL as the OTLP exporter spec says: a signal-specific endpoint is
/// used as given; the general one gets `/v1/traces` appended for HTTP.
fn read_endpoint(
    env: &dyn Environment,
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
            format!("{}/v1/traces", base.trim_end_matches('/'))
        } else {
            base.to_owned()
        }
    };
    let default = with_path(default_base);
    let candidates = [
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", false),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", true),
    ];
    for (var, append) in candidates {
        let Some(value) = env.get_non_empty(var) else {
            continue;
        };
        if !is_http_url(&value) {
            w.push(ConfigWarning::new(
                var,
                value,
                "an http:// or https:// URL",
                default,
            ));
            return with_path(default_base);
        }
        return if append { with_path(&value) } else { value };
    }
    default
}

fn is_http_url(value: &str) -> bool {
    value.parse::<http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some()
    })
}

fn read_headers(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> Vec<(String, String)> {
    let Some((var, raw)) = signal_var(env, "OTEL_EXPORTER_OTLP_HEADERS") else {
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
            None => invalid.push(pair.split('=').next().unwrap_or_default().trim().to_owned()),
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

fn read_timeout(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(10);
    let Some((var, value)) = signal_var(env, "OTEL_EXPORTER_OTLP_TIMEOUT") else {
        return DEFAULT;
    };
    match value.parse::<u64>() {
        Ok(millis) => Duration::from_millis(millis),
        Err(_) => {
            w.push(ConfigWarning::new(
                var,
                value,
                "a whole number of milliseconds",
                "10000",
            ));
            DEFAULT
        }
    }
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

/// Builds the tracer provider, resource and propagation from the environment.
///
/// ```
/// use otel_faas_core::{Pipeline, env::MapEnvironment};
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_SERVICE_NAME", "orders"),
///     ("OTEL_TRACES_EXPORTER", "none"),
/// ]))
/// .install();
/// assert!(telemetry.warnings().is_empty());
/// assert_eq!(telemetry.resource().get(&"service.name".into()), Some("orders".into()));
/// let engine = telemetry.engine().build();
/// # drop(engine);
/// ```
pub struct Pipeline {
    env: Arc<dyn Environment>,
    detectors: Vec<Box<dyn ResourceDetector>>,
    registry: PropagatorRegistry,
    id_generator: Option<Box<dyn IdGenerator>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("env", &self.env)
            .field("detectors", &self.detectors)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline configured from the process environment.
    pub fn from_env() -> Self {
        Self::with_environment(ProcessEnvironment)
    }

    /// A pipeline configured from `env`.
    pub fn with_environment(env: impl Environment + 'static) -> Self {
        Self {
            env: Arc::new(env),
            detectors: Vec::new(),
            registry: PropagatorRegistry::new(),
            id_generator: None,
        }
    }

    /// Adds a resource detector; later detectors win, the `OTEL_*` variables win over all.
    #[must_use]
    pub fn with_detector(mut self, detector: impl ResourceDetector + 'static) -> Self {
        self.detectors.push(Box::new(detector));
        self
    }

    /// Replaces the propagator registry, for cloud crates that add their formats.
    #[must_use]
    pub fn with_registry(mut self, registry: PropagatorRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// The registry `OTEL_PROPAGATORS` is read against, to register formats in place.
    pub fn registry_mut(&mut self) -> &mut PropagatorRegistry {
        &mut self.registry
    }

    /// Uses `generator` for trace and span ids (a back end may need a particular layout).
    #[must_use]
    pub fn with_id_generator(mut self, generator: impl IdGenerator + 'static) -> Self {
        self.id_generator = Some(Box::new(generator));
        self
    }

    /// Builds everything. Never fails and never touches the network; each problem is
    /// emitted once as a warning and listed in [`Telemetry::warnings`].
    pub fn install(self) -> Telemetry {
        let env = self.env.as_ref();
        let config = PipelineConfig::from_env(env);
        let mut warnings = config.warnings.clone();
        let detectors: Vec<&dyn ResourceDetector> =
            self.detectors.iter().map(|d| d.as_ref()).collect();
        let (resource, resource_warnings) = build_resource(env, &detectors);
        warnings.extend(resource_warnings);
        let (propagation, propagation_warnings) = self.registry.from_env(env);
        warnings.extend(propagation_warnings);

        let mut builder = SdkTracerProvider::builder().with_resource(resource.clone());
        if config.sdk_disabled {
            builder = builder.with_sampler(Sampler::AlwaysOff);
        } else {
            builder = builder.with_sampler(config.sampler.to_sampler());
            for exporter in &config.exporters {
                builder = add_exporter(builder, *exporter, &config, &mut warnings);
            }
        }
        if let Some(generator) = self.id_generator {
            builder = builder.with_id_generator(BoxedIdGenerator(generator));
        }
        for warning in &warnings {
            warning.emit();
        }
        Telemetry {
            provider: builder.build(),
            resource,
            propagation: Arc::new(propagation),
            warnings,
            config,
        }
    }
}

/// Adds one exporter behind a batch processor. An exporter that cannot be built is reported
/// as a warning and left out: the function runs on without it.
fn add_exporter(
    builder: TracerProviderBuilder,
    kind: TracesExporter,
    config: &PipelineConfig,
    warnings: &mut Vec<ConfigWarning>,
) -> TracerProviderBuilder {
    let mut fail = |reason: String| {
        warnings.push(ConfigWarning::new(
            "OTEL_TRACES_EXPORTER",
            format!("{kind:?}").to_ascii_lowercase(),
            reason,
            "no exporter: spans are dropped",
        ));
    };
    use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
    match kind {
        TracesExporter::Console => {
            builder.with_batch_exporter(opentelemetry_stdout::SpanExporter::default())
        }
        TracesExporter::Otlp => {
            let exporter = match config.protocol {
                OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
                    let protocol = if config.protocol == OtlpProtocol::HttpJson {
                        Protocol::HttpJson
                    } else {
                        Protocol::HttpBinary
                    };
                    opentelemetry_otlp::SpanExporter::builder()
                        .with_http()
                        .with_protocol(protocol)
                        .with_endpoint(config.endpoint.clone())
                        .with_timeout(config.timeout)
                        .with_headers(config.headers.iter().cloned().collect::<HashMap<_, _>>())
                        .build()
                }
                #[cfg(feature = "otlp-grpc")]
                OtlpProtocol::Grpc => {
                    use opentelemetry_otlp::WithTonicConfig;
                    let mut metadata = tonic::metadata::MetadataMap::new();
                    for (key, value) in &config.headers {
                        if let (Ok(key), Ok(value)) = (
                            tonic::metadata::MetadataKey::from_bytes(
                                key.to_ascii_lowercase().as_bytes(),
                            ),
                            value.parse(),
                        ) {
                            metadata.insert(key, value);
                        }
                    }
                    opentelemetry_otlp::SpanExporter::builder()
                        .with_tonic()
                        .with_endpoint(config.endpoint.clone())
                        .with_timeout(config.timeout)
                        .with_metadata(metadata)
                        .build()
                }
                #[cfg(not(feature = "otlp-grpc"))]
                OtlpProtocol::Grpc => {
                    fail("grpc needs the otlp-grpc cargo feature".to_owned());
                    return builder;
                }
            };
            match exporter {
                Ok(exporter) => builder.with_batch_exporter(exporter),
                Err(error) => {
                    fail(format!("the OTLP exporter could not be built: {error}"));
                    builder
                }
            }
        }
    }
}

/// Lets a boxed generator be handed to the SDK builder, which wants a concrete type.
#[derive(Debug)]
struct BoxedIdGenerator(Box<dyn IdGenerator>);

impl IdGenerator for BoxedIdGenerator {
    fn new_trace_id(&self) -> opentelemetry::trace::TraceId {
        self.0.new_trace_id()
    }
    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        self.0.new_span_id()
    }
}

/// The installed pipeline: tracer provider, resource and propagation.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use otel_faas_core::{Pipeline, env::MapEnvironment};
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")])).install();
/// let engine = telemetry.engine().build();
/// // ... serve invocations with `engine` ...
/// # drop(engine);
/// telemetry.shutdown(Duration::from_secs(2)).await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    resource: Resource,
    propagation: Arc<CompositePropagation>,
    warnings: Vec<ConfigWarning>,
    config: PipelineConfig,
}

impl Telemetry {
    /// The tracer provider, for libraries that take one.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// A tracer named `name`, for instance for `tracing-opentelemetry`:
    /// `tracing_opentelemetry::layer().with_tracer(telemetry.tracer("my-function"))`.
    pub fn tracer(&self, name: &'static str) -> SdkTracer {
        self.provider.tracer(name)
    }

    /// The resource every span carries.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The propagation `OTEL_PROPAGATORS` asked for.
    pub fn propagation(&self) -> Arc<CompositePropagation> {
        Arc::clone(&self.propagation)
    }

    /// The settings in force.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Every configuration problem found, each already resolved to a default.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// An engine builder wired to this pipeline's provider and propagation.
    pub fn engine(&self) -> EngineBuilder {
        InvocationEngine::builder(&self.provider).propagation(self.propagation.clone())
    }

    /// Exports what is left and stops the exporters, without blocking the executor. Call it
    /// when the platform announces shutdown.
    pub async fn shutdown(&self, budget: Duration) -> Result<(), FlushError> {
        Flusher::new(self.provider.clone()).shutdown(budget).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    fn config(pairs: &[(&str, &str)]) -> PipelineConfig {
        PipelineConfig::from_env(&pairs.iter().copied().collect::<MapEnvironment>())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let config = config(&[]);
        assert!(!config.sdk_disabled);
        assert_eq!(config.exporters, [TracesExporter::Otlp]);
        assert_eq!(config.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(config.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
        assert!(config.warnings().is_empty());
    }

    #[test]
    fn traces_specific_variables_win() {
        let config = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://specific:9999/custom",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "100"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "250"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=general"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=s%3Dcret,x=1"),
        ]);
        assert_eq!(config.endpoint, "http://specific:9999/custom");
        assert_eq!(config.timeout, Duration::from_millis(250));
        assert_eq!(
            config.headers,
            [
                ("api-key".to_owned(), "s=cret".to_owned()),
                ("x".to_owned(), "1".to_owned())
            ]
        );
    }

    #[test]
    fn every_invalid_value_warns_once_and_uses_the_default() {
        let config = config(&[
            ("OTEL_SDK_DISABLED", "maybe"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "good=1,Authorization=Bearer%0Asecret",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ]);
        assert!(!config.sdk_disabled);
        assert_eq!(config.exporters, [TracesExporter::Otlp]);
        assert_eq!(config.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(config.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(config.headers, [("good".to_owned(), "1".to_owned())]);
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
        let variables: Vec<&str> = config
            .warnings()
            .iter()
            .map(|w| w.variable.as_str())
            .collect();
        assert_eq!(
            variables,
            [
                "OTEL_SDK_DISABLED",
                "OTEL_TRACES_EXPORTER",
                "OTEL_TRACES_EXPORTER",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "OTEL_EXPORTER_OTLP_HEADERS",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "OTEL_TRACES_SAMPLER",
            ]
        );
        let headers_warning = config.warnings()[5].to_string();
        assert!(!headers_warning.contains("secret"), "{headers_warning}");
    }

    #[cfg(not(feature = "otlp-grpc"))]
    #[test]
    fn grpc_without_the_feature_warns_and_uses_http() {
        let config = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert_eq!(config.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(config.endpoint, "http://localhost:4318/v1/traces");
        assert!(config.warnings()[0].accepted.contains("otlp-grpc"));
    }

    #[cfg(feature = "otlp-grpc")]
    #[test]
    fn grpc_uses_the_grpc_default_port() {
        let config = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert_eq!(config.protocol, OtlpProtocol::Grpc);
        assert_eq!(config.endpoint, "http://localhost:4317");
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
        let telemetry =
            Pipeline::with_environment(MapEnvironment::from([("OTEL_SDK_DISABLED", "TRUE")]))
                .install();
        assert!(telemetry.config().sdk_disabled);
        use opentelemetry::trace::{Span as _, Tracer as _};
        let span = telemetry.tracer("t").start("s");
        assert!(!span.is_recording());
    }
}
