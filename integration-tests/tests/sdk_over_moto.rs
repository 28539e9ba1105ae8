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
use otel_faas_aws::{Lambda, SqsTrigger};
use otel_faas_core::{
    FaasTrigger, InvocationContext, InvocationEngine, InvocationSpec, MapEnvironment, Pipeline,
    Propagation, Telemetry, TriggerAdapter,
};
use otel_faas_integration_tests::{Moto, OtlpReceiver, ReceivedSpan, SpanKind};
use otel_faas_messaging::aws_sdk::sqs::{
    NOT_INJECTED_EVENT, SendMessageBatchTracing as _, SendMessageTracing as _,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

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
        InvocationSpec::new("producer", FaasTrigger::Http)
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
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event).expect("SQS event");
    let mut context = lambda_runtime::Context::default();
    context.request_id = "consumer-1".into();
    context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:consumer".into();
    engine
        .invoke(
            &Lambda::new(SqsTrigger::new()),
            LambdaEvent::new(event, context),
            |_| async { Ok::<_, Infallible>(()) },
        )
        .await
        .unwrap();
}

fn only<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let matching: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(matching.len(), 1, "spans named {name}: {matching:#?}");
    matching[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_with_the_sdk_links_its_consumer_to_the_producer_span() {
    let h = harness();
    let (url, arn) = create_queue(&h.sqs, "orders").await;
    let sent = h
        .engine
        .invoke(&Producer, (), |_| {
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
    let producer = only(&spans, "send orders");
    assert_eq!(producer.kind, SpanKind::Producer);
    assert_eq!(producer.parent_span_id, invocation.span_id);
    assert_eq!(producer.attr_str("messaging.system"), Some("aws_sqs"));
    assert_eq!(
        producer.attr_str("messaging.destination.name"),
        Some("orders")
    );
    assert_eq!(producer.attr_str("messaging.message.id"), sent.message_id());
    let batch = spans
        .iter()
        .find(|s| s.name == "orders process" && s.kind == SpanKind::Consumer)
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
    let (url, arn) = create_queue(&h.sqs, "full").await;
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
        .invoke(&Producer, (), |_| {
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
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "send full"))
        .await
        .unwrap();
    let producer = only(&spans, "send full");
    let event = producer
        .event(NOT_INJECTED_EVENT)
        .expect("the reason is recorded");
    assert!(event.attributes["keys"].to_string().contains("traceparent"));
    h.telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_send_carries_the_context_in_every_entry() {
    let h = harness();
    let (url, arn) = create_queue(&h.sqs, "batch").await;
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
        .invoke(&Producer, (), |_| {
            let sqs = h.sqs.clone();
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
    consume(&h.engine, event).await;
    let spans = h
        .receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "consumer"))
        .await
        .unwrap();
    let producer = only(&spans, "send batch");
    assert_eq!(
        producer.attr("messaging.batch.message_count"),
        Some(&otel_faas_integration_tests::AttrValue::Int(3))
    );
    let batch = spans
        .iter()
        .find(|s| s.name == "batch process" && s.kind == SpanKind::Consumer)
        .unwrap();
    // Three messages, one producer span: the links collapse into one.
    assert_eq!(batch.links.len(), 1);
    assert_eq!(batch.links[0].span_id, producer.span_id);
    h.telemetry.shutdown(WAIT).await.unwrap();
}
