//! A Cloud Run function (gen2) in Rust, traced end to end by `otel-faas-gcp`.
//!
//! * `orders` (HTTP, the `FUNCTION_TARGET`): `POST /orders` validates an order and publishes
//!   it to the `orders` topic (`ORDERS_TOPIC`) with the trace context in its attributes;
//!   `GET /hello` greets; `GET /prices/{id}` prices an order (the last hop of the demo's
//!   request across three clouds); `GET /track/{id}` asks the order service at
//!   `TRACKING_URL` (`{TRACKING_URL}/orders/{id}`, a Lambda function URL, say) over HTTP with
//!   the traced reqwest client.
//! * `fulfil` (Pub/Sub, served at `/fulfil`): fulfils each order; fails an order with no
//!   items, so Pub/Sub redelivers it.
//!
//! One trace per order: the HTTP request, the `send orders` span, and the push that
//! delivers the message to `fulfil` (a link to the send span, and its child when the push
//! carries no context of its own).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use otel_faas_core::http::{HttpRouteLayer, axum_route};
use otel_faas_gcp::{FunctionsFramework, PubSubMessage, PubSubPublisher};

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Order {
    id: u64,
    items: Vec<String>,
}

/// An order the warehouse cannot fulfil.
#[derive(Debug)]
struct EmptyOrder {
    id: u64,
}

impl std::fmt::Display for EmptyOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "order {} has no items", self.id)
    }
}

impl std::error::Error for EmptyOrder {}

#[derive(Clone)]
struct Orders {
    publisher: PubSubPublisher,
    topic: String,
    /// The traced HTTP client, and the order service (`TRACKING_URL`, optional).
    http: reqwest_middleware::ClientWithMiddleware,
    tracking_url: Option<String>,
}

async fn place_order(
    State(orders): State<Orders>,
    Json(order): Json<Order>,
) -> (StatusCode, String) {
    tracing::info!(
        order = order.id,
        items = order.items.len(),
        "order accepted"
    );
    let body = match serde_json::to_vec(&order) {
        Ok(body) => body,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()),
    };
    match orders
        .publisher
        .publish(&orders.topic, body, Default::default())
        .await
    {
        Ok(id) => (
            StatusCode::ACCEPTED,
            format!("order {} queued as message {id}", order.id),
        ),
        Err(error) => {
            tracing::error!(%error, "the order could not be queued");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "try again later".to_owned(),
            )
        }
    }
}

async fn hello() -> &'static str {
    "hello"
}

async fn price(Path(id): Path<u64>) -> Json<serde_json::Value> {
    tracing::info!(order = id, "priced");
    Json(serde_json::json!({ "order": id, "amount": 12.5 + id as f64, "currency": "EUR" }))
}

async fn track(State(orders): State<Orders>, Path(id): Path<u64>) -> (StatusCode, String) {
    let Some(base) = &orders.tracking_url else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "set TRACKING_URL to track orders".to_owned(),
        );
    };
    match orders.http.get(format!("{base}/orders/{id}")).send().await {
        Ok(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, response.text().await.unwrap_or_default())
        }
        Err(error) => {
            tracing::error!(%error, "the order service did not answer");
            (
                StatusCode::BAD_GATEWAY,
                "the order service did not answer".to_owned(),
            )
        }
    }
}

async fn fulfil(message: PubSubMessage) -> anyhow::Result<()> {
    let order: Order = message.json()?;
    tracing::info!(
        order = order.id,
        attempt = message.delivery_attempt(),
        "fulfilling"
    );
    if order.items.is_empty() {
        return Err(EmptyOrder { id: order.id }.into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = otel_faas_gcp::start()?;
    let orders = Orders {
        publisher: PubSubPublisher::from_env()?,
        topic: std::env::var("ORDERS_TOPIC").unwrap_or_else(|_| "orders".to_owned()),
        http: otel_faas_core::http::client::traced_reqwest_client()?,
        tracking_url: std::env::var("TRACKING_URL").ok(),
    };
    let api = Router::new()
        .route("/orders", post(place_order))
        .route("/hello", get(hello))
        .route("/prices/{id}", get(price))
        .route("/track/{id}", get(track))
        // The span is named after the route axum matched (`GET /prices/{id}`).
        .route_layer(HttpRouteLayer::new(axum_route))
        .with_state(orders);
    // FUNCTION_TARGET picks the function served at every path (`orders` when unset: the
    // first registered); the other answers under its name.
    FunctionsFramework::new(&telemetry)
        .http_router("orders", api)
        .cloud_event("fulfil", fulfil)
        .serve()
        .await?;
    Ok(())
}
