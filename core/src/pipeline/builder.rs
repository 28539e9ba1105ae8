//! `Pipeline`: what to build, before anything is built.

use std::sync::Arc;

use opentelemetry_sdk::trace::IdGenerator;

use super::{LateResource, MetricSink, custom, destination, sink};
use crate::env::{Environment, ProcessEnvironment};
use crate::propagation::PropagatorRegistry;
use crate::resource::ResourceDetector;
use crate::sampling::{SamplingRules, TailSampling, UnsampledRemoteParents};

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
    pub(super) env: Arc<dyn Environment>,
    pub(super) detectors: Vec<Box<dyn ResourceDetector>>,
    pub(super) registry: PropagatorRegistry,
    pub(super) id_generator: Option<Box<dyn IdGenerator>>,
    pub(super) unsampled_remote_parents: UnsampledRemoteParents,
    pub(super) late_resource: Option<LateResource>,
    pub(super) metric_sinks: Vec<sink::NamedSink>,
    pub(super) tail_sampling: Option<TailSampling>,
    pub(super) sampling_rules: Option<SamplingRules>,
    pub(super) span_exporters: Vec<custom::BoxedSpanExporter>,
    pub(super) span_destinations: Vec<custom::SpanDestination>,
    pub(super) metric_destinations: Vec<destination::MetricDestination>,
    pub(super) log_destinations: Vec<destination::LogDestination>,
    pub(super) default_destinations: Vec<destination::DefaultDestination>,
    pub(super) signers: Vec<super::SignerFactory>,
    pub(super) span_adapters: Vec<super::OtlpSpanAdapterFactory>,
    pub(super) root_samplers: Vec<crate::sampling::registered::NamedRootSampler>,
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
            span_destinations: Vec::new(),
            metric_destinations: Vec::new(),
            log_destinations: Vec::new(),
            default_destinations: Vec::new(),
            signers: Vec::new(),
            span_adapters: Vec::new(),
            root_samplers: Vec::new(),
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

    /// Signs the OTLP/HTTP export requests of every signal whose settings `factory`
    /// accepts (see [`RequestSigner`](super::RequestSigner)): a cloud crate registers the
    /// signature its endpoints want. The first factory that accepts a signal's settings
    /// signs them; gRPC exports are never signed (a factory that accepts one is told so by
    /// a warning).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use otel_faas_core::Pipeline;
    /// use otel_faas_core::env::MapEnvironment;
    /// use otel_faas_core::pipeline::{RequestSigner, SigningError};
    ///
    /// #[derive(Debug)]
    /// struct Unsigned;
    /// impl RequestSigner for Unsigned {
    ///     fn sign(&self, _: &http::Method, _: &http::Uri, _: &mut http::HeaderMap, _: &[u8]) -> Result<(), SigningError> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let pipeline = Pipeline::with_environment(MapEnvironment::default()).with_request_signer(
    ///     Arc::new(|_env, _signal, config| {
    ///         config.endpoint.starts_with("https://ingest.example.com/")
    ///             .then(|| Arc::new(Unsigned) as Arc<dyn RequestSigner>)
    ///     }),
    /// );
    /// # drop(pipeline);
    /// ```
    #[must_use]
    pub fn with_request_signer(mut self, factory: super::SignerFactory) -> Self {
        self.signers.push(factory);
        self
    }

    /// Adapts the spans sent over OTLP/HTTP to an endpoint `factory` accepts (see
    /// [`OtlpSpanAdapter`](super::OtlpSpanAdapter)): a cloud crate's endpoint that reads
    /// some attributes its own way. The first factory that accepts the spans' settings
    /// adapts them; other destinations get the spans as recorded.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use otel_faas_core::Pipeline;
    /// use otel_faas_core::env::MapEnvironment;
    /// use otel_faas_core::pipeline::OtlpSpanAdapter;
    ///
    /// #[derive(Debug)]
    /// struct Unchanged;
    /// impl OtlpSpanAdapter for Unchanged {
    ///     fn adapt(&self, _span: &mut opentelemetry_sdk::trace::SpanData) {}
    /// }
    ///
    /// let pipeline = Pipeline::with_environment(MapEnvironment::default()).with_otlp_span_adapter(
    ///     Arc::new(|_env, config| {
    ///         config.endpoint.starts_with("https://ingest.example.com/")
    ///             .then(|| Arc::new(Unchanged) as Arc<dyn OtlpSpanAdapter>)
    ///     }),
    /// );
    /// # drop(pipeline);
    /// ```
    #[must_use]
    pub fn with_otlp_span_adapter(mut self, factory: super::OtlpSpanAdapterFactory) -> Self {
        self.span_adapters.push(factory);
        self
    }

    /// Adds a span destination that `OTEL_TRACES_EXPORTER` may select by its name, beside
    /// `otlp` and `console` (see [`SpanDestination`](super::SpanDestination)); a later one
    /// of the same name replaces an earlier one.
    #[must_use]
    pub fn with_span_destination(mut self, destination: custom::SpanDestination) -> Self {
        self.span_destinations
            .retain(|known| !known.name.eq_ignore_ascii_case(destination.name));
        self.span_destinations.push(destination);
        self
    }

    /// Adds a metrics destination that `OTEL_METRICS_EXPORTER` may select by its name (see
    /// [`MetricDestination`](super::MetricDestination)); a later one of the same name
    /// replaces an earlier one.
    #[must_use]
    pub fn with_metric_destination(mut self, destination: destination::MetricDestination) -> Self {
        self.metric_destinations
            .retain(|known| !known.name.eq_ignore_ascii_case(destination.name));
        self.metric_destinations.push(destination);
        self
    }

    /// Adds a log destination that `OTEL_LOGS_EXPORTER` may select by its name (see
    /// [`LogDestination`](super::LogDestination)); a later one of the same name replaces
    /// an earlier one.
    #[must_use]
    pub fn with_log_destination(mut self, destination: destination::LogDestination) -> Self {
        self.log_destinations
            .retain(|known| !known.name.eq_ignore_ascii_case(destination.name));
        self.log_destinations.push(destination);
        self
    }

    /// Makes the destination registered as `name` the default of each signal for which
    /// `when` holds and whose `OTEL_{SIGNAL}_EXPORTER` is unset, instead of `otlp`: a
    /// platform's own back end, where the platform's environment says the function is
    /// wired to it (Application Insights where `APPLICATIONINSIGHTS_CONNECTION_STRING` is
    /// set and no OTLP endpoint is). Setting the variable always wins; a signal with no
    /// destination of that name keeps its default.
    ///
    /// ```
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use otel_faas_core::{Pipeline, env::{Environment, MapEnvironment}};
    /// use otel_faas_core::pipeline::{Exporter, Signal, SpanDestination};
    ///
    /// fn wired(env: &dyn Environment, _signal: Signal) -> bool {
    ///     env.get_non_empty("VENDOR_KEY").is_some()
    /// }
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([("VENDOR_KEY", "k")]))
    ///     .with_span_destination(SpanDestination::new("vendor", |_, _| Ok(InMemorySpanExporter::default())))
    ///     .with_default_destination("vendor", wired)
    ///     .install();
    /// assert_eq!(telemetry.config().traces.exporters, [Exporter::Named("vendor")]);
    /// assert_eq!(telemetry.config().metrics.exporters, [Exporter::Otlp], "no metrics destination of that name");
    /// ```
    #[must_use]
    pub fn with_default_destination(
        mut self,
        name: &'static str,
        when: destination::DefaultWhen,
    ) -> Self {
        self.default_destinations
            .push(destination::DefaultDestination { name, when });
        self
    }

    /// Samples each invocation's spans when it ends, by how it ended (see
    /// [`TailSampling`]); `OTEL_FAAS_TAIL_SAMPLING_RATIO` and its companions, when set, win.
    ///
    /// ```
    /// use std::time::Duration;
    /// use otel_faas_core::{Pipeline, env::MapEnvironment, sampling::TailSampling};
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
    /// use otel_faas_core::{Pipeline, env::MapEnvironment, sampling::SamplingRules};
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

    /// Offers the root sampler `factory` builds under the `OTEL_TRACES_SAMPLER` name `name`
    /// (lowercase): when the variable names it, `factory` is called once at
    /// [`install`](Self::install) with the sampler's argument (`OTEL_TRACES_SAMPLER_ARG`),
    /// the resource and the local rules, and what it returns decides for new traces — spans
    /// with a parent follow it, as with `parentbased_*`. Otherwise it is never called. For
    /// platform crates: `otel-faas-aws` registers `xray`, the X-Ray remote sampler.
    ///
    /// ```
    /// use opentelemetry::trace::{Tracer as _, TracerProvider as _, Span as _};
    /// use opentelemetry_sdk::trace::Sampler;
    /// use otel_faas_core::{Pipeline, env::MapEnvironment};
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([
    ///     ("OTEL_TRACES_SAMPLER", "nothing_ever"),
    ///     ("OTEL_TRACES_EXPORTER", "none"),
    ///     ("OTEL_METRICS_EXPORTER", "none"),
    ///     ("OTEL_LOGS_EXPORTER", "none"),
    /// ]))
    /// .with_root_sampler("nothing_ever", Box::new(|_input| Box::new(Sampler::AlwaysOff)))
    /// .install();
    /// assert!(telemetry.warnings().is_empty());
    /// let span = telemetry.tracer_provider().tracer("example").start("root");
    /// assert!(!span.span_context().is_sampled());
    /// ```
    #[must_use]
    pub fn with_root_sampler(
        mut self,
        name: &'static str,
        factory: crate::sampling::RootSamplerFactory,
    ) -> Self {
        self.root_samplers
            .push(crate::sampling::registered::NamedRootSampler { name, factory });
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
}
