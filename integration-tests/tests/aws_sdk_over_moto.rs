//! The AWS SDK for Rust against moto: producers that carry context, consumers that link to
//! them, and the spans asserted after crossing real OTLP.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use lambda_runtime::LambdaEvent;
use otel_faas_aws::SqsTrigger;
use otel_faas_aws::lambda::LambdaEventAdapter;
use otel_faas_core::{
    InvocationEngine, InvocationSpec, Pipeline, Propagation, SpanSpec, Telemetry, TriggerAdapter,
    env::MapEnvironment,
    trigger::{FaasTrigger, InvocationContext},
};
use otel_faas_integration_tests::{
    AttrValue, Moto, OtlpReceiver, ReceivedSpan, SpanKind, StatusCode,
};
use otel_faas_messaging::aws_sdk::sqs::{
    NOT_INJECTED_EVENT, SendMessageBatchTracing as _, SendMessageTracing as _,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// A name no other test, and no earlier run against the same emulator, has used.
fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{name}-{nanos:x}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

struct Harness {
    _moto: Moto,
    receiver: OtlpReceiver,
    telemetry: Telemetry,
    engine: InvocationEngine,
    sqs: aws_sdk_sqs::Client,
}

fn harness() -> Harness {
    let moto = Moto::start().unwrap_or_else(|error| panic!("{error}"));
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        receiver.endpoint(),
    )]))
    .install();
    let engine = telemetry.engine().build();
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(moto.endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Harness {
        sqs: aws_sdk_sqs::Client::from_conf(config),
        _moto: moto,
        receiver,
        telemetry,
        engine,
    }
}

/// A producer function: its invocation is the parent of the PRODUCER spans it records.
struct Producer;

impl<R> TriggerAdapter<(), R> for Producer {
    fn invocation_spec(
        &self,
        _: &(),
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(FaasTrigger::Http, SpanSpec::server("producer"))
    }
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("arn");
    (url, arn)
}

/// Receives `count` messages and builds the Lambda SQS event the event source mapping
/// would build from them.
async fn receive_as_lambda_event(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    arn: &str,
    count: usize,
) -> Value {
    let mut records = Vec::new();
    for _ in 0..20 {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        for message in received.messages() {
            let attributes: HashMap<String, Value> = message
                .message_attributes()
                .map(|attributes| {
                    attributes
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({"dataType": v.data_type(), "stringValue": v.string_value()}),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let system: HashMap<String, String> = message
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            records.push(json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body(),
                "attributes": system,
                "messageAttributes": attributes,
                "md5OfBody": message.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            }));
        }
        if records.len() >= count {
            break;
        }
    }
    assert_eq!(records.len(), count, "messages received from moto");
    json!({ "Records": records })
}

async fn consume(engine: &InvocationEngine, event: Value) {
    consume_with(engine, SqsTrigger::new(), event).await;
}

/// [`consume`] with context in the message itself read too.
async fn consume_reading_message_context(engine: &InvocationEngine, event: Value) {
    consume_with(engine, SqsTrigger::new().with_message_context(true), event).await;
}

async fn consume_with(engine: &InvocationEngine, trigger: SqsTrigger, event: Value) {
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event).expect("SQS event");
    let mut context = lambda_runtime::Context::default();
    context.request_id = "consumer-1".into();
    context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:consumer".into();
    engine
        .invocation(
            &LambdaEventAdapter::new(trigger),
            LambdaEvent::new(event, context),
        )
        .run(|_| async { Ok::<_, Infallible>(()) })
        .await
        .unwrap();
}

