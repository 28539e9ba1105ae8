//! An Azure Functions app written as a Rust custom handler, traced end to end.
//!
//! * `hello` (GET/POST `/api/hello/{name?}`): greets.
//! * `order` (POST `/api/orders`): validates an order and enqueues it on `orders` (a queue
//!   output binding), with the trace context inside the message.
//! * `fulfil` (queue `orders`): fulfils it; fails an order with no items, so the host retries.
//! * `quote` (GET `/api/quote/{id}`): asks the price service at `PRICES_URL`
//!   (`{PRICES_URL}/prices/{id}`; in the demo, a Cloud Run function) over HTTP with the traced
//!   reqwest client — a CLIENT span, and the trace context in the request's headers.
//! * `nightly` (timer, 03:00 daily), `payments` (Service Bus queue), `ingest` (Event Hubs,
//!   batches).
//!
//! Every log line an invocation writes goes back to the host in `Logs`, with its trace id.

use otel_faas_azure::{
    EventHubEvent, FunctionApp, HttpRequest, HttpResponse, QueueMessage, Reply, ServiceBusMessage,
    TimerInfo,
};

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

async fn hello(request: HttpRequest) -> anyhow::Result<HttpResponse> {
    let name = request
        .param("name")
        .map(str::to_owned)
        .or_else(|| request.query("name"))
        .unwrap_or_else(|| "world".to_owned());
    tracing::info!(%name, "greeting");
    if name == "crash" {
        return Ok(HttpResponse::new(503).body("not today"));
    }
    Ok(HttpResponse::ok(format!("hello, {name}")))
}

/// Where prices come from, and the traced client that asks.
struct Prices {
    http: reqwest_middleware::ClientWithMiddleware,
    url: Option<String>,
}

async fn quote(
    prices: std::sync::Arc<Prices>,
    request: HttpRequest,
) -> anyhow::Result<HttpResponse> {
    let Some(id) = request.param("id").and_then(|id| id.parse::<u64>().ok()) else {
        return Ok(HttpResponse::new(400).body("the order id must be a number"));
    };
    let Some(base) = &prices.url else {
        return Ok(HttpResponse::new(503).body("set PRICES_URL to ask for prices"));
    };
    let response = prices
        .http
        .get(format!("{base}/prices/{id}"))
        .send()
        .await?;
    if !response.status().is_success() {
        tracing::warn!(order = id, status = response.status().as_u16(), "no price");
        return Ok(HttpResponse::new(502).body("no price"));
    }
    let price: serde_json::Value = response.json().await?;
    tracing::info!(order = id, "quoted");
    Ok(HttpResponse::ok(
        serde_json::json!({ "order": id, "price": price, "quoted_by": "azure" }).to_string(),
    ))
}

async fn order(request: HttpRequest) -> anyhow::Result<Reply> {
    let Ok(order) = request.json::<Order>() else {
        return Ok(Reply::new().http(HttpResponse::new(400).body("the body must be an order")));
    };
    tracing::info!(
        order = order.id,
        items = order.items.len(),
        "order accepted"
    );
    // Storage queue messages have no properties: the trace context travels in the JSON
    // (under `_otel`), so that `fulfil` continues this trace.
    let message =
        otel_faas_messaging::traced_queue_message("orders", &serde_json::to_string(&order)?);
    Ok(Reply::new()
        .output("message", message)
        .http(HttpResponse::new(202).body(format!("order {} queued", order.id))))
}

async fn fulfil(message: QueueMessage) -> anyhow::Result<()> {
    let order: Order = message.json()?;
    tracing::info!(
        order = order.id,
        dequeue_count = message.dequeue_count(),
        "fulfilling"
    );
    if order.items.is_empty() {
        return Err(EmptyOrder { id: order.id }.into());
    }
    Ok(())
}

async fn nightly(timer: TimerInfo) -> anyhow::Result<()> {
    tracing::info!(past_due = timer.is_past_due(), "nightly report");
    Ok(())
}

async fn payments(message: ServiceBusMessage) -> anyhow::Result<()> {
    tracing::info!(id = message.message_id(), "payment received");
    Ok(())
}

async fn ingest(events: Vec<EventHubEvent>) -> anyhow::Result<()> {
    tracing::info!(count = events.len(), "events ingested");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = otel_faas_azure::start()?;
    let prices = std::sync::Arc::new(Prices {
        http: otel_faas_core::http::client::traced_reqwest_client()?,
        url: std::env::var("PRICES_URL").ok(),
    });
    FunctionApp::new(&telemetry)
        .function("hello", hello)
        .function("quote", move |request| {
            quote(std::sync::Arc::clone(&prices), request)
        })
        .function("order", order)
        .function("fulfil", fulfil)
        .function("nightly", nightly)
        .function("payments", payments)
        .function("ingest", ingest)
        .serve()
        .await?;
    Ok(())
}
