//! # otel-faas-azure
//!
//! Azure Functions custom handlers with complete tracing: a server speaking the Functions
//! host's protocol, one trigger adapter per trigger, the Azure resource detector, and each
//! invocation's log lines returned to the host with their trace ids.
//!
//! ```no_run
//! use otel_faas_azure::{FunctionApp, HttpRequest, HttpResponse, QueueMessage, Reply};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), otel_faas_core::server::ServerError> {
//!     let telemetry = otel_faas_azure::start()?;
//!     FunctionApp::new(&telemetry)
//!         // function.json: httpTrigger `req`, http output `res`, queue output `message`.
//!         .function("order", |request: HttpRequest| async move {
//!             tracing::info!("order received");
//!             Ok::<_, std::convert::Infallible>(
//!                 Reply::new()
//!                     .output("message", request.text().unwrap_or_default())
//!                     .http(HttpResponse::new(202).body("queued")),
//!             )
//!         })
//!         // function.json: queueTrigger `order`.
//!         .function("fulfil", |message: QueueMessage| async move {
//!             tracing::info!(id = message.id(), "fulfilling");
//!             Ok::<_, std::convert::Infallible>(())
//!         })
//!         .serve()
//!         .await
//! }
//! ```
//!
//! | Module | What |
//! |---|---|
//! | [`FunctionApp`] | the server: readiness, `POST /<function>` envelopes, the three HTTP modes, graceful shutdown that flushes |
//! | [`InvocationRequest`], [`Reply`] | the `{Data, Metadata}` request and the `{Outputs, Logs, ReturnValue}` reply, decoded and encoded at the edge |
//! | [`triggers`] | one file per trigger: HTTP, Storage queue, timer, Service Bus, Event Hubs, blob |
//! | [`function_json`] | each function's bindings, read at start-up |
//! | `otel_faas_messaging::traced_queue_message` | trace context across Storage queues (which have no message properties), an opt-in inside the message's JSON (with the other carriers, in otel-faas-messaging, feature `storage-queue`) |
//! | [`InvocationLogs`] | the invocation's log lines, with trace and span ids, for `Logs` |
//! | [`AzureFunctionsResourceDetector`] | `cloud.*`, `faas.*` and `service.name` of the app |
//! | [`app_insights`] (feature `app-insights`, default) | traces, metrics and logs straight into Application Insights, the default where the app's connection string is set |
//!
//! ## Conventions (semantic conventions v1.44)
//!
//! | Trigger | `faas.trigger` | Spans and attributes |
//! |---|---|---|
//! | HTTP | `http` | SERVER `{method} {route}`: `http.request.method`, `http.route` (`/<routePrefix>/<route>`), `url.path`, `url.query` (credentials redacted), `url.scheme`, `server.address`, `server.port`, `client.address`, `user_agent.original`, `http.response.status_code`; ERROR for 5xx only |
//! | Storage queue | `pubsub` | SERVER + CONSUMER `process {queue}`: `messaging.system=azure.storage.queue` (no value in v1.44), `messaging.operation.*=process`, `messaging.destination.name`, `messaging.message.id`; a link to the producer's `create {queue}` span when the message carries its context (`otel_faas_messaging::traced_queue_message`) |
//! | Timer | `timer` | SERVER `{function}`: `faas.time`, `faas.cron`, `azure.functions.timer.past_due` |
//! | Service Bus | `pubsub` | SERVER + CONSUMER `process {queue or topic}`: `messaging.system=servicebus`, `messaging.destination.subscription.name`, `messaging.message.id`, `messaging.servicebus.message.delivery_count`, `messaging.servicebus.message.enqueued_time`, `messaging.batch.message_count`; a link per message with a producer context |
//! | Event Hubs | `pubsub` | as Service Bus with `messaging.system=eventhubs`, `messaging.consumer.group.name`, `messaging.destination.partition.id`, `messaging.eventhubs.message.enqueued_time` |
//! | Blob | `datasource` | SERVER `{operation} {container}`: `faas.document.collection`, `.name`, `.operation`, `.time` |
//! | other | `other` | SERVER `{function}` |
//!
//! Every invocation span also has `faas.name` = `<app>/<function>` (the app from
//! `WEBSITE_SITE_NAME`, which Azure sets; without it, as when the handler runs locally
//! outside Azure, `faas.name` is the function's name alone), `cloud.resource_id` (when the
//! subscription, resource group and app are known), `faas.invocation_id` (the host's
//! `X-Azure-Functions-InvocationId`), `faas.coldstart`.
//!
//! **Secrets in URLs.** `url.query` is recorded with credential values replaced by
//! `REDACTED`: core's default keys (the conventions' signed-URL keys, the clouds' and
//! common secret names, see `otel_faas_core::http::QueryRedaction`), the function keys
//! Azure Functions takes in the query, `code` and `x-functions-key`
//! ([`FUNCTION_KEY_QUERY_KEYS`](triggers::FUNCTION_KEY_QUERY_KEYS)), and any key
//! listed in `OTEL_FAAS_REDACT_QUERY_KEYS` (comma-separated, any case). No header is
//! recorded, so `x-functions-key` as a header never is.
//!
//! **A function that panics** is answered `500` (`the function panicked`; the host fails
//! the invocation, and retries or dead-letters a message as for any failure). An HTTP
//! function's span records the panic (`error.type` = `panic`, the exception) and
//! `http.response.status_code` = `500`; the server goes on serving.
//!
//! **Log level.** Log lines (on standard error, and each invocation's in `Logs`) are
//! written from `INFO`, or as `RUST_LOG` says for standard error (`RUST_LOG=warn`; a level
//! and `target=level` directives); `Logs` never goes below `INFO`. OpenTelemetry's own
//! crates speak from `WARN` unless `RUST_LOG` names them.
//!
//! **The host's own spans.** The host's HTTP client sends `traceparent` on every request to
//! the handler, from its own activity: the invocation span is a child of the host's span,
//! and continues the caller's trace the host took up. When `host.json` has
//! `"telemetryMode": "OpenTelemetry"`, the host exports a SERVER span for each HTTP request
//! itself; the invocation span of an HTTP function is then INTERNAL (the same attributes),
//! so one request is not described by two SERVER spans. Without that setting, the host's
//! spans go to Application Insights only, and the invocation span is the SERVER span of the
//! request in your backend (its parent id then names a span you will not see there).
//! [`FunctionApp::with_host_records_requests`] overrides what `host.json` implies, either
//! way.
//!
//! ## Why each dependency is here
//!
//! * `otel-faas-core` (features `server`, `subscriber`): the engine, the server harness and
//!   its `Envelope` step, `tracing` set-up; `otel-faas-messaging`: the Service Bus and Event
//!   Hubs property carrier (`traceparent`, else `Diagnostic-Id`).
//! * `opentelemetry`, `opentelemetry_sdk`, `opentelemetry-semantic-conventions`: spans,
//!   resource and attribute keys.
//! * `axum`, `http`: the server and its types; `serde`, `serde_json`: the host's JSON;
//!   `base64`: byte arrays and string outputs as the host encodes them; `chrono`: the
//!   host's times as epoch seconds; `percent-encoding`: route and query values.
//! * `tracing`, `tracing-subscriber`: the log capture layer; `futures-util`: boxed handler
//!   futures and panic capture; `tokio`: the runtime; `thiserror`: typed errors.
//! * `opentelemetry-application-insights` (feature `app-insights`): the maintained exporter
//!   of Application Insights' envelopes for the three signals, on OpenTelemetry 0.33 — its
//!   mapping of spans to requests and dependencies is the one Microsoft's own exporters
//!   use; `opentelemetry-http` and `async-trait`: its `HttpClient` seam, which core's
//!   `ExporterClient` fills.

