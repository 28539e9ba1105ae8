//! # otel-faas-gcp
//!
//! Google Cloud Run functions (gen2) with complete tracing: a server honouring the
//! Functions Framework contract, CloudEvents in every form they arrive in (binary and
//! structured mode, raw Pub/Sub push, background events), trigger adapters, the
//! `X-Cloud-Trace-Context` propagator and the GCP resource detector, on `otel-faas-core`.
//!
//! ```no_run
//! use otel_faas_gcp::{FunctionsFramework, PubSubMessage, StorageObject};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), otel_faas_core::server::ServerError> {
//!     let telemetry = otel_faas_gcp::start()?;
//!     FunctionsFramework::new(&telemetry)
//!         // FUNCTION_TARGET picks the one served at every path; the others answer at /<name>.
//!         .http("hello", || async { "hello" })
//!         .cloud_event("on_order", |message: PubSubMessage| async move {
//!             tracing::info!(id = message.id(), bytes = message.data().len(), "order");
//!             Ok::<_, std::convert::Infallible>(())
//!         })
//!         .cloud_event("on_upload", |object: StorageObject| async move {
//!             tracing::info!(bucket = object.bucket(), name = object.name(), "uploaded");
//!             Ok::<_, std::convert::Infallible>(())
//!         })
//!         .serve()
//!         .await
//! }
//! ```
//!
//! | Item | What |
//! |---|---|
//! | [`FunctionsFramework`] | the server: `$HOST:$PORT` (`0.0.0.0:8080` by default), the target at every path, 404 for `/robots.txt` and `/favicon.ico`, graceful shutdown that flushes |
//! | [`CloudEventRequest`] | the event decoded once at the edge: binary and structured mode, raw Pub/Sub push (wrapped, or unwrapped with its metadata in headers), background events (400 with a reason otherwise) |
//! | [`FromCloudEvent`], [`PubSubMessage`], [`StorageObject`] | typed arguments of CloudEvent functions |
//! | [`triggers`] | one adapter per kind: HTTP, Pub/Sub, Cloud Storage, any other CloudEvent |
//! | [`GcpResourceDetector`], [`MetadataServer`](metadata::MetadataServer) | the resource: environment at start-up, metadata server in the background |
//! | `PubSubPublisher` (feature `publisher`) | publishing with the context in `googclient_traceparent`, to the emulator or the service |
//! | [`CloudTraceContextPropagator`](cloud_trace::CloudTraceContextPropagator) | `X-Cloud-Trace-Context` as a read-only fallback, `gcp` in `OTEL_PROPAGATORS` |
//! | [`telemetry_api`] | Cloud Trace without a collector: OTLP to `https://telemetry.googleapis.com` with the service account's token from the metadata server |
//!
//! **Cloud Run's unsampled parents.** On Cloud Run a caller's `sampled=0` keeps the trace
//! and parent but not the decision: see [`pipeline_with_environment`].
//!
//! **Resource.** [`GcpResourceDetector`] reads the environment at start-up; the metadata
//! server is asked in the background ([`MetadataServer`](metadata::MetadataServer)) and its answers join later
//! exports.
//!
//! **Logs.** On Cloud Run, [`start`] writes log lines as Cloud Logging's
//! structured JSON on standard output, each under its trace ([`CloudLoggingLayer`]);
//! elsewhere, plain lines on standard error. Either way only `INFO` and above are written,
//! or what `RUST_LOG` says (`RUST_LOG=warn,my_function=debug`: a level, and
//! `target=level` directives); OpenTelemetry's own crates speak from `WARN` unless
//! `RUST_LOG` names them. Cloud Logging bills by volume, and libraries' debug lines can
//! carry request details.
//!
//! **Secrets in URLs.** `url.query` is recorded with credential values replaced by
//! `REDACTED`: core's default keys (the conventions' signed-URL keys, the clouds' and
//! common secret names, see `otel_faas_core::http::QueryRedaction`), Google's API key
//! parameter `key` ([`GOOGLE_API_QUERY_KEYS`](triggers::GOOGLE_API_QUERY_KEYS)), and
//! any key listed in `OTEL_FAAS_REDACT_QUERY_KEYS` (comma-separated, any case:
//! `OTEL_FAAS_REDACT_QUERY_KEYS=code,session` for an OAuth callback). No header is
//! recorded.
//!
//! **A handler that panics** is answered `500` with an empty body, as the Functions
//! Framework answers a function that throws; its span records the panic (`error.type` =
//! `panic`, the exception) and `http.response.status_code` = `500`, and the server goes on
//! serving.
//!
//! ## Run locally
//!
//! ```sh
//! FUNCTION_TARGET=hello PORT=8080 HOST=127.0.0.1 \
//!   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run
//! ```
//!
//! The server listens on `$HOST:$PORT` (`0.0.0.0:8080` by default). Without `K_SERVICE` it
//! behaves as off Cloud Run: plain log lines on standard error, no metadata server. To try
//! the Cloud Run behaviour (`K_SERVICE=orders`), point the metadata server somewhere:
//! `GCE_METADATA_HOST=127.0.0.1:9` (nothing listening: the resource keeps what the
//! environment says, and nothing waits on it), or the address of a fake of your own. On a
//! machine without it, the default `metadata.google.internal` is asked in the background
//! and cannot answer; no request waits for it.
//!
//! **Tested against real parts**: every conformance vector and event sample over HTTP; the
//! Node Functions Framework (npm) as a differential oracle on the same requests (the HTTP
//! contract and the event each function sees agree; the deliberate differences below are
//! asserted both ways); the Pub/Sub emulator pushing a published message to the server.
//! `examples/gcp-function` is a deployable service (HTTP → Pub/Sub → handler) with a
//! Dockerfile and the `gcloud run deploy` and Eventarc commands; `cargo xtask demo` runs
//! it against the Pub/Sub emulator.
//!
//! ## Conventions (semantic conventions v1.44)
//!
//! | Event | `faas.trigger` | Spans and attributes |
//! |---|---|---|
//! | HTTP | `http` | SERVER `{method}` (every path is the function's: no `http.route`), `url.*` (credentials redacted; `https` when the request does not say), `client.address`, `user_agent.original`, `http.response.status_code`; ERROR for 5xx only |
//! | Pub/Sub `messagePublished` | `pubsub` | SERVER + CONSUMER `subscribe {subscription}`: `messaging.system=gcp_pubsub`, `messaging.operation.type=process`, `messaging.operation.name=subscribe`, `messaging.destination.name` (topic id), `messaging.destination.subscription.name`, `messaging.message.id`, `messaging.message.body.size`, `messaging.gcp_pubsub.message.ordering_key`, `messaging.gcp_pubsub.message.delivery_attempt`; a link to the publisher (`googclient_traceparent`) |
//! | Cloud Storage `object.v1.*` | `datasource` | SERVER `{operation} {bucket}`: `faas.document.collection`, `.name`, `.operation` (`finalized` → `insert`, `deleted` → `delete`, else `edit`), `.time` |
//! | any other CloudEvent | `other` | SERVER `{type}` |
//!
//! Every CloudEvent span has `cloudevents.event_id`, `.event_source`, `.event_type`,
//! `.event_subject`, `.event_spec_version`; `faas.invocation_id` comes from the
//! `Function-Execution-Id` header when the platform sends it.
//!
//! **Parent and links.** The push request's `traceparent` is the parent; the event's
//! creation context (`googclient_traceparent`, or a `traceparent` extension that differs
//! from the transport's) is a link. Without any transport context, a single creation
//! context becomes the parent, so a message from a producer that propagated is never a
//! trace of its own.
//!
//! **Where this differs from the Node Functions Framework, on purpose.** A raw Pub/Sub
//! push keeps `subscription` in the event's data (Eventarc's events carry it there too,
//! and the spans name it); the Node framework drops it. A `traceparent` extension the
//! event carries is kept (it is the event's creation context, per the CloudEvents
//! distributed-tracing extension); the Node framework overwrites it with the transport's.
//! The transport's is copied only into an event that has none, as the Node framework does.
//! A binary-mode event missing a required attribute (`ce-id`) is refused with 400, where
//! the Node framework hands the function the bare body; a `GET` on a CloudEvent function
//! is answered 405 (and `/robots.txt` 404) where the Node framework fails with 500.
//!
//! ## Why each dependency is here
//!
//! * `cloudevents-sdk` (feature `http-binding`): the CloudEvent type and its HTTP binding
//!   (binary and structured mode), rather than a hand-written reading of the spec.
//! * `otel-faas-core` (features `server`, `subscriber`): the engine, the server harness,
//!   `EnvelopeService` and `InvocationLayer`; `otel-faas-messaging`: the `googclient_`
//!   Pub/Sub attribute carrier.
//! * `opentelemetry`, `opentelemetry_sdk`, `opentelemetry-semantic-conventions`: spans,
//!   links and attribute keys; `axum`, `http`: the server and its types.
//! * Optional, feature `publisher`: `reqwest` (the Pub/Sub REST API and the metadata
//!   server's token), `rustls` and `webpki-roots` (HTTPS to Google, without a system TLS
//!   library).
//! * `serde`, `serde_json`: the JSON forms; `base64`: Pub/Sub message data; `chrono`: the
//!   arrival time of Pub/Sub messages without a publish time, `faas.document.time`;
//!   `thiserror`: typed errors; `tokio`, `futures-util`, `tracing`: the runtime, futures
//!   and the handlers' logs; `tracing-subscriber`: the layer of [`CloudLoggingLayer`].

