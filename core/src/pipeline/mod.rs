//! The telemetry pipeline — traces, metrics and logs — configured from the standard
//! `OTEL_*` variables.
//!
//! [`Pipeline::install`] reads the [SDK environment
//! variables](https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/)
//! once at start-up, once per signal, without any network I/O, and never fails: an invalid
//! value produces one [`ConfigWarning`] naming the variable and the accepted values, and the
//! spec default is used instead; an `OTEL_*` variable that is set but that nothing here
//! reads gets one warning too. A function must not stop because its telemetry is
//! misconfigured, and no setting silently does nothing.
//!
//! | variable | accepted | default |
//! |---|---|---|
//! | `OTEL_SDK_DISABLED` | `true`, `false` | `false` |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | see [`crate::resource::build_resource`] | |
//! | `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` | `otlp`, `console`, `none` (comma-separated); for metrics also the names platform crates register ([`MetricSink`]) | `otlp` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL` | `http/protobuf`, `http/json`, `grpc` (feature `otlp-grpc`) | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT` | an `http` or `https` URL (https: feature `tls`, on by default; with gRPC, feature `otlp-grpc-tls`) | `http://localhost:4318` (4317 for gRPC) |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]HEADERS` | `key=value` pairs, values percent-encoded | none |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT` | milliseconds | `10000` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]COMPRESSION` | `gzip`, `none` | `none` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE` | a PEM file of CAs trusted beside the webpki roots | |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]CLIENT_KEY`, `…CLIENT_CERTIFICATE` | PEM files, for mutual TLS | |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative`, `delta`, `lowmemory` | `cumulative` |
//! | `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_METRIC_EXPORT_TIMEOUT` | milliseconds | `60000`, `30000` |
//! | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` | `parentbased_always_on` |
//! | `OTEL_TRACES_SAMPLER_ARG` | a ratio in `[0, 1]` | `1.0` |
//! | `OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS` | `honor`, `decide_locally` (see [`UnsampledRemoteParents`]) | the platform's: `honor` unless a cloud crate says otherwise |
//! | `OTEL_FAAS_SAMPLING_RULES` | a rules document, or the path of its file (see [`SamplingRules`]); replaces the root sampler | none |
//! | `OTEL_FAAS_TAIL_SAMPLING_RATIO`, `…_SLOW_MS`, `…_KEEP_COLD_STARTS`, `…_MAX_SPANS` | see [`TailSampling`] | off |
//! | `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN` | `logs`, `logs/dup` (see [`ExceptionSignal`](crate::engine::ExceptionSignal)) | exceptions as span events |
//! | `OTEL_PROPAGATORS` | the names in the [`PropagatorRegistry`] | `tracecontext,baggage` |
//! | `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` | characters | no limit |
//! | `OTEL_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_{ATTRIBUTE,EVENT,LINK}_COUNT_LIMIT`, `OTEL_{EVENT,LINK}_ATTRIBUTE_COUNT_LIMIT` | counts | `128` |
//! | `OTEL_BSP_{SCHEDULE_DELAY,MAX_QUEUE_SIZE,MAX_EXPORT_BATCH_SIZE}` | ms, counts: the spans' export path — how often its thread exports on its own, the most spans queued (and, again, the most held for retry), the most per request | `5000`, `2048`, `512` |
//! | `OTEL_BSP_EXPORT_TIMEOUT` | ms: the longest one export from the spans' exporter thread takes (each request is also bounded by the exporter's timeout; an invocation's flush by its budget) | `30000` |
//! | `OTEL_BLRP_{SCHEDULE_DELAY,MAX_QUEUE_SIZE,MAX_EXPORT_BATCH_SIZE}` | ms, counts | `1000`, `2048`, `512` |
//!
//! `OTEL_BLRP_EXPORT_TIMEOUT` is not supported (the SDK's batch log processor has no such
//! setting; the exporter timeout bounds each export) and warns when set.
//!
//! The signal-specific variable (`TRACES_`, `METRICS_`, `LOGS_`) wins over the general one,
//! as the spec says. Recording never blocks a request, and [`Telemetry`]'s flusher flushes
//! all three signals within one budget:
//!
//! - **Spans** go through an export path built for functions instead of the SDK's batch
//!   processor (whose flush took two thread hops and back): an ended span joins a bounded
//!   queue, and the flush at the end of an invocation encodes and sends it on the
//!   invocation's own task with async I/O. The exporter does not retry inside an
//!   invocation; an OTLP/HTTP batch the collector did not take (refused, reset, timed out,
//!   429, 502, 503, 504) is kept as bytes — `OTEL_BSP_MAX_QUEUE_SIZE` spans at most, the
//!   oldest dropped first — and sent with the next flush. After a failure a circuit breaker
//!   keeps flushes off the network (microseconds each) for a back-off (1 s doubling to 60 s,
//!   or the collector's `Retry-After`), and one probe from the path's single exporter thread
//!   decides when to send again; a collector that answers only after the flush budget is
//!   sent to from that thread, off the response path. Every span dropped is counted —
//!   [`Telemetry::export_stats`], the self-metric `otel.sdk.processor.span.processed` with
//!   `error.type` (`queue_full`, `retry_buffer_full`, `rejected`, `export_failed`,
//!   `shutdown`, `snapshot`), one line on stderr a minute at most. Delivery is at least
//!   once: a batch cut by the budget may have arrived and is sent again. Console, gRPC and exporters
//!   given in code share the queue, circuit and counters; as the SDK's exporters take spans
//!   by value, a batch they fail is counted as dropped rather than kept.
//! - **Metrics** are exported by a periodic reader and **log records** by the SDK's batch
//!   processor, each on its own thread; the flusher flushes them on tokio's blocking pool,
//!   and only when the signal is exported at all.
//!
//! An export that fails is reported once per signal — through `tracing` when a subscriber
//! is installed, on standard error otherwise — with the endpoint stripped of user
//! information and query, never a header value; every failure is counted and
//! [`Telemetry::shutdown`] returns an error if there were any. A flush cut by its budget is
//! not a failure: its spans are kept (and a budget under 250 ms that runs out does not open
//! the circuit: it tells nothing of the collector).

