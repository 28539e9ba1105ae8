//! # otel-faas-core
//!
//! Cloud-neutral OpenTelemetry for serverless functions: the model every cloud crate of
//! otel-faas builds on, and the engine that turns each invocation into one correct span.
//! This crate names no cloud; `otel-faas-aws`, `otel-faas-azure` and `otel-faas-gcp` plug
//! their platforms into it.
//!
//! ## The model
//!
//! Three questions are asked of every function invocation, and each has one trait:
//!
//! * **Who is running?** A [`ResourceDetector`] reads the process [`Environment`] once at
//!   start-up and describes the function as a resource (`cloud.*`, `faas.name`, …).
//!   [`build_resource`] composes detectors; `OTEL_RESOURCE_ATTRIBUTES` and
//!   `OTEL_SERVICE_NAME` always win.
//! * **What started this invocation?** A [`TriggerAdapter`] turns one event (an HTTP
//!   request, a queue batch, a storage notification) into an [`InvocationSpec`]: span name,
//!   kind, `faas.trigger`, attributes, the parent and the links. After the handler it reads
//!   the response into an [`Outcome`] (a status code, failed batch items).
//! * **Where did the caller's trace come from?** A [`Propagation`] extracts context from a
//!   [`Carrier`] (headers, message attributes) and injects it into outgoing ones.
//!   [`PropagatorRegistry`] builds the composite that `OTEL_PROPAGATORS` asks for; cloud
//!   crates register their own formats in it by name.
//!
//! ## How an invocation flows
//!
//! 1. At process start, [`Pipeline::install`] builds the tracer provider, resource and
//!    propagation from the `OTEL_*` variables — no network, no failure: bad values warn
//!    and fall back to the spec defaults.
//! 2. For each invocation, the [`InvocationEngine`] asks the adapter for the spec, starts
//!    the span (with `faas.coldstart` true for the first invocation of the process) and makes
//!    it the current context while the handler runs, so `tracing` spans nest under it.
//! 3. When the handler returns, errors, panics or outlives its deadline, the engine records
//!    `error.type`, an exception event and ERROR status, ends the span and flushes as the
//!    [`FlushPolicy`] says — on tokio's blocking pool, never on an executor thread.
//!
//! ## A complete function
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use otel_faas_core::{HttpTrigger, InvocationLayer, MapEnvironment, Pipeline};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! // In production: `Pipeline::from_env()`, which reads the process environment.
//! let telemetry = Pipeline::with_environment(MapEnvironment::from([
//!     ("OTEL_SERVICE_NAME", "greeter"),
//!     ("OTEL_TRACES_EXPORTER", "none"),
//! ]))
//! .install();
//! let engine = telemetry.engine().build();
//!
//! let greeter = service_fn(|request: http::Request<String>| async move {
//!     let name = request.uri().path().trim_start_matches('/').to_owned();
//!     Ok::<_, std::convert::Infallible>(http::Response::new(format!("hello, {name}")))
//! });
//! let service = InvocationLayer::new(engine, HttpTrigger::new()).layer(greeter);
//!
//! let request = http::Request::get("/ada")
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(String::new())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.body(), "hello, ada");
//! # }
//! ```
//!
//! ## Writing an adapter for a new trigger
//!
//! See [`TriggerAdapter`]: an adapter is a pure function from an event to an
//! [`InvocationSpec`], and needs nothing but this crate.
//!
//! ## Why each dependency is here
//!
//! * `opentelemetry`, `opentelemetry_sdk`: the API and SDK every span goes through.
//! * `opentelemetry-otlp` (HTTP with a blocking client that runs on the SDK's export
//!   thread; gRPC behind the `otlp-grpc` feature) and `opentelemetry-stdout`: the exporters
//!   `OTEL_TRACES_EXPORTER` chooses between.
//! * `opentelemetry-semantic-conventions`: every attribute key comes from it, never typed by
//!   hand.
//! * `tokio`: timers for the deadline watchdog and the blocking pool for flushes.
//! * `tower-layer`, `tower-service`: the engine as a `Layer`, so it wraps any tower service.
//! * `http`: the request and header types of the HTTP trigger and the header carrier.
//! * `futures-util`: catching a handler's panic across `.await`.
//! * `percent-encoding`: `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` values.
//! * `thiserror`, `tracing`: typed errors, and the crate's own diagnostics.
//!
//! ## Choices where the spec leaves room
//!
//! * `faas.coldstart` is always recorded, `false` included, so that queries for warm
//!   invocations need no "attribute missing" case.
//! * A handler error's `error.type` is its Rust type name; a panic's is `panic`; a deadline
//!   overrun's is `timeout` (an example value of the `error.type` definition).
//! * HTTP spans: ERROR status for 5xx only, since a 4xx is the client's failure (the HTTP
//!   server span conventions).

#![warn(missing_docs)]

mod engine;
mod environment;
mod http_semconv;
mod http_trigger;
mod pipeline;
mod propagation;
mod resource;
mod trigger;
mod warning;

pub use engine::{
    ColdStart, EngineBuilder, FlushError, FlushPolicy, Flusher, HandlerPanic, InvocationEngine,
    InvocationLayer, InvocationScope, InvocationService, PANIC_ERROR_TYPE, TIMEOUT_ERROR_TYPE,
};
pub use environment::{Environment, MapEnvironment, ProcessEnvironment};
pub use http_semconv::{HttpServerAttributes, forwarded_client_address, http_response_outcome};
pub use http_trigger::{HttpRoute, HttpTrigger};
pub use pipeline::{
    OtlpProtocol, Pipeline, PipelineConfig, SamplerConfig, Telemetry, TracesExporter,
};
pub use propagation::{
    Carrier, CarrierMut, Chained, CompositePropagation, IgnoreCase, NoCarrier, Propagation,
    PropagatorFactory, PropagatorRegistry,
};
pub use resource::{Chain, OtelEnvResourceDetector, ResourceDetector, SdkDetector, build_resource};
pub use trigger::{
    FaasTrigger, Failure, InnerSpan, InvocationContext, InvocationSpec, Outcome, TriggerAdapter,
};
pub use warning::ConfigWarning;

/// The OpenTelemetry crates this crate is built against, re-exported so that users and
/// cloud crates name exactly the same versions.
pub mod otel {
    pub use opentelemetry;
    pub use opentelemetry_sdk;
    pub use opentelemetry_semantic_conventions as semconv;
}