#![warn(missing_docs)]

mod app;
mod cloud_event;
pub mod cloud_trace;
mod extract;
mod legacy;
mod logs;
#[cfg(feature = "publisher")]
mod publisher;
mod push;
mod resource;
mod services;
pub mod telemetry_api;
pub mod triggers;

// The headline names: the server and the entry point, the event and its typed arguments,
// the adapters, the resource and the log lines. Everything else has its one path in a
// module: `triggers` (constants), `events` (CloudEvent formats and errors, the
// `cloudevents` types), `metadata` (the metadata server), `cloud_trace` (the propagator).
pub use app::{BoundFunctionsFramework, FunctionsFramework};
pub use cloud_event::CloudEventRequest;
pub use extract::FromCloudEvent;
pub use logs::CloudLoggingLayer;
#[cfg(feature = "publisher")]
pub use publisher::{PubSubPublisher, PublishError};
pub use resource::GcpResourceDetector;
pub use triggers::CloudEventTrigger;
pub use triggers::http::GcpHttpTrigger;
pub use triggers::pubsub::PubSubMessage;
pub use triggers::storage::StorageObject;

/// How CloudEvents arrive and why one is refused, and the `cloudevents` types a
/// [`CloudEventRequest`] hands out (its [`Event`](events::Event), the event's
/// [`Data`](events::Data), and the [`AttributesReader`](events::AttributesReader) trait
/// for `id()`, `ty()`, `source()`).
pub mod events {
    pub use crate::cloud_event::{EventError, EventFormat, TRACEPARENT_EXTENSION};
    pub use crate::legacy::LegacyEventError;
    pub use cloudevents::{AttributesReader, Data, Event};
}

