//! A function on core's server harness, for the harness's end-to-end tests: `POST /orders`
//! takes an order number in the body (an [`Envelope`]), `GET /record` records a span that
//! nothing flushes before shutdown.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::routing::{get, post_service};
use otel_faas_core::otel::opentelemetry::trace::{Span as _, Tracer as _};
use otel_faas_core::server::{Envelope, EnvelopeService, Server};
use otel_faas_core::trigger::{FaasTrigger, InvocationContext};
use otel_faas_core::{InvocationSpec, Pipeline, Propagation, SpanSpec, TriggerAdapter};

struct Order(u64);

impl Envelope for Order {
    type Rejection = String;

    fn decode(_: &axum::http::request::Parts, body: Bytes) -> Result<Self, String> {
        std::str::from_utf8(&body)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .map(Order)
            .ok_or_else(|| "the body must be an order number".to_owned())
    }
}

struct OrderTrigger;

impl TriggerAdapter<Order, String> for OrderTrigger {
    fn invocation_spec(
        &self,
        order: &Order,
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(
            FaasTrigger::Other,
            SpanSpec::server(format!("order {}", order.0)),
        )
    }
}

#[tokio::main]
async fn main() {
    let telemetry = Pipeline::from_env().install();
    let engine = telemetry.engine().build();
    let tracer = telemetry.tracer("server-probe");
    let app =
        axum::Router::new()
            .route(
                "/orders",
                post_service(EnvelopeService::new(
                    engine,
                    OrderTrigger,
                    |order: Order| async move {
                        Ok::<_, Infallible>(format!("order {} accepted", order.0))
                    },
                )),
            )
            .route(
                "/record",
                get(move || {
                    tracer.start("recorded").end();
                    async { "recorded" }
                }),
            );
    let served = Server::from_env(&telemetry).serve(app).await;
    // Exit without running destructors: dropping the providers would export too, and the
    // test must see only what the harness itself flushed.
    std::process::exit(i32::from(served.is_err()))
}