fn only<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let matching: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        matching.len(),
        1,
        "spans named {name}: {matching:#?}; all: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    matching[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_with_the_sdk_links_its_consumer_to_the_producer_span() {
    let h = harness();
    let queue = unique("orders");
    let (url, arn) = create_queue(&h.sqs, &queue).await;
    let sent = h
        .engine
        .invocation(&Producer, ())
        .run(|_| {
            let sqs = h.sqs.clone();
            let url = url.clone();
            async move {
                Ok::<_, Infallible>(
                    sqs.send_message()
                        .queue_url(url)
                        .message_body("order 42")
                        .send_traced()
                        .await,
                )
            }
        })
        .await
        .unwrap()
        .expect("send to moto");
    let event = receive_as_lambda_event(&h.sqs, &url, &arn, 1).await;
    consume(&h.engine, event).await;

    let spans = h
        .receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "consumer"))
        .await
        .expect("spans");
    let invocation = only(&spans, "producer");
    let producer = only(&spans, &format!("send {queue}"));
    assert_eq!(producer.kind, SpanKind::Producer);
    assert_eq!(producer.parent_span_id, invocation.span_id);
    assert_eq!(producer.attr_str("messaging.system"), Some("aws_sqs"));
    assert_eq!(
        producer.attr_str("messaging.destination.name"),
        Some(queue.as_str())
    );
    assert_eq!(producer.attr_str("messaging.message.id"), sent.message_id());
    let batch = spans
        .iter()
        .find(|s| s.name == format!("{queue} process") && s.kind == SpanKind::Consumer)
        .unwrap();
    assert_eq!(batch.links.len(), 1);
    assert_eq!(
        batch.links[0].trace_id, producer.trace_id,
        "one trace, by link"
    );
    assert_eq!(batch.links[0].span_id, producer.span_id);
    h.telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_already_has_ten_attributes_is_sent_unchanged_and_the_span_says_why() {
    let h = harness();
    let queue = unique("full");
    let (url, arn) = create_queue(&h.sqs, &queue).await;
    let ten: HashMap<String, MessageAttributeValue> = (0..10)
        .map(|i| {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(format!("v{i}"))
                .build()
                .unwrap();
            (format!("attr{i}"), value)
        })
        .collect();
    h.engine
        .invocation(&Producer, ())
        .run(|_| {
            let sqs = h.sqs.clone();
            let url = url.clone();
            async move {
                Ok::<_, Infallible>(
                    sqs.send_message()
                        .queue_url(url)
                        .message_body("full")
                        .set_message_attributes(Some(ten))
                        .send_traced()
                        .await,
                )
            }
        })
        .await
        .unwrap()
        .expect("the send must not fail because of telemetry");
    let event = receive_as_lambda_event(&h.sqs, &url, &arn, 1).await;
    let attributes = event["Records"][0]["messageAttributes"]
        .as_object()
        .unwrap();
    assert_eq!(attributes.len(), 10);
    assert!(!attributes.contains_key("traceparent"));

    let spans = h
        .receiver
        .wait_until(WAIT, |spans| {
            spans.iter().any(|s| s.name == format!("send {queue}"))
        })
        .await
        .unwrap();
    let producer = only(&spans, &format!("send {queue}"));
    let event = producer
        .event(NOT_INJECTED_EVENT)
        .expect("the reason is recorded");
    assert!(event.attributes["keys"].to_string().contains("traceparent"));
    h.telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_send_carries_the_context_in_every_entry() {
    let h = harness();
    // moto drops the system attributes of batch entries (AWS keeps them): what is sent is
    // read off the request, and the consumer reads the message attributes.
    let requests = RequestBodies::default();
    let sqs = aws_sdk_sqs::Client::from_conf(
        h.sqs
            .config()
            .to_builder()
            .interceptor(requests.clone())
            .build(),
    );
    let queue = unique("batch");
    let (url, arn) = create_queue(&h.sqs, &queue).await;
    let entries: Vec<_> = (0..3)
        .map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("e{i}"))
                .message_body(format!("m{i}"))
                .build()
                .unwrap()
        })
        .collect();
    h.engine
        .invocation(&Producer, ())
        .run(|_| {
            let url = url.clone();
            async move {
                Ok::<_, Infallible>(
                    sqs.send_message_batch()
                        .queue_url(url)
                        .set_entries(Some(entries))
                        .send_traced()
                        .await,
                )
            }
        })
        .await
        .unwrap()
        .expect("batch send");
    let event = receive_as_lambda_event(&h.sqs, &url, &arn, 3).await;
    consume_reading_message_context(&h.engine, event).await;
    let spans = h
        .receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "consumer"))
        .await
        .unwrap();
    let producer = only(&spans, &format!("send {queue}"));
    assert_eq!(
        producer.attr("messaging.batch.message_count"),
        Some(&otel_faas_integration_tests::AttrValue::Int(3))
    );
    let batch = spans
        .iter()
        .find(|s| s.name == format!("{queue} process") && s.kind == SpanKind::Consumer)
        .unwrap();
    // Three messages, one producer span: the links collapse into one.
    assert_eq!(batch.links.len(), 1);
    assert_eq!(batch.links[0].span_id, producer.span_id);
    // Every entry went out with the PRODUCER span as its `AWSTraceHeader`.
    let sent = requests.json("AmazonSQS.SendMessageBatch");
    let entries = sent["Entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    for entry in entries {
        let header = entry["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"]
            .as_str()
            .unwrap_or_else(|| panic!("no AWSTraceHeader in {entry}"));
        assert_eq!(
            header,
            xray_header(&producer.trace_id, &producer.span_id),
            "{entry}"
        );
    }
    h.telemetry.shutdown(WAIT).await.unwrap();
}