mod client;
mod config;
mod custom;
pub(crate) mod direct;
mod export;
mod flush;
mod ids;
mod late;
mod rules;
mod sampling;
mod sink;
mod tail;
#[cfg(feature = "tls")]
mod tls;

pub use client::reconnect_exporters;
pub use config::{
    BatchSettings, Compression, Exporter, Headers, Limits, OtlpProtocol, PipelineConfig,
    SamplerConfig, Signal, SignalConfig, TemporalityPreference, TlsFiles,
};
pub use direct::ExportStats;
pub use ids::{FreshIds, reseed_ids};
pub use late::LateResource;
pub use rules::{
    DefaultSamplingRule, SAMPLING_RULES_VARIABLE, SamplingRule, SamplingRules, SamplingRulesError,
    glob_matches,
};
pub use sampling::{UNSAMPLED_REMOTE_PARENTS_VARIABLE, UnsampledRemoteParents};
pub use sink::MetricSink;
pub use tail::{TAIL_SAMPLING_RATIO_VARIABLE, TailSampling, TailSamplingStats};

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
#[cfg(any(feature = "console", feature = "otlp-logs"))]
use opentelemetry_sdk::logs::BatchLogProcessor;
use opentelemetry_sdk::logs::SdkLoggerProvider;
#[cfg(any(feature = "console", feature = "otlp-metrics"))]
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    IdGenerator, Sampler, SdkTracer, SdkTracerProvider, SpanLimits, SpanProcessor,
};

use crate::engine::{EngineBuilder, FlushError, Flusher, InvocationEngine};
use crate::env::{Environment, ProcessEnvironment};
use crate::propagation::{CompositePropagation, PropagatorRegistry};
use crate::resource::{ResourceDetector, build_resource};
use crate::warning::ConfigWarning;
use export::{ExportHealth, Observed, printable_endpoint};
use flush::{Destinations, Providers, destination};

