//! `lambda_runtime` and `lambda_http` integration: set-up in one call, the tower layer, the
//! after-response flush extension, and the shutdown flush.

mod completion;
mod extension;
mod filter;
pub mod platform;
mod shutdown;
mod snapstart;

use crate::event::LambdaEventAdapter;
pub use filter::{RUNTIME_SPAN_NAME, without_runtime_spans};
pub use platform::{LambdaPricing, PlatformTelemetry};
pub use snapstart::LambdaSnapStart;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use otel_faas_core::subscriber::TracingOptions;
use otel_faas_core::{
    Environment, InvocationEngine, InvocationLayer, Pipeline, Telemetry,
    engine::{ColdStart, FlushPolicy},
    env::ProcessEnvironment,
};

use crate::resource::LambdaResourceDetector;
use crate::xray::register_propagators;
use completion::{CompletionObserver, Completions};

/// The layer [`LambdaTelemetry::layer`] returns: the engine's [`InvocationLayer`], wrapping
/// any `lambda_runtime` or `lambda_http` service.
pub type LambdaLayer<A> = InvocationLayer<A>;

/// The name the after-response flush extension registers under.
pub const EXTENSION_NAME: &str = "otel-faas";

/// When a Lambda invocation's spans are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LambdaFlush {
    /// Before the handler's response is returned, waiting at most `budget` and never past
    /// the deadline. Simple, and costs the caller the export's latency.
    BeforeResponse {
        /// The longest an invocation waits for its export.
        budget: Duration,
    },
    /// After the response has been sent, by an internal Lambda extension that flushes
    /// before Lambda freezes the environment (Lambda waits for extensions before the next
    /// invocation). The caller never waits for telemetry. Requires
    /// [`LambdaTelemetry::register_extension`] before `lambda_runtime::run`.
    AfterResponse {
        /// The longest the extension waits for an export.
        budget: Duration,
    },
}

impl Default for LambdaFlush {
    fn default() -> Self {
        Self::BeforeResponse {
            budget: Duration::from_secs(2),
        }
    }
}

/// Telemetry for a Lambda function, set up from the environment in one call.
///
/// It installs the pipeline from the `OTEL_*` variables with the
/// [`LambdaResourceDetector`], makes `xray` and `xray-lambda` available to
/// `OTEL_PROPAGATORS`, decides cold starts from `AWS_LAMBDA_INITIALIZATION_TYPE`
/// (`provisioned-concurrency`, `snap-start` and `lambda-managed-instances` environments are
/// initialised ahead of traffic, so their first invocation is not cold), and records an
/// `init` span on the cold invocation, from the moment this was built.
///
/// ```no_run
/// use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
/// use lambda_runtime::{LambdaEvent, service_fn};
/// use otel_faas_aws::{LambdaTelemetry, SqsTrigger};
/// use tower::Layer;
///
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_runtime::Error> {
///     let otel = LambdaTelemetry::from_env();
///     let handler = otel.layer(SqsTrigger::new()).layer(service_fn(handler));
///     lambda_runtime::run(handler).await
/// }
///
/// async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
///     Ok(otel_faas_aws::batch::process_sqs_batch(&event.payload, async |_message| Ok::<_, String>(())).await)
/// }
/// ```
pub struct LambdaTelemetry {
    telemetry: Telemetry,
    engine: InvocationEngine,
    cold_start: ColdStart,
    flush: LambdaFlush,
    completions: Completions,
    /// On Lambda Managed Instances (`AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`).
    managed_instances: bool,
    /// The platform's figures, when asked for.
    platform: Option<platform::PlatformFigures>,
}

impl fmt::Debug for LambdaTelemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaTelemetry")
            .field("engine", &self.engine)
            .field("flush", &self.flush)
            .finish_non_exhaustive()
    }
}

/// Configures [`LambdaTelemetry`].
pub struct LambdaTelemetryBuilder {
    env: Arc<dyn Environment>,
    pipeline: Pipeline,
    flush: LambdaFlush,
    init_started: SystemTime,
    deadline_margin: Duration,
    platform: PlatformTelemetry,
}

