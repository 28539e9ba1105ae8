//! What a Lambda handler's response says about the invocation.

use aws_lambda_events::alb::AlbTargetGroupResponse;
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlResponse;
use aws_lambda_events::sqs::SqsBatchResponse;
use aws_lambda_events::streams::{DynamoDbEventResponse, KinesisEventResponse, SqsEventResponse};
use opentelemetry::KeyValue;
use otel_faas_core::{http::http_response_outcome, trigger::Outcome};

/// `error.type` of an invocation that reported failed batch items.
pub const PARTIAL_BATCH_FAILURE: &str = "partial_batch_failure";

/// The attribute that counts the batch items a response reported as failed.
pub const BATCH_ITEM_FAILURES_ATTRIBUTE: &str = "aws.lambda.batch_item_failures";

/// A response the trigger adapters can read: an HTTP status code, or a count of failed
/// batch items. Both default to "not said", so any type can implement it in one line.
///
/// ```
/// use otel_faas_aws::triggers::LambdaResponse;
///
/// struct Accepted;
/// impl LambdaResponse for Accepted {
///     fn status_code(&self) -> Option<u16> {
///         Some(202)
///     }
/// }
///
/// let json = serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]});
/// assert_eq!(json.batch_item_failures(), Some(1));
/// ```
pub trait LambdaResponse {
    /// The HTTP status code, for HTTP triggers.
    fn status_code(&self) -> Option<u16> {
        None
    }

    /// How many batch items the response reports as failed, for batch triggers.
    fn batch_item_failures(&self) -> Option<usize> {
        None
    }
}

/// A status code as Lambda event types carry it (`i64`), if it is a valid HTTP status.
fn status(code: i64) -> Option<u16> {
    u16::try_from(code).ok().filter(|c| (100..=599).contains(c))
}

impl LambdaResponse for () {}

impl LambdaResponse for serde_json::Value {
    fn status_code(&self) -> Option<u16> {
        self.get("statusCode")?.as_i64().and_then(status)
    }

    fn batch_item_failures(&self) -> Option<usize> {
        self.get("batchItemFailures")?.as_array().map(Vec::len)
    }
}

macro_rules! http_responses {
    ($($response:ty),*) => {$(
        impl LambdaResponse for $response {
            fn status_code(&self) -> Option<u16> {
                status(self.status_code)
            }
        }
    )*};
}
http_responses!(
    ApiGatewayProxyResponse,
    ApiGatewayV2httpResponse,
    AlbTargetGroupResponse,
    LambdaFunctionUrlResponse
);

macro_rules! batch_responses {
    ($($response:ty),*) => {$(
        impl LambdaResponse for $response {
            fn batch_item_failures(&self) -> Option<usize> {
                Some(self.batch_item_failures.len())
            }
        }
    )*};
}
batch_responses!(
    SqsBatchResponse,
    SqsEventResponse,
    KinesisEventResponse,
    DynamoDbEventResponse
);

impl<T: LambdaResponse> LambdaResponse for Option<T> {
    fn status_code(&self) -> Option<u16> {
        self.as_ref()?.status_code()
    }
    fn batch_item_failures(&self) -> Option<usize> {
        self.as_ref()?.batch_item_failures()
    }
}

/// The outcome of an HTTP trigger's response.
pub(crate) fn http_outcome<R: LambdaResponse>(response: &R) -> Outcome {
    response
        .status_code()
        .map_or_else(Outcome::success, http_response_outcome)
}

/// The outcome of a batch trigger's response: failed items make the invocation a failure
/// with `error.type=partial_batch_failure`, and the count is recorded either way.
pub(crate) fn batch_outcome<R: LambdaResponse>(response: &R) -> Outcome {
    match response.batch_item_failures() {
        None => Outcome::success(),
        Some(0) => {
            Outcome::success().with_attribute(KeyValue::new(BATCH_ITEM_FAILURES_ATTRIBUTE, 0_i64))
        }
        Some(failed) => Outcome::failed(
            PARTIAL_BATCH_FAILURE,
            Some(format!("{failed} batch item(s) failed")),
        )
        .with_attribute(KeyValue::new(
            BATCH_ITEM_FAILURES_ATTRIBUTE,
            i64::try_from(failed).unwrap_or(i64::MAX),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_responses_are_read_leniently() {
        assert_eq!(
            serde_json::json!({"statusCode": 503}).status_code(),
            Some(503)
        );
        assert_eq!(serde_json::json!({"statusCode": "503"}).status_code(), None);
        assert_eq!(serde_json::json!({"statusCode": 70000}).status_code(), None);
        assert_eq!(serde_json::json!([1, 2]).status_code(), None);
        assert_eq!(
            serde_json::json!({"batchItemFailures": []}).batch_item_failures(),
            Some(0)
        );
        assert_eq!(
            serde_json::json!({"batchItemFailures": 3}).batch_item_failures(),
            None
        );
    }

    #[test]
    fn partial_failures_fail_the_invocation_with_a_count() {
        let response: SqsBatchResponse = serde_json::from_value(serde_json::json!({
            "batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]
        }))
        .unwrap();
        let outcome = batch_outcome(&response);
        assert_eq!(
            outcome.failure().unwrap().error_type(),
            PARTIAL_BATCH_FAILURE
        );
        assert_eq!(
            outcome.attributes()[0],
            KeyValue::new(BATCH_ITEM_FAILURES_ATTRIBUTE, 2_i64)
        );
        assert!(batch_outcome(&()).failure().is_none());
    }
}
