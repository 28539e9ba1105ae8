//! An HTTP function on a long-lived server, traced by `otel-faas-core` alone.
//!
//! Configuration is the standard `OTEL_*` variables plus `PORT` and `HOST`.

use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{MatchedPath, Path};
use axum::http::StatusCode;
use axum::routing::{get, post};
use otel_faas_core::{InvocationLayer, Pipeline, http::HttpTrigger};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = Pipeline::from_env().install();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(telemetry.tracer("http-function")))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .init();

    let engine = telemetry.engine().build();
    // As a route layer, the layer runs after routing, so axum's MatchedPath is known.
    let trigger = HttpTrigger::new().with_route(|extensions| {
        extensions
            .get::<MatchedPath>()
            .map(|path| path.as_str().to_owned())
    });
    let app = Router::new()
        .route("/orders/{id}", get(get_order))
        .route("/orders", post(create_order))
        .route("/fail", get(fail))
        .route_layer(InvocationLayer::new(engine, trigger))
        .route("/healthz", get(|| async { "ok" }));

    let host = std::env::var("HOST").unwrap_or_else(|_| "0.0.0.0".to_owned());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().context("PORT must be a port number")?,
        Err(_) => 8080,
    };
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    tracing::info!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    // Platforms send SIGTERM before they stop an instance: export what is left.
    telemetry.shutdown(Duration::from_secs(2)).await?;
    Ok(())
}

async fn get_order(Path(id): Path<u64>) -> Result<String, StatusCode> {
    let order = load_order(id).await.ok_or(StatusCode::NOT_FOUND)?;
    Ok(order)
}

#[tracing::instrument(fields(app.order_id = id))]
async fn load_order(id: u64) -> Option<String> {
    // Stands in for a database read.
    tokio::time::sleep(Duration::from_millis(8)).await;
    (id != 0).then(|| format!("order {id}: 2 items"))
}

async fn create_order() -> (StatusCode, &'static str) {
    validate_order().await;
    (StatusCode::CREATED, "created")
}

#[tracing::instrument]
async fn validate_order() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

async fn fail() -> StatusCode {
    tracing::error!("the inventory service is unavailable");
    StatusCode::SERVICE_UNAVAILABLE
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or_default(),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or_default();
}