impl fmt::Debug for LambdaTelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaTelemetryBuilder")
            .field("flush", &self.flush)
            .finish_non_exhaustive()
    }
}

impl LambdaTelemetryBuilder {
    /// When spans are exported; [`LambdaFlush::BeforeResponse`] by default.
    #[must_use]
    pub fn flush(mut self, flush: LambdaFlush) -> Self {
        self.flush = flush;
        self
    }

    /// Uses X-Ray-compatible trace ids (the first 4 bytes are the epoch seconds), for
    /// functions that export to AWS X-Ray — reseeded after a SnapStart restore like the
    /// default ids (`otel_faas_core::ids::FreshIds::epoch_prefixed`).
    #[must_use]
    pub fn xray_ids(mut self) -> Self {
        self.pipeline = self
            .pipeline
            .with_id_generator(otel_faas_core::ids::FreshIds::epoch_prefixed());
        self
    }

    /// Exports spans to `exporter` too (see [`Pipeline::with_span_exporter`]): a destination
    /// of your own, beside or — with `OTEL_TRACES_EXPORTER=none` — instead of OTLP.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), lambda_runtime::Error> {
    /// let spans = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// let otel = otel_faas_aws::LambdaTelemetry::builder()
    ///     .with_span_exporter(spans.clone())
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_span_exporter(
        mut self,
        exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
    ) -> Self {
        self.pipeline = self.pipeline.with_span_exporter(exporter);
        self
    }

    /// Changes the pipeline before it is installed: a destination, a request signer or a
    /// sampler of your own, or another platform crate's (Application Insights or Google's
    /// Telemetry API from a Lambda function, say).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), lambda_runtime::Error> {
    /// use opentelemetry_sdk::trace::InMemorySpanExporter;
    /// use otel_faas_core::pipeline::SpanDestination;
    ///
    /// let otel = otel_faas_aws::LambdaTelemetry::builder()
    ///     .map_pipeline(|pipeline| {
    ///         pipeline.with_span_destination(SpanDestination::new("memory", |_, _| {
    ///             Ok(InMemorySpanExporter::default())
    ///         }))
    ///     })
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn map_pipeline(mut self, change: impl FnOnce(Pipeline) -> Pipeline) -> Self {
        self.pipeline = change(self.pipeline);
        self
    }

    /// How long before the deadline a running invocation's span is ended and exported with
    /// `error.type=timeout`; 500 ms by default.
    #[must_use]
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// Records the platform's own figures from the Lambda Telemetry API — billed duration,
    /// memory used, the whole init and restore durations, and an optional cost estimate —
    /// as metrics and as a `platform.report` span under each invocation span, one invocation
    /// late (see [`PlatformTelemetry`]). `OTEL_FAAS_LAMBDA_PLATFORM_TELEMETRY`,
    /// `OTEL_FAAS_LAMBDA_COST_ESTIMATE` and the price variables override it.
    ///
    /// ```no_run
    /// use otel_faas_aws::{LambdaTelemetry, lambda::{LambdaPricing, PlatformTelemetry}};
    ///
    /// # async fn run() -> Result<(), lambda_runtime::Error> {
    /// let otel = LambdaTelemetry::builder()
    ///     .platform_telemetry(PlatformTelemetry::enabled().cost_estimate(LambdaPricing::arm64()))
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn platform_telemetry(mut self, platform: PlatformTelemetry) -> Self {
        self.platform = platform;
        self
    }