/// The X-Ray header of a span, sampled.
fn xray_header(trace_id: &str, span_id: &str) -> String {
    format!(
        "Root=1-{}-{};Parent={span_id};Sampled=1",
        &trace_id[..8],
        &trace_id[8..]
    )
}

/// Keeps the body of every request an SDK client sends, by `X-Amz-Target`.
#[derive(Debug, Clone, Default)]
struct RequestBodies(std::sync::Arc<std::sync::Mutex<Vec<SentRequest>>>);

/// `X-Amz-Target` and body of one request.
type SentRequest = (String, Vec<u8>);

impl RequestBodies {
    /// The JSON body of the one request sent to `target`.
    fn json(&self, target: &str) -> Value {
        let requests = self.0.lock().unwrap();
        let bodies: Vec<_> = requests.iter().filter(|(t, _)| t == target).collect();
        assert_eq!(bodies.len(), 1, "requests to {target}");
        serde_json::from_slice(&bodies[0].1).expect("a JSON body")
    }
}

impl aws_sdk_sqs::config::Intercept for RequestBodies {
    fn name(&self) -> &'static str {
        "RequestBodies"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_sqs::config::RuntimeComponents,
        _: &mut aws_sdk_sqs::config::ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        let request = context.request();
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let body = request.body().bytes().unwrap_or_default().to_vec();
        self.0.lock().unwrap().push((target, body));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_refused_entry_is_a_partial_failure_and_the_rest_is_sent() {
    let h = harness();
    let queue = unique("partial");
    let (url, _arn) = create_queue(&h.sqs, &queue).await;
    let accepted = SendMessageBatchRequestEntry::builder()
        .id("ok")
        .message_body("accepted")
        .build()
        .unwrap();
    // SQS refuses an entry alone, and AWS refuses both of these: over 900 seconds of delay
    // (which moto checks, LocalStack does not) or characters SQS does not allow in a body
    // (which LocalStack checks, moto does not).
    let refused = SendMessageBatchRequestEntry::builder().id("refused");
    let refused = if h._moto.kind() == "moto" {
        refused.message_body("late").delay_seconds(1000)
    } else {
        refused.message_body("a\u{0}b")
    }
    .build()
    .unwrap();
    let output = h
        .engine
        .invocation(&Producer, ())
        .run(|_| {
            let sqs = h.sqs.clone();
            let url = url.clone();
            async move {
                Ok::<_, Infallible>(
                    sqs.send_message_batch()
                        .queue_url(url)
                        .entries(accepted)
                        .entries(refused)
                        .send_traced()
                        .await,
                )
            }
        })
        .await
        .unwrap()
        .expect("the call succeeds; one entry fails");
    assert_eq!(output.failed().len(), 1, "{output:?}");
    assert_eq!(output.successful().len(), 1, "{output:?}");
    let spans = h
        .receiver
        .wait_until(WAIT, |spans| {
            spans.iter().any(|s| s.name == format!("send {queue}"))
        })
        .await
        .unwrap();
    let producer = only(&spans, &format!("send {queue}"));
    assert_eq!(producer.status, StatusCode::Error);
    assert_eq!(
        producer.attr_str("error.type"),
        Some("partial_batch_failure")
    );
    assert_eq!(producer.status_message, "1 of 2 messages were not sent");
    h.telemetry.shutdown(WAIT).await.unwrap();
}

/// Builds an SDK client for moto with the otel-faas interceptor.
macro_rules! traced_client {
    ($sdk:ident, $moto:expr) => {{
        let config = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new("us-east-1"))
            .endpoint_url($moto.endpoint())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .interceptor(
                otel_faas_messaging::aws_sdk::AwsSdkTracing::with_environment(
                    &MapEnvironment::default(),
                ),
            )
            .build();
        $sdk::Client::from_conf(config)
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_calls_are_client_spans_with_tables_capacity_and_failures() {
    let h = harness();
    let dynamodb = traced_client!(aws_sdk_dynamodb, h._moto);
    let table = unique("Orders");
    let missing = unique("Missing");
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ReturnConsumedCapacity, ScalarAttributeType,
    };
    h.engine
        .invocation(&Producer, ())
        .run(|_| async {
            dynamodb
                .create_table()
                .table_name(&table)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("id")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("id")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("create table");
            dynamodb
                .put_item()
                .table_name(&table)
                .item("id", AttributeValue::S("o-1".into()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .expect("put item");
            let missing = dynamodb
                .get_item()
                .table_name(&missing)
                .key("id", AttributeValue::S("x".into()))
                .send()
                .await;
            assert!(
                missing.is_err(),
                "moto must reject a table that does not exist"
            );
            Ok::<_, Infallible>(())
        })
        .await
        .unwrap();

    let spans = h
        .receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "producer"))
        .await
        .unwrap();
    let invocation = only(&spans, "producer");
    let put = only(&spans, "DynamoDB.PutItem");
    assert_eq!(put.kind, SpanKind::Client);
    assert_eq!(put.parent_span_id, invocation.span_id);
    assert_eq!(put.attr_str("rpc.system"), Some("aws-api"));
    assert_eq!(put.attr_str("rpc.service"), Some("DynamoDB"));
    assert_eq!(put.attr_str("rpc.method"), Some("PutItem"));
    assert_eq!(put.attr_str("db.system.name"), Some("aws.dynamodb"));
    assert_eq!(put.attr_str("cloud.region"), Some("us-east-1"));
    assert_eq!(
        put.attr("aws.dynamodb.table_names").map(|v| v.to_string()),
        Some(format!("[{table}]"))
    );
    assert!(
        put.attr_str("aws.request_id")
            .is_some_and(|id| !id.is_empty()),
        "{put:#?}"
    );
    let capacity = put
        .attr("aws.dynamodb.consumed_capacity")
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert!(
        capacity.contains(&format!("\"TableName\":\"{table}\"")),
        "consumed capacity: {capacity}"
    );
    let failed = only(&spans, "DynamoDB.GetItem");
    assert_eq!(failed.status, StatusCode::Error);
    assert_eq!(
        failed.attr_str("error.type"),
        Some("ResourceNotFoundException")
    );
    assert_eq!(
        failed.attr("http.response.status_code"),
        Some(&otel_faas_integration_tests::AttrValue::Int(400))
    );
    h.telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_calls_name_bucket_and_key_and_a_missing_key_is_an_error() {
    let h = harness();
    let s3 = {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(h._moto.endpoint())
            .force_path_style(true)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .interceptor(
                otel_faas_messaging::aws_sdk::AwsSdkTracing::with_environment(
                    &MapEnvironment::default(),
                ),
            )
            .build();
        aws_sdk_s3::Client::from_conf(config)
    };
    let bucket = unique("reports");
    h.engine
        .invocation(&Producer, ())
        .run(|_| async {
            s3.create_bucket()
                .bucket(&bucket)
                .send()
                .await
                .expect("bucket");
            s3.put_object()
                .bucket(&bucket)
                .key("2026/q3.pdf")
                .body(b"%PDF".to_vec().into())
                .send()
                .await
                .expect("put");
            assert!(
                s3.get_object()
                    .bucket(&bucket)
                    .key("missing.pdf")
                    .send()
                    .await
                    .is_err()
            );
            Ok::<_, Infallible>(())
        })
        .await
        .unwrap();
    let spans = h
        .receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "producer"))
        .await
        .unwrap();
    let put = only(&spans, "S3.PutObject");
    assert_eq!(put.attr_str("aws.s3.bucket"), Some(bucket.as_str()));
    assert_eq!(put.attr_str("aws.s3.key"), Some("2026/q3.pdf"));
    let get = only(&spans, "S3.GetObject");
    assert_eq!(get.status, StatusCode::Error);
    assert_eq!(get.attr_str("error.type"), Some("NoSuchKey"));
    assert_eq!(get.attr_str("aws.s3.key"), Some("missing.pdf"));
    h.telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_calls_carry_the_queue_and_a_missing_queue_is_an_error() {
    let h = harness();
    let sqs = traced_client!(aws_sdk_sqs, h._moto);
    let queue = unique("traced");
    let (url, _) = create_queue(&h.sqs, &queue).await;
    h.engine
        .invocation(&Producer, ())
        .run(|_| async {
            sqs.send_message()
                .queue_url(&url)
                .message_body("hi")
                .send()
                .await
                .expect("send");
            let missing = sqs
                .send_message()
                .queue_url(url.replace(&queue, "nowhere"))
                .message_body("hi")
                .send()
                .await;
            assert!(missing.is_err());
            Ok::<_, Infallible>(())
        })
        .await
        .unwrap();
    let spans = h
        .receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "producer"))
        .await
        .unwrap();
    let sends: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "SQS.SendMessage")
        .collect();
    assert_eq!(sends.len(), 2);
    let ok = sends
        .iter()
        .find(|s| s.status != StatusCode::Error)
        .unwrap();
    assert_eq!(ok.attr_str("messaging.system"), Some("aws_sqs"));
    assert_eq!(
        ok.attr_str("messaging.destination.name"),
        Some(queue.as_str())
    );
    assert_eq!(ok.attr_str("aws.sqs.queue.url"), Some(url.as_str()));
    let failed = sends
        .iter()
        .find(|s| s.status == StatusCode::Error)
        .unwrap();
    assert!(
        failed
            .attr_str("error.type")
            .is_some_and(|t| t.contains("NonExistentQueue") || t.contains("QueueDoesNotExist")),
        "{failed:#?}"
    );
    h.telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_publish_links_sqs_consumers_with_and_without_raw_delivery() {
    use otel_faas_messaging::aws_sdk::sns::PublishTracing as _;
    let h = harness();
    let sns = traced_client!(aws_sdk_sns, h._moto);
    let topic_name = unique("orders");
    let raw = unique("raw");
    let envelope = unique("envelope");
    let topic = sns
        .create_topic()
        .name(&topic_name)
        .send()
        .await
        .expect("topic")
        .topic_arn
        .expect("arn");
    let (raw_url, raw_arn) = create_queue(&h.sqs, &raw).await;
    let (envelope_url, envelope_arn) = create_queue(&h.sqs, &envelope).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&raw_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("raw subscription");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&envelope_arn)
        .send()
        .await
        .expect("subscription");

    let published = h
        .engine
        .invocation(&Producer, ())
        .run(|_| {
            let sns = sns.clone();
            let topic = topic.clone();
            async move {
                Ok::<_, Infallible>(
                    sns.publish()
                        .topic_arn(topic)
                        .message("order placed")
                        .send_traced()
                        .await,
                )
            }
        })
        .await
        .unwrap()
        .expect("publish");
    // moto sets no AWSTraceHeader on what SNS delivers: the consumer opts in to the
    // context the publisher wrote into the message (its attributes, raw or enveloped).
    for (url, arn) in [(&raw_url, &raw_arn), (&envelope_url, &envelope_arn)] {
        let event = receive_as_lambda_event(&h.sqs, url, arn, 1).await;
        consume_reading_message_context(&h.engine, event).await;
    }
    let spans = h
        .receiver
        .wait_until(WAIT, |spans| {
            spans.iter().filter(|s| s.name == "consumer").count() == 2
        })
        .await
        .unwrap();
    let producer = only(&spans, &format!("send {topic_name}"));
    assert_eq!(producer.kind, SpanKind::Producer);
    assert_eq!(producer.attr_str("messaging.system"), Some("aws.sns"));
    assert_eq!(producer.attr_str("aws.sns.topic.arn"), Some(topic.as_str()));
    assert_eq!(
        producer.attr_str("messaging.message.id"),
        published.message_id()
    );
    for queue in [&raw, &envelope] {
        let batch = spans
            .iter()
            .find(|s| s.name == format!("{queue} process") && s.kind == SpanKind::Consumer)
            .unwrap_or_else(|| panic!("no consumer span for {queue}"));
        // A link to the publish. An emulator that turns the request's X-Amzn-Trace-Id into
        // the message's AWSTraceHeader (LocalStack does) adds a second one, to the SDK call
        // under the publish: same trace.
        assert!(
            batch.links.iter().any(|l| l.span_id == producer.span_id),
            "{queue}: the consumer must link to the publish"
        );
        assert!(
            batch.links.iter().all(|l| l.trace_id == producer.trace_id),
            "{queue}"
        );
    }
    h.telemetry.shutdown(WAIT).await.unwrap();
}

