//! An axum app behind API Gateway (REST or HTTP API), a function URL or an ALB.
//!
//! `lambda_http` turns each event into an `http::Request`; the otel-faas HTTP layer around
//! the whole router makes every request one SERVER span with the stable HTTP attributes,
//! the route API Gateway matched, and the caller's `traceparent` as parent.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use otel_faas_aws::LambdaTelemetry;
use tower::Layer;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let otel = LambdaTelemetry::from_env();
    tracing_subscriber::registry()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(otel.telemetry().tracer("lambda-http-axum"))
                .with_filter(otel_faas_aws::without_runtime_spans()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .without_time(),
        )
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .init();
    otel.register_extension().await?;
    otel.spawn_shutdown_flush(Duration::from_millis(300));

    let app = Router::new()
        .route("/orders/{id}", get(get_order))
        .route("/fail", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
    lambda_http::run(otel.http_layer().layer(app)).await
}

async fn get_order(Path(id): Path<u64>) -> Result<String, StatusCode> {
    load_order(id).await.ok_or(StatusCode::NOT_FOUND)
}

#[tracing::instrument]
async fn load_order(id: u64) -> Option<String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    (id != 0).then(|| format!("order {id}"))
}