/// Builds the providers, resource and propagation from the environment.
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::Pipeline;
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_SERVICE_NAME", "orders"),
///     ("OTEL_TRACES_EXPORTER", "none"),
///     ("OTEL_METRICS_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
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
    unsampled_remote_parents: UnsampledRemoteParents,
    late_resource: Option<LateResource>,
    metric_sinks: Vec<sink::NamedSink>,
    tail_sampling: Option<TailSampling>,
    sampling_rules: Option<SamplingRules>,
    span_exporters: Vec<custom::BoxedSpanExporter>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("env", &self.env)
            .field("detectors", &self.detectors)
            .field("registry", &self.registry)
            .field("metric_sinks", &self.metric_sinks)
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
            unsampled_remote_parents: UnsampledRemoteParents::Honor,
            late_resource: None,
            metric_sinks: Vec::new(),
            tail_sampling: None,
            sampling_rules: None,
            span_exporters: Vec::new(),
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

    /// What parent-based samplers do with remote parents that say "not sampled", as the
    /// platform's default (see [`UnsampledRemoteParents`]);
    /// `OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS` overrides it.
    #[must_use]
    pub fn unsampled_remote_parents(mut self, default: UnsampledRemoteParents) -> Self {
        self.unsampled_remote_parents = default;
        self
    }

    /// Resource attributes that a cloud crate fetches in the background (from a metadata
    /// service): span and log exports carry them once known (see [`LateResource`]).
    #[must_use]
    pub fn with_late_resource(mut self, late: LateResource) -> Self {
        self.late_resource = Some(late);
        self
    }

    /// Adds a metrics destination that `OTEL_METRICS_EXPORTER` may select by `name` (case
    /// insensitive), beside `otlp` and `console`: a platform crate's log-based metric
    /// format, for instance. It is used only when the variable names it. See
    /// [`MetricSink`] for an example.
    #[must_use]
    pub fn with_metric_exporter(mut self, name: &'static str, sink: impl MetricSink) -> Self {
        self.metric_sinks
            .retain(|named| !named.name.eq_ignore_ascii_case(name));
        self.metric_sinks.push(sink::NamedSink {
            name,
            sink: Arc::new(sink),
        });
        self
    }

    /// Samples each invocation's spans when it ends, by how it ended (see
    /// [`TailSampling`]); `OTEL_FAAS_TAIL_SAMPLING_RATIO` and its companions, when set, win.
    ///
    /// ```
    /// use std::time::Duration;
    /// use otel_faas_core::{Pipeline, env::MapEnvironment, pipeline::TailSampling};
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")]))
    ///     .with_tail_sampling(TailSampling::new(0.1).slow(Duration::from_secs(1)))
    ///     .install();
    /// assert_eq!(telemetry.tail_sampling_stats().map(|s| s.kept_invocations), Some(0));
    /// ```
    #[must_use]
    pub fn with_tail_sampling(mut self, sampling: TailSampling) -> Self {
        self.tail_sampling = Some(sampling);
        self
    }

    /// Decides whether new traces are sampled by `rules` (see [`SamplingRules`]): the
    /// first rule matching the root span decides, with its reservoir and rate; spans with a
    /// parent follow it. `OTEL_FAAS_SAMPLING_RULES`, when set and valid, wins.
    ///
    /// ```
    /// use otel_faas_core::{Pipeline, env::MapEnvironment, pipeline::SamplingRules};
    ///
    /// let rules = SamplingRules::parse(r#"{"version": 2,
    ///     "rules": [{"url_path": "/health", "fixed_target": 0, "rate": 0.0}],
    ///     "default": {"fixed_target": 1, "rate": 0.1}}"#).unwrap();
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")]))
    ///     .with_sampling_rules(rules)
    ///     .install();
    /// # drop(telemetry);
    /// ```
    #[must_use]
    pub fn with_sampling_rules(mut self, rules: SamplingRules) -> Self {
        self.sampling_rules = Some(rules);
        self
    }

    /// Exports spans to `exporter` too: a destination of your own (a vendor's exporter, an
    /// in-memory one in tests), through the same export path (queue, circuit breaker,
    /// counted drops), span limits, late resource and tail sampling as the exporters `OTEL_TRACES_EXPORTER` names — set that variable
    /// to `none` to export only here. Its failures are reported like theirs.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use otel_faas_core::Pipeline;
    /// use otel_faas_core::env::MapEnvironment;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let spans = InMemorySpanExporter::default();
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([
    ///     ("OTEL_TRACES_EXPORTER", "none"),
    ///     ("OTEL_METRICS_EXPORTER", "none"),
    ///     ("OTEL_LOGS_EXPORTER", "none"),
    /// ]))
    /// .with_span_exporter(spans.clone())
    /// .install();
    /// {
    ///     use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    ///     let _span = telemetry.tracer_provider().tracer("example").start("work");
    /// }
    /// telemetry.engine().build().flusher().flush(std::time::Duration::from_secs(1)).await.unwrap();
    /// assert_eq!(spans.get_finished_spans().unwrap()[0].name, "work");
    /// # }
    /// ```
    #[must_use]
    pub fn with_span_exporter(
        mut self,
        exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
    ) -> Self {
        self.span_exporters
            .push(custom::BoxedSpanExporter::new(exporter));
        self
    }

    /// Builds everything. Never fails and never touches the network; each problem is
    /// emitted once as a warning and listed in [`Telemetry::warnings`].
    pub fn install(self) -> Telemetry {
        let env = self.env.as_ref();
        let names: Vec<&'static str> = self.metric_sinks.iter().map(|s| s.name).collect();
        let config = PipelineConfig::from_env_with_metric_exporters(env, &names);
        let mut warnings = config.warnings().to_vec();
        let detectors: Vec<&dyn ResourceDetector> =
            self.detectors.iter().map(|d| d.as_ref()).collect();
        let (resource, resource_warnings) = build_resource(env, &detectors);
        warnings.extend(resource_warnings);
        let (propagation, propagation_warnings) = self.registry.from_env(env);
        warnings.extend(propagation_warnings);
        let tail_sampling = TailSampling::from_env(env, &mut warnings).or(self.tail_sampling);
        let sampling_rules = match env.get_non_empty(SAMPLING_RULES_VARIABLE) {
            Some(value) => match SamplingRules::load(&value) {
                Ok(rules) => Some(rules),
                Err(error) => {
                    // The value may be a whole document: name the problem, not the value.
                    warnings.push(ConfigWarning::new(
                        SAMPLING_RULES_VARIABLE,
                        if value.trim_start().starts_with('{') {
                            "(a document)".to_owned()
                        } else {
                            value
                        },
                        error.to_string(),
                        "the rules given in code, else OTEL_TRACES_SAMPLER",
                    ));
                    self.sampling_rules
                }
            },
            None => self.sampling_rules,
        };
        let service_name = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|value| value.to_string())
            .unwrap_or_default();
        let rule_sampler = sampling_rules.map(|rules| rules.sampler(&service_name));
        let tail_counters = tail_sampling.map(|_| Arc::new(tail::TailCounters::default()));

        let health = Arc::new(ExportHealth::default());
        let unsampled_remote_parents = config
            .unsampled_remote_parents
            .unwrap_or(self.unsampled_remote_parents);
        let mut build = Build {
            config: &config,
            health: &health,
            warnings: &mut warnings,
            unsampled_remote_parents,
            late_resource: self.late_resource.clone(),
            metric_sinks: &self.metric_sinks,
            tail: tail_sampling.zip(tail_counters.clone()),
            rule_sampler,
            span_exporters: self.span_exporters,
            span_paths: Vec::new(),
            span_counters: Arc::new(direct::SpanCounters::default()),
        };
        let tracer_provider = build.tracer_provider(resource.clone(), self.id_generator);
        let meter_provider = build.meter_provider(resource.clone());
        let logger_provider = build.logger_provider(resource.clone());
        let span_paths = std::mem::take(&mut build.span_paths);
        let span_counters = Arc::clone(&build.span_counters);
        let exports =
            |signal: Signal| !config.sdk_disabled && !config.signal(signal).exporters.is_empty();
        if exports(Signal::Metrics) && !span_paths.is_empty() {
            direct::register_self_metric(&meter_provider, Arc::clone(&span_counters));
        }
        for warning in &warnings {
            warning.emit();
        }
        let flusher = Flusher::for_target(Arc::new(Providers {
            tracer: tracer_provider.clone(),
            // Flushed (on the blocking pool) only when the signal is exported at all.
            meter: exports(Signal::Metrics).then(|| meter_provider.clone()),
            logger: exports(Signal::Logs).then(|| logger_provider.clone()),
            spans: span_paths.clone(),
            destinations: Destinations {
                traces: destination(&config.traces),
                metrics: destination(&config.metrics),
                logs: destination(&config.logs),
            },
        }));
        Telemetry {
            late_resource: self.late_resource,
            unsampled_remote_parents,
            tracer_provider,
            meter_provider,
            logger_provider,
            resource,
            propagation: Arc::new(propagation),
            warnings,
            config,
            health,
            flusher,
            tail_counters,
            span_paths,
            span_counters,
        }
    }
}