#![warn(missing_docs)]

mod app;
#[cfg(feature = "app-insights")]
pub mod app_insights;
mod extract;
pub mod function_json;
mod http_messages;
mod logs;
mod reply;
mod request;
mod resource;
pub mod triggers;
mod value;

pub use app::{BoundFunctionApp, FunctionApp, HttpMode};
pub use extract::FromInvocation;
pub use http_messages::{HttpRequest, HttpResponse};
pub use logs::InvocationLogs;
pub use reply::{IntoReply, Reply};
pub use request::{InvocationRequest, RetryContext};
pub use resource::AzureFunctionsResourceDetector;
pub use triggers::blob::BlobInput;
pub use triggers::event_hubs::EventHubEvent;
pub use triggers::queue::QueueMessage;
pub use triggers::service_bus::ServiceBusMessage;
pub use triggers::timer::TimerInfo;

/// The headers the Functions host puts on each invocation request, as
/// [`InvocationRequest`] reads them.
///
/// ```
/// assert_eq!(otel_faas_azure::host::INVOCATION_ID_HEADER, "x-azure-functions-invocationid");
/// ```
pub mod host {
    pub use crate::request::{
        HOST_VERSION_HEADER, INVOCATION_ID_HEADER, PROXY_INVOCATION_ID_HEADER,
    };
}

/// Starts telemetry for an Azure Functions app, the one call its `main` needs before
/// [`FunctionApp::new`]: the pipeline from the standard `OTEL_*` variables with the
/// [`AzureFunctionsResourceDetector`] and, with the `app-insights` feature (on by default),
/// Application Insights as the default destination where the app's connection string is
/// set and no OTLP endpoint is ([`app_insights`]); and the global `tracing` subscriber — spans into the
/// pipeline, plain log lines on standard error, and each invocation's lines captured for
/// the host's `Logs` ([`InvocationLogs::shared`]); `INFO` and above, or what `RUST_LOG`
/// says for standard error.
///
/// An error when a `tracing` subscriber is installed already: then build the pipeline
/// yourself (`Pipeline::from_env().with_detector(AzureFunctionsResourceDetector)`) and add
/// [`FunctionApp::log_capture`] and `Telemetry::tracing_layer` to your own subscriber.
///
/// ```no_run
/// # fn main() -> Result<(), otel_faas_core::subscriber::TracingInitError> {
/// let telemetry = otel_faas_azure::start()?;
/// # drop(telemetry);
/// # Ok(())
/// # }
/// ```
pub fn start() -> Result<otel_faas_core::Telemetry, otel_faas_core::subscriber::TracingInitError> {
    let pipeline =
        otel_faas_core::Pipeline::from_env().with_detector(AzureFunctionsResourceDetector);
    #[cfg(feature = "app-insights")]
    let pipeline = app_insights::register(pipeline);
    let telemetry = pipeline.install();
    telemetry.init_tracing_with(
        otel_faas_core::subscriber::TracingOptions::default(),
        InvocationLogs::shared(),
    )?;
    Ok(telemetry)
}
