//! `Telemetry`: the installed pipeline, the handle a function keeps.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use super::export::ExportHealth;
use super::{ExportStats, LateResource, PipelineConfig, direct};
use crate::engine::{EngineBuilder, FlushError, Flusher, InvocationEngine};
use crate::propagation::CompositePropagation;
use crate::sampling::{TailSamplingStats, UnsampledRemoteParents};
use crate::warning::ConfigWarning;

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
    pub(super) late_resource: Option<LateResource>,
    pub(super) unsampled_remote_parents: UnsampledRemoteParents,
    pub(super) tracer_provider: SdkTracerProvider,
    pub(super) meter_provider: SdkMeterProvider,
    pub(super) logger_provider: SdkLoggerProvider,
    pub(super) resource: Resource,
    pub(super) propagation: Arc<CompositePropagation>,
    pub(super) warnings: Vec<ConfigWarning>,
    pub(super) config: PipelineConfig,
    pub(super) health: Arc<ExportHealth>,
    pub(super) span_paths: Vec<direct::DirectHandle>,
    pub(super) span_counters: Arc<direct::SpanCounters>,
    pub(super) flusher: Flusher,
    pub(super) tail_counters: Option<Arc<crate::sampling::tail::TailCounters>>,
}

impl Telemetry {
    /// What the tail sampler did since start-up, when tail sampling is on.
    pub fn tail_sampling_stats(&self) -> Option<TailSamplingStats> {
        self.tail_counters.as_ref().map(|counters| counters.stats())
    }

    /// The resource attributes fetched after start-up, when the pipeline has any (see
    /// [`Pipeline::with_late_resource`](super::Pipeline::with_late_resource)).
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

    /// Makes this pipeline's tracer and meter providers and its propagation
    /// (`OTEL_PROPAGATORS`) `opentelemetry`'s global ones, so that
    /// `opentelemetry::global::meter(…)`, `global::tracer(…)` and the global propagator — in
    /// your code or in a library, such as an HTTP client outside an invocation — record into
    /// it and inject what it is configured to. The one-line set-ups of the cloud crates
    /// call it.
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
        opentelemetry::global::set_text_map_propagator(GlobalPropagation(self.propagation()));
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

/// The pipeline's propagation as `opentelemetry`'s global propagator (which takes a value,
/// where the pipeline shares one).
#[derive(Debug)]
struct GlobalPropagation(Arc<crate::propagation::CompositePropagation>);

impl opentelemetry::propagation::TextMapPropagator for GlobalPropagation {
    fn inject_context(
        &self,
        cx: &opentelemetry::Context,
        injector: &mut dyn opentelemetry::propagation::Injector,
    ) {
        self.0.inject_context(cx, injector);
    }
    fn extract_with_context(
        &self,
        cx: &opentelemetry::Context,
        extractor: &dyn opentelemetry::propagation::Extractor,
    ) -> opentelemetry::Context {
        self.0.extract_with_context(cx, extractor)
    }
    fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
        opentelemetry::propagation::TextMapPropagator::fields(&*self.0)
    }
}
