//! # otel-faas-aws
//!
//! AWS Lambda for otel-faas: the Lambda resource, X-Ray propagation, an adapter for every
//! trigger, all on the cloud-neutral engine of `otel-faas-core`.
//!
//! ## Pieces
//!
//! * [`LambdaResourceDetector`]: `cloud.*` and `faas.*` from the Lambda environment.
//! * [`Lambda`]: wraps any payload adapter for the `LambdaEvent` of `lambda_runtime`, adding
//!   the per-invocation attributes (`faas.invocation_id`, `aws.lambda.invoked_arn`,
//!   `cloud.account.id`, `cloud.resource_id`), the deadline, and the Lambda trace header.
//! * [`XrayPropagator`], [`XrayLambdaPropagator`]: `xray` and `xray-lambda` for
//!   `OTEL_PROPAGATORS` ([`register_propagators`]), and [`XrayIdGenerator`].
//! * Triggers: [`SqsTrigger`], …
//!
//! ## Choices where the conventions leave room or disagree
//!
//! * The invocation span of a non-HTTP trigger is named after the function, as the AWS
//!   Lambda page requires; HTTP triggers use the stable HTTP server name `{method} {route}`.
//! * SQS batch spans are named `<queue> process` (the page's normative text), not
//!   `process <queue>` (its example table).
//! * A Lambda trace header that says `Sampled=0` is ignored by default, because Lambda sends
//!   one even when X-Ray tracing is off: see [`XrayLambdaPropagator`].
//! * A response reporting failed batch items makes the invocation an ERROR with
//!   `error.type=partial_batch_failure` and the count in `aws.lambda.batch_item_failures`.
//!
//! ## Why each dependency is here
//!
//! * `otel-faas-core`: the traits and engine; `otel-faas-messaging`: message carriers.
//! * `lambda_runtime`: the `LambdaEvent` and `Context` the runtime hands handlers.
//! * `aws_lambda_events`: the event types of every trigger, rather than our own copies.
//! * `opentelemetry-aws`: X-Ray header parsing and formatting, and the X-Ray id generator.
//! * `opentelemetry`, `opentelemetry_sdk`, `opentelemetry-semantic-conventions`: spans and
//!   the attribute keys. `chrono`: event timestamps (the event types use it).
//! * `serde`, `serde_json`: raw events for the auto-detecting adapter. `percent-encoding`:
//!   S3 object keys arrive URL-encoded. `tracing`: the crate's own debug diagnostics.

#![warn(missing_docs)]

mod arn;
pub mod batch;
#[cfg(feature = "lambda-http")]
mod http_trigger;
mod lambda;
mod resource;
mod response;
mod runtime;
mod triggers;
mod xray;

pub use arn::FunctionArn;
#[cfg(feature = "lambda-http")]
pub use http_trigger::LambdaHttpTrigger;
pub use lambda::{Lambda, invocation_attributes, invocation_context};
pub use resource::LambdaResourceDetector;
pub use response::{BATCH_ITEM_FAILURES_ATTRIBUTE, LambdaResponse, PARTIAL_BATCH_FAILURE};
pub use runtime::{
    EXTENSION_NAME, LambdaFlush, LambdaLayer, LambdaRequest, LambdaService, LambdaTelemetry,
    LambdaTelemetryBuilder, RUNTIME_SPAN_NAME, without_runtime_spans,
};
pub use triggers::alb::AlbTrigger;
pub use triggers::any_event::{AnyEventTrigger, DetectedTrigger, detect_trigger, lenient_s3_event};
pub use triggers::apigw_http::ApiGatewayHttpTrigger;
pub use triggers::apigw_rest::ApiGatewayRestTrigger;
pub use triggers::dynamodb::DynamoDbTrigger;
pub use triggers::eventbridge::EventBridgeTrigger;
pub use triggers::function_url::FunctionUrlTrigger;
pub use triggers::kinesis::KinesisTrigger;
pub use triggers::s3::S3Trigger;
pub use triggers::scheduled::ScheduledTrigger;
pub use triggers::sns::{SNS_SYSTEM, SnsTrigger};
pub use triggers::sqs::{
    SQS_SYSTEM, SqsTrigger, process_message, producer_contexts, sqs_message_span,
};
pub use xray::{
    LAMBDA_TRACE_HEADER, XRAY_HEADER, XrayIdGenerator, XrayLambdaPropagator, XrayPropagator,
    register_propagators,
};
