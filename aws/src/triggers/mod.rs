//! One adapter per Lambda trigger. Each reads the payload type `aws_lambda_events` defines
//! for it; wrap it in [`Lambda`](crate::Lambda) for the runtime's `LambdaEvent`.

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
