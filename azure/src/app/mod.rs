//! `FunctionApp`: the custom-handler server.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::{any, on, post_service};
use futures_util::future::BoxFuture;
use http::Request;
use otel_faas_core::engine::{FlushPolicy, TypedError, error_type_of};
use otel_faas_core::env::{ConfigWarning, ProcessEnvironment};
use otel_faas_core::pipeline::Signal;
use otel_faas_core::server::{EnvelopeService, Server, ServerError};
use otel_faas_core::{Environment, InvocationEngine, Telemetry};

use crate::extract::FromInvocation;
use crate::function_json::FunctionJson;
use crate::logs::InvocationLogs;
use crate::reply::{Encoded, IntoReply};
use crate::request::InvocationRequest;
use crate::triggers::{AppIdentity, FunctionTrigger};

mod host_json;
mod routing;

use host_json::HostJson;
pub use host_json::HttpMode;
use routing::*;

type Handler =
    Arc<dyn Fn(InvocationRequest) -> BoxFuture<'static, Result<Encoded, TypedError>> + Send + Sync>;

/// An Azure Functions app served as a custom handler: register a typed handler per
/// function, then [`serve`](Self::serve).
///
/// At start-up it reads `host.json` and each registered function's `function.json` from the
/// app root (`FUNCTIONS_APP_ROOT_PATH`, else the working directory), listens on
/// `FUNCTIONS_CUSTOMHANDLER_PORT` (else the legacy `FUNCTIONS_HTTPWORKER_PORT`), answers the
/// host's readiness probe on `/`, and serves `POST /<function>` envelopes — plus, in the
/// forwarding and proxying modes, HTTP functions at their own routes. Each invocation is a
/// span described by its trigger (see [`triggers`](crate::triggers)); the log lines it
/// records go back to the host in `Logs`. On SIGTERM it drains and flushes.
///
/// A missing or malformed `function.json` gives one warning naming the file, and that
/// function is traced as `faas.trigger=other`. An envelope that cannot be decoded is
/// answered `400` with the reason (the host logs it) and recorded as an ERROR span; the
/// server keeps serving.
///
/// ```no_run
/// use otel_faas_azure::{FunctionApp, HttpRequest, HttpResponse, QueueMessage, TimerInfo};
///
/// #[tokio::main]
/// async fn main() -> Result<(), otel_faas_core::server::ServerError> {
///     let telemetry = otel_faas_azure::start()?;
///     FunctionApp::new(&telemetry)
///         .function("hello", |request: HttpRequest| async move {
///             let name = request.query("name").unwrap_or_else(|| "world".to_owned());
///             Ok::<_, std::convert::Infallible>(HttpResponse::ok(format!("hello, {name}")))
///         })
///         .function("orders", |message: QueueMessage| async move {
///             tracing::info!(id = message.id(), "order received");
///             Ok::<_, std::convert::Infallible>(())
///         })
///         .function("nightly", |timer: TimerInfo| async move {
///             Ok::<_, std::convert::Infallible>(())
///         })
///         .serve()
///         .await
/// }
/// ```
pub struct FunctionApp {
    engine: InvocationEngine,
    server: Server,
    /// App settings: `%Setting%` references in function.json are resolved from it.
    env: Box<dyn Environment>,
    logs: InvocationLogs,
    root: PathBuf,
    host: HostJson,
    identity: Arc<AppIdentity>,
    router: Router,
    routes: HashSet<String>,
    functions: Vec<String>,
    warnings: Vec<ConfigWarning>,
    /// Whether the host records HTTP requests as spans: from host.json, overridable.
    host_records_requests: Arc<AtomicBool>,
    /// Whether each invocation's log lines are returned to the host in `Logs`.
    host_logs: Arc<AtomicBool>,
}

