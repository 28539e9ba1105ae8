//! # otel-faas-aws
//!
//! AWS Lambda for otel-faas: the Lambda resource, X-Ray propagation, an adapter for every
//! trigger, `lambda_runtime` and `lambda_http` integration, partial batch failures and an
//! after-response flush — all on the cloud-neutral engine of `otel-faas-core`.
//!
//! ## A function in five lines
//!
//! ```no_run
//! use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
//! use lambda_runtime::{LambdaEvent, service_fn};
//! use otel_faas_aws::{LambdaTelemetry, SqsTrigger};
//! use tower::Layer;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     let otel = LambdaTelemetry::from_env();          // OTEL_* + the Lambda resource
//!     otel.register_extension().await?;                 // only acts with OTEL_FAAS_FLUSH=after-response
//!     let handler = otel.layer(SqsTrigger::new()).layer(service_fn(handler));
//!     lambda_runtime::run(handler).await                // or run_concurrent
//! }
//!
//! async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
//!     Ok(otel_faas_aws::batch::process_sqs_batch(&event.payload, async |message| {
//!         let _body = message.body.as_deref().unwrap_or_default();
//!         Ok::<_, String>(())
//!     })
//!     .await)
//! }
//! ```
//!
//! ## Pieces
//!
//! * [`LambdaTelemetry`]: set-up in one call, the [`LambdaLayer`](lambda::LambdaLayer) for `lambda_runtime` (and
//!   `lambda_http` with the `lambda-http` feature), the after-response flush extension
//!   ([`LambdaFlush`](lambda::LambdaFlush)), the SIGTERM flush, cold starts by `AWS_LAMBDA_INITIALIZATION_TYPE`
//!   and an `init` span on the cold invocation.
//! * [`LambdaResourceDetector`]: `cloud.*` and `faas.*` from the Lambda environment.
//! * [`LambdaEventAdapter`](lambda::LambdaEventAdapter): wraps any payload adapter for the runtime's `LambdaEvent`, adding
//!   `faas.invocation_id`, `aws.lambda.invoked_arn`, `cloud.account.id`, `cloud.resource_id`
//!   (alias replaced by the running version), the deadline and the Lambda trace header.
//! * [`XrayPropagator`](xray::XrayPropagator), [`XrayLambdaPropagator`](xray::XrayLambdaPropagator): `xray` and `xray-lambda` for
//!   `OTEL_PROPAGATORS` ([`register_propagators`](xray::register_propagators)); X-Ray trace ids with
//!   [`LambdaTelemetryBuilder::xray_ids`].
//! * `xray::daemon` (feature `xray-daemon`): `OTEL_TRACES_EXPORTER=awsxray`, spans as X-Ray
//!   segment documents over UDP to the X-Ray daemon (the one Lambda runs with active
//!   tracing, or a sidecar), with X-Ray ids; no collector.
//! * Triggers, one file each, each documenting the attributes it emits:
//!   [`ApiGatewayRestTrigger`], [`ApiGatewayHttpTrigger`], [`FunctionUrlTrigger`],
//!   [`AlbTrigger`], [`SqsTrigger`], [`SnsTrigger`], [`EventBridgeTrigger`],
//!   [`ScheduledTrigger`], [`KinesisTrigger`], [`DynamoDbTrigger`], [`S3Trigger`], and
//!   [`AnyEventTrigger`] for raw JSON, which detects the trigger and falls back to
//!   `faas.trigger=other`.
//! * [`batch`]: partial batch failures for SQS, Kinesis and DynamoDB Streams, a span per
//!   record; [`batch::process_message`] for a span per SQS message in your own loop.
//!
//! ## Attributes, per trigger (semantic conventions v1.44)
//!
//! Every invocation span (SERVER) carries `faas.trigger`, `faas.coldstart`,
//! `faas.invocation_id`, and through [`LambdaEventAdapter`](lambda::LambdaEventAdapter) `aws.lambda.invoked_arn`,
//! `cloud.account.id` and `cloud.resource_id`; a failed one `error.type` and ERROR status.
//! The resource ([`LambdaResourceDetector`]) carries `cloud.provider=aws`,
//! `cloud.platform=aws_lambda`, `cloud.region`, `faas.name`, `faas.version`,
//! `faas.instance`, `faas.max_memory` and `service.name`. Per trigger, each adapter's
//! documentation says where every value comes from:
//!
//! | Trigger | `faas.trigger` | Span attributes |
//! |---|---|---|
//! | [`ApiGatewayRestTrigger`], [`ApiGatewayHttpTrigger`], [`FunctionUrlTrigger`], [`AlbTrigger`], `LambdaHttpTrigger` (feature `lambda-http`) | `http` | `http.request.method`, `http.route` (where known), `url.path`, `url.query` (credentials redacted), `url.scheme`, `server.address`, `server.port`, `client.address`, `user_agent.original`, `network.protocol.version`, `http.response.status_code`; span `{method} {route}` |
//! | [`SqsTrigger`] | `pubsub` | CONSUMER `<queue> process`: `messaging.system=aws_sqs`, `messaging.operation.type=process`, `messaging.operation.name=process`, `messaging.batch.message_count`, `messaging.destination.name`, `aws.sqs.queue.url`, `server.address`; links with `messaging.message.id`; per message `messaging.message.id` |
//! | [`SnsTrigger`] | `pubsub` | CONSUMER `<topic> process`: `messaging.system=aws.sns`, `messaging.operation.type`, `messaging.operation.name`, `messaging.destination.name`, `aws.sns.topic.arn`, `messaging.message.id` or `messaging.batch.message_count`; links |
//! | [`KinesisTrigger`] | `pubsub` | CONSUMER `<stream> process`: `messaging.system=aws.kinesis` (custom), `messaging.operation.type`, `messaging.operation.name`, `messaging.batch.message_count`, `messaging.destination.name`, `aws.kinesis.stream_name`, `messaging.destination.partition.id`; per record `messaging.message.id` |
//! | [`EventBridgeTrigger`] | `pubsub` | `messaging.system=aws.eventbridge` (custom), `messaging.operation.type`, `messaging.operation.name`, `messaging.message.id`, `cloudevents.event_id`, `cloudevents.event_source`, `cloudevents.event_type`; a link to a producer context in `detail` |
//! | [`ScheduledTrigger`] | `timer` | `faas.time`, `faas.cron` (when configured) |
//! | [`DynamoDbTrigger`] | `datasource` | `faas.document.collection`, `faas.document.operation` (always; `mixed` for a mixed batch), `faas.document.time`; no `messaging.*` |
//! | [`S3Trigger`] | `datasource` | `faas.document.collection`, `faas.document.name`, `faas.document.operation` (always), `faas.document.time`, `aws.s3.bucket`, `aws.s3.key` |
//! | [`AnyEventTrigger`] | as detected | the detected trigger's; `other` and no more when unknown |
//!
//! The after-response extension, the cold start, the `init` span (or `restore` after a
//! SnapStart restore, [`LambdaTelemetry::snapstart`]) and the partial-batch outcome
//! (`aws.lambda.batch_item_failures`) apply to all of them.
//!
//! **Secrets in URLs.** `url.query` is recorded with credential values replaced by
//! `REDACTED`: core's default keys (the conventions' `AWSAccessKeyId`, `Signature`, `sig`,
//! `X-Goog-Signature`; SigV4 presigned-URL keys such as `X-Amz-Signature` and
//! `X-Amz-Security-Token`; common secret names such as `token` and `api_key`; see
//! `otel_faas_core::http::QueryRedaction`) and any key listed in
//! `OTEL_FAAS_REDACT_QUERY_KEYS` (comma-separated, any case:
//! `OTEL_FAAS_REDACT_QUERY_KEYS=code,session` for an OAuth callback). No header is
//! recorded.
//!
//! **A handler that panics** is recorded (`error.type` = `panic`, the exception), its span
//! exported, and the panic handed back to `lambda_runtime`, which reports an invocation
//! error to the Runtime API (an API Gateway caller then gets the gateway's `502`), as the
//! function would without this crate; the next invocation is served.
//!
//! **Log level.** [`LambdaTelemetry::start`] writes lines, spans and log records at the
//! function's log level setting (`AWS_LAMBDA_LOG_LEVEL`) when it has one, else at what
//! `RUST_LOG` says (a level and `target=level` directives), else `INFO`; OpenTelemetry's own
//! crates speak from `WARN` unless `RUST_LOG` names them.
//!
//! ## Choices where the conventions leave room or disagree
//!
//! * The invocation span of a non-HTTP trigger is named after the function, as the AWS
//!   Lambda page requires; HTTP triggers use the stable HTTP server name `{method} {route}`
//!   (the Lambda page's older example uses the bare route).
//! * SQS batch spans are named `<queue> process` (the page's normative text), not
//!   `process <queue>` (its example table).
//! * Producer context for SQS is read from the `AWSTraceHeader` system attribute, always,
//!   as the page says; context in the message itself (a `traceparent` message attribute, an
//!   SNS envelope, an EventBridge `detail._otel`) only when opted in
//!   ([`SqsTrigger::with_message_context`], `OTEL_FAAS_SQS_MESSAGE_CONTEXT=true`).
//!   `otel-faas-messaging`'s SQS producer sets `AWSTraceHeader` to its PRODUCER span.
//! * A Lambda trace header that says `Sampled=0` is ignored by default, because Lambda sends
//!   one even when X-Ray tracing is off: see [`XrayLambdaPropagator`](xray::XrayLambdaPropagator).
//! * `error.type` of a handler's error is its type; for `lambda_runtime::Error` (a
//!   `Box<dyn Error + Send + Sync>`) and `anyhow::Error`, the type they hold, and `_OTHER`
//!   for a bare message — see `otel_faas_core::engine::error_type_of`. Where you implement
//!   `From<YourError> for lambda_runtime::Diagnostic`, the `errorType` Lambda receives is
//!   yours and may differ from the span's.
//! * A response reporting failed batch items makes the invocation an ERROR with
//!   `error.type=partial_batch_failure` and the count in `aws.lambda.batch_item_failures`.
//! * `lambda_runtime` wraps each invocation in a `tracing` span of its own; exported, it
//!   would be a second, orphan trace — [`without_runtime_spans`](lambda::without_runtime_spans) filters it out.
//!
//! ## Why each dependency is here
//!
//! * `otel-faas-core`: the traits, engine, pipeline and one-call `tracing` set-up (its
//!   `subscriber` feature); HTTPS to OTLP endpoints through its `tls` feature, forwarded as
//!   this crate's default feature `tls` — `default-features = false` drops it for the
//!   smallest binary when the collector is a plain-http extension or sidecar. Its
//!   `otlp-metrics`, `otlp-logs` and `console` features (metrics and logs over OTLP, the
//!   console exporters) are forwarded as this crate's default features of the same names:
//!   a function that only traces drops them too.
//!   `otel-faas-messaging`: message carriers.
//! * `lambda_runtime`: the `LambdaEvent` and `Context` the runtime hands handlers;
//!   `lambda-extension`: the internal extension that flushes after the response;
//!   `lambda_http` (feature `lambda-http`): the request context of HTTP events.
//! * `aws_lambda_events`: the event types of every trigger, rather than our own copies.
//! * `opentelemetry-aws`: X-Ray header parsing and formatting, and the X-Ray id generator.
//!   Its Lambda resource detector is not used: it reads the process environment directly.
//!   With `xray-daemon`, its segment translator (`xray-exporter`: SERVER spans to segments,
//!   the `http`, `aws`, `sql` and `cause` fields) — not its UDP client, which panics when
//!   it cannot bind, sends IPv4 only, has no size limit and stops a batch at its first
//!   failed datagram; `xray::daemon` sends instead, over tokio's UDP socket.
//! * `opentelemetry`, `opentelemetry_sdk`, `opentelemetry-semantic-conventions`: spans and
//!   attribute keys. `chrono`: event timestamps (the event types use it).
//! * `tokio`, `tower`, `tower-layer`, `tower-service`: the layer, the extension's wait and
//!   the shutdown signal. `http`: header maps of the HTTP events.
//! * `serde`, `serde_json`: raw events. `percent-encoding`: S3 keys arrive URL-encoded.
//! * `tracing`, `tracing-subscriber`: the crate's debug diagnostics, and the filter above.