/// The metadata server: where the resource's instance, region and project come from on
/// Cloud Run, asked in the background.
pub mod metadata {
    pub use crate::resource::{GCP_PROJECT_ID, METADATA_HOST, MetadataError, MetadataServer};
}

/// Starts telemetry for a Cloud Run function, the one call its `main` needs before
/// [`FunctionsFramework::new`]: the pipeline from the process environment (see
/// [`pipeline_with_environment`]) and the global `tracing` subscriber — spans into the
/// pipeline; on Cloud Run (`K_SERVICE` set) log lines as Cloud Logging's structured JSON on
/// standard output, each under its trace ([`CloudLoggingLayer`]); elsewhere plain lines on
/// standard error; `INFO` and above, or what `RUST_LOG` says.
///
/// An error when a `tracing` subscriber is installed already: then build the pipeline with
/// [`pipeline_with_environment`] and add [`CloudLoggingLayer`] and
/// `Telemetry::tracing_layer` to your own subscriber.
///
/// ```no_run
/// # fn main() -> Result<(), otel_faas_core::subscriber::TracingInitError> {
/// let telemetry = otel_faas_gcp::start()?;
/// # drop(telemetry);
/// # Ok(())
/// # }
/// ```
pub fn start() -> Result<otel_faas_core::Telemetry, otel_faas_core::subscriber::TracingInitError> {
    use otel_faas_core::Environment as _;
    use otel_faas_core::subscriber::TracingOptions;
    let env = otel_faas_core::env::ProcessEnvironment;
    let on_cloud_run = env.get_non_empty("K_SERVICE").is_some();
    let telemetry = pipeline_with_environment(env).install();
    if on_cloud_run {
        telemetry.init_tracing_with(
            TracingOptions::default().plain_lines(false),
            CloudLoggingLayer::from_env(&env).with_late_project(telemetry.late_resource()),
        )?;
    } else {
        telemetry.init_tracing(TracingOptions::default())?;
    }
    Ok(telemetry)
}