impl fmt::Debug for FunctionApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionApp")
            .field("root", &self.root)
            .field("http_mode", &self.host.http_mode)
            .field("functions", &self.functions)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl FunctionApp {
    /// An app recording into `telemetry` (from [`start`](crate::start)), configured from
    /// the process environment, its files from `FUNCTIONS_APP_ROOT_PATH` (else the working
    /// directory). It changes nothing global: the `tracing` subscriber, with the capture of
    /// each invocation's lines for `Logs` ([`InvocationLogs::shared`]), is
    /// [`start`](crate::start)'s.
    pub fn new(telemetry: &Telemetry) -> Self {
        let root = std::env::var_os("FUNCTIONS_APP_ROOT_PATH")
            .filter(|root| !root.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        Self::build(
            telemetry,
            ProcessEnvironment,
            root,
            InvocationLogs::shared(),
        )
    }

    /// An app reading its settings from `env` and its files from `root`, installing no
    /// `tracing` subscriber (tests, or a subscriber of your own with
    /// [`log_capture`](Self::log_capture)).
    pub fn with_environment(
        telemetry: &Telemetry,
        env: impl Environment + 'static,
        root: impl Into<PathBuf>,
    ) -> Self {
        Self::build(
            telemetry,
            env,
            root.into(),
            InvocationLogs::new(tracing::Level::INFO),
        )
    }

    fn build(
        telemetry: &Telemetry,
        env: impl Environment + 'static,
        root: PathBuf,
        logs: InvocationLogs,
    ) -> Self {
        let mut warnings = Vec::new();
        let host_json = root.join("host.json");
        let host = match HostJson::read(&host_json) {
            Ok(host) => host,
            Err(problem) => {
                warnings.push(ConfigWarning::setting(
                    host_json.display().to_string(),
                    problem,
                    "serving HTTP triggers in the default (envelope) mode under /api",
                ));
                HostJson::default()
            }
        };
        let engine = telemetry
            .engine()
            .observer(logs.clone())
            // The handler is a long-lived server the host keeps running between
            // invocations: export in the background, and flush everything on shutdown.
            .flush_policy(FlushPolicy::Background)
            .build();
        let server = Server::with_environment(
            telemetry,
            &env,
            &["FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"],
            8080,
        )
        // The host's readiness probe is a GET of the root: any answer means ready.
        .readiness_path(Some("/"));
        for warning in &warnings {
            warning.emit();
        }
        Self {
            engine,
            server,
            logs,
            root,
            // The host writes a request for each invocation into Application Insights
            // itself, and each line of `Logs` as a trace: where this handler's spans and
            // logs go there too, its own records would say the same twice.
            host_records_requests: Arc::new(AtomicBool::new(
                host.host_records_requests || to_app_insights(telemetry, Signal::Traces),
            )),
            host_logs: Arc::new(AtomicBool::new(!to_app_insights(telemetry, Signal::Logs))),
            host,
            identity: Arc::new(AppIdentity::from_env(&env)),
            env: Box::new(env),
            router: Router::new(),
            routes: HashSet::new(),
            functions: Vec::new(),
            warnings,
        }
    }

    /// The layer that captures each invocation's log lines for `Logs`, for a `tracing`
    /// subscriber of your own (add it before the OpenTelemetry layer).
    pub fn log_capture(&self) -> InvocationLogs {
        self.logs.clone()
    }

    /// Changes the server (its address, flush budget, shutdown signal).
    #[must_use]
    pub fn map_server(mut self, f: impl FnOnce(Server) -> Server) -> Self {
        self.server = f(self.server);
        self
    }

    /// Problems found while reading `host.json` and `function.json` files, each already
    /// reported on stderr.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// Whether the Functions host records each HTTP request as a span itself, so that the
    /// invocation span of an HTTP function is INTERNAL rather than a second SERVER span of
    /// the same request. `host.json` decides by default (`"telemetryMode":
    /// "OpenTelemetry"`, or spans sent to Application Insights, where the host writes its
    /// requests too); this overrides it, for every function registered before or
    /// after — `false` when the host's spans go somewhere your backend does not see,
    /// `true` when something in front of the handler records the requests.
    ///
    /// ```
    /// use otel_faas_azure::FunctionApp;
    /// use otel_faas_core::{Pipeline, env::MapEnvironment};
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")])).install();
    /// let app = FunctionApp::with_environment(&telemetry, MapEnvironment::default(), "/nonexistent");
    /// assert!(!app.host_records_requests(), "no host.json: the handler's span is the SERVER span");
    /// let app = app.with_host_records_requests(true);
    /// assert!(app.host_records_requests());
    /// ```
    #[must_use]
    pub fn with_host_records_requests(self, host_records: bool) -> Self {
        self.host_records_requests
            .store(host_records, Ordering::Relaxed);
        self
    }

    /// Whether each invocation's log lines are returned to the host in the reply's `Logs`
    /// (the host then writes them to its own logs, and to Application Insights). `true`
    /// unless this app's log records go to Application Insights themselves (the
    /// `azuremonitor` logs exporter), where the host would write each line a second time;
    /// this overrides that choice.
    ///
    /// ```
    /// use otel_faas_azure::FunctionApp;
    /// use otel_faas_core::{Pipeline, env::MapEnvironment};
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_LOGS_EXPORTER", "none")])).install();
    /// let app = FunctionApp::with_environment(&telemetry, MapEnvironment::default(), "/nonexistent");
    /// assert!(app.host_logs());
    /// assert!(!app.with_host_logs(false).host_logs());
    /// ```
    #[must_use]
    pub fn with_host_logs(self, host_logs: bool) -> Self {
        self.host_logs.store(host_logs, Ordering::Relaxed);
        self
    }

    /// Whether log lines are returned to the host (see [`with_host_logs`](Self::with_host_logs)).
    pub fn host_logs(&self) -> bool {
        self.host_logs.load(Ordering::Relaxed)
    }

    /// Whether HTTP invocation spans are INTERNAL because the host records the requests
    /// (see [`with_host_records_requests`](Self::with_host_records_requests)).
    pub fn host_records_requests(&self) -> bool {
        self.host_records_requests.load(Ordering::Relaxed)
    }

    /// The HTTP mode `host.json` asks for.
    pub fn http_mode(&self) -> HttpMode {
        self.host.http_mode
    }

    /// Registers `handler` for the function named `name` (its directory under the app
    /// root). The handler's argument is read from the invocation (see [`FromInvocation`]);
    /// it returns anything [`IntoReply`] (a [`Reply`](crate::Reply), an
    /// [`HttpResponse`](crate::HttpResponse), `()`), or an error, which fails the
    /// invocation: the host logs the message and retries per its policy.
    #[must_use]
    pub fn function<T, F, Fut, R, E>(mut self, name: &str, handler: F) -> Self
    where
        T: FromInvocation + Send + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: IntoReply + 'static,
        E: fmt::Display + fmt::Debug + Send + 'static,
    {
        let function = match FunctionJson::read(&self.root, name) {
            Ok(function) => function.resolved(self.env.as_ref()),
            Err(error) => {
                let warning = ConfigWarning::setting(
                    format!("the function {name:?}"),
                    error.to_string(),
                    "it is traced with faas.trigger=other",
                );
                warning.emit();
                self.warnings.push(warning);
                FunctionJson::unknown(name)
            }
        };
        let function = Arc::new(function);
        let route = http_route(&self.host.route_prefix, &function);
        let trigger = FunctionTrigger {
            function: Arc::clone(&function),
            identity: Arc::clone(&self.identity),
            route: route.clone(),
            host_records_requests: Arc::clone(&self.host_records_requests),
        };
        let handler = Arc::new(handler);
        let logs = self.logs.clone();
        let host_logs = Arc::clone(&self.host_logs);
        let for_handler = Arc::clone(&function);
        let handler: Handler = Arc::new(move |request: InvocationRequest| {
            let handler = Arc::clone(&handler);
            let function = Arc::clone(&for_handler);
            let logs = logs.clone();
            let host_logs = Arc::clone(&host_logs);
            Box::pin(async move {
                let forwarded = request.forwarded.is_some();
                let input = T::from_invocation(request, &function).map_err(|reason| {
                    TypedError::new(
                        otel_faas_core::engine::INVALID_EVENT_ERROR_TYPE,
                        format!("the invocation's input cannot be read: {reason}"),
                    )
                })?;
                let output = handler(input)
                    .await
                    .map_err(|error| TypedError::new(error_type_of(&error), error.to_string()))?;
                let mut reply = output.into_reply();
                if forwarded {
                    return Ok(Encoded::Http(reply.take_http().unwrap_or_default()));
                }
                // Taken either way, so that lines never carry over to another invocation.
                let lines = logs.take_current();
                if host_logs.load(Ordering::Relaxed) {
                    reply.logs = lines;
                }
                let status = reply.http_response().map(|r| r.status().as_u16());
                Ok(Encoded::Envelope(reply.to_envelope(&function), status))
            })
        });
        let forwarded_http =
            self.host.http_mode != HttpMode::Envelope && is_http_in_and_out(&function);
        if forwarded_http {
            self.add_forwarded_route(&route, &function, trigger, handler);
        } else {
            let service = EnvelopeService::new(
                self.engine.clone(),
                trigger,
                move |request: InvocationRequest| {
                    let handler = Arc::clone(&handler);
                    async move { handler(request).await }
                },
            );
            self.add_route(format!("/{name}"), post_service(service));
        }
        self.functions.push(name.to_owned());
        self
    }

    fn add_forwarded_route(
        &mut self,
        route: &str,
        function: &Arc<FunctionJson>,
        trigger: FunctionTrigger,
        handler: Handler,
    ) {
        let engine = self.engine.clone();
        let trigger = Arc::new(trigger);
        let template = route.to_owned();
        let name = function.name().to_owned();
        let serve = move |request: Request<Body>| {
            let engine = engine.clone();
            let trigger = Arc::clone(&trigger);
            let handler = Arc::clone(&handler);
            let template = template.clone();
            let name = name.clone();
            async move { forward(engine, trigger, handler, &template, name, request).await }
        };
        let methods = methods_of(function);
        let method_router = match methods {
            Some(filter) => on(filter, serve),
            None => any(serve),
        };
        for path in axum_paths(route) {
            self.add_route(path, method_router.clone());
        }
    }

    fn add_route(&mut self, path: String, method_router: axum::routing::MethodRouter) {
        let key = normalise(&path);
        if !self.routes.insert(key) {
            let warning = ConfigWarning::setting(
                format!("the route {path}"),
                "two functions answer it",
                "the second one is not served",
            );
            warning.emit();
            self.warnings.push(warning);
            return;
        }
        // axum refuses some paths by panicking; a bad route must not stop the app.
        let candidate = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.router.clone().route(&path, method_router)
        }));
        match candidate {
            Ok(router) => self.router = router,
            Err(_) => {
                let warning = ConfigWarning::setting(
                    format!("the route {path}"),
                    "axum cannot serve it (check the function's \"route\")",
                    "the function is not served at it",
                );
                warning.emit();
                self.warnings.push(warning);
            }
        }
    }

    /// The router: readiness is added by the server.
    pub fn into_router(self) -> Router {
        with_fallback(self.router, &self.functions)
    }

    /// Serves until SIGTERM or Ctrl-C, then drains and flushes.
    pub async fn serve(self) -> Result<(), ServerError> {
        self.bind().await?.serve().await
    }

    /// Binds the port now, so the address is known before serving (port 0 in tests).
    pub async fn bind(self) -> Result<BoundFunctionApp, ServerError> {
        let (server, router) = self.into_parts();
        Ok(BoundFunctionApp {
            server: server.bind().await?,
            router,
        })
    }

    fn into_parts(self) -> (Server, Router) {
        let Self {
            server,
            router,
            functions,
            ..
        } = self;
        (server, with_fallback(router, &functions))
    }
}