/// Builds the SDK's OTLP exporter of one signal over the configured protocol. A macro,
/// because each signal's exporter has its own builder types for HTTP and gRPC.
#[cfg(any(feature = "otlp-sdk-http", feature = "otlp-grpc"))]
macro_rules! otlp_exporter {
    ($exporter:ident, $config:expr) => {
        otlp_exporter!($exporter, $config, |builder| builder)
    };
    ($exporter:ident, $config:expr, |$builder:ident| $customize:expr) => {{
        let config: &SignalConfig = $config;
        let built: Result<_, String> = match config.protocol {
            #[cfg(feature = "otlp-grpc")]
            OtlpProtocol::Grpc => {
                let $builder = opentelemetry_otlp::$exporter::builder().with_tonic();
                export::grpc_settings($customize, config)
                    .and_then(|builder| builder.build().map_err(|error| error.to_string()))
            }
            #[cfg(feature = "otlp-sdk-http")]
            _ => {
                let $builder = opentelemetry_otlp::$exporter::builder().with_http();
                export::http_settings($customize, config)
                    .and_then(|builder| builder.build().map_err(|error| error.to_string()))
            }
            // Spans over gRPC only: the configuration never asks for the SDK's HTTP
            // exporters then.
            #[cfg(not(feature = "otlp-sdk-http"))]
            _ => Err(
                "OTLP/HTTP through the SDK needs the otlp-metrics or otlp-logs cargo feature"
                    .to_owned(),
            ),
        };
        built.map_err(|error| format!("the OTLP exporter could not be built: {error}"))
    }};
}

