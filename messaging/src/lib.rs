//! # otel-faas-messaging
//!
//! Trace context across queues, topics and buses. A message carries its producer's context
//! in its attributes; these [`Carrier`](otel_faas_core::Carrier)s read them so that a
//! consumer can link every message to its producer.
//!
//! **Status.** The consumer-side carriers for the Lambda event shapes of SQS and SNS are
//! here (the AWS Lambda adapters use them). The producer side, the SDK-level carriers and
//! the Pub/Sub, Service Bus and Event Hubs carriers come with the messaging issue.
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

#![warn(missing_docs)]

mod sns;
mod sqs;

pub use sns::SnsMessageAttributes;
pub use sqs::{AWS_TRACE_HEADER, SqsMessageAttributes, SqsSystemAttributes};
