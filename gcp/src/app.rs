//! The server: the Functions Framework contract on core's harness.

use std::fmt;
use std::future::Future;

use axum::Router;
use axum::body::Body;
use axum::handler::Handler;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, post_service};
use otel_faas_core::engine::{FlushPolicy, InvocationEngine, TypedError, error_type_of};
use otel_faas_core::env::{ConfigWarning, Environment, ProcessEnvironment};
use otel_faas_core::server::{BoundServer, EnvelopeService, Server, ServerError};
use otel_faas_core::{InvocationLayer, Telemetry};

use crate::CloudEventRequest;
use crate::extract::FromCloudEvent;
use crate::triggers::CloudEventTrigger;
use crate::triggers::http::GcpHttpTrigger;

/// One registered function.
struct Function {
    name: String,
    router: Router,
    /// HTTP functions are traced by a layer put on last, outside any nesting, so that the
    /// span sees the path as the client sent it.
    http: bool,
}

/// A Cloud Run function (gen2) server honouring the Functions Framework contract: it
/// listens on `$HOST:$PORT` (`0.0.0.0:8080` by default), answers `GET /robots.txt` and
/// `/favicon.ico` with 404, and serves the function `FUNCTION_TARGET` names at every path —
/// an HTTP function (any method) or a CloudEvent function (`POST`; binary or structured
/// mode, raw Pub/Sub push, background events; 204 when it succeeds, 500 with the error's
/// message when it fails, so Pub/Sub and Eventarc redeliver). An HTTP function that panics
/// is answered `500` (its span records the panic and the `500`) and the server goes on
/// serving. Other registered functions are served under `/<name>` too, so one service can
/// host an HTTP API and its event handlers (Eventarc's `--destination-run-path`). SIGTERM
/// drains the requests in flight and flushes.
///
/// ```no_run
/// use otel_faas_gcp::{FunctionsFramework, PubSubMessage};
///
/// #[tokio::main]
/// async fn main() -> Result<(), otel_faas_core::server::ServerError> {
///     let telemetry = otel_faas_gcp::start()?;
///     FunctionsFramework::new(&telemetry)
///         .http("hello", || async { "hello" })
///         .cloud_event("on_order", |message: PubSubMessage| async move {
///             tracing::info!(id = message.id(), "order received");
///             Ok::<_, std::convert::Infallible>(())
///         })
///         .serve()
///         .await
/// }
/// ```
pub struct FunctionsFramework {
    engine: InvocationEngine,
    server: Server,
    target: Option<String>,
    functions: Vec<Function>,
    warnings: Vec<ConfigWarning>,
}