    /// Installs the pipeline and builds the engine. Never fails: configuration problems are
    /// warnings (see [`Telemetry::warnings`]).
    ///
    /// `OTEL_FAAS_FLUSH` (`before-response` or `after-response`) and
    /// `OTEL_FAAS_FLUSH_BUDGET_MS` (the longest an invocation, or the extension, waits for an
    /// export; `0` leaves export to the export path's schedule and the shutdown flush) override the
    /// policy set in code, so a deployment can choose it in its template. Invalid values
    /// warn and keep the policy set in code.
    pub fn build(mut self) -> LambdaTelemetry {
        self.flush = flush_from_env(self.env.as_ref(), self.flush);
        let telemetry = self.pipeline.install();
        let initialization = self.env.get_non_empty("AWS_LAMBDA_INITIALIZATION_TYPE");
        let managed_instances = initialization.as_deref() == Some(MANAGED_INSTANCES);
        let cold_start = match initialization.as_deref() {
            Some("provisioned-concurrency" | "snap-start" | MANAGED_INSTANCES) => {
                ColdStart::pre_initialized()
            }
            _ => ColdStart::new(),
        };
        let policy = match self.flush {
            LambdaFlush::BeforeResponse { budget } => FlushPolicy::EndOfInvocation { budget },
            LambdaFlush::AfterResponse { .. } => FlushPolicy::Background,
        };
        let completions = Completions::default();
        let mut engine = telemetry
            .engine()
            .flush_policy(policy)
            .cold_start(cold_start.clone())
            .deadline_margin(self.deadline_margin)
            .init_started(self.init_started);
        if matches!(self.flush, LambdaFlush::AfterResponse { .. }) && !managed_instances {
            // The extension waits for the engine to end each request's invocation.
            engine = engine.observer(CompletionObserver(completions.clone()));
        }
        let platform = self.platform.with_environment(self.env.as_ref());
        let platform = platform.is_enabled().then(|| {
            platform::PlatformFigures::new(
                &platform,
                &telemetry.meter("otel-faas-aws"),
                telemetry.tracer("otel-faas-aws"),
            )
        });
        if let Some(figures) = &platform {
            // Remembers each invocation so that its late report finds its span.
            engine = engine.observer(figures.observer());
        }
        LambdaTelemetry {
            platform,
            telemetry,
            engine: engine.build(),
            cold_start,
            flush: self.flush,
            completions,
            managed_instances,
        }
    }
}

/// Applies `OTEL_FAAS_FLUSH` and `OTEL_FAAS_FLUSH_BUDGET_MS` to `flush`.
fn flush_from_env(env: &dyn Environment, flush: LambdaFlush) -> LambdaFlush {
    let (mut after_response, mut budget) = match flush {
        LambdaFlush::BeforeResponse { budget } => (false, budget),
        LambdaFlush::AfterResponse { budget } => (true, budget),
    };
    if let Some(value) = env.get_non_empty("OTEL_FAAS_FLUSH_BUDGET_MS") {
        match value.parse::<u64>() {
            Ok(millis) => budget = Duration::from_millis(millis),
            Err(_) => otel_faas_core::env::ConfigWarning::new(
                "OTEL_FAAS_FLUSH_BUDGET_MS",
                value,
                "a whole number of milliseconds",
                budget.as_millis().to_string(),
            )
            .emit(),
        }
    }
    if let Some(value) = env.get_non_empty("OTEL_FAAS_FLUSH") {
        match value.to_ascii_lowercase().as_str() {
            "before-response" => after_response = false,
            "after-response" => after_response = true,
            _ => otel_faas_core::env::ConfigWarning::new(
                "OTEL_FAAS_FLUSH",
                value,
                "before-response, after-response",
                if after_response {
                    "after-response"
                } else {
                    "before-response"
                },
            )
            .emit(),
        }
    }
    if after_response {
        LambdaFlush::AfterResponse { budget }
    } else {
        LambdaFlush::BeforeResponse { budget }
    }
}

/// `AWS_LAMBDA_INITIALIZATION_TYPE` on Lambda Managed Instances.
const MANAGED_INSTANCES: &str = "lambda-managed-instances";

/// How long the SIGTERM flush of [`LambdaTelemetry::start`] may take: Lambda allows an
/// environment with an internal extension 500 ms between SIGTERM and SIGKILL, and the
/// process must still exit within it.
pub const SHUTDOWN_FLUSH_BUDGET: Duration = Duration::from_millis(300);