/// Builds the three providers, turning every exporter that cannot be built into a warning.
struct Build<'a> {
    config: &'a PipelineConfig,
    health: &'a Arc<ExportHealth>,
    warnings: &'a mut Vec<ConfigWarning>,
    unsampled_remote_parents: UnsampledRemoteParents,
    late_resource: Option<LateResource>,
    metric_sinks: &'a [sink::NamedSink],
    tail: Option<(TailSampling, Arc<tail::TailCounters>)>,
    rule_sampler: Option<rules::RuleSampler>,
    span_exporters: Vec<custom::BoxedSpanExporter>,
    /// The spans' export paths built, for the flusher.
    span_paths: Vec<direct::DirectHandle>,
    /// Their counters (shared by all of a pipeline's paths).
    span_counters: Arc<direct::SpanCounters>,
}

impl Build<'_> {
    fn enabled(&self, signal: Signal) -> &[Exporter] {
        if self.config.sdk_disabled {
            &[]
        } else {
            &self.config.signal(signal).exporters
        }
    }

    fn fail(&mut self, signal: Signal, exporter: Exporter, reason: String) {
        self.warnings.push(ConfigWarning::new(
            signal.exporter_variable(),
            format!("{exporter:?}").to_ascii_lowercase(),
            reason,
            format!("no such exporter: {signal} are dropped"),
        ));
    }

    fn observed<E>(&self, signal: Signal, inner: E) -> Observed<E> {
        Observed {
            inner,
            signal,
            endpoint: printable_endpoint(&self.config.signal(signal).endpoint),
            health: Arc::clone(self.health),
            value_length: self.config.limits.attribute_value_length,
        }
    }

    /// An SDK span exporter on an export path: failures reported, values truncated, late
    /// resource attributes added.
    fn any_exporter(&self, exporter: custom::BoxedSpanExporter) -> direct::Transport {
        direct::Transport::Exporter(tokio::sync::RwLock::new(custom::BoxedSpanExporter::new(
            self.observed(Signal::Traces, self.late(exporter)),
        )))
    }

    /// Wraps a span or log exporter so that it gains the late resource attributes.
    fn late<E>(&self, exporter: E) -> late::WithLateResource<E> {
        late::WithLateResource::new(exporter, self.late_resource.clone())
    }

    fn tracer_provider(
        &mut self,
        resource: Resource,
        id_generator: Option<Box<dyn IdGenerator>>,
    ) -> SdkTracerProvider {
        let limits = self.config.limits;
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_span_limits(SpanLimits {
                max_attributes_per_span: limits.span_attribute_count,
                max_events_per_span: limits.span_event_count,
                max_links_per_span: limits.span_link_count,
                max_attributes_per_event: limits.event_attribute_count,
                max_attributes_per_link: limits.link_attribute_count,
            });
        builder = if self.config.sdk_disabled {
            builder.with_sampler(Sampler::AlwaysOff)
        } else if let Some(rules) = self.rule_sampler.clone() {
            // The rules decide for roots; children follow their parent.
            match self.unsampled_remote_parents {
                UnsampledRemoteParents::DecideLocally => {
                    builder.with_sampler(sampling::LocalDecisionForUnsampledRemote {
                        configured: Sampler::ParentBased(Box::new(rules.clone())),
                        root: Box::new(rules),
                    })
                }
                _ => builder.with_sampler(Sampler::ParentBased(Box::new(rules))),
            }
        } else {
            match (
                self.unsampled_remote_parents,
                self.config.sampler.root_sampler(),
            ) {
                (UnsampledRemoteParents::DecideLocally, Some(root)) => {
                    builder.with_sampler(sampling::LocalDecisionForUnsampledRemote {
                        configured: self.config.sampler.to_sampler(),
                        root: Box::new(root),
                    })
                }
                _ => builder.with_sampler(self.config.sampler.to_sampler()),
            }
        };
        builder = match id_generator {
            Some(generator) => builder.with_id_generator(BoxedIdGenerator(generator)),
            // Ids that a snapshot restore cannot duplicate (see `FreshIds`).
            None => builder.with_id_generator(FreshIds::random()),
        };
        let batch = self.config.span_batch;
        let settings = direct::Settings {
            queue_limit: batch.max_queue_size,
            batch_size: batch.max_export_batch_size,
            schedule_delay: batch.schedule_delay,
            timeout: self.config.span_export_timeout,
        };
        let mut transports = Vec::new();
        for exporter in self.enabled(Signal::Traces).to_vec() {
            let transport = match exporter {
                #[cfg(feature = "console")]
                Exporter::Console => self.any_exporter(custom::BoxedSpanExporter::new(
                    opentelemetry_stdout::SpanExporter::default(),
                )),
                // Not parsed without the feature.
                #[cfg(not(feature = "console"))]
                Exporter::Console => continue,
                #[cfg(feature = "otlp-grpc")]
                Exporter::Otlp if self.config.traces.protocol == OtlpProtocol::Grpc => {
                    match otlp_exporter!(SpanExporter, &self.config.traces) {
                        Ok(otlp) => self.any_exporter(custom::BoxedSpanExporter::new(otlp)),
                        Err(reason) => {
                            self.fail(Signal::Traces, exporter, reason);
                            continue;
                        }
                    }
                }
                Exporter::Otlp => match direct::OtlpHttp::new(
                    &self.config.traces,
                    self.late_resource.clone(),
                    self.config.limits.attribute_value_length,
                ) {
                    Ok(otlp) => direct::Transport::OtlpHttp(otlp),
                    Err(reason) => {
                        self.fail(
                            Signal::Traces,
                            exporter,
                            format!("the OTLP exporter could not be built: {reason}"),
                        );
                        continue;
                    }
                },
                // Registered names are metrics' only; none is parsed for spans.
                Exporter::Named(_) => continue,
            };
            transports.push(transport);
        }
        let given = std::mem::take(&mut self.span_exporters);
        if !self.config.sdk_disabled {
            for exporter in given {
                transports.push(self.any_exporter(exporter));
            }
        }
        let mut processors: Vec<Box<dyn SpanProcessor>> = Vec::new();
        for transport in transports {
            let processor = direct::DirectSpanProcessor::new(
                transport,
                settings,
                Arc::clone(self.health),
                printable_endpoint(&self.config.traces.endpoint),
                Arc::clone(&self.span_counters),
            );
            self.span_paths.push(processor.handle());
            processors.push(Box::new(processor));
        }
        match (&self.tail, processors.is_empty()) {
            // The tail sampler holds each invocation's spans in front of the exporters.
            (Some((sampling, counters)), false) => {
                builder = builder.with_span_processor(tail::TailSampler::new(
                    *sampling,
                    processors,
                    Arc::clone(counters),
                ));
            }
            _ => {
                for processor in processors {
                    builder = builder.with_span_processor(BoxedProcessor(processor));
                }
            }
        }
        builder.build()
    }

    fn meter_provider(&mut self, resource: Resource) -> SdkMeterProvider {
        let mut builder = SdkMeterProvider::builder().with_resource(resource);
        let interval = self.config.metric_export_interval;
        #[cfg(any(feature = "console", feature = "otlp-metrics"))]
        let temporality = match self.config.metric_temporality {
            TemporalityPreference::Cumulative => Temporality::Cumulative,
            TemporalityPreference::Delta => Temporality::Delta,
            TemporalityPreference::LowMemory => Temporality::LowMemory,
        };
        for exporter in self.enabled(Signal::Metrics).to_vec() {
            match exporter {
                #[cfg(feature = "console")]
                Exporter::Console => {
                    let console = opentelemetry_stdout::MetricExporter::builder()
                        .with_temporality(temporality)
                        .build();
                    let reader = PeriodicReader::builder(self.observed(Signal::Metrics, console))
                        .with_interval(interval)
                        .build();
                    builder = builder.with_reader(reader);
                }
                #[cfg(feature = "otlp-metrics")]
                Exporter::Otlp => {
                    match otlp_exporter!(MetricExporter, &self.config.metrics, |builder| builder
                        .with_temporality(temporality))
                    {
                        Ok(otlp) => {
                            let reader =
                                PeriodicReader::builder(self.observed(Signal::Metrics, otlp))
                                    .with_interval(interval)
                                    .build();
                            builder = builder.with_reader(reader);
                        }
                        Err(reason) => self.fail(Signal::Metrics, exporter, reason),
                    }
                }
                // Neither is parsed without its feature.
                #[cfg(not(feature = "console"))]
                Exporter::Console => {}
                #[cfg(not(feature = "otlp-metrics"))]
                Exporter::Otlp => {}
                Exporter::Named(name) => {
                    // Only registered names are parsed, so the sink is there.
                    if let Some(named) = self.metric_sinks.iter().find(|s| s.name == name) {
                        let exporter = sink::SinkExporter(Arc::clone(&named.sink));
                        let reader =
                            PeriodicReader::builder(self.observed(Signal::Metrics, exporter))
                                .with_interval(interval)
                                .build();
                        builder = builder.with_reader(reader);
                    }
                }
            }
        }
        builder.build()
    }

    fn logger_provider(&mut self, resource: Resource) -> SdkLoggerProvider {
        let builder = SdkLoggerProvider::builder().with_resource(resource);
        #[cfg(any(feature = "console", feature = "otlp-logs"))]
        let builder = self
            .log_processors()
            .into_iter()
            .fold(builder, |builder, processor| {
                builder.with_log_processor(processor)
            });
        builder.build()
    }

    /// A batch processor per log exporter (none can be configured without a feature that
    /// builds one in).
    #[cfg(any(feature = "console", feature = "otlp-logs"))]
    fn log_processors(&mut self) -> Vec<BatchLogProcessor> {
        let batch = self.config.log_batch;
        let batch_config = || {
            opentelemetry_sdk::logs::BatchConfigBuilder::default()
                .with_scheduled_delay(batch.schedule_delay)
                .with_max_queue_size(batch.max_queue_size)
                .with_max_export_batch_size(batch.max_export_batch_size)
                .build()
        };
        let mut processors = Vec::new();
        for exporter in self.enabled(Signal::Logs).to_vec() {
            let processor = match exporter {
                #[cfg(feature = "console")]
                Exporter::Console => BatchLogProcessor::builder(self.observed(
                    Signal::Logs,
                    self.late(opentelemetry_stdout::LogExporter::default()),
                ))
                .with_batch_config(batch_config())
                .build(),
                #[cfg(feature = "otlp-logs")]
                Exporter::Otlp => match otlp_exporter!(LogExporter, &self.config.logs) {
                    Ok(otlp) => {
                        BatchLogProcessor::builder(self.observed(Signal::Logs, self.late(otlp)))
                            .with_batch_config(batch_config())
                            .build()
                    }
                    Err(reason) => {
                        self.fail(Signal::Logs, exporter, reason);
                        continue;
                    }
                },
                // Registered names are metrics' only; none is parsed for logs, nor the
                // others without their features.
                #[cfg(not(feature = "console"))]
                Exporter::Console => continue,
                #[cfg(not(feature = "otlp-logs"))]
                Exporter::Otlp => continue,
                Exporter::Named(_) => continue,
            };
            processors.push(processor);
        }
        processors
    }
}

