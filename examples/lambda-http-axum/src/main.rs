//! An axum app behind API Gateway (REST or HTTP API), a function URL or an ALB.
//!
//! `lambda_http` turns each event into an `http::Request`; the otel-faas HTTP layer around
//! the whole router makes every request one SERVER span with the stable HTTP attributes
//! and the caller's `traceparent` as parent. `HttpRouteLayer`, as the router's
//! `route_layer`, names the span after the route axum matched (`GET /orders/{id}`) — which
//! function URLs, ALB targets and HTTP API `$default` routes do not tell.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use otel_faas_aws::LambdaTelemetry;
use otel_faas_core::http::{HttpRouteLayer, axum_route};
use tower::Layer;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // The subscriber (OTel layer + log lines), the after-response extension when
    // OTEL_FAAS_FLUSH=after-response, and the SIGTERM flush.
    let otel = LambdaTelemetry::start().await?;

    let app = Router::new()
        .route("/orders/{id}", get(get_order))
        .route("/fail", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route_layer(HttpRouteLayer::new(axum_route));
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
