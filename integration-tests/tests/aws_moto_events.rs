//! Events captured at test time from moto (real SQS, S3, SNS, EventBridge and DynamoDB
//! Streams emulation), delivered to the functions as the Lambda event sources would, and
//! asserted on the spans that crossed real OTLP.
//!
//! moto must be installed (`cargo xtask test` does it); without it these tests fail with
//! a message that says so.

use std::convert::Infallible;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use otel_faas_aws::lambda::LambdaEventAdapter;
use otel_faas_aws::{AnyEventTrigger, SqsTrigger};
use otel_faas_core::{Pipeline, env::MapEnvironment};
use otel_faas_integration_tests::{
    AttrValue, FunctionProcess, Invoke, LocalRuntimeApi, Moto, OtlpReceiver, ReceivedSpan,
    SpanKind, StatusCode, build_binary,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const AWS_TRACE_HEADER: &str =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn moto() -> Moto {
    Moto::start().unwrap_or_else(|error| panic!("{error}"))
}

fn capture(moto: &Moto, scenario: &str, args: &[&str]) -> Value {
    moto.capture(scenario, args)
        .unwrap_or_else(|error| panic!("{error}"))
}

/// Fields drop in order: the function first, then the API it polls.
struct Function {
    process: FunctionProcess,
    api: LocalRuntimeApi,
    receiver: OtlpReceiver,
}

impl Function {
    fn start(package: &str, bin: &str) -> Self {
        let binary = build_binary(package, bin).expect("example binary");
        let api = LocalRuntimeApi::start().expect("runtime api");
        let receiver = OtlpReceiver::start().expect("receiver");
        let process = FunctionProcess::spawn(
            &binary,
            &api.address(),
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())],
        )
        .expect("function");
        Self {
            process,
            api,
            receiver,
        }
    }

    async fn invoke(&self, event: Value) -> Value {
        match self.api.invoke(Invoke::new(event), WAIT).await {
            Ok(invoked) => invoked.response.unwrap_or_else(|| {
                panic!(
                    "the invocation failed: {:?}\n{}",
                    invoked.error,
                    self.process.log()
                )
            }),
            Err(error) => panic!("{error}\n{}", self.process.log()),
        }
    }

    async fn spans(&self, done: impl FnMut(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        self.receiver
            .wait_until(WAIT, done)
            .await
            .unwrap_or_else(|error| panic!("{error}\n{}", self.process.log()))
    }
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_messages_from_moto_link_to_their_aws_trace_header_producer_only() {
    let moto = moto();
    let event = capture(&moto, "sqs", &[TRACEPARENT, AWS_TRACE_HEADER]);
    let queue_arn = event["Records"][0]["eventSourceARN"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue = queue_arn.rsplit(':').next().unwrap().to_owned();
    let account = queue_arn.split(':').nth(4).unwrap().to_owned();
    let failing = event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["body"] == "fail")
        .map(|r| r["messageId"].as_str().unwrap().to_owned())
        .unwrap();

    let function = Function::start("example-lambda-sqs-batch", "lambda-sqs-batch");
    let response = function.invoke(event).await;
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": failing}]})
    );

    let process = format!("{queue} process");
    let spans = function
        .spans(|spans| named(spans, &process).len() == 4)
        .await;
    let invocation = named(&spans, "otel-faas-test")[0];
    let batch = named(&spans, &process)
        .into_iter()
        .find(|s| s.parent_span_id == invocation.span_id)
        .unwrap();
    assert_eq!(
        batch.attr_str("messaging.destination.name"),
        Some(queue.as_str())
    );
    assert_eq!(
        batch.attr_str("aws.sqs.queue.url"),
        Some(format!("https://sqs.us-east-1.amazonaws.com/{account}/{queue}").as_str())
    );
    let mut producers: Vec<&str> = batch.links.iter().map(|l| l.span_id.as_str()).collect();
    producers.sort_unstable();
    // The W3C producer's `traceparent` is a message attribute, which the example reads
    // only when opted in (`OTEL_FAAS_SQS_MESSAGE_CONTEXT`): by default, as the AWS Lambda
    // conventions ask, the `AWSTraceHeader` producer alone is linked.
    assert_eq!(producers, ["53995c3f42cd8ad8"]);
    let failed: Vec<_> = named(&spans, &process)
        .into_iter()
        .filter(|s| s.status == StatusCode::Error)
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "the failed message's span and the batch span"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_notifications_from_moto_name_the_bucket_and_the_decoded_key() {
    let moto = moto();
    let event = capture(&moto, "s3", &[]);
    let bucket = event["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    // moto sends no userIdentity (real S3 and LocalStack do): the lenient path is exercised
    // on moto, the typed one on LocalStack.
    if moto.kind() == "moto" {
        assert!(event["Records"][0].get("userIdentity").is_none());
    }

    // The key arrives URL-encoded, and emulators encode it differently (moto:
    // `reports%2F2026+Q3+summary.pdf`, LocalStack: `reports/2026%20Q3%20summary.pdf`); the
    // example echoes the raw key, the span carries the decoded one.
    let raw_key = event["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(raw_key, "reports/2026 Q3 summary.pdf", "the key is encoded");

    let function = Function::start("example-lambda-s3", "lambda-s3");
    let response = function.invoke(event).await;
    assert_eq!(
        response["indexed"][0].as_str().unwrap(),
        format!("s3://{bucket}/{raw_key}")
    );
    let spans = function
        .spans(|spans| !named(spans, "otel-faas-test").is_empty())
        .await;
    let invocation = named(&spans, "otel-faas-test")[0];
    assert_eq!(invocation.attr_str("faas.trigger"), Some("datasource"));
    assert_eq!(
        invocation.attr_str("faas.document.collection"),
        Some(bucket.as_str())
    );
    assert_eq!(
        invocation.attr_str("faas.document.name"),
        Some("reports/2026 Q3 summary.pdf")
    );
    assert_eq!(
        invocation.attr_str("faas.document.operation"),
        Some("insert")
    );
    assert!(invocation.attr_str("faas.document.time").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_stream_records_read_from_moto_are_one_span_each_and_the_remove_fails() {
    let moto = moto();
    let event = capture(&moto, "dynamodb", &[]);
    let records = event["Records"].as_array().unwrap().clone();
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"]);
    let remove_sequence = records[2]["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    let stream_arn = records[0]["eventSourceARN"].as_str().unwrap();
    let table = stream_arn
        .split("table/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();

    let function = Function::start("example-lambda-dynamodb-stream", "lambda-dynamodb-stream");
    let response = function.invoke(event).await;
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": remove_sequence}]})
    );
    let process = format!("{table} process");
    let spans = function
        .spans(|spans| named(spans, &process).len() == 3)
        .await;
    let invocation = named(&spans, "otel-faas-test")[0];
    assert_eq!(
        invocation.attr_str("faas.document.collection"),
        Some(table.as_str())
    );
    // Required on a datasource span; the batch inserts, edits and deletes.
    assert_eq!(
        invocation.attr_str("faas.document.operation"),
        Some("mixed")
    );
    assert_eq!(invocation.attr("messaging.batch.message_count"), None);
    let operations: Vec<(Option<&str>, StatusCode)> = named(&spans, &process)
        .iter()
        .map(|s| (s.attr_str("faas.document.operation"), s.status))
        .collect();
    for expected in [
        (Some("insert"), StatusCode::Unset),
        (Some("edit"), StatusCode::Unset),
        (Some("delete"), StatusCode::Error),
    ] {
        assert!(
            operations.contains(&expected),
            "{operations:?} lacks {expected:?}"
        );
    }
}

/// Runs `event` through the engine in-process, as the auto-detecting adapter describes it,
/// and returns what crossed OTLP.
async fn through_the_engine(event: Value) -> Vec<ReceivedSpan> {
    through_the_engine_with(AnyEventTrigger::new(), event).await
}

/// [`through_the_engine`] with `adapter`.
async fn through_the_engine_with(adapter: AnyEventTrigger, event: Value) -> Vec<ReceivedSpan> {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        receiver.endpoint(),
    )]))
    .install();
    let engine = telemetry.engine().build();
    let mut context = lambda_runtime::Context::default();
    context.request_id = "moto-1".into();
    context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:consumer".into();
    engine
        .invocation(
            &LambdaEventAdapter::new(adapter),
            LambdaEvent::new(event, context),
        )
        .run(|_event| async { Ok::<_, Infallible>(()) })
        .await
        .unwrap();
    let spans = receiver.wait_for_spans(1, WAIT).await.expect("spans");
    telemetry.shutdown(WAIT).await.unwrap();
    spans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_notifications_from_moto_link_to_the_publisher_with_and_without_raw_delivery() {
    let moto = moto();
    let captured = capture(&moto, "sns", &[TRACEPARENT]);

    let spans = through_the_engine(captured["lambda_sns_event"].clone()).await;
    let invocation = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
    assert_eq!(invocation.attr_str("faas.trigger"), Some("pubsub"));
    let topic_arn = captured["lambda_sns_event"]["Records"][0]["Sns"]["TopicArn"]
        .as_str()
        .unwrap();
    let consumer = spans.iter().find(|s| s.kind == SpanKind::Consumer).unwrap();
    assert_eq!(consumer.attr_str("aws.sns.topic.arn"), Some(topic_arn));
    assert_eq!(consumer.attr_str("messaging.system"), Some("aws.sns"));
    assert_eq!(
        consumer.links[0].trace_id,
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );

    // Raw delivery to SQS turns the SNS message attributes into SQS message attributes;
    // without it, they travel inside the JSON envelope in the body. Both link, for a
    // consumer that opted in to context in the message (the default reads only
    // `AWSTraceHeader`, which moto does not set).
    for delivery in ["raw_sqs_event", "envelope_sqs_event"] {
        let spans = through_the_engine(captured[delivery].clone()).await;
        let consumer = spans.iter().find(|s| s.kind == SpanKind::Consumer).unwrap();
        assert!(consumer.links.is_empty(), "{delivery}: not by default");
        let opted_in =
            AnyEventTrigger::new().with_sqs(SqsTrigger::new().with_message_context(true));
        let spans = through_the_engine_with(opted_in, captured[delivery].clone()).await;
        let consumer = spans.iter().find(|s| s.kind == SpanKind::Consumer).unwrap();
        assert_eq!(
            consumer.attr_str("messaging.system"),
            Some("aws_sqs"),
            "{delivery}"
        );
        assert_eq!(consumer.links.len(), 1, "{delivery}");
        assert_eq!(consumer.links[0].span_id, "00f067aa0ba902b7", "{delivery}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_events_from_moto_carry_their_id_source_and_type() {
    let moto = moto();
    let event = capture(&moto, "eventbridge", &[]);
    let id = event["id"].as_str().unwrap().to_owned();
    let spans = through_the_engine(event).await;
    let invocation = &spans[0];
    assert_eq!(invocation.attr_str("faas.trigger"), Some("pubsub"));
    assert_eq!(
        invocation.attr_str("messaging.system"),
        Some("aws.eventbridge")
    );
    assert_eq!(
        invocation.attr_str("messaging.operation.name"),
        Some("process")
    );
    assert_eq!(
        invocation.attr_str("messaging.message.id"),
        Some(id.as_str())
    );
    assert_eq!(
        invocation.attr_str("cloudevents.event_source"),
        Some("shop.orders")
    );
    assert_eq!(
        invocation.attr_str("cloudevents.event_type"),
        Some("OrderPlaced")
    );
    assert_eq!(
        invocation.attr_str("cloud.account.id"),
        Some("123456789012")
    );
    assert_eq!(
        invocation.attr("faas.coldstart"),
        Some(&AttrValue::Bool(true))
    );
}
