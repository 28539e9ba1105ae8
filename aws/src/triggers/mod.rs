//! One adapter per Lambda trigger, one module each; every adapter's documentation lists the
//! attributes it emits. The modules are private: each item has one path, at the crate root.
//! Each adapter reads the payload type `aws_lambda_events` defines for its trigger; wrap it in [`Lambda`](crate::Lambda) for the runtime's
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