/// Lets a boxed processor be handed to the SDK builder, which wants a concrete type.
#[derive(Debug)]
struct BoxedProcessor(Box<dyn SpanProcessor>);

impl SpanProcessor for BoxedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.0.on_end(span);
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
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

/// The installed pipeline: tracer, meter and logger providers, resource and propagation.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use opentelemetry::metrics::MeterProvider as _;
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::Pipeline;
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_TRACES_EXPORTER", "none"),
///     ("OTEL_METRICS_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .install();
/// let engine = telemetry.engine().build();
/// let orders = telemetry.meter("orders").u64_counter("orders.placed").build();
/// orders.add(1, &[]);
/// // ... serve invocations with `engine` ...
/// # drop(engine);
/// telemetry.shutdown(Duration::from_secs(2)).await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct Telemetry {
    late_resource: Option<LateResource>,
    unsampled_remote_parents: UnsampledRemoteParents,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    logger_provider: SdkLoggerProvider,
    resource: Resource,
    propagation: Arc<CompositePropagation>,
    warnings: Vec<ConfigWarning>,
    config: PipelineConfig,
    health: Arc<ExportHealth>,
    span_paths: Vec<direct::DirectHandle>,
    span_counters: Arc<direct::SpanCounters>,
    flusher: Flusher,
    tail_counters: Option<Arc<tail::TailCounters>>,
}

