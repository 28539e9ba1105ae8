//! An HTTP API that takes orders and queues them for a worker.
//!
//! `POST /orders` with `{"id": 42, "items": 2}` sends the order to the SQS queue named by
//! `ORDERS_QUEUE_URL` and answers `202 Accepted` with the message id. The trace goes with
//! the message:
//!
//! * the request is a SERVER span (`POST /orders`, the stable HTTP attributes), the child of
//!   the caller's `traceparent` or X-Ray header if there is one;
//! * `send_traced()` adds a PRODUCER span `send {queue}` and writes its context into the
//!   message attributes (`traceparent`), which the worker
//!   (`examples/lambda-orders-worker`) links to;
//! * the `AwsSdkTracing` interceptor adds the CLIENT span of the SDK call, `SQS.SendMessage`.
//!
//! `GET /orders/{id}/quote` asks the quote service at `QUOTE_URL` (`{QUOTE_URL}/{id}`; in
//! the demo, an Azure function that asks a Cloud Run function in turn) over HTTP, with the
//! traced reqwest client: a CLIENT span `GET`, and the trace context in the request's
//! headers, so the quote service continues this trace.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use otel_faas_aws::LambdaTelemetry;
use otel_faas_core::http::{HttpRouteLayer, axum_route};
use otel_faas_messaging::aws_sdk::sqs::SendMessageTracing as _;
use otel_faas_messaging::aws_sdk::{AwsSdkTracing, sdk_config};
use serde::{Deserialize, Serialize};
use tower::Layer;

/// An order as the API takes it and the worker stores it.
#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    items: u32,
}

#[derive(Clone)]
struct Orders {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    /// The traced HTTP client, and where quotes come from (`QUOTE_URL`, optional).
    http: reqwest_middleware::ClientWithMiddleware,
    quote_url: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // The subscriber (OTel layer + log lines), the after-response extension when
    // OTEL_FAAS_FLUSH=after-response, and the SIGTERM flush.
    let otel = LambdaTelemetry::start().await?;

    let queue_url = std::env::var("ORDERS_QUEUE_URL")
        .map_err(|_| "set ORDERS_QUEUE_URL to the URL of the orders queue")?;
    // Credentials and region come from the Lambda environment; AWS_ENDPOINT_URL, when set,
    // points the SDK elsewhere (an emulator, or the demo's stand-in).
    let config = sdk_config().await;
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .interceptor(AwsSdkTracing::new())
            .build(),
    );

    // reqwest with otel-faas's middleware: each call a CLIENT span, its context injected.
    let http = otel_faas_core::http::client::traced_reqwest_client()?;
    let quote_url = std::env::var("QUOTE_URL").ok();

    let app = Router::new()
        .route("/orders", post(create_order))
        .route("/orders/{id}/quote", get(quote))
        // The span is named after the route axum matched (`GET /orders/{id}/quote`), which
        // an HTTP API `$default` route or a function URL does not tell.
        .route_layer(HttpRouteLayer::new(axum_route))
        .with_state(Orders {
            sqs,
            queue_url,
            http,
            quote_url,
        });
    lambda_http::run(otel.http_layer().layer(app)).await
}

async fn create_order(
    State(orders): State<Orders>,
    Json(order): Json<Order>,
) -> Result<(StatusCode, String), (StatusCode, &'static str)> {
    let body = serde_json::to_string(&order).map_err(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the order cannot be written",
        )
    })?;
    let sent = orders
        .sqs
        .send_message()
        .queue_url(&orders.queue_url)
        .message_body(body)
        .send_traced()
        .await
        .map_err(|error| {
            tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "queueing the order failed");
            (StatusCode::BAD_GATEWAY, "the order could not be queued")
        })?;
    tracing::info!(order = order.id, "order queued");
    Ok((
        StatusCode::ACCEPTED,
        sent.message_id().unwrap_or_default().to_owned(),
    ))
}

async fn quote(
    State(orders): State<Orders>,
    Path(id): Path<u64>,
) -> Result<String, (StatusCode, &'static str)> {
    let Some(base) = &orders.quote_url else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "set QUOTE_URL to ask for quotes",
        ));
    };
    let response = orders
        .http
        .get(format!("{base}/{id}"))
        .send()
        .await
        .map_err(|error| {
            tracing::error!(%error, "the quote service did not answer");
            (StatusCode::BAD_GATEWAY, "the quote service did not answer")
        })?;
    if !response.status().is_success() {
        tracing::warn!(status = response.status().as_u16(), "no quote");
        return Err((StatusCode::BAD_GATEWAY, "no quote"));
    }
    let quote = response
        .text()
        .await
        .map_err(|_| (StatusCode::BAD_GATEWAY, "the quote was cut short"))?;
    tracing::info!(order = id, "quoted");
    Ok(quote)
}
