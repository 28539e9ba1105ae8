//! An HTTP function on a long-lived server, traced by `otel-faas-core` alone.
//!
//! Configuration is the standard `OTEL_*` variables plus `PORT` and `HOST`. The server
//! harness of otel-faas-core (feature `server`) listens, answers readiness on `/healthz`
//! and flushes on SIGTERM.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use otel_faas_core::http::{HttpTrigger, axum_route};
use otel_faas_core::server::Server;
use otel_faas_core::subscriber::TracingOptions;
use otel_faas_core::{InvocationLayer, Pipeline};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = Pipeline::from_env().install();
    // `tracing` spans into the traces, log lines on stderr.
    telemetry.init_tracing(TracingOptions::default())?;

    let engine = telemetry.engine().build();
    // As a route layer, the layer runs after routing, so axum's MatchedPath is known.
    let trigger = HttpTrigger::new().with_route(axum_route);
    let app = Router::new()
        .route("/orders/{id}", get(get_order))
        .route("/orders", post(create_order))
        .route("/fail", get(fail))
        .route_layer(InvocationLayer::new(engine, trigger));

    // $PORT (8080 by default) and $HOST, readiness on GET /healthz, and on SIGTERM or
    // Ctrl-C: requests in flight finish, then everything recorded is exported.
    let server = Server::from_env(&telemetry).bind().await?;
    tracing::info!("listening on {}", server.local_addr()?);
    server.serve(app).await?;
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
