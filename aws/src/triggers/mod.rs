//! One adapter per Lambda trigger, one module each; every module's documentation lists the
//! attributes its adapter emits. Each adapter reads the payload type `aws_lambda_events`
//! defines for its trigger; wrap it in [`Lambda`](crate::Lambda) for the runtime's
//! `LambdaEvent` (the layer of [`LambdaTelemetry`](crate::LambdaTelemetry) does).

pub mod alb;
pub mod any_event;
pub mod apigw_http;
pub mod apigw_rest;
pub(crate) mod common;
pub mod dynamodb;
pub mod eventbridge;
pub mod function_url;
pub(crate) mod http;
pub mod kinesis;
pub mod s3;
pub mod scheduled;
pub mod sns;
pub mod sqs;