/// A [`FunctionApp`] whose port is bound.
///
/// ```no_run
/// # async fn run(telemetry: otel_faas_core::Telemetry) -> Result<(), otel_faas_core::server::ServerError> {
/// use otel_faas_azure::FunctionApp;
///
/// let bound = FunctionApp::new(&telemetry)
///     .map_server(|server| server.address("127.0.0.1", 0))
///     .bind()
///     .await?;
/// println!("serving on {}", bound.local_addr()?);
/// bound.serve().await
/// # }
/// ```
#[derive(Debug)]
pub struct BoundFunctionApp {
    server: otel_faas_core::server::BoundServer,
    router: Router,
}

impl BoundFunctionApp {
    /// The address it listens on.
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, ServerError> {
        self.server.local_addr()
    }

    /// Serves until shutdown, then drains and flushes.
    pub async fn serve(self) -> Result<(), ServerError> {
        self.server.serve(self.router).await
    }
}

/// Whether `telemetry` sends `signal` to Application Insights, where the host writes its
/// own records.
#[cfg(feature = "app-insights")]
fn to_app_insights(telemetry: &Telemetry, signal: Signal) -> bool {
    crate::app_insights::exports_to_app_insights(telemetry, signal)
}

#[cfg(not(feature = "app-insights"))]
fn to_app_insights(_telemetry: &Telemetry, _signal: Signal) -> bool {
    false
}