impl Telemetry {
    /// What the tail sampler did since start-up, when tail sampling is on.
    pub fn tail_sampling_stats(&self) -> Option<TailSamplingStats> {
        self.tail_counters.as_ref().map(|counters| counters.stats())
    }

    /// The resource attributes fetched after start-up, when the pipeline has any (see
    /// [`Pipeline::with_late_resource`]).
    ///
    /// ```
    /// use otel_faas_core::{Pipeline, env::MapEnvironment, pipeline::LateResource};
    ///
    /// let env = || MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")]);
    /// assert!(Pipeline::with_environment(env()).install().late_resource().is_none());
    /// let telemetry = Pipeline::with_environment(env()).with_late_resource(LateResource::new()).install();
    /// assert!(telemetry.late_resource().is_some());
    /// ```
    pub fn late_resource(&self) -> Option<&LateResource> {
        self.late_resource.as_ref()
    }

    /// What parent-based samplers do with unsampled remote parents, as configured.
    pub fn unsampled_remote_parents(&self) -> UnsampledRemoteParents {
        self.unsampled_remote_parents
    }

    /// The tracer provider, for libraries that take one.
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The meter provider (`OTEL_METRICS_EXPORTER`).
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// The logger provider (`OTEL_LOGS_EXPORTER`), for a logs bridge.
    pub fn logger_provider(&self) -> &SdkLoggerProvider {
        &self.logger_provider
    }

