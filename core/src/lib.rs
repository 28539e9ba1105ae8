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
//!   [`resource::build_resource`] composes detectors; `OTEL_RESOURCE_ATTRIBUTES` and
//!   `OTEL_SERVICE_NAME` always win.
//! * **What started this invocation?** A [`TriggerAdapter`] turns one event (an HTTP
//!   request, a queue batch, a storage notification) into an [`InvocationSpec`]: the
//!   trigger type, the invocation span as a [`SpanSpec`] (name, kind, attributes, links),
//!   the parent and, for a batch, a span the handler runs in. After the handler it reads
//!   the response into a [`trigger::Outcome`] (a status code, failed batch items).
//! * **Where did the caller's trace come from?** A [`Propagation`] extracts context from a
//!   [`propagation::Carrier`] (headers, message attributes) and injects it into outgoing
//!   ones. [`propagation::PropagatorRegistry`] builds the composite that `OTEL_PROPAGATORS`
//!   asks for; cloud crates register their own formats in it by name.
//!
//! ## How an invocation flows
//!
//! 1. At process start, [`Pipeline::install`] builds the providers, resource and
//!    propagation from the `OTEL_*` variables — no network, no failure: bad values warn
//!    and fall back to the spec defaults.
//! 2. For each invocation, the [`InvocationEngine`] asks the adapter for the spec, starts
//!    the span (with `faas.coldstart` true for the first invocation of the process) and makes
//!    it the current context while the handler runs, so `tracing` spans nest under it.
//!    Helpers inside the handler reach the engine's tracer through
//!    [`engine::InvocationScope`], for instance to run each message of a batch in its own
//!    span ([`engine::InvocationScope::in_span`] with a [`SpanSpec`]).
//! 3. However the invocation ends — the handler returns, fails, panics, outlives its
//!    deadline or is dropped — one end path records it on the span (`error.type`, an
//!    exception event, ERROR status), ends it, hands one [`engine::InvocationRecord`] to
//!    every [`InvocationObserver`] (metrics, log capture, platform hooks) and flushes as the
//!    [`engine::FlushPolicy`] says — the spans on the invocation's own task with async I/O
//!    (no thread hop, no executor thread blocked), behind a retry buffer and a circuit
//!    breaker, so that a failing collector costs an invocation microseconds once detected
//!    and loses nothing while the buffer has room (see [`pipeline`]).
//!
//! ## Modules
//!
//! | module | what |
//! |---|---|
//! | [`trigger`] | the event side: [`TriggerAdapter`], [`InvocationSpec`], [`SpanSpec`], outcomes |
//! | [`engine`] | the invocation engine, its tower layer, observers, cold start, flushing |
//! | [`pipeline`] | providers and exporters from the `OTEL_*` variables |
//! | [`propagation`] | carriers, propagators, the `OTEL_PROPAGATORS` registry |
//! | [`resource`] | resource detection |
//! | [`sampling`] | which traces are kept: unsampled parents, rules, tail sampling |
//! | [`ids`] | trace and span ids that stay unique across snapshot restores |
//! | [`http`] | the stable HTTP server conventions and the cloud-free [`http::HttpTrigger`] |
//! | [`env`](mod@env) | where configuration is read from, and the warnings for invalid values |
//! | `subscriber` | (feature `subscriber`, default) `tracing` set-up in one call: [`Telemetry::init_tracing`], or [`Telemetry::tracing_layer`] to compose your own |
//! | `server` | (feature `server`) the harness for long-lived HTTP servers: port, readiness, graceful shutdown with a final flush, and the `Envelope` decode step |
//!
//! ## A complete function
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use otel_faas_core::env::MapEnvironment;
//! use otel_faas_core::http::HttpTrigger;
//! use otel_faas_core::{InvocationLayer, Pipeline};
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
//! An adapter is a pure function from an event to an [`InvocationSpec`], and needs nothing
//! but this crate. A queue whose messages are processed in a batch:
//!
//! ```
//! use opentelemetry::KeyValue;
//! use otel_faas_core::propagation::IgnoreCase;
//! use otel_faas_core::trigger::{FaasTrigger, InvocationContext, Outcome};
//! use otel_faas_core::{InvocationSpec, Propagation, SpanSpec, TriggerAdapter};
//! use std::collections::HashMap;
//!
//! struct Batch { queue: String, headers: HashMap<String, String>, size: usize }
//! struct Report { failed: usize }
//!
//! struct QueueTrigger;
//!
//! impl TriggerAdapter<Batch, Report> for QueueTrigger {
//!     fn invocation_spec(&self, batch: &Batch, _: &InvocationContext, propagation: &dyn Propagation) -> InvocationSpec {
//!         InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server(batch.queue.clone()))
//!             .with_parent(propagation.extract_from(&IgnoreCase(&batch.headers)))
//!             // The messaging conventions want a CONSUMER span around the batch.
//!             .with_inner_span(
//!                 SpanSpec::consumer(format!("process {}", batch.queue))
//!                     .with_attribute(KeyValue::new("messaging.batch.message_count", batch.size as i64)),
//!             )
//!     }
//!
//!     fn outcome(&self, report: &Report) -> Outcome {
//!         match report.failed {
//!             0 => Outcome::success(),
//!             n => Outcome::failed("batch_item_failures", Some(format!("{n} messages failed"))),
//!         }
//!     }
//! }
//! ```
//!
//! ## Observing invocations
//!
//! Metrics, log capture and platform hooks plug in as an [`InvocationObserver`], without a
//! change to the engine; see its documentation for an example.
//!
//! ## Why each dependency is here
//!
//! * `opentelemetry`, `opentelemetry_sdk`: the API and SDK every span goes through.
//! * `opentelemetry-otlp` (features `otlp-metrics` and `otlp-logs`, on by default: metrics
//!   and logs over HTTP with a blocking client that runs on the SDK's export threads, gzip;
//!   gRPC for all three behind the `otlp-grpc` feature, its TLS behind `otlp-grpc-tls`) and
//!   `opentelemetry-stdout` (feature `console`, on by default): the exporters
//!   `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` choose between. Spans over OTLP/HTTP need
//!   neither: a function that only traces turns the three features off
//!   (`default-features = false`) and its binary is about a MiB smaller (`BENCHMARKS.md`,
//!   P5). Without `otlp-metrics` (`otlp-logs`) `OTEL_METRICS_EXPORTER`
//!   (`OTEL_LOGS_EXPORTER`) defaults to `none`, not the specification's `otlp`, and `otlp`
//!   there is warned about; without `console`, `console` is.
//! * `opentelemetry-proto`, `prost`, `flate2`, `bytes`, `httpdate`: the spans' own OTLP/HTTP
//!   export path encodes requests itself, so that a batch the collector did not take is
//!   kept as bytes and sent again (the same crates `opentelemetry-otlp` uses: nothing new
//!   is compiled in), gzips them, and reads `Retry-After` in both its forms.
//! * `reqwest`: the HTTP client of every OTLP/HTTP export — async for spans (on the
//!   invocation's task and the exporter thread), blocking for metrics and logs (on the SDK's
//!   threads; only with `otlp-metrics` or `otlp-logs`). `rustls`, `rustls-pki-types`, `webpki-roots` (feature `tls`, on by default):
//!   HTTPS for OTLP/HTTP without a system OpenSSL — rustls with ring (already in every AWS
//!   SDK build), the public roots compiled in, PEM files for the CA and mutual TLS.
//! * `tracing-opentelemetry`, `tracing-subscriber` (feature `subscriber`, on by default):
//!   the one-call `tracing` set-up.
//! * `axum` (feature `server`): the server harness, for platforms that run the function
//!   as a long-lived HTTP server.
//! * `opentelemetry-semantic-conventions`: every attribute key comes from it, never typed by
//!   hand.
//! * `tokio`: timers for the deadline watchdog, the exporter thread's runtime, and the
//!   blocking pool for the metrics and logs flushes.
//! * `tower-layer`, `tower-service`: the engine as a `Layer`, so it wraps any tower service;
//!   and `http::client::ClientTraceLayer`, so that it wraps any tower HTTP client.
//! * `http`: the request and header types of the HTTP trigger and the header carrier.
//!   `http-body`: the response body of `ClientTraceLayer`, which reads a gRPC call's status
//!   in its trailers.
//! * `reqwest-middleware` (feature `reqwest-middleware`): the seam for outgoing reqwest
//!   calls (`http::client::TracingMiddleware`), which sees every attempt of a request.
//!   `reqwest-tracing` would give the span, but its newest release is on OpenTelemetry
//!   0.32, this crate on 0.33.
//! * `futures-util`: catching a handler's panic across `.await`.
//! * `percent-encoding`: `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` values.
//! * `itoa`: a port into an outgoing call's `url.full` without the formatting machinery
//!   (already compiled in through `serde_json`).
//! * `thiserror`, `tracing`: typed errors, and the crate's own diagnostics.
//!
//! ## Choices where the spec leaves room
//!
//! * `faas.coldstart` is always recorded, `false` included, so that queries for warm
//!   invocations need no "attribute missing" case.
//! * A handler error's `error.type` is its Rust type name; a panic's is `panic`; a deadline
//!   overrun's is `timeout` (an example value of the `error.type` definition); an
//!   invocation dropped before it finished (the caller hung up) is `cancelled`, with ERROR
//!   status, since its work did not complete.
//! * HTTP spans: ERROR status for 5xx only, since a 4xx is the client's failure (the HTTP
//!   server span conventions). Outgoing calls (`http::client`): ERROR from 400 on, as the
//!   client span conventions ask.
//! * Outgoing gRPC calls follow the RPC conventions of v1.44 (`rpc.system.name`, a fully
//!   qualified `rpc.method`, `rpc.response.status_code` as the status's name), not the
//!   older `rpc.system`, `rpc.service` and numeric `rpc.grpc.status_code` that earlier
//!   instrumentations and examples write: the spec wins.
//! * `url.full` of an outgoing call with a user name and password records
//!   `REDACTED:REDACTED@` in their place, as the url registry asks.

#![warn(missing_docs)]

pub mod engine;
pub mod env;
pub mod http;
pub mod ids;
pub mod pipeline;
pub mod propagation;
pub mod resource;
#[cfg(feature = "tls")]
mod rustls_roots;
pub mod sampling;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "subscriber")]
pub mod subscriber;
pub mod trigger;
mod warning;

pub use engine::{InvocationEngine, InvocationLayer, InvocationObserver};
pub use env::Environment;
pub use pipeline::{Pipeline, Telemetry};
pub use propagation::Propagation;
pub use resource::ResourceDetector;
pub use trigger::{InvocationSpec, SpanSpec, TriggerAdapter};

/// The OpenTelemetry crates this crate is built against, re-exported so that users and
/// cloud crates name exactly the same versions.
pub mod otel {
    pub use opentelemetry;
    pub use opentelemetry_sdk;
    pub use opentelemetry_semantic_conventions as semconv;
}
