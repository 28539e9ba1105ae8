//! `Pipeline::install`: the providers of each signal assembled from the configuration.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::BatchLogProcessor;
use opentelemetry_sdk::logs::SdkLoggerProvider;
#[cfg(any(feature = "console", feature = "otlp-metrics"))]
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    IdGenerator, Sampler, SdkTracerProvider, SpanLimits, SpanProcessor,
};

#[cfg(feature = "otlp-grpc")]
use super::OtlpProtocol;
use super::SamplerConfig;
#[cfg(any(feature = "console", feature = "otlp-metrics"))]
use super::TemporalityPreference;
use super::config::Registered;
use super::export::{ExportHealth, Observed, printable_endpoint};
use super::flush::{Destinations, Providers, destination};
use super::{Exporter, LateResource, Pipeline, PipelineConfig, Signal, Telemetry};
#[cfg(any(feature = "otlp-sdk-http", feature = "otlp-grpc"))]
use super::{SignalConfig, error, export};
use super::{custom, destination, direct, late, sink, stdout};
use crate::engine::Flusher;
use crate::ids::FreshIds;
use crate::resource::{ResourceDetector, build_resource};
use crate::sampling::{
    RootSamplerInput, SAMPLING_RULES_VARIABLE, SamplingRules, TailSampling, UnsampledRemoteParents,
};
use crate::warning::ConfigWarning;

