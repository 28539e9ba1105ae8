//! # otel-faas-messaging
//!
//! Trace context across queues, topics and buses. A message carries its producer's context
//! in its attributes; these [`Carrier`](otel_faas_core::Carrier)s read them so that a
//! consumer can link every message to its producer.
//!
//! | system | carrier | where the context is |
//! |---|---|---|
//! | SQS | [`SqsMessageAttributes`], [`SqsSystemAttributes`] | string message attributes; the `AWSTraceHeader` system attribute (X-Ray) |
//! | SNS | [`SnsMessageAttributes`], [`SnsEnvelope`] | string message attributes, of a Lambda SNS event or inside the JSON envelope an SQS subscriber receives without raw delivery (with raw delivery they become SQS message attributes) |
//! | Pub/Sub | [`PubSubAttributes`], [`PubSubAttributesMut`] | `googclient_`-prefixed attributes |
//! | Service Bus, Event Hubs | [`AzureApplicationProperties`], [`AzureApplicationPropertiesMut`] | `traceparent`/`tracestate` application properties, falling back to `Diagnostic-Id` |
//!
//! **Status.** Consumer-side carriers for every system above. The producer side for the AWS
//! SDK (PRODUCER spans, injection into sends) is in progress.
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
//! * `serde_json`: the SNS envelope in an SQS body is JSON.

#![warn(missing_docs)]

#[cfg(feature = "aws-sdk")]
pub mod aws_sdk;
mod azure;
mod pubsub;
mod sns;
mod sqs;

pub use azure::{AzureApplicationProperties, AzureApplicationPropertiesMut, DIAGNOSTIC_ID};
pub use pubsub::{PUBSUB_PREFIX, PubSubAttributes, PubSubAttributesMut};
pub use sns::{SnsEnvelope, SnsMessageAttributes};
pub use sqs::{AWS_TRACE_HEADER, SqsMessageAttributes, SqsSystemAttributes};
