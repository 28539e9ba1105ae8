//! # otel-faas-messaging
//!
//! Trace context across queues, topics and buses. A message carries its producer's context
//! in its attributes; the carriers here read and write them, so that a consumer links every
//! message to its producer, and the producer side writes them without thought.
//!
//! | system | carrier | where the context is |
//! |---|---|---|
//! | SQS | [`SqsMessageAttributes`], [`SqsSystemAttributes`] | string message attributes; the `AWSTraceHeader` system attribute (X-Ray) |
//! | SNS | [`SnsMessageAttributes`], [`SnsEnvelope`] | string message attributes, of a Lambda SNS event or inside the JSON envelope an SQS subscriber receives without raw delivery (with raw delivery they become SQS message attributes) |
//! | EventBridge | the entry's `TraceHeader` (AWS carries it to targets); opt-in: [`EventDetailContext`] | X-Ray header of `PutEvents`, delivered to SQS targets as `AWSTraceHeader`; or, opted in by the producer, an `_otel` object in `detail` |
//! | Pub/Sub | [`PubSubAttributes`], [`PubSubAttributesMut`] | `googclient_`-prefixed attributes |
//! | Service Bus, Event Hubs | [`AzureApplicationProperties`], [`AzureApplicationPropertiesMut`] | `traceparent`/`tracestate` application properties, falling back to `Diagnostic-Id` |
//! | Azure Storage queues (feature `storage-queue`) | `traced_queue_message`, `context_in_queue_message` | opt-in: an `_otel` object inside the message's JSON, written with a PRODUCER `create {queue}` span (Storage queue messages have no properties) |
//!
//! ## The AWS SDK (cargo features `sqs`, `sns`, `eventbridge`, `lambda`, `dynamodb`, `s3`)
//!
//! * One line to send with context: `.send_traced()` on the SDK's own fluent builders —
//!   `aws_sdk::sqs::SendMessageTracing`, `aws_sdk::sqs::SendMessageBatchTracing`,
//!   `aws_sdk::sns::PublishTracing`, `aws_sdk::sns::PublishBatchTracing`,
//!   `aws_sdk::eventbridge::PutEventsTracing`, `aws_sdk::lambda::InvokeTracing`. Each
//!   records a PRODUCER (or, for `invoke`, CLIENT) span and injects the context; a message
//!   that already has the 10 attributes SQS and SNS allow is sent unchanged, and the span
//!   says why. Telemetry never fails a send.
//! * One line for client spans on any SDK client: `.interceptor(AwsSdkTracing::new())` —
//!   `aws_sdk::AwsSdkTracing`.
//!
//! Spans use the running invocation's tracer and propagation (from `otel-faas-core`'s
//! `InvocationScope`); outside an invocation, the global tracer provider and propagator.
//! The SDK crates are optional dependencies with no features of their own turned on: your
//! client's HTTP and TLS stack stays your choice.
//!
//! ## Rules every carrier here follows
//!
//! * Only string-typed attributes are read (`String` and `String.*` custom types for SQS,
//!   `String` for SNS). A binary or number attribute named `traceparent` is not context.
//! * Keys are compared exactly: message attribute names are case-sensitive on AWS.
//! * A carrier never fails: what it cannot read, it does not see.
//!
//! ## Why each dependency is here
//!
//! * `otel-faas-core`: the `Carrier` trait these types implement.
//! * `aws_lambda_events`: the SQS and SNS event types as Lambda delivers them.
//! * `serde_json`: the SNS envelope in an SQS body is JSON; Lambda's client context and
//!   EventBridge's `detail` too.
//! * `thiserror`: the typed reasons a carrier could not write (`DetailNotInjected`).
//! * Optional, per feature: the `aws-sdk-*` crates whose calls are traced;
//!   `aws-smithy-runtime-api`, `aws-smithy-types`, `aws-types` for the interceptor;
//!   `opentelemetry-aws` for X-Ray headers (EventBridge `TraceHeader`, `X-Amzn-Trace-Id`);
//!   `base64` for Lambda's client context; `http`, `opentelemetry`,
//!   `opentelemetry-semantic-conventions` for the spans.

#![warn(missing_docs)]

#[cfg(feature = "aws-sdk")]
pub mod aws_sdk;
mod azure;
mod eventbridge;
mod pubsub;
mod sns;
mod sqs;
#[cfg(feature = "storage-queue")]
mod storage_queue;

pub use azure::{AzureApplicationProperties, AzureApplicationPropertiesMut, DIAGNOSTIC_ID};
pub use eventbridge::{
    DETAIL_CONTEXT_KEY, DetailNotInjected, EventDetailContext, inject_into_detail,
};
pub use pubsub::{PUBSUB_PREFIX, PubSubAttributes, PubSubAttributesMut};
pub use sns::{SnsEnvelope, SnsMessageAttributes};
pub use sqs::{AWS_TRACE_HEADER, SqsMessageAttributes, SqsSystemAttributes};
#[cfg(feature = "storage-queue")]
pub use storage_queue::{
    CONTEXT_NOT_INJECTED_EVENT, STORAGE_QUEUE_SYSTEM, context_in_queue_message,
    traced_queue_message,
};