/// An EventBridge rule matching `pattern` on the default bus, sending to the queue `arn`.
async fn rule_to_queue(events: &aws_sdk_eventbridge::Client, rule: &str, pattern: &str, arn: &str) {
    use aws_sdk_eventbridge::types::Target;
    events
        .put_rule()
        .name(rule)
        .event_pattern(pattern)
        .send()
        .await
        .expect("rule");
    events
        .put_targets()
        .rule(rule)
        .targets(Target::builder().id("queue").arn(arn).build().unwrap())
        .send()
        .await
        .expect("target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_events_carries_the_producer_context_in_the_trace_header() {
    use aws_sdk_eventbridge::types::PutEventsRequestEntry;
    use otel_faas_messaging::aws_sdk::eventbridge::PutEventsTracing as _;
    let h = harness();
    let events = traced_client!(aws_sdk_eventbridge, h._moto);
    let rule = unique("orders");
    let (url, arn) = create_queue(&h.sqs, &unique("events")).await;
    rule_to_queue(&events, &rule, r#"{"source": ["shop.orders"]}"#, &arn).await;
    assert_eq!(
        h._moto.kind(),
        "moto",
        "the TraceHeader is read back through moto's request recorder"
    );
    h._moto.start_recording().expect("moto recorder");
    let entry = PutEventsRequestEntry::builder()
        .source("shop.orders")
        .detail_type("OrderPlaced")
        .detail(r#"{"order": 42}"#)
        .build();
    let output =
        h.engine
            .invocation(&Producer, ())
            .run(|_| {
                let events = events.clone();
                async move {
                    Ok::<_, Infallible>(events.put_events().entries(entry).send_traced().await)
                }
            })
            .await
            .unwrap()
            .expect("put events");
    let delivered = receive_as_lambda_event(&h.sqs, &url, &arn, 1).await;
    let body: Value =
        serde_json::from_str(delivered["Records"][0]["body"].as_str().unwrap()).unwrap();

    let spans = h
        .receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "producer"))
        .await
        .unwrap();
    let producer = only(&spans, "send default");
    assert_eq!(
        producer.attr_str("messaging.system"),
        Some("aws.eventbridge")
    );
    let event_id = output.entries()[0].event_id().unwrap();
    assert_eq!(producer.attr_str("messaging.message.id"), Some(event_id));
    assert_eq!(
        body["id"], event_id,
        "the event the rule delivered is the one the span names"
    );
    // The X-Ray header EventBridge carries to targets names the producer span. (moto does not
    // forward TraceHeader to targets, so here it is checked where it was sent.)
    // moto records request bodies base64-encoded, one JSON document per line.
    let recording: String = h
        ._moto
        .recording()
        .expect("recording")
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|request| {
            let body = request["body"].as_str()?.to_owned();
            if request["body_encoded"] == true {
                use base64::Engine as _;
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(body)
                        .ok()?,
                )
                .ok()
            } else {
                Some(body)
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let expected = format!(
        "Root=1-{}-{};Parent={}",
        &producer.trace_id[..8],
        &producer.trace_id[8..],
        producer.span_id
    );
    assert!(
        recording.contains(&expected),
        "PutEvents did not carry {expected}:\n{recording}"
    );
    h.telemetry.shutdown(WAIT).await.unwrap();
}

/// EventBridge → SQS, end to end: with the context in `detail` (the opt-in), the SQS
/// consumer of the event the rule delivered links to the `PutEvents` span. (The default
/// carrier, `TraceHeader`, is checked where it is sent in the test above: no emulator
/// forwards it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_events_with_context_in_detail_links_the_sqs_consumer_to_the_producer() {
    use aws_sdk_eventbridge::types::PutEventsRequestEntry;
    use otel_faas_messaging::aws_sdk::eventbridge::{PutEventsTraceOptions, PutEventsTracing as _};
    let h = harness();
    let events = traced_client!(aws_sdk_eventbridge, h._moto);
    let rule = unique("orders-detail");
    let queue = unique("events-detail");
    let (url, arn) = create_queue(&h.sqs, &queue).await;
    // The rule matches on a field of `detail`: the added `_otel` must not disturb it.
    let pattern = r#"{"source": ["shop.detail"], "detail": {"order": [42]}}"#;
    rule_to_queue(&events, &rule, pattern, &arn).await;
    let entries = [r#"{"order": 42}"#, "[\"not an object\"]"].map(|detail| {
        PutEventsRequestEntry::builder()
            .source("shop.detail")
            .detail_type("OrderPlaced")
            .detail(detail)
            .build()
    });
    h.engine
        .invocation(&Producer, ())
        .run(|_| {
            let events = events.clone();
            async move {
                Ok::<_, Infallible>(
                    events
                        .put_events()
                        .set_entries(Some(entries.to_vec()))
                        .send_traced_with(PutEventsTraceOptions::new().context_in_detail())
                        .await,
                )
            }
        })
        .await
        .unwrap()
        .expect("put events");
    let delivered = receive_as_lambda_event(&h.sqs, &url, &arn, 1).await;
    let body: Value =
        serde_json::from_str(delivered["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["detail"]["order"], 42, "the user's detail is kept");
    // The context is in the event's `detail`, which the consumer reads when opted in.
    consume_reading_message_context(&h.engine, delivered).await;

    let spans = h
        .receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "consumer"))
        .await
        .unwrap();
    let producer = only(&spans, "send default");
    assert_eq!(producer.kind, SpanKind::Producer);
    assert_eq!(
        body["detail"]["_otel"]["traceparent"],
        format!("00-{}-{}-01", producer.trace_id, producer.span_id),
        "the detail carries the producer span"
    );
    // The entry whose detail is not an object went unchanged, and the span says why.
    let not_injected = producer
        .events
        .iter()
        .find(|e| e.name == "trace context not injected")
        .unwrap_or_else(|| panic!("no event for the array detail: {producer:#?}"));
    assert!(
        matches!(
            not_injected.attributes.get("reason"),
            Some(AttrValue::Str(reason)) if reason == "the event's detail is not a JSON object"
        ),
        "{not_injected:#?}"
    );
    let batch = only(&spans, &format!("{queue} process"));
    assert!(
        batch
            .links
            .iter()
            .any(|l| l.trace_id == producer.trace_id && l.span_id == producer.span_id),
        "the consumer must link to the PutEvents span: {:#?}",
        batch.links
    );
    h.telemetry.shutdown(WAIT).await.unwrap();
}