impl fmt::Debug for FunctionsFramework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionsFramework")
            .field("target", &self.target)
            .field(
                "functions",
                &self.functions.iter().map(|f| &f.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl FunctionsFramework {
    /// A server recording into `telemetry` (from [`start`](crate::start)), configured from
    /// the process environment (`HOST`, `PORT`, `FUNCTION_TARGET`). It changes nothing
    /// global: the `tracing` subscriber is [`start`](crate::start)'s.
    pub fn new(telemetry: &Telemetry) -> Self {
        Self::with_environment(telemetry, ProcessEnvironment)
    }

    /// A server configured from `env`.
    pub fn with_environment(telemetry: &Telemetry, env: impl Environment) -> Self {
        let engine = telemetry
            .engine()
            // A server between requests: export in the background, flush on shutdown.
            .flush_policy(FlushPolicy::Background)
            .build();
        let server = Server::with_environment(telemetry, &env, &["PORT"], 8080)
            // The contract has no readiness path: every path is the function's.
            .readiness_path(None);
        Self {
            engine,
            server,
            target: env.get_non_empty("FUNCTION_TARGET"),
            functions: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Serves `name` at every path, whatever `FUNCTION_TARGET` says.
    #[must_use]
    pub fn target(mut self, name: &str) -> Self {
        self.target = Some(name.to_owned());
        self
    }

    /// Changes the server (its address, flush budget, shutdown signal).
    #[must_use]
    pub fn map_server(mut self, f: impl FnOnce(Server) -> Server) -> Self {
        self.server = f(self.server);
        self
    }

    /// Problems found while setting up (a `FUNCTION_TARGET` no function has), each already
    /// reported on stderr.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// Registers an HTTP function: any axum handler, called for every method and path.
    #[must_use]
    pub fn http<H, T>(self, name: &str, handler: H) -> Self
    where
        H: Handler<T, ()>,
        T: 'static,
    {
        self.http_router(name, Router::new().fallback(handler))
    }

    /// Registers an HTTP function served by a whole router (its routes, its fallback).
    #[must_use]
    pub fn http_router(mut self, name: &str, router: Router) -> Self {
        self.functions.push(Function {
            name: name.to_owned(),
            router,
            http: true,
        });
        self
    }

    /// Registers a CloudEvent function. Its argument is read from the event (see
    /// [`FromCloudEvent`]); an error fails the invocation with a 500 carrying its message.
    #[must_use]
    pub fn cloud_event<T, F, Fut, E>(mut self, name: &str, handler: F) -> Self
    where
        T: FromCloudEvent + Send + 'static,
        F: Fn(T) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + fmt::Debug + Send + 'static,
    {
        let service = EnvelopeService::new(
            self.engine.clone(),
            CloudEventTrigger::new(),
            move |request: CloudEventRequest| {
                let handler = handler.clone();
                async move {
                    let input = T::from_cloud_event(request).map_err(|reason| {
                        TypedError::new(
                            otel_faas_core::engine::INVALID_EVENT_ERROR_TYPE,
                            format!("the event cannot be read: {reason}"),
                        )
                    })?;
                    handler(input).await.map_err(|error| {
                        TypedError::new(error_type_of(&error), error.to_string())
                    })?;
                    Ok::<_, TypedError>(StatusCode::NO_CONTENT.into_response())
                }
            },
        );
        let router = Router::new()
            .route("/", post_service(service.clone()))
            .route("/{*path}", post_service(service));
        self.functions.push(Function {
            name: name.to_owned(),
            router,
            http: false,
        });
        self
    }

    /// The router: the target at every path, the others under `/<name>`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use otel_faas_core::{Pipeline, env::MapEnvironment};
    /// use otel_faas_gcp::FunctionsFramework;
    /// use tower::ServiceExt as _;
    ///
    /// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")])).install();
    /// let router = FunctionsFramework::with_environment(&telemetry, MapEnvironment::default())
    ///     .http("hello", || async { "hello" })
    ///     .into_router();
    /// let get = |path: &str| http::Request::get(path).body(axum::body::Body::empty()).unwrap();
    /// assert_eq!(router.clone().oneshot(get("/any/path")).await.unwrap().status(), 200);
    /// assert_eq!(router.oneshot(get("/robots.txt")).await.unwrap().status(), 404);
    /// # }
    /// ```
    pub fn into_router(self) -> Router {
        self.into_parts().1
    }

    fn into_parts(mut self) -> (Server, Router) {
        let target_index = match &self.target {
            Some(target) => match self.functions.iter().position(|f| &f.name == target) {
                Some(index) => Some(index),
                None => {
                    let warning = ConfigWarning::new(
                        "FUNCTION_TARGET",
                        target.as_str(),
                        format!("a registered function: {}", self.names()),
                        format!(
                            "{:?} at /",
                            self.functions
                                .first()
                                .map(|f| f.name.as_str())
                                .unwrap_or("none")
                        ),
                    );
                    warning.emit();
                    self.warnings.push(warning);
                    (!self.functions.is_empty()).then_some(0)
                }
            },
            None => (!self.functions.is_empty()).then_some(0),
        };
        let names = self.names();
        let mut router = Router::new()
            .route("/robots.txt", any(|| async { StatusCode::NOT_FOUND }))
            .route("/favicon.ico", any(|| async { StatusCode::NOT_FOUND }));
        let mut target = None;
        let Self {
            server,
            functions,
            engine,
            ..
        } = self;
        let traced = |function: Router| {
            function.layer(InvocationLayer::new(engine.clone(), GcpHttpTrigger::new()))
        };
        for (index, function) in functions.into_iter().enumerate() {
            let path = format!("/{}", function.name);
            match (Some(index) == target_index, function.http) {
                (true, true) => target = Some(traced(function.router)),
                (true, false) => target = Some(function.router),
                (false, true) => {
                    router = router.merge(traced(Router::new().nest(&path, function.router)));
                }
                (false, false) => router = router.nest(&path, function.router),
            }
        }
        let router = match target {
            Some(target) => router.fallback_service(target),
            None => router.fallback(move |request: Request<Body>| {
                let names = names.clone();
                async move {
                    (
                        StatusCode::NOT_FOUND,
                        format!(
                            "no function answers {} {} (functions: {names})",
                            request.method(),
                            request.uri().path()
                        ),
                    )
                        .into_response()
                }
            }),
        };
        (server, router)
    }

    fn names(&self) -> String {
        self.functions
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Binds the port now, so the address is known before serving (port 0 in tests).
    pub async fn bind(self) -> Result<BoundFunctionsFramework, ServerError> {
        let (server, router) = self.into_parts();
        Ok(BoundFunctionsFramework {
            server: server.bind().await?,
            router,
        })
    }

    /// Serves until SIGTERM or Ctrl-C, then drains and flushes.
    pub async fn serve(self) -> Result<(), ServerError> {
        self.bind().await?.serve().await
    }
}

/// A [`FunctionsFramework`] whose port is bound.
///
/// ```no_run
/// # async fn run(telemetry: otel_faas_core::Telemetry) -> Result<(), otel_faas_core::server::ServerError> {
/// use otel_faas_gcp::FunctionsFramework;
///
/// let bound = FunctionsFramework::new(&telemetry)
///     .http("hello", || async { "hello" })
///     .map_server(|server| server.address("127.0.0.1", 0))
///     .bind()
///     .await?;
/// println!("listening on {}", bound.local_addr()?);
/// bound.serve().await
/// # }
/// ```
pub struct BoundFunctionsFramework {
    server: BoundServer,
    router: Router,
}

impl BoundFunctionsFramework {
    /// The address it listens on.
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, ServerError> {
        self.server.local_addr()
    }

    /// Serves until SIGTERM or Ctrl-C, then drains and flushes.
    pub async fn serve(self) -> Result<(), ServerError> {
        self.server.serve(self.router).await
    }
}