impl LambdaTelemetryBuilder {
    /// Builds, then does the whole set-up a Lambda function needs, in one call: the global
    /// `tracing` subscriber (the OpenTelemetry layer without `lambda_runtime`'s own span;
    /// log lines in Lambda's format joined to the trace, [`LambdaLogLayer`]; `tracing`
    /// events as OTLP log records when `OTEL_LOGS_EXPORTER` exports them; all at
    /// `AWS_LAMBDA_LOG_LEVEL` when the function's logging configuration sets it, else at
    /// what `RUST_LOG` says, else `INFO`), the global tracer and meter providers,
    /// the after-response extension when `OTEL_FAAS_FLUSH=after-response`, and the SIGTERM
    /// flush. A subscriber installed before is kept, with a warning.
    ///
    /// [`LambdaLogLayer`]: crate::logs::LambdaLogLayer
    pub async fn start(self) -> Result<LambdaTelemetry, lambda_runtime::Error> {
        let lines = crate::logs::LambdaLogLayer::from_env(self.env.as_ref());
        // The function's log level setting wins (Lambda filters JSON lines by it anyway);
        // without it, `RUST_LOG` decides, as for any Rust program, then `INFO`.
        let platform_level = self
            .env
            .get_non_empty(crate::logs::LOG_LEVEL_VARIABLE)
            .is_some();
        let options = TracingOptions::default()
            .hide_span(RUNTIME_SPAN_NAME)
            .level(lines.level())
            .rust_log(!platform_level)
            // Lambda's lines replace the plain ones: one line per event, in its format.
            .plain_lines(false);
        // Core's filter (the level, or `RUST_LOG`) decides which events reach the lines.
        let lines = lines.with_level(tracing_subscriber::filter::LevelFilter::TRACE);
        let otel = self.build();
        let ends = tracing_subscriber::Layer::and_then(otel.invocation_end_layer(), lines);
        if let Err(error) = otel.telemetry.init_tracing_with(options, ends) {
            eprintln!("otel-faas warning: {error}");
        }
        otel.register_extension().await?;
        otel.spawn_shutdown_flush(SHUTDOWN_FLUSH_BUDGET);
        Ok(otel)
    }
}