#![warn(missing_docs)]

mod arn;
pub mod batch;
pub mod containers;
pub mod emf;
mod event;
#[cfg(feature = "lambda-http")]
mod http_trigger;
pub mod lambda;
pub mod logs;
mod resource;
mod response;
mod runtime;
#[cfg(feature = "sigv4")]
pub mod sigv4;
pub mod triggers;
pub mod warm_up;
pub mod xray;

// The headline names: the entry point, one adapter per trigger, the resource. Everything
// else has its one path in the module it belongs to (`lambda`, `triggers`, `batch`, `logs`,
// `xray`, `warm_up`, `emf`, `sigv4`, `containers`).
#[cfg(feature = "lambda-http")]
pub use http_trigger::LambdaHttpTrigger;
pub use resource::LambdaResourceDetector;
pub use runtime::{LambdaTelemetry, LambdaTelemetryBuilder};
pub use triggers::alb::AlbTrigger;
pub use triggers::any_event::AnyEventTrigger;
pub use triggers::apigw_http::ApiGatewayHttpTrigger;
pub use triggers::apigw_rest::ApiGatewayRestTrigger;
pub use triggers::dynamodb::DynamoDbTrigger;
pub use triggers::eventbridge::EventBridgeTrigger;
pub use triggers::function_url::FunctionUrlTrigger;
pub use triggers::kinesis::KinesisTrigger;
pub use triggers::s3::S3Trigger;
pub use triggers::scheduled::ScheduledTrigger;
pub use triggers::sns::SnsTrigger;
pub use triggers::sqs::SqsTrigger;
