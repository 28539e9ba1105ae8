//! A server harness for platforms that run a function as a long-lived HTTP server (Azure
//! custom handlers, Cloud Run functions, a container behind a load balancer).
//!
//! [`Server`] listens on the port the platform names in its variable, answers readiness
//! before routing (so it never collides with a user's routes), and on SIGTERM or Ctrl-C
//! stops accepting, lets requests in flight finish, then exports what is left within a
//! budget. [`EnvelopeService`] is the decode step for platforms that put the event inside the
//! request body: the body becomes a typed event before the adapter sees it (decode once, at
//! the edge), and a body that cannot be decoded is answered `400` with the reason and
//! recorded as an ERROR span — the server keeps serving.
//!
//! ```no_run
//! use otel_faas_core::Pipeline;
//! use otel_faas_core::server::Server;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), otel_faas_core::server::ServerError> {
//!     let telemetry = Pipeline::from_env().install();
//!     let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
//!     // $PORT (default 8080), readiness on /healthz, SIGTERM → drain → flush.
//!     Server::from_env(&telemetry).serve(app).await
//! }
//! ```

mod envelope;

pub use envelope::{Envelope, EnvelopeService};

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse as _;
use http::{Method, Request, StatusCode};

use crate::engine::Flusher;
use crate::env::{ConfigWarning, Environment, ProcessEnvironment};
use crate::pipeline::Telemetry;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The port could not be bound.
    #[error(
        "cannot listen on {address}: {source} (is another process using the port, or is {variable} wrong?)"
    )]
    Bind {
        /// The address asked for.
        address: String,
        /// The variable the port came from.
        variable: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The `tracing` subscriber could not be installed (a cloud crate's `start()`), so that
    /// a function's `main` returning `ServerError` can use `?` on it.
    #[cfg(feature = "subscriber")]
    #[error(transparent)]
    Tracing(#[from] crate::subscriber::TracingInitError),
}

type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serves a function: the platform's port, readiness, graceful shutdown with a final flush.
pub struct Server {
    host: String,
    port: u16,
    port_variable: String,
    readiness_path: Option<String>,
    flusher: Flusher,
    flush_budget: Duration,
    shutdown: Option<Shutdown>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("readiness_path", &self.readiness_path)
            .field("flush_budget", &self.flush_budget)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for `telemetry`, configured from the process environment: `PORT` (default
    /// 8080) and `HOST` (default `0.0.0.0`).
    pub fn from_env(telemetry: &Telemetry) -> Self {
        Self::with_environment(telemetry, &ProcessEnvironment, &["PORT"], 8080)
    }

    /// A server reading its port from the first of `port_variables` that is set in `env`
    /// (for instance `FUNCTIONS_CUSTOMHANDLER_PORT`, then the legacy
    /// `FUNCTIONS_HTTPWORKER_PORT`), else `default_port`. An invalid port warns and uses the
    /// default.
    pub fn with_environment(
        telemetry: &Telemetry,
        env: &dyn Environment,
        port_variables: &[&str],
        default_port: u16,
    ) -> Self {
        let mut port = default_port;
        let mut port_variable = port_variables.first().copied().unwrap_or("PORT").to_owned();
        if let Some((variable, value)) = port_variables
            .iter()
            .find_map(|v| env.get_non_empty(v).map(|value| (*v, value)))
        {
            port_variable = variable.to_owned();
            match value.parse::<u16>() {
                Ok(parsed) => port = parsed,
                Err(_) => {
                    ConfigWarning::new(variable, value, "a port number", default_port.to_string())
                        .emit()
                }
            }
        }
        Self {
            host: env
                .get_non_empty("HOST")
                .unwrap_or_else(|| "0.0.0.0".to_owned()),
            port,
            port_variable,
            readiness_path: Some("/healthz".to_owned()),
            flusher: telemetry.flusher().clone(),
            flush_budget: Duration::from_secs(5),
            shutdown: None,
        }
    }

    /// Listens on `host:port` instead (port 0 picks a free one: see [`Server::bind`]).
    #[must_use]
    pub fn address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.host = host.into();
        self.port = port;
        self
    }

    /// The path answered `200 ready` before routing; `/healthz` by default, `None` for none.
    #[must_use]
    pub fn readiness_path(mut self, path: Option<&str>) -> Self {
        self.readiness_path = path.map(str::to_owned);
        self
    }

    /// The longest the final flush may take after the last request; 5 s by default (Cloud
    /// Run gives 10 s after SIGTERM, Azure's host a few).
    #[must_use]
    pub fn flush_budget(mut self, budget: Duration) -> Self {
        self.flush_budget = budget;
        self
    }

    /// Stops on `signal` instead of SIGTERM or Ctrl-C (tests; platforms with their own
    /// shutdown message).
    #[must_use]
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// Binds the port now, so that the address is known before serving (port 0).
    pub async fn bind(self) -> Result<BoundServer, ServerError> {
        let address = format!("{}:{}", self.host, self.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|source| ServerError::Bind {
                address: address.clone(),
                variable: self.port_variable.clone(),
                source,
            })?;
        Ok(BoundServer {
            listener,
            server: self,
        })
    }

    /// Binds and serves `app` until shutdown, then flushes.
    pub async fn serve(self, app: Router) -> Result<(), ServerError> {
        self.bind().await?.serve(app).await
    }
}

/// A server whose port is bound.
#[derive(Debug)]
pub struct BoundServer {
    listener: tokio::net::TcpListener,
    server: Server,
}

impl BoundServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener.local_addr().map_err(ServerError::Serve)
    }

    /// Serves `app` until shutdown: requests in flight finish, then everything recorded is
    /// exported within the flush budget. A flush that does not complete is reported on
    /// stderr (the process is stopping; there is no one else to tell).
    pub async fn serve(self, app: Router) -> Result<(), ServerError> {
        let Server {
            readiness_path,
            flusher,
            flush_budget,
            shutdown,
            ..
        } = self.server;
        let app = match readiness_path {
            Some(path) => app.layer(axum::middleware::from_fn(
                move |request: Request<Body>, next: axum::middleware::Next| {
                    let ready = request.method() == Method::GET && request.uri().path() == path;
                    async move {
                        if ready {
                            (StatusCode::OK, "ready").into_response()
                        } else {
                            next.run(request).await
                        }
                    }
                },
            )),
            None => app,
        };
        let shutdown = shutdown.unwrap_or_else(|| Box::pin(termination()));
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Err(error) = flusher.shutdown(flush_budget).await {
            eprintln!("otel-faas: the final flush did not complete: {error}");
        }
        served.map_err(ServerError::Serve)
    }
}

/// SIGTERM (what platforms send before stopping an instance) or Ctrl-C.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
