//! The demo's AWS stand-in answers the real AWS SDK as the services would, and builds the
//! SQS event an event source mapping would deliver from what was sent.

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use aws_sdk_sqs::types::MessageAttributeValue;
use otel_faas_integration_tests::FakeAwsEndpoint;

fn credentials() -> Credentials {
    Credentials::new("demo", "demo", None, None, "test")
}

/// Adds the X-Ray header an instrumented caller sends.
fn with_trace_header(request: &mut aws_sdk_sqs::config::http::HttpRequest) {
    request.headers_mut().insert(
        "x-amzn-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    );
}

#[tokio::test]
async fn the_sdk_sends_and_stores_through_the_stand_in() {
    let aws = FakeAwsEndpoint::start().unwrap();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .endpoint_url(aws.endpoint())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(credentials())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build(),
    );
    let sent = sqs
        .send_message()
        .queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/orders")
        .message_body(r#"{"id": 42}"#)
        .message_attributes(
            "traceparent",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .build()
                .unwrap(),
        )
        .customize()
        .mutate_request(with_trace_header)
        .send()
        .await
        .expect("SendMessage");
    let message_id = sent.message_id().expect("a message id").to_owned();

    // A trace header set as a message system attribute wins over the request header.
    sqs.send_message()
        .queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/orders")
        .message_body("second")
        .message_system_attributes(
            aws_sdk_sqs::types::MessageSystemAttributeNameForSends::AwsTraceHeader,
            aws_sdk_sqs::types::MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(
                    "Root=1-11111111-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                )
                .build()
                .unwrap(),
        )
        .customize()
        .mutate_request(with_trace_header)
        .send()
        .await
        .expect("SendMessage");
    let mut event = aws.sqs_event("us-east-1");
    let second = event["Records"].as_array_mut().unwrap().pop().unwrap();
    assert_eq!(
        second["attributes"]["AWSTraceHeader"],
        "Root=1-11111111-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    );

    let [record] = event["Records"].as_array().unwrap().as_slice() else {
        panic!("one record expected: {event}");
    };
    assert_eq!(record["messageId"], message_id.as_str());
    assert_eq!(record["body"], r#"{"id": 42}"#);
    assert_eq!(
        record["eventSourceARN"],
        "arn:aws:sqs:us-east-1:123456789012:orders"
    );
    assert_eq!(
        record["messageAttributes"]["traceparent"]["stringValue"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(
        record["attributes"]["AWSTraceHeader"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    );
    // The record is what aws_lambda_events reads as an SQS event.
    let parsed: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event).unwrap();
    assert_eq!(
        parsed.records[0].message_id.as_deref(),
        Some(message_id.as_str())
    );

    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .endpoint_url(aws.endpoint())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(credentials())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build(),
    );
    let stored = dynamodb
        .put_item()
        .table_name("orders")
        .item("id", AttributeValue::N("42".into()))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("PutItem");
    assert_eq!(
        stored.consumed_capacity().and_then(|c| c.capacity_units()),
        Some(1.0)
    );
    let calls = aws.calls();
    let put = calls.last().unwrap();
    assert_eq!(put.target, "DynamoDB_20120810.PutItem");
    assert_eq!(put.body["TableName"], "orders");

    // What the stand-in does not implement fails, with the service's error shape.
    let error = dynamodb
        .get_item()
        .table_name("orders")
        .key("id", AttributeValue::N("42".into()))
        .send()
        .await
        .expect_err("GetItem is not implemented");
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&error),
        Some("UnknownOperationException"),
        "{error:?}"
    );
}