impl LambdaTelemetry {
    /// Telemetry from the environment with the whole set-up done (see
    /// [`LambdaTelemetryBuilder::start`]): the one line a function's `main` needs.
    ///
    /// ```no_run
    /// use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
    /// use lambda_runtime::{LambdaEvent, service_fn};
    /// use otel_faas_aws::{LambdaTelemetry, SqsTrigger};
    /// use tower::Layer;
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), lambda_runtime::Error> {
    ///     let otel = LambdaTelemetry::start().await?;
    ///     lambda_runtime::run(otel.layer(SqsTrigger::new()).layer(service_fn(handler))).await
    /// }
    ///
    /// async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    ///     Ok(otel_faas_aws::batch::process_sqs_batch(&event.payload, async |_message| Ok::<_, String>(())).await)
    /// }
    /// ```
    pub async fn start() -> Result<Self, lambda_runtime::Error> {
        Self::builder().start().await
    }

    /// Telemetry configured from the process environment, with the defaults, and nothing
    /// else set up (compose your own subscriber; call
    /// [`register_extension`](Self::register_extension) and
    /// [`spawn_shutdown_flush`](Self::spawn_shutdown_flush) yourself).
    pub fn from_env() -> Self {
        Self::builder().build()
    }

    /// A builder reading the process environment.
    pub fn builder() -> LambdaTelemetryBuilder {
        Self::builder_with_environment(ProcessEnvironment)
    }

    /// A builder reading `env` (for tests, or configuration that is not in the process
    /// environment).
    pub fn builder_with_environment(
        env: impl Environment + Clone + 'static,
    ) -> LambdaTelemetryBuilder {
        let init_started = SystemTime::now();
        let mut pipeline = Pipeline::with_environment(env.clone())
            .with_detector(LambdaResourceDetector)
            // `OTEL_METRICS_EXPORTER=awsemf`: metrics as EMF lines on standard output.
            .with_metric_exporter(
                crate::emf::EMF_EXPORTER_NAME,
                crate::emf::EmfWriter::stdout().with_environment(&env),
            );
        // `OTEL_TRACES_EXPORTER=awsxray`: segment documents to the daemon Lambda runs.
        #[cfg(feature = "xray-daemon")]
        {
            pipeline =
                pipeline.with_span_destination(crate::xray::daemon::xray_daemon_destination());
        }
        // Exports to AWS's OTLP endpoints (X-Ray, CloudWatch Logs) signed with SigV4.
        #[cfg(feature = "sigv4")]
        {
            pipeline = pipeline
                .with_request_signer(crate::sigv4::otlp_signer())
                .with_otlp_span_adapter(crate::sigv4::xray_otlp_annotations());
        }
        register_propagators(pipeline.registry_mut());
        // Spans go to the daemon only with X-Ray active tracing on, and then Lambda's
        // `Sampled=0` is X-Ray's decision: an invocation it did not sample sends nothing.
        // Lambda has recorded its segment in its own trace: the invocation's parent is that
        // segment (a caller's context a link), and `xray-lambda` is in the default
        // propagators, after the W3C ones so outgoing calls carry both headers.
        #[cfg(feature = "xray-daemon")]
        if crate::xray::daemon::selected(&env) {
            let registry = pipeline.registry_mut();
            registry.register("xray-lambda", || {
                Box::new(crate::xray::XrayLambdaPropagator::lambda_parent())
            });
            registry.set_default(crate::xray::daemon::DEFAULT_PROPAGATORS);
        }
        LambdaTelemetryBuilder {
            env: Arc::new(env),
            pipeline,
            flush: LambdaFlush::default(),
            init_started,
            deadline_margin: Duration::from_millis(500),
            platform: PlatformTelemetry::default(),
        }
    }

    /// The installed pipeline.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The engine, for the plain wrapper function instead of the layer.
    pub fn engine(&self) -> &InvocationEngine {
        &self.engine
    }

    /// A layer for a `lambda_runtime` handler service whose events `adapter` describes.
    pub fn layer<A>(&self, adapter: A) -> LambdaLayer<LambdaEventAdapter<A>> {
        self.layer_for(LambdaEventAdapter::new(adapter))
    }

    /// A layer for an adapter that already understands the runtime's request type (the
    /// `lambda_http` adapter, or a custom one).
    pub fn layer_for<A>(&self, adapter: A) -> LambdaLayer<A> {
        InvocationLayer::new(self.engine.clone(), adapter)
    }

    /// A layer for `lambda_http::run`: wrap the whole service (an axum `Router`, for
    /// instance) so every request is an invocation.
    #[cfg(feature = "lambda-http")]
    pub fn http_layer(&self) -> LambdaLayer<crate::http_trigger::LambdaHttpTrigger> {
        self.layer_for(crate::http_trigger::LambdaHttpTrigger::new())
    }

    /// The `tracing` layer that tells the after-response extension when `lambda_runtime`
    /// has finished each request — every request, also one whose event the runtime could
    /// not deserialise, and only once the response is posted. [`LambdaTelemetryBuilder::start`]
    /// installs it; add it to a subscriber you compose yourself. Without it, the extension
    /// learns of an invocation's end from the engine, which never sees a refused event.
    ///
    /// ```no_run
    /// use tracing_subscriber::layer::SubscriberExt as _;
    /// use tracing_subscriber::util::SubscriberInitExt as _;
    ///
    /// let otel = otel_faas_aws::LambdaTelemetry::from_env();
    /// tracing_subscriber::registry()
    ///     .with(otel.invocation_end_layer())
    ///     .with(otel.telemetry().tracing_layer())
    ///     .init();
    /// ```
    pub fn invocation_end_layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        completion::RuntimeSpanEnds::filtered(self.completions.clone())
    }

    /// The SnapStart hooks (see [`LambdaSnapStart`]): after a restore, fresh ids, fresh
    /// exporter connections and a cold invocation with a `restore` span. `lambda_runtime`
    /// runs them only when `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`.
    ///
    /// ```no_run
    /// use lambda_runtime::{LambdaEvent, Runtime, layers::TracingLayer, service_fn};
    /// use otel_faas_aws::{LambdaTelemetry, SqsTrigger};
    /// use tower::Layer;
    ///
    /// # async fn handler(_: LambdaEvent<aws_lambda_events::sqs::SqsEvent>) -> Result<(), lambda_runtime::Error> { Ok(()) }
    /// #[tokio::main]
    /// async fn main() -> Result<(), lambda_runtime::Error> {
    ///     let otel = LambdaTelemetry::start().await?;
    ///     let handler = otel.layer(SqsTrigger::new()).layer(service_fn(handler));
    ///     Runtime::new(handler)
    ///         .layer(TracingLayer::new())
    ///         .register_snapstart_resource(otel.snapstart())
    ///         .run()
    ///         .await
    /// }
    /// ```
    pub fn snapstart(&self) -> Arc<LambdaSnapStart> {
        let budget = match self.flush {
            LambdaFlush::BeforeResponse { budget } | LambdaFlush::AfterResponse { budget } => {
                budget
            }
        };
        Arc::new(LambdaSnapStart {
            flusher: self.engine.flusher().clone(),
            cold_start: self.cold_start.clone(),
            budget,
        })
    }

    /// The flush policy in force.
    pub fn flush(&self) -> LambdaFlush {
        self.flush
    }

    /// Registers the internal extension that flushes after each response, and runs it in
    /// the background. Call it before `lambda_runtime::run` (extensions register during
    /// initialisation). With [`LambdaFlush::BeforeResponse`] and no platform figures asked
    /// for it does nothing; with the figures (see
    /// [`LambdaTelemetryBuilder::platform_telemetry`]) it registers an extension that only
    /// subscribes to the Telemetry API.
    ///
    /// On Lambda Managed Instances, which run several invocations at once in an environment
    /// they never freeze and let no extension subscribe to INVOKE, the extension subscribes
    /// to SHUTDOWN only: spans are exported on the export path's schedule, and what is
    /// left when the environment shuts down is flushed then.
    pub async fn register_extension(&self) -> Result<(), lambda_extension::Error> {
        let flush = match self.flush {
            LambdaFlush::AfterResponse { budget } => Some((self.engine.flusher().clone(), budget)),
            LambdaFlush::BeforeResponse { .. } if self.platform.is_some() => None,
            LambdaFlush::BeforeResponse { .. } => return Ok(()),
        };
        let completions =
            (flush.is_some() && !self.managed_instances).then(|| self.completions.clone());
        extension::register(extension::ExtensionPlan {
            completions,
            flush,
            managed_instances: self.managed_instances,
            platform: self.platform.clone(),
        })
        .await
    }

    /// On SIGTERM or SIGINT, exports what is left (within `budget`) and exits the process,
    /// as Lambda expects of a runtime it is shutting down. Lambda sends SIGTERM only to
    /// functions with a registered extension, which [`register_extension`](Self::register_extension)
    /// provides.
    pub fn spawn_shutdown_flush(&self, budget: Duration) {
        shutdown::spawn_shutdown_flush(self.engine.flusher().clone(), budget);
    }

    /// Exports what is left and stops the exporters.
    pub async fn shutdown(
        &self,
        budget: Duration,
    ) -> Result<(), otel_faas_core::engine::FlushError> {
        self.telemetry.shutdown(budget).await
    }
}

#[cfg(test)]
mod tests {
    use otel_faas_core::env::MapEnvironment;

    use super::*;

    #[test]
    fn flush_settings_come_from_the_environment_and_bad_values_keep_the_code_default() {
        let default = LambdaFlush::default();
        let env = MapEnvironment::from([
            ("OTEL_FAAS_FLUSH", "after-response"),
            ("OTEL_FAAS_FLUSH_BUDGET_MS", "0"),
        ]);
        assert_eq!(
            flush_from_env(&env, default),
            LambdaFlush::AfterResponse {
                budget: Duration::ZERO
            }
        );
        let env = MapEnvironment::from([
            ("OTEL_FAAS_FLUSH", "later"),
            ("OTEL_FAAS_FLUSH_BUDGET_MS", "soon"),
        ]);
        assert_eq!(flush_from_env(&env, default), default);
        assert_eq!(flush_from_env(&MapEnvironment::default(), default), default);
    }
}