impl Pipeline {
    /// Builds everything. Never fails and never touches the network; each problem is
    /// emitted once as a warning and listed in [`Telemetry::warnings`].
    pub fn install(self) -> Telemetry {
        let env = self.env.as_ref();
        let metric_names: Vec<&'static str> = self
            .metric_sinks
            .iter()
            .map(|s| s.name)
            .chain(self.metric_destinations.iter().map(|d| d.name))
            .collect();
        let span_names: Vec<&'static str> = self.span_destinations.iter().map(|d| d.name).collect();
        let log_names: Vec<&'static str> = self.log_destinations.iter().map(|d| d.name).collect();
        let sampler_names: Vec<&'static str> = self.root_samplers.iter().map(|s| s.name).collect();
        let mut defaults = Vec::new();
        for (signal, names) in [
            (Signal::Traces, &span_names),
            (Signal::Metrics, &metric_names),
            (Signal::Logs, &log_names),
        ] {
            let default = self
                .default_destinations
                .iter()
                .find(|default| names.contains(&default.name) && (default.when)(env, signal));
            if let Some(default) = default {
                defaults.push((signal, default.name));
            }
        }
        let config = PipelineConfig::from_env_with_exporters(
            env,
            &Registered {
                spans: &span_names,
                metrics: &metric_names,
                logs: &log_names,
                samplers: &sampler_names,
                defaults,
            },
        );
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
        // A registered root sampler named by OTEL_TRACES_SAMPLER: the local rules become
        // its fallback instead of the root sampler.
        let (rule_sampler, registered_root) = match config.sampler {
            SamplerConfig::ParentBasedRegistered(name) => {
                let factory = self
                    .root_samplers
                    .into_iter()
                    .find(|registered| registered.name == name)
                    .map(|registered| registered.factory);
                let root = factory.map(|factory| {
                    factory(RootSamplerInput {
                        argument: env.get_non_empty("OTEL_TRACES_SAMPLER_ARG"),
                        resource: &resource,
                        local_rules: rule_sampler.clone(),
                        env,
                        warnings: &mut warnings,
                    })
                });
                (if root.is_some() { None } else { rule_sampler }, root)
            }
            _ => (rule_sampler, None),
        };
        let tail_counters =
            tail_sampling.map(|_| Arc::new(crate::sampling::tail::TailCounters::default()));

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
            registered_root,
            span_exporters: self.span_exporters,
            span_destinations: self.span_destinations,
            metric_destinations: self.metric_destinations,
            log_destinations: self.log_destinations,
            env,
            shared_env: &self.env,
            signers: &self.signers,
            span_adapters: &self.span_adapters,
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
    ($exporter:ident, $config:expr, $signer:expr) => {
        otlp_exporter!($exporter, $config, $signer, |builder| builder)
    };
    ($exporter:ident, $config:expr, $signer:expr, |$builder:ident| $customize:expr) => {{
        let config: &SignalConfig = $config;
        let signer: Option<Arc<dyn super::RequestSigner>> = $signer;
        let built: Result<_, error::BuildError> = match config.protocol {
            #[cfg(feature = "otlp-grpc")]
            OtlpProtocol::Grpc if signer.is_some() => Err(error::BuildError::Exporter(
                "requests to this endpoint must be signed, and gRPC exports are not: \
                 set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
                    .to_owned(),
            )),
            #[cfg(feature = "otlp-grpc")]
            OtlpProtocol::Grpc => {
                let $builder = opentelemetry_otlp::$exporter::builder().with_tonic();
                export::grpc_settings($customize, config).and_then(|builder| {
                    builder
                        .build()
                        .map_err(|error| error::BuildError::Exporter(error.to_string()))
                })
            }
            #[cfg(feature = "otlp-sdk-http")]
            _ => {
                let $builder = opentelemetry_otlp::$exporter::builder().with_http();
                export::http_settings($customize, config, signer).and_then(|builder| {
                    builder
                        .build()
                        .map_err(|error| error::BuildError::Exporter(error.to_string()))
                })
            }
            // Spans over gRPC only: the configuration never asks for the SDK's HTTP
            // exporters then.
            #[cfg(not(feature = "otlp-sdk-http"))]
            _ => Err({
                let _ = signer;
                error::BuildError::MissingFeature(
                    "OTLP/HTTP through the SDK needs the otlp-metrics or otlp-logs cargo feature",
                )
            }),
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
    tail: Option<(TailSampling, Arc<crate::sampling::tail::TailCounters>)>,
    rule_sampler: Option<crate::sampling::rules::RuleSampler>,
    registered_root: Option<Box<dyn opentelemetry_sdk::trace::ShouldSample>>,
    span_exporters: Vec<custom::BoxedSpanExporter>,
    /// Destinations `OTEL_TRACES_EXPORTER` may name; each is built once, when named.
    span_destinations: Vec<custom::SpanDestination>,
    /// The same for metrics and logs.
    metric_destinations: Vec<destination::MetricDestination>,
    log_destinations: Vec<destination::LogDestination>,
    env: &'a dyn crate::env::Environment,
    /// The same environment, for signers that keep it.
    shared_env: &'a Arc<dyn crate::env::Environment>,
    /// Who signs which signal's requests.
    signers: &'a [super::SignerFactory],
    /// Who adapts the spans for their OTLP endpoint.
    span_adapters: &'a [super::OtlpSpanAdapterFactory],
    /// The spans' export paths built, for the flusher.
    span_paths: Vec<direct::DirectHandle>,
    /// Their counters (shared by all of a pipeline's paths).
    span_counters: Arc<direct::SpanCounters>,
}

impl Build<'_> {
    /// The signer of `signal`'s OTLP requests, if one is registered for its endpoint.
    fn signer(&self, signal: Signal) -> Option<Arc<dyn super::RequestSigner>> {
        super::signing::signer_for(
            self.signers,
            self.shared_env,
            signal,
            self.config.signal(signal),
        )
    }

    fn enabled(&self, signal: Signal) -> &[Exporter] {
        if self.config.sdk_disabled {
            &[]
        } else {
            &self.config.signal(signal).exporters
        }
    }

    fn fail(&mut self, signal: Signal, exporter: Exporter, reason: String) {
        let name = match exporter {
            Exporter::Named(name) => name.to_owned(),
            Exporter::OtlpStdout => super::config::OTLP_STDOUT.to_owned(),
            other => format!("{other:?}").to_ascii_lowercase(),
        };
        self.warnings.push(ConfigWarning::new(
            signal.exporter_variable(),
            name,
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
    fn any_exporter(
        &self,
        exporter: custom::BoxedSpanExporter,
        destination: &str,
    ) -> direct::Transport {
        let mut observed = self.observed(Signal::Traces, self.late(exporter));
        observed.endpoint = destination.to_owned();
        direct::Transport::Exporter(tokio::sync::RwLock::new(custom::BoxedSpanExporter::new(
            observed,
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
        // Ids given in code win; else those of the first selected destination that needs
        // its own.
        let id_generator = id_generator.or_else(|| {
            let selected = self.enabled(Signal::Traces).to_vec();
            selected.iter().find_map(|exporter| match exporter {
                Exporter::Named(name) => self
                    .span_destinations
                    .iter_mut()
                    .find(|d| d.name == *name)
                    .and_then(|d| d.id_generator.take()),
                _ => None,
            })
        });
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
        } else if let Some(root) = self.registered_root.take().or_else(|| {
            self.rule_sampler
                .clone()
                .map(|rules| Box::new(rules) as Box<dyn opentelemetry_sdk::trace::ShouldSample>)
        }) {
            // The registered sampler, else the rules, decide for roots; children follow
            // their parent.
            match self.unsampled_remote_parents {
                UnsampledRemoteParents::DecideLocally => builder.with_sampler(
                    crate::sampling::unsampled::LocalDecisionForUnsampledRemote {
                        configured: Sampler::ParentBased(root.clone()),
                        root,
                    },
                ),
                _ => builder.with_sampler(Sampler::ParentBased(root)),
            }
        } else {
            match (
                self.unsampled_remote_parents,
                self.config.sampler.root_sampler(),
            ) {
                (UnsampledRemoteParents::DecideLocally, Some(root)) => builder.with_sampler(
                    crate::sampling::unsampled::LocalDecisionForUnsampledRemote {
                        configured: self.config.sampler.to_sampler(),
                        root: Box::new(root),
                    },
                ),
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
            // What failures name: never the OTLP endpoint for another destination.
            let destination = match exporter {
                Exporter::Otlp => printable_endpoint(&self.config.traces.endpoint),
                Exporter::Console => "the console".to_owned(),
                Exporter::OtlpStdout => "OTLP on standard output".to_owned(),
                Exporter::Named(name) => name.to_owned(),
            };
            let transport = match exporter {
                #[cfg(feature = "console")]
                Exporter::Console => self.any_exporter(
                    custom::BoxedSpanExporter::new(opentelemetry_stdout::SpanExporter::default()),
                    &destination,
                ),
                // Not parsed without the feature.
                #[cfg(not(feature = "console"))]
                Exporter::Console => continue,
                Exporter::OtlpStdout => self.any_exporter(
                    custom::BoxedSpanExporter::new(stdout::StdoutSpanExporter::new()),
                    &destination,
                ),
                #[cfg(feature = "otlp-grpc")]
                Exporter::Otlp if self.config.traces.protocol == OtlpProtocol::Grpc => {
                    match otlp_exporter!(
                        SpanExporter,
                        &self.config.traces,
                        self.signer(Signal::Traces)
                    ) {
                        Ok(otlp) => {
                            self.any_exporter(custom::BoxedSpanExporter::new(otlp), &destination)
                        }
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
                    self.signer(Signal::Traces),
                    super::span_adapter::adapter_for(
                        self.span_adapters,
                        self.shared_env,
                        &self.config.traces,
                    ),
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
                // Only registered names are parsed, each once.
                Exporter::Named(name) => {
                    let Some(index) = self.span_destinations.iter().position(|d| d.name == name)
                    else {
                        continue;
                    };
                    let named = self.span_destinations.swap_remove(index);
                    match (named.build)(self.env, &self.config.traces) {
                        Ok(built) => self.any_exporter(built, &destination),
                        Err(reason) => {
                            self.fail(Signal::Traces, exporter, reason);
                            continue;
                        }
                    }
                }
            };
            transports.push((transport, destination));
        }
        let given = std::mem::take(&mut self.span_exporters);
        if !self.config.sdk_disabled {
            for exporter in given {
                let destination = "a span exporter given in code";
                transports.push((
                    self.any_exporter(exporter, destination),
                    destination.to_owned(),
                ));
            }
        }
        let mut processors: Vec<Box<dyn SpanProcessor>> = Vec::new();
        for (transport, destination) in transports {
            let processor = direct::DirectSpanProcessor::new(
                transport,
                settings,
                Arc::clone(self.health),
                destination,
                Arc::clone(&self.span_counters),
            );
            self.span_paths.push(processor.handle());
            processors.push(Box::new(processor));
        }
        match (&self.tail, processors.is_empty()) {
            // The tail sampler holds each invocation's spans in front of the exporters.
            (Some((sampling, counters)), false) => {
                builder = builder.with_span_processor(crate::sampling::tail::TailSampler::new(
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
                    match otlp_exporter!(
                        MetricExporter,
                        &self.config.metrics,
                        self.signer(Signal::Metrics),
                        |builder| builder.with_temporality(temporality)
                    ) {
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
                #[cfg(feature = "otlp-stdout")]
                Exporter::OtlpStdout => {
                    let exporter = stdout::StdoutMetricExporter::new(temporality);
                    let reader = PeriodicReader::builder(self.observed(Signal::Metrics, exporter))
                        .with_interval(interval)
                        .build();
                    builder = builder.with_reader(reader);
                }
                // None is parsed without its feature.
                #[cfg(not(feature = "console"))]
                Exporter::Console => {}
                #[cfg(not(feature = "otlp-metrics"))]
                Exporter::Otlp => {}
                #[cfg(not(feature = "otlp-stdout"))]
                Exporter::OtlpStdout => {}
                Exporter::Named(name) => {
                    // Only registered names are parsed: a sink's, else a destination's.
                    if let Some(named) = self.metric_sinks.iter().find(|s| s.name == name) {
                        let exporter = sink::SinkExporter(Arc::clone(&named.sink));
                        let reader =
                            PeriodicReader::builder(self.observed(Signal::Metrics, exporter))
                                .with_interval(interval)
                                .build();
                        builder = builder.with_reader(reader);
                    } else if let Some(index) =
                        self.metric_destinations.iter().position(|d| d.name == name)
                    {
                        let named = self.metric_destinations.swap_remove(index);
                        match (named.build)(self.env, &self.config.metrics) {
                            Ok(exporter) => {
                                let mut observed = self.observed(Signal::Metrics, exporter);
                                observed.endpoint = name.to_owned();
                                let reader = PeriodicReader::builder(observed)
                                    .with_interval(interval)
                                    .build();
                                builder = builder.with_reader(reader);
                            }
                            Err(reason) => self.fail(Signal::Metrics, exporter, reason),
                        }
                    }
                }
            }
        }
        builder.build()
    }

    fn logger_provider(&mut self, resource: Resource) -> SdkLoggerProvider {
        let builder = SdkLoggerProvider::builder().with_resource(resource);
        let builder = self
            .log_processors()
            .into_iter()
            .fold(builder, |builder, processor| {
                builder.with_log_processor(processor)
            });
        builder.build()
    }

    /// A batch processor per log exporter.
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
                Exporter::Otlp => {
                    match otlp_exporter!(LogExporter, &self.config.logs, self.signer(Signal::Logs))
                    {
                        Ok(otlp) => {
                            BatchLogProcessor::builder(self.observed(Signal::Logs, self.late(otlp)))
                                .with_batch_config(batch_config())
                                .build()
                        }
                        Err(reason) => {
                            self.fail(Signal::Logs, exporter, reason);
                            continue;
                        }
                    }
                }
                #[cfg(feature = "otlp-stdout")]
                Exporter::OtlpStdout => BatchLogProcessor::builder(
                    self.observed(Signal::Logs, self.late(stdout::StdoutLogExporter::new())),
                )
                .with_batch_config(batch_config())
                .build(),
                // None is parsed without its feature.
                #[cfg(not(feature = "console"))]
                Exporter::Console => continue,
                #[cfg(not(feature = "otlp-logs"))]
                Exporter::Otlp => continue,
                #[cfg(not(feature = "otlp-stdout"))]
                Exporter::OtlpStdout => continue,
                // Only registered names are parsed, each once.
                Exporter::Named(name) => {
                    let Some(index) = self.log_destinations.iter().position(|d| d.name == name)
                    else {
                        continue;
                    };
                    let named = self.log_destinations.swap_remove(index);
                    match (named.build)(self.env, &self.config.logs) {
                        Ok(exporter) => {
                            let mut observed = self.observed(Signal::Logs, self.late(exporter));
                            observed.endpoint = name.to_owned();
                            BatchLogProcessor::builder(observed)
                                .with_batch_config(batch_config())
                                .build()
                        }
                        Err(reason) => {
                            self.fail(Signal::Logs, exporter, reason);
                            continue;
                        }
                    }
                }
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

#[cfg(test)]
mod tests {
    use crate::env::MapEnvironment;

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

    /// A registered root sampler named by `OTEL_TRACES_SAMPLER` decides for roots, gets
    /// the argument and the local rules (which no longer decide themselves), and children
    /// follow their parent; not named, it is never built.
    #[test]
    fn a_registered_root_sampler_decides_with_the_local_rules_as_its_fallback() {
        use std::sync::{Arc, Mutex};

        use opentelemetry::trace::{
            Span as _, SpanKind, TraceContextExt as _, TraceId, Tracer as _,
        };
        use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample as _};

        use crate::sampling::{RootSamplerFactory, RootSamplerInput};

        type Seen = Arc<Mutex<Option<(Option<String>, bool, bool)>>>;
        fn factory(seen: Seen) -> RootSamplerFactory {
            Box::new(move |input: RootSamplerInput<'_>| {
                // The local rules keep everything named "kept": the fallback given is them.
                let fallback_keeps = input.local_rules.as_ref().is_some_and(|rules| {
                    rules
                        .should_sample(None, TraceId::from(3), "kept", &SpanKind::Server, &[], &[])
                        .decision
                        == SamplingDecision::RecordAndSample
                });
                *seen.lock().unwrap() = Some((
                    input.argument.clone(),
                    input.local_rules.is_some(),
                    fallback_keeps,
                ));
                Box::new(Sampler::AlwaysOff)
            })
        }
        let env = |sampler: &str| {
            MapEnvironment::from([
                ("OTEL_TRACES_SAMPLER", sampler.to_owned()),
                ("OTEL_TRACES_SAMPLER_ARG", "endpoint=x".to_owned()),
                (
                    "OTEL_FAAS_SAMPLING_RULES",
                    r#"{"version": 2, "rules": [{"span_name": "kept", "fixed_target": 0, "rate": 1.0}],
                        "default": {"fixed_target": 0, "rate": 1.0}}"#
                        .to_owned(),
                ),
                ("OTEL_TRACES_EXPORTER", "none".to_owned()),
                ("OTEL_METRICS_EXPORTER", "none".to_owned()),
                ("OTEL_LOGS_EXPORTER", "none".to_owned()),
            ])
        };

        let seen = Seen::default();
        let telemetry = crate::Pipeline::with_environment(env("Remote"))
            .with_root_sampler("remote", factory(Arc::clone(&seen)))
            .install();
        assert!(
            telemetry.warnings().is_empty(),
            "{:?}",
            telemetry.warnings()
        );
        assert_eq!(
            *seen.lock().unwrap(),
            Some((Some("endpoint=x".to_owned()), true, true))
        );
        // The registered sampler (always off) decides, not the rules (which keep all).
        let tracer = telemetry.tracer("t");
        let root = tracer.start("kept");
        assert!(!root.span_context().is_sampled());
        // A child of a sampled remote parent follows it.
        let parent = opentelemetry::Context::new().with_remote_span_context(
            opentelemetry::trace::SpanContext::new(
                TraceId::from(9),
                opentelemetry::trace::SpanId::from(9),
                opentelemetry::trace::TraceFlags::SAMPLED,
                true,
                Default::default(),
            ),
        );
        let child = tracer.start_with_context("child", &parent);
        assert!(child.span_context().is_sampled());

        // Not named: never built, and the rules decide.
        let seen = Seen::default();
        let telemetry = crate::Pipeline::with_environment(env("parentbased_always_on"))
            .with_root_sampler("remote", factory(Arc::clone(&seen)))
            .install();
        assert_eq!(*seen.lock().unwrap(), None);
        assert!(
            telemetry
                .tracer("t")
                .start("kept")
                .span_context()
                .is_sampled()
        );

        // A name nobody registered: a warning that lists the registered ones.
        let telemetry = crate::Pipeline::with_environment(env("elsewhere"))
            .with_root_sampler("remote", factory(Seen::default()))
            .install();
        let warning = telemetry.warnings()[0].to_string();
        assert!(
            warning.contains("parentbased_traceidratio, remote"),
            "{warning}"
        );
    }
}