/// The pipeline for a Cloud Run function, configured from `env`: the standard `OTEL_*`
/// variables, the [`GcpResourceDetector`], the `gcp` propagator registered for
/// `OTEL_PROPAGATORS`, and — on Cloud Run (`K_SERVICE` is set) — the metadata server asked
/// in the background for the instance, region and project (joining the span and log
/// exports once known; see [`MetadataServer`](metadata::MetadataServer)) and unsampled remote parents decided
/// locally; and, for OTLP endpoints of Google's (`https://telemetry.googleapis.com`), the
/// service account's access token on every export request ([`telemetry_api`]).
///
/// **Why.** Cloud Run's front end samples about 0.1 request per second per instance and
/// sends `traceparent` with `sampled=0` on every other request; the default
/// `parentbased_always_on` sampler would follow it and drop almost every span. On Cloud
/// Run the caller's trace id and parent span are kept, but the decision is made by the
/// root sampler (`OTEL_TRACES_SAMPLER`'s: always, or the ratio of
/// `parentbased_traceidratio`), so your traces are recorded and still join the caller's.
/// `OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS=honor` restores the specification's behaviour.
///
/// ```
/// use otel_faas_core::{env::MapEnvironment, sampling::UnsampledRemoteParents};
///
/// let on_cloud_run = MapEnvironment::from([("K_SERVICE", "orders"), ("OTEL_TRACES_EXPORTER", "none")]);
/// let telemetry = otel_faas_gcp::pipeline_with_environment(on_cloud_run).install();
/// assert_eq!(telemetry.unsampled_remote_parents(), UnsampledRemoteParents::DecideLocally);
///
/// let elsewhere = MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")]);
/// let telemetry = otel_faas_gcp::pipeline_with_environment(elsewhere).install();
/// assert_eq!(telemetry.unsampled_remote_parents(), UnsampledRemoteParents::Honor);
/// ```
pub fn pipeline_with_environment(
    env: impl otel_faas_core::Environment + 'static,
) -> otel_faas_core::Pipeline {
    use otel_faas_core::sampling::UnsampledRemoteParents;
    let on_cloud_run = env.get_non_empty("K_SERVICE").is_some();
    let metadata = on_cloud_run.then(|| metadata::MetadataServer::from_env(&env));
    let token_server = metadata::MetadataServer::from_env(&env);
    let mut pipeline = otel_faas_core::Pipeline::with_environment(env)
        .with_detector(GcpResourceDetector)
        .unsampled_remote_parents(if on_cloud_run {
            UnsampledRemoteParents::DecideLocally
        } else {
            UnsampledRemoteParents::Honor
        });
    cloud_trace::register_propagators(pipeline.registry_mut());
    // The Telemetry API's access token, fetched only when an OTLP endpoint needs it.
    pipeline = pipeline.with_request_signer(telemetry_api::signer_factory(token_server));
    if let Some(metadata) = metadata {
        let late = otel_faas_core::pipeline::LateResource::new();
        // Never on a request's path: a thread of its own, short timeouts.
        metadata.fetch_in_background(late.clone());
        pipeline = pipeline.with_late_resource(late);
    }
    pipeline
}