    /// Makes this pipeline's tracer and meter providers `opentelemetry`'s global ones, so
    /// that `opentelemetry::global::meter(…)` and `global::tracer(…)` — in your code or in a
    /// library — record into it. The one-line set-ups of the cloud crates call it.
    ///
    /// ```
    /// use otel_faas_core::{Pipeline, env::MapEnvironment};
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_SDK_DISABLED", "true")])).install();
    /// telemetry.set_global_providers();
    /// opentelemetry::global::meter("orders").u64_counter("orders.placed").build().add(1, &[]);
    /// ```
    pub fn set_global_providers(&self) {
        opentelemetry::global::set_tracer_provider(self.tracer_provider.clone());
        opentelemetry::global::set_meter_provider(self.meter_provider.clone());
    }

    /// A tracer named `name`, for instance for `tracing-opentelemetry`.
    pub fn tracer(&self, name: &'static str) -> SdkTracer {
        self.tracer_provider.tracer(name)
    }

    /// A meter named `name`.
    pub fn meter(&self, name: &'static str) -> opentelemetry::metrics::Meter {
        self.meter_provider.meter(name)
    }

    /// The resource every span, metric point and log record carries.
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

    /// What the spans' export paths have done since start-up: spans exported, held for a
    /// later send, and dropped per reason (see [`ExportStats`]).
    pub fn export_stats(&self) -> ExportStats {
        let held = self.span_paths.iter().map(|path| path.held() as u64).sum();
        ExportStats::read(&self.span_counters, held)
    }

    /// The flusher of all three signals, for platform hooks that flush outside an
    /// invocation.
    pub fn flusher(&self) -> &Flusher {
        &self.flusher
    }

    /// An engine builder wired to this pipeline's providers and propagation, exceptions
    /// recorded where `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN` says, and — when
    /// metrics are exported — the FaaS metrics of the conventions
    /// ([`FaasMetrics`](crate::engine::FaasMetrics)).
    pub fn engine(&self) -> EngineBuilder {
        use opentelemetry::logs::LoggerProvider as _;
        use opentelemetry::metrics::MeterProvider as _;
        let builder = InvocationEngine::builder(&self.tracer_provider)
            .propagation(self.propagation.clone())
            .flusher(self.flusher.clone())
            .link_limit(usize::try_from(self.config.limits.span_link_count).unwrap_or(usize::MAX))
            .exceptions(
                self.config.exception_signal,
                self.logger_provider.logger("otel-faas"),
            );
        // The FaaS metrics of the conventions, whenever metrics are exported.
        if self.config.sdk_disabled || self.config.metrics.exporters.is_empty() {
            builder
        } else {
            builder.observer(crate::engine::FaasMetrics::new(
                &self.meter_provider.meter("otel-faas"),
            ))
        }
    }

    /// Exports what is left of every signal and stops the exporters, within `budget` and
    /// without blocking the executor. Call it when the platform announces shutdown.
    ///
    /// Returns an error if the shutdown did not complete, or if any export since start-up
    /// failed (each failure kind was already reported once as it happened).
    pub async fn shutdown(&self, budget: Duration) -> Result<(), FlushError> {
        let shut_down = self.flusher.shutdown(budget).await;
        // The failures since start-up say more than the shutdown's own error (which is
        // often the last of them).
        match self.health.summary() {
            None => shut_down,
            Some((failures, last)) => Err(FlushError::Export(format!(
                "{failures} export(s) failed since start-up; the last: {last}"
            ))),
        }
    }
}
