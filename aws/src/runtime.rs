//! `lambda_runtime` and `lambda_http` integration: set-up in one call, the tower layer, the
//! after-response flush extension, and the shutdown flush.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use lambda_runtime::LambdaEvent;
use otel_faas_core::{
    ColdStart, Environment, FlushPolicy, InvocationEngine, InvocationLayer, InvocationService,
    Pipeline, ProcessEnvironment, Telemetry,
};
use tokio::sync::Notify;
use tower_layer::Layer;
use tower_service::Service;

use crate::lambda::{Lambda, deadline_time};
use crate::resource::LambdaResourceDetector;
use crate::xray::{XrayIdGenerator, register_propagators};

/// The name of the `tracing` span `lambda_runtime` wraps every invocation in.
pub const RUNTIME_SPAN_NAME: &str = "Lambda runtime invoke";

/// A per-layer filter for the `tracing-opentelemetry` layer that keeps `lambda_runtime`'s
/// own invocation span out of the traces. That span starts before the invocation span and
/// outside its context, so exported it would be a second, orphan trace per invocation; the
/// invocation span already carries everything it records.
///
/// ```
/// use tracing_subscriber::Layer as _;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let _subscriber = tracing_subscriber::registry().with(
///     tracing_opentelemetry::layer()
///         .with_tracer(opentelemetry::trace::TracerProvider::tracer(&provider, "my-function"))
///         .with_filter(otel_faas_aws::without_runtime_spans()),
/// );
/// ```
pub fn without_runtime_spans()
-> tracing_subscriber::filter::FilterFn<fn(&tracing::Metadata<'_>) -> bool> {
    fn keep(metadata: &tracing::Metadata<'_>) -> bool {
        metadata.name() != RUNTIME_SPAN_NAME
    }
    tracing_subscriber::filter::FilterFn::new(keep as fn(&tracing::Metadata<'_>) -> bool)
}

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
    flush: LambdaFlush,
    completions: Completions,
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
    /// functions that export to AWS X-Ray.
    #[must_use]
    pub fn xray_ids(mut self) -> Self {
        self.pipeline = self.pipeline.with_id_generator(XrayIdGenerator::default());
        self
    }

    /// How long before the deadline a running invocation's span is ended and exported with
    /// `error.type=timeout`; 500 ms by default.
    #[must_use]
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// Installs the pipeline and builds the engine. Never fails: configuration problems are
    /// warnings (see [`Telemetry::warnings`]).
    ///
    /// `OTEL_FAAS_FLUSH` (`before-response` or `after-response`) and
    /// `OTEL_FAAS_FLUSH_BUDGET_MS` (the longest an invocation, or the extension, waits for an
    /// export; `0` leaves export to the batch processor and the shutdown flush) override the
    /// policy set in code, so a deployment can choose it in its template. Invalid values
    /// warn and keep the policy set in code.
    pub fn build(mut self) -> LambdaTelemetry {
        self.flush = flush_from_env(self.env.as_ref(), self.flush);
        let telemetry = self.pipeline.install();
        let cold_start = match self
            .env
            .get_non_empty("AWS_LAMBDA_INITIALIZATION_TYPE")
            .as_deref()
        {
            Some("provisioned-concurrency" | "snap-start" | "lambda-managed-instances") => {
                ColdStart::pre_initialized()
            }
            _ => ColdStart::new(),
        };
        let policy = match self.flush {
            LambdaFlush::BeforeResponse { budget } => FlushPolicy::EndOfInvocation { budget },
            LambdaFlush::AfterResponse { .. } => FlushPolicy::Background,
        };
        let engine = telemetry
            .engine()
            .flush_policy(policy)
            .cold_start(cold_start)
            .deadline_margin(self.deadline_margin)
            .init_started(self.init_started)
            .build();
        LambdaTelemetry {
            telemetry,
            engine,
            flush: self.flush,
            completions: Completions::default(),
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
            Err(_) => otel_faas_core::ConfigWarning::new(
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
            _ => otel_faas_core::ConfigWarning::new(
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

impl LambdaTelemetry {
    /// Telemetry configured from the process environment, with the defaults.
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
        let mut pipeline =
            Pipeline::with_environment(env.clone()).with_detector(LambdaResourceDetector);
        register_propagators(pipeline.registry_mut());
        LambdaTelemetryBuilder {
            env: Arc::new(env),
            pipeline,
            flush: LambdaFlush::default(),
            init_started,
            deadline_margin: Duration::from_millis(500),
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
    pub fn layer<A>(&self, adapter: A) -> LambdaLayer<Lambda<A>> {
        self.layer_for(Lambda::new(adapter))
    }

    /// A layer for an adapter that already understands the runtime's request type (the
    /// `lambda_http` adapter, or a custom one).
    pub fn layer_for<A>(&self, adapter: A) -> LambdaLayer<A> {
        LambdaLayer {
            invocation: InvocationLayer::new(self.engine.clone(), adapter),
            completions: matches!(self.flush, LambdaFlush::AfterResponse { .. })
                .then(|| self.completions.clone()),
        }
    }

    /// A layer for `lambda_http::run`: wrap the whole service (an axum `Router`, for
    /// instance) so every request is an invocation.
    #[cfg(feature = "lambda-http")]
    pub fn http_layer(&self) -> LambdaLayer<crate::http_trigger::LambdaHttpTrigger> {
        self.layer_for(crate::http_trigger::LambdaHttpTrigger::new())
    }

    /// The flush policy in force.
    pub fn flush(&self) -> LambdaFlush {
        self.flush
    }

    /// Registers the internal extension that flushes after each response, and runs it in
    /// the background. Call it before `lambda_runtime::run` (extensions register during
    /// initialisation). With [`LambdaFlush::BeforeResponse`] it does nothing.
    pub async fn register_extension(&self) -> Result<(), lambda_extension::Error> {
        let LambdaFlush::AfterResponse { budget } = self.flush else {
            return Ok(());
        };
        let completions = self.completions.clone();
        let flusher = self.engine.flusher().clone();
        let processor = tower::service_fn(move |event: lambda_extension::LambdaEvent| {
            let completions = completions.clone();
            let flusher = flusher.clone();
            async move {
                if let lambda_extension::NextEvent::Invoke(invoke) = event.next {
                    let deadline = deadline_time(invoke.deadline_ms);
                    completions.wait(&invoke.request_id, deadline).await;
                    let left = deadline
                        .and_then(|d| d.duration_since(SystemTime::now()).ok())
                        .map_or(budget, |left| left.min(budget));
                    if let Err(error) = flusher.flush(left).await {
                        tracing::debug!(target: "otel_faas", %error, "after-response flush incomplete");
                    }
                }
                Ok::<(), std::convert::Infallible>(())
            }
        });
        let registered = lambda_extension::Extension::new()
            .with_extension_name(EXTENSION_NAME)
            .with_events(&["INVOKE"])
            .with_events_processor(processor)
            .register()
            .await?;
        tokio::spawn(async move {
            if let Err(error) = registered.run().await {
                tracing::warn!(target: "otel_faas", %error, "the otel-faas extension stopped");
            }
        });
        Ok(())
    }

    /// On SIGTERM or SIGINT, exports what is left (within `budget`) and exits the process,
    /// as Lambda expects of a runtime it is shutting down. Lambda sends SIGTERM only to
    /// functions with a registered extension, which [`register_extension`](Self::register_extension)
    /// provides.
    pub fn spawn_shutdown_flush(&self, budget: Duration) {
        let flusher = self.engine.flusher().clone();
        tokio::spawn(async move {
            wait_for_termination().await;
            if let Err(error) = flusher.shutdown(budget).await {
                eprintln!("otel-faas: shutdown flush incomplete: {error}");
            }
            std::process::exit(0);
        });
    }

    /// Exports what is left and stops the exporters.
    pub async fn shutdown(&self, budget: Duration) -> Result<(), otel_faas_core::FlushError> {
        self.telemetry.shutdown(budget).await
    }
}

#[cfg(unix)]
async fn wait_for_termination() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn wait_for_termination() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Invocations that have finished, for the extension to wait on. Bounded: an id nobody
/// waits for (a flush policy change, an uninstrumented request) does not accumulate.
#[derive(Clone, Default)]
struct Completions {
    finished: Arc<Mutex<VecDeque<String>>>,
    notify: Arc<Notify>,
}

const REMEMBERED_COMPLETIONS: usize = 256;

impl Completions {
    fn finish(&self, request_id: String) {
        {
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            if finished.len() == REMEMBERED_COMPLETIONS {
                finished.pop_front();
            }
            finished.push_back(request_id);
        }
        self.notify.notify_waiters();
    }

    fn take(&self, request_id: &str) -> bool {
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        match finished.iter().position(|id| id == request_id) {
            Some(index) => {
                finished.remove(index);
                true
            }
            None => false,
        }
    }

    /// Waits until `request_id` has finished, or the deadline has passed.
    async fn wait(&self, request_id: &str, deadline: Option<SystemTime>) {
        loop {
            let notified = self.notify.notified();
            if self.take(request_id) {
                return;
            }
            let left = deadline.map(|d| {
                d.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            });
            match left {
                Some(left) if left.is_zero() => return,
                Some(left) => {
                    if tokio::time::timeout(left, notified).await.is_err() {
                        return;
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Marks an invocation finished when dropped: on success, error, panic or cancellation.
struct CompletionGuard {
    completions: Completions,
    request_id: String,
}

impl Drop for CompletionGuard {
    fn drop(&mut self) {
        self.completions
            .finish(std::mem::take(&mut self.request_id));
    }
}

/// A runtime request whose Lambda request id can be read.
pub trait LambdaRequest {
    /// The request id, if the runtime delivered one.
    fn request_id(&self) -> Option<&str>;
}

impl<P> LambdaRequest for LambdaEvent<P> {
    fn request_id(&self) -> Option<&str> {
        Some(self.context.request_id.as_str()).filter(|id| !id.is_empty())
    }
}

impl<B> LambdaRequest for http::Request<B> {
    fn request_id(&self) -> Option<&str> {
        self.extensions()
            .get::<lambda_runtime::Context>()
            .map(|context| context.request_id.as_str())
            .filter(|id| !id.is_empty())
    }
}

/// The layer [`LambdaTelemetry::layer`] returns.
pub struct LambdaLayer<A> {
    invocation: InvocationLayer<A>,
    completions: Option<Completions>,
}

impl<A> Clone for LambdaLayer<A> {
    fn clone(&self) -> Self {
        Self {
            invocation: self.invocation.clone(),
            completions: self.completions.clone(),
        }
    }
}

impl<A> fmt::Debug for LambdaLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaLayer")
            .field("invocation", &self.invocation)
            .field("after_response", &self.completions.is_some())
            .finish()
    }
}

impl<S, A> Layer<S> for LambdaLayer<A> {
    type Service = LambdaService<InvocationService<S, A>>;

    fn layer(&self, inner: S) -> Self::Service {
        LambdaService {
            inner: self.invocation.layer(inner),
            completions: self.completions.clone(),
        }
    }
}

/// The service [`LambdaLayer`] produces.
#[derive(Clone)]
pub struct LambdaService<S> {
    inner: S,
    completions: Option<Completions>,
}

impl<S: fmt::Debug> fmt::Debug for LambdaService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, R> Service<R> for LambdaService<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
    R: LambdaRequest,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let guard = match (&self.completions, request.request_id()) {
            (Some(completions), Some(id)) => Some(CompletionGuard {
                completions: completions.clone(),
                request_id: id.to_owned(),
            }),
            _ => None,
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(guard);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use otel_faas_core::MapEnvironment;

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

    #[tokio::test]
    async fn a_completion_before_the_wait_is_not_missed() {
        let completions = Completions::default();
        completions.finish("a".into());
        completions.wait("a", None).await;
        assert!(!completions.take("a"), "taken once");
    }

    #[tokio::test]
    async fn a_wait_ends_at_the_deadline_without_a_completion() {
        let completions = Completions::default();
        let deadline = SystemTime::now() + Duration::from_millis(50);
        let started = std::time::Instant::now();
        completions.wait("never", Some(deadline)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn remembered_completions_are_bounded() {
        let completions = Completions::default();
        for i in 0..(REMEMBERED_COMPLETIONS + 10) {
            completions.finish(i.to_string());
        }
        assert!(!completions.take("0"));
        assert!(completions.take(&(REMEMBERED_COMPLETIONS + 9).to_string()));
    }
}
