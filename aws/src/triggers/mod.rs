//! One adapter per Lambda trigger, one module each; every adapter's documentation lists the
//! attributes it emits. The adapters are at the crate root (`otel_faas_aws::SqsTrigger`);
//! this module holds what goes with them: the `messaging.system` values, the trigger
//! detection of [`AnyEventTrigger`](crate::AnyEventTrigger), and how a response reads as an
//! outcome ([`LambdaResponse`], the partial-batch attributes). Each adapter reads the
//! payload type `aws_lambda_events` defines for its trigger; wrap it in
//! [`LambdaEventAdapter`](crate::lambda::LambdaEventAdapter) for the runtime's
//! `LambdaEvent` (the layer of [`LambdaTelemetry`](crate::LambdaTelemetry) does).

pub(crate) mod alb;
pub(crate) mod any_event;
pub(crate) mod apigw_http;
pub(crate) mod apigw_rest;
pub(crate) mod common;
pub(crate) mod dynamodb;
pub(crate) mod eventbridge;
pub(crate) mod function_url;
pub(crate) mod http;
pub(crate) mod kinesis;
pub(crate) mod s3;
pub(crate) mod scheduled;
pub(crate) mod sns;
pub(crate) mod sqs;

pub use crate::response::{BATCH_ITEM_FAILURES_ATTRIBUTE, LambdaResponse, PARTIAL_BATCH_FAILURE};
pub use any_event::{DetectedTrigger, detect_trigger, lenient_s3_event};
pub use dynamodb::MIXED_DOCUMENT_OPERATION;
pub use eventbridge::EVENTBRIDGE_SYSTEM;
pub use kinesis::KINESIS_SYSTEM;
pub use sns::SNS_SYSTEM;
pub use sqs::{SQS_MESSAGE_CONTEXT_VARIABLE, SQS_SYSTEM};
