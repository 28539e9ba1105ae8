//! An HTTP service in a container on ECS (Fargate), traced as the functions are.
//!
//! `otel_faas_aws::containers::pipeline()` describes the task: `cloud.platform=aws_ecs` at
//! start-up, then — from the task metadata endpoint v4, asked in the background — the task
//! and container ARNs, family, revision, cluster, availability zone and log group. The task
//! definition (`task-definition.json`) runs the X-Ray daemon as a sidecar and sends the
//! spans to it (`OTEL_TRACES_EXPORTER=awsxray`, `AWS_XRAY_DAEMON_ADDRESS`); any OTLP
//! endpoint works as well. Core's server harness listens on `$PORT`, answers readiness on
//! `/healthz` and exports everything on SIGTERM, which ECS sends before it stops a task.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use otel_faas_core::InvocationLayer;
use otel_faas_core::http::{HttpTrigger, axum_route};
use otel_faas_core::server::Server;
use otel_faas_core::subscriber::TracingOptions;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = otel_faas_aws::containers::pipeline().install();
    telemetry.init_tracing(TracingOptions::default())?;

    let engine = telemetry.engine().build();
    let trigger = HttpTrigger::new().with_route(axum_route);
    let app = Router::new()
        .route("/orders/{id}", get(get_order))
        .route_layer(InvocationLayer::new(engine, trigger));

    let server = Server::from_env(&telemetry).bind().await?;
    tracing::info!("listening on {}", server.local_addr()?);
    server.serve(app).await?;
    Ok(())
}

async fn get_order(Path(id): Path<u64>) -> Result<String, StatusCode> {
    let stock = stock_of(id).await.ok_or(StatusCode::NOT_FOUND)?;
    Ok(format!("order {id}: {stock} in stock"))
}

/// Stands in for the inventory lookup an order service makes.
#[tracing::instrument(fields(app.order_id = id))]
async fn stock_of(id: u64) -> Option<u32> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    u32::try_from(id % 100).ok().filter(|stock| *stock > 0)
}
