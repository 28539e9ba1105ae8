//! A Cloud Run function (gen2) in Rust, traced end to end by `otel-faas-gcp`.
//!
//! * `orders` (HTTP, the `FUNCTION_TARGET`): `POST /orders` validates an order and publishes
//!   it to the `orders` topic (`ORDERS_TOPIC`) with the trace context in its attributes;
//!   `GET /hello` greets.
//! * `fulfil` (Pub/Sub, served at `/fulfil`): fulfils each order; fails an order with no
//!   items, so Pub/Sub redelivers it.
//!
//! One trace per order: the HTTP request, the `send orders` span, and the push that
//! delivers the message to `fulfil` (a link to the send span, and its child when the push
//! carries no context of its own).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
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
    };
    let api = Router::new()
        .route("/orders", post(place_order))
        .route("/hello", get(hello))
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
