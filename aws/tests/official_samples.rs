//! Every adapter on the official Lambda event samples (`../shared/fixtures/aws-lambda-events`),
//! through the auto-detecting adapter and the typed one. Test names say which trigger and
//! which rule they prove.

use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{KeyValue, Value};
use otel_faas_aws::{
    AlbTrigger, AnyEventTrigger, ApiGatewayHttpTrigger, ApiGatewayRestTrigger, DynamoDbTrigger,
    KinesisTrigger, S3Trigger, SqsTrigger,
    triggers::{DetectedTrigger, detect_trigger},
    xray::{LAMBDA_TRACE_HEADER, register_propagators},
};
use otel_faas_core::{
    InvocationSpec, TriggerAdapter,
    env::MapEnvironment,
    propagation::{CompositePropagation, PropagatorRegistry},
    trigger::{FaasTrigger, InvocationContext},
};

fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/../../shared/fixtures/aws-lambda-events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn typed<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn propagation(names: &str) -> CompositePropagation {
    let mut registry = PropagatorRegistry::new();
    register_propagators(&mut registry);
    registry
        .from_env(&MapEnvironment::from([("OTEL_PROPAGATORS", names)]))
        .0
}

fn any(name: &str) -> InvocationSpec {
    TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new(),
        &fixture(name),
        &InvocationContext::new(),
        &propagation("tracecontext,baggage,xray"),
    )
}

fn attr(attributes: &[KeyValue], key: &str) -> Option<Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn s(value: &str) -> Option<Value> {
    Some(Value::from(value.to_owned()))
}

#[test]
fn detection_names_the_right_trigger_for_every_sample() {
    let expected = [
        (
            "example-alb-lambda-target-request-headers-only.json",
            DetectedTrigger::Alb,
        ),
        (
            "example-alb-lambda-target-request-multivalue-headers.json",
            DetectedTrigger::Alb,
        ),
        (
            "example-apigw-request-multi-value-parameters.json",
            DetectedTrigger::ApiGatewayRest,
        ),
        (
            "example-apigw-request.json",
            DetectedTrigger::ApiGatewayRest,
        ),
        (
            "example-apigw-sam-http-request.json",
            DetectedTrigger::ApiGatewayHttp,
        ),
        (
            "example-apigw-sam-rest-request.json",
            DetectedTrigger::ApiGatewayRest,
        ),
        (
            "example-apigw-v2-request-iam.json",
            DetectedTrigger::ApiGatewayHttp,
        ),
        (
            "example-apigw-v2-request-jwt-authorizer.json",
            DetectedTrigger::ApiGatewayHttp,
        ),
        (
            "example-apigw-v2-request-multi-value-parameters.json",
            DetectedTrigger::ApiGatewayHttp,
        ),
        (
            "example-apigw-v2-request-no-authorizer.json",
            DetectedTrigger::ApiGatewayHttp,
        ),
        ("example-dynamodb-event.json", DetectedTrigger::DynamoDb),
        (
            "example-eventbridge-event-obj.json",
            DetectedTrigger::EventBridge,
        ),
        (
            "example-eventbridge-schedule.json",
            DetectedTrigger::Scheduled,
        ),
        ("example-kinesis-event.json", DetectedTrigger::Kinesis),
        ("example-s3-event-with-decoded.json", DetectedTrigger::S3),
        ("example-s3-event.json", DetectedTrigger::S3),
        ("example-sns-event-obj.json", DetectedTrigger::Sns),
        ("example-sns-event.json", DetectedTrigger::Sns),
        ("example-sqs-event-obj.json", DetectedTrigger::Sqs),
        ("example-sqs-event.json", DetectedTrigger::Sqs),
        // A response and a lone record are not invocation events.
        ("example-sqs-batch-response.json", DetectedTrigger::Unknown),
        (
            "example-dynamodb-event-record-with-optional-fields.json",
            DetectedTrigger::Unknown,
        ),
    ];
    for (name, trigger) in expected {
        assert_eq!(detect_trigger(&fixture(name)), trigger, "{name}");
    }
}

#[test]
fn every_sample_parses_with_the_detected_adapter_not_the_fallback() {
    let samples = std::fs::read_dir(format!(
        "{}/../../shared/fixtures/aws-lambda-events",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
    .filter(|name| name.ends_with(".json"));
    for name in samples {
        let detected = detect_trigger(&fixture(&name));
        let spec = any(&name);
        let fell_back = spec.trigger() == FaasTrigger::Other;
        assert_eq!(
            fell_back,
            detected == DetectedTrigger::Unknown,
            "{name}: {detected:?} gave {:?}",
            spec.trigger()
        );
    }
}

#[test]
fn api_gateway_rest_route_and_span_name_come_from_resource() {
    let spec = any("example-apigw-request.json");
    assert_eq!(spec.trigger(), FaasTrigger::Http);
    assert_eq!(spec.kind(), &SpanKind::Server);
    assert_eq!(spec.name(), "POST /{proxy+}");
    let a = spec.attributes();
    assert_eq!(attr(a, "http.route"), s("/{proxy+}"));
    assert_eq!(attr(a, "http.request.method"), s("POST"));
    assert_eq!(attr(a, "url.path"), s("/hello/world"));
    assert_eq!(attr(a, "url.query"), s("name=me"));
    assert_eq!(attr(a, "url.scheme"), s("https"));
    assert_eq!(
        attr(a, "server.address"),
        s("gy415nuibc.execute-api.us-east-1.amazonaws.com")
    );
    assert_eq!(attr(a, "server.port"), Some(Value::I64(443)));
    assert_eq!(attr(a, "client.address"), s("192.168.196.186"));
    assert_eq!(attr(a, "user_agent.original"), s("PostmanRuntime/2.4.5"));
    assert_eq!(attr(a, "network.protocol.version"), s("1.1"));
}

#[test]
fn api_gateway_rest_typed_adapter_reads_the_status_code_of_the_response() {
    let response: aws_lambda_events::apigw::ApiGatewayProxyResponse =
        serde_json::from_value(serde_json::json!({"statusCode": 502})).unwrap();
    let outcome = TriggerAdapter::<aws_lambda_events::apigw::ApiGatewayProxyRequest, _>::outcome(
        &ApiGatewayRestTrigger,
        &response,
    );
    assert_eq!(outcome.failure().unwrap().error_type(), "502");
    assert_eq!(
        outcome.attributes(),
        [KeyValue::new("http.response.status_code", 502_i64)]
    );
}

#[test]
fn http_api_route_is_the_route_key_without_its_method_and_default_has_none() {
    let spec = any("example-apigw-sam-http-request.json");
    assert_eq!(spec.name(), "GET /dump");
    assert_eq!(attr(spec.attributes(), "http.route"), s("/dump"));
    assert_eq!(attr(spec.attributes(), "url.query"), s("foo=bar"));

    let spec = any("example-apigw-v2-request-iam.json");
    assert_eq!(spec.name(), "GET");
    let a = spec.attributes();
    assert_eq!(attr(a, "http.route"), None);
    assert_eq!(attr(a, "url.path"), s("/my/path"));
    assert_eq!(
        attr(a, "url.query"),
        s("parameter1=value1&parameter1=value2&parameter2=value")
    );
    assert_eq!(
        attr(a, "server.address"),
        s("id.execute-api.us-east-1.amazonaws.com")
    );
    assert_eq!(attr(a, "client.address"), s("IP"));
    assert_eq!(attr(a, "user_agent.original"), s("agent"));
}

#[test]
fn function_urls_are_told_apart_from_http_apis_by_their_domain() {
    let mut event = fixture("example-apigw-v2-request-no-authorizer.json");
    event["requestContext"]["domainName"] = "abcdefg.lambda-url.us-east-1.on.aws".into();
    assert_eq!(detect_trigger(&event), DetectedTrigger::FunctionUrl);
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new(),
        &event,
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    );
    assert_eq!(spec.name(), "GET");
    assert_eq!(
        attr(spec.attributes(), "server.address"),
        s("abcdefg.lambda-url.us-east-1.on.aws")
    );
    assert_eq!(attr(spec.attributes(), "client.address"), s("1.2.3.4"));
}

#[test]
fn alb_client_comes_from_x_forwarded_for_and_its_trace_header_is_not_a_parent() {
    for name in [
        "example-alb-lambda-target-request-headers-only.json",
        "example-alb-lambda-target-request-multivalue-headers.json",
    ] {
        let spec = TriggerAdapter::<_, ()>::invocation_spec(
            &AlbTrigger,
            &typed::<aws_lambda_events::alb::AlbTargetGroupRequest>(name),
            &InvocationContext::new(),
            &propagation("tracecontext,xray"),
        );
        let a = spec.attributes();
        assert_eq!(spec.name(), "GET", "{name}");
        assert_eq!(attr(a, "url.path"), s("/"), "{name}");
        assert_eq!(attr(a, "url.query"), s("key=hello"), "{name}");
        assert_eq!(attr(a, "url.scheme"), s("http"), "{name}");
        assert_eq!(attr(a, "server.port"), Some(Value::I64(80)), "{name}");
        assert!(attr(a, "client.address").is_some(), "{name}");
        // X-Amzn-Trace-Id: Root=… without Parent names no parent span.
        assert!(
            !spec.parent().has_active_span(),
            "{name}: the ALB trace header was trusted as a parent"
        );
    }
}

#[test]
fn http_parent_comes_from_the_request_headers() {
    let mut event = fixture("example-apigw-request.json");
    event["headers"]["Traceparent"] =
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into();
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new(),
        &event,
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    );
    let parent = spec.parent().span().span_context().clone();
    assert_eq!(
        parent.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(parent.is_remote());
}

#[test]
fn sqs_batch_is_a_consumer_span_named_after_its_queue_with_messaging_attributes() {
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &SqsTrigger::new(),
        &typed::<aws_lambda_events::sqs::SqsEvent>("example-sqs-event.json"),
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    );
    assert_eq!(spec.trigger(), FaasTrigger::PubSub);
    assert_eq!(spec.kind(), &SpanKind::Server);
    let batch = spec.inner_span().expect("the batch span");
    assert_eq!(batch.name(), "SQSQueue process");
    assert_eq!(batch.kind(), &SpanKind::Consumer);
    let a = batch.attributes();
    assert_eq!(attr(a, "faas.trigger"), s("pubsub"));
    assert_eq!(attr(a, "messaging.system"), s("aws_sqs"));
    assert_eq!(attr(a, "messaging.operation.type"), s("process"));
    assert_eq!(attr(a, "messaging.destination.name"), s("SQSQueue"));
    assert_eq!(
        attr(a, "messaging.batch.message_count"),
        Some(Value::I64(1))
    );
    assert_eq!(
        attr(a, "aws.sqs.queue.url"),
        s("https://sqs.us-west-2.amazonaws.com/123456789012/SQSQueue")
    );
    assert_eq!(attr(a, "server.address"), s("sqs.us-west-2.amazonaws.com"));
    // The official sample carries no trace context: no links, and none invented.
    assert!(batch.links().is_empty());
}

#[test]
fn sqs_links_awstraceheader_and_an_opted_in_traceparent_to_each_message() {
    let mut event = two_message_sqs_event();
    event["Records"][0]["attributes"]["AWSTraceHeader"] =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into();
    event["Records"][1]["messageAttributes"]["traceparent"] = serde_json::json!({
        "stringValue": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "dataType": "String"
    });
    // A mixed batch: the second message from another queue.
    event["Records"][1]["eventSourceARN"] = "arn:aws:sqs:us-west-2:123456789012:Other".into();
    // By default, `AWSTraceHeader` only.
    let spec = any_value(&event);
    let links = spec.inner_span().unwrap().links();
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0].span_context.trace_id().to_string(),
        "5759e988bd862e3fe1be46a994272793"
    );
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new().with_sqs(SqsTrigger::new().with_message_context(true)),
        &event,
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    );
    let batch = spec.inner_span().unwrap();
    assert_eq!(batch.name(), "multiple_sources process");
    assert_eq!(attr(batch.attributes(), "messaging.destination.name"), None);
    let links: Vec<(String, Option<Value>)> = batch
        .links()
        .iter()
        .map(|l| {
            (
                l.span_context.trace_id().to_string(),
                attr(&l.attributes, "messaging.message.id"),
            )
        })
        .collect();
    assert_eq!(
        links,
        [
            (
                "5759e988bd862e3fe1be46a994272793".to_owned(),
                s("MessageID_1")
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
                s("MessageID_2")
            ),
        ]
    );
    // Links, never a parent: the batch's producers are many.
    assert!(!spec.parent().has_active_span());
}

/// The official SQS sample has one message; a second, built from it, makes a batch.
fn two_message_sqs_event() -> serde_json::Value {
    let mut event = fixture("example-sqs-event.json");
    let mut second = event["Records"][0].clone();
    second["messageId"] = "MessageID_2".into();
    event["Records"].as_array_mut().unwrap().push(second);
    event
}

fn any_value(event: &serde_json::Value) -> InvocationSpec {
    TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new(),
        event,
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    )
}

#[test]
fn sqs_ignores_invalid_and_non_string_trace_attributes() {
    let mut event = two_message_sqs_event();
    event["Records"][0]["attributes"]["AWSTraceHeader"] = "Root=garbage".into();
    event["Records"][1]["messageAttributes"]["traceparent"] = serde_json::json!({
        "binaryValue": "AAEC", "dataType": "Binary"
    });
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new().with_sqs(SqsTrigger::new().with_message_context(true)),
        &event,
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    );
    assert!(spec.inner_span().unwrap().links().is_empty());
}

#[test]
fn sns_consumer_span_names_the_topic_and_links_to_the_message_attributes() {
    let mut event = fixture("example-sns-event.json");
    event["Records"][0]["Sns"]["MessageAttributes"] = serde_json::json!({
        "traceparent": {"Type": "String", "Value": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    });
    let spec = any_value(&event);
    assert_eq!(spec.trigger(), FaasTrigger::PubSub);
    let batch = spec.inner_span().unwrap();
    assert_eq!(batch.name(), "snsNetTest process");
    assert_eq!(attr(batch.attributes(), "messaging.system"), s("aws.sns"));
    assert_eq!(
        attr(batch.attributes(), "aws.sns.topic.arn"),
        s("arn:aws:sns:us-east-1:246796806071:snsNetTest")
    );
    assert_eq!(
        attr(batch.attributes(), "messaging.message.id"),
        s("82833b5c-8d5d-56d0-b0e1-7511f8253eb8")
    );
    assert_eq!(batch.links().len(), 1);
}

#[test]
fn eventbridge_records_the_event_id_as_message_id() {
    let spec = any("example-eventbridge-event-obj.json");
    assert_eq!(spec.trigger(), FaasTrigger::PubSub);
    let a = spec.attributes();
    assert_eq!(
        attr(a, "messaging.message.id"),
        s("7bf73129-1428-4cd3-a780-95db273d1602")
    );
    assert_eq!(attr(a, "cloudevents.event_source"), s("aws.ec2"));
    assert_eq!(
        attr(a, "cloudevents.event_type"),
        s("EC2 Instance State-change Notification")
    );
    // Required by the messaging conventions; EventBridge has no well-known system value.
    assert_eq!(attr(a, "messaging.system"), s("aws.eventbridge"));
    assert_eq!(attr(a, "messaging.operation.name"), s("process"));
    assert_eq!(attr(a, "messaging.operation.type"), s("process"));
}

#[test]
fn scheduled_events_are_timers_with_faas_time_and_the_configured_cron() {
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new().with_cron("rate(5 minutes)"),
        &fixture("example-eventbridge-schedule.json"),
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    );
    assert_eq!(spec.trigger(), FaasTrigger::Timer);
    assert_eq!(
        attr(spec.attributes(), "faas.time"),
        s("2015-10-08T16:53:06.000Z")
    );
    assert_eq!(attr(spec.attributes(), "faas.cron"), s("rate(5 minutes)"));
    // Without a configured expression there is no faas.cron, rather than a made-up one.
    assert_eq!(
        attr(
            any("example-eventbridge-schedule.json").attributes(),
            "faas.cron"
        ),
        None
    );
}

#[test]
fn kinesis_batch_names_stream_and_shard() {
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &KinesisTrigger,
        &typed::<aws_lambda_events::kinesis::KinesisEvent>("example-kinesis-event.json"),
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    );
    assert_eq!(spec.trigger(), FaasTrigger::PubSub);
    let batch = spec.inner_span().unwrap();
    assert_eq!(batch.name(), "simple-stream process");
    let a = batch.attributes();
    assert_eq!(attr(a, "aws.kinesis.stream_name"), s("simple-stream"));
    assert_eq!(
        attr(a, "messaging.destination.partition.id"),
        s("shardId-000000000000")
    );
    assert_eq!(
        attr(a, "messaging.batch.message_count"),
        Some(Value::I64(2))
    );
    // Required by the messaging conventions; Kinesis has no well-known system value.
    assert_eq!(attr(a, "messaging.system"), s("aws.kinesis"));
    assert_eq!(attr(a, "messaging.operation.name"), s("process"));
    assert_eq!(attr(a, "messaging.operation.type"), s("process"));
}

#[test]
fn dynamodb_streams_are_datasource_with_table_operation_and_time() {
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &DynamoDbTrigger,
        &typed::<aws_lambda_events::dynamodb::Event>("example-dynamodb-event.json"),
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    );
    assert_eq!(spec.trigger(), FaasTrigger::Datasource);
    let a = spec.attributes();
    assert_eq!(attr(a, "faas.document.collection"), s("Example-Table"));
    assert_eq!(attr(a, "faas.document.operation"), s("insert"));
    assert_eq!(attr(a, "faas.document.time"), s("2016-12-02T01:27:00.000Z"));
    // A datasource span, not a messaging one.
    assert!(
        a.iter()
            .all(|kv| !kv.key.as_str().starts_with("messaging.")),
        "{a:?}"
    );
}

#[test]
fn a_dynamodb_batch_of_mixed_operations_says_so() {
    let mut event = fixture("example-dynamodb-event.json");
    event["Records"][1]["eventName"] = "REMOVE".into();
    let spec = any_value(&event);
    assert_eq!(
        attr(spec.attributes(), "faas.document.operation"),
        s("mixed")
    );
    assert_eq!(
        attr(spec.attributes(), "faas.document.collection"),
        s("Example-Table")
    );
}

#[test]
fn s3_is_datasource_with_bucket_decoded_key_operation_and_time() {
    for name in [
        "example-s3-event.json",
        "example-s3-event-with-decoded.json",
    ] {
        let spec = TriggerAdapter::<_, ()>::invocation_spec(
            &S3Trigger,
            &typed::<aws_lambda_events::s3::S3Event>(name),
            &InvocationContext::new(),
            &CompositePropagation::w3c(),
        );
        assert_eq!(spec.trigger(), FaasTrigger::Datasource, "{name}");
        let a = spec.attributes();
        assert_eq!(
            attr(a, "faas.document.collection"),
            s("sourcebucket"),
            "{name}"
        );
        assert_eq!(attr(a, "faas.document.name"), s("Happy Face.jpg"), "{name}");
        assert_eq!(attr(a, "faas.document.operation"), s("insert"), "{name}");
        assert_eq!(
            attr(a, "faas.document.time"),
            s("1970-01-01T00:00:00.123Z"),
            "{name}"
        );
    }
}

#[test]
fn s3_notifications_without_user_identity_are_still_described() {
    // Emulators (moto) leave out userIdentity and requestParameters, which the typed event
    // requires; the auto adapter completes them instead of falling back.
    let mut event = fixture("example-s3-event.json");
    let record = event["Records"][0].as_object_mut().unwrap();
    record.remove("userIdentity");
    record.remove("requestParameters");
    assert!(serde_json::from_value::<aws_lambda_events::s3::S3Event>(event.clone()).is_err());
    let spec = any_value(&event);
    assert_eq!(spec.trigger(), FaasTrigger::Datasource);
    assert_eq!(
        attr(spec.attributes(), "faas.document.name"),
        s("Happy Face.jpg")
    );
}

#[test]
fn malformed_events_degrade_to_other_and_never_panic() {
    let broken = [
        serde_json::json!({"Records": [{"eventSource": "aws:sqs", "messageId": 42}]}),
        serde_json::json!({"Records": [{"eventSource": "aws:s3"}]}),
        serde_json::json!({"Records": "not a list"}),
        serde_json::json!({"requestContext": {"elb": {}}, "httpMethod": 7}),
        serde_json::json!({"source": 1, "detail-type": []}),
        serde_json::json!(null),
        serde_json::json!([1, 2, 3]),
        serde_json::json!("a string"),
    ];
    for event in broken {
        let spec = any_value(&event);
        assert_eq!(spec.trigger(), FaasTrigger::Other, "{event}");
    }
}

#[test]
fn xray_lambda_uses_the_lambda_trace_header_only_without_a_caller_context() {
    let lambda_header =
        "Root=1-11111111-222222222222222222222222;Parent=3333333333333333;Sampled=1";
    let context = InvocationContext::new().with_carrier_field(LAMBDA_TRACE_HEADER, lambda_header);
    let propagation = propagation("tracecontext,baggage,xray-lambda");
    let sqs = TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new(),
        &fixture("example-sqs-event.json"),
        &context,
        &propagation,
    );
    assert_eq!(
        sqs.parent().span().span_context().trace_id().to_string(),
        "11111111222222222222222222222222"
    );

    let mut http = fixture("example-apigw-request.json");
    http["headers"]["traceparent"] =
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into();
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new(),
        &http,
        &context,
        &propagation,
    );
    assert_eq!(
        spec.parent().span().span_context().trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );

    // With plain w3c propagation the Lambda header is never read.
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &AnyEventTrigger::new(),
        &fixture("example-sqs-event.json"),
        &context,
        &CompositePropagation::w3c(),
    );
    assert!(!spec.parent().has_active_span());
}

#[test]
fn http_typed_adapter_on_the_v2_sample() {
    let spec = TriggerAdapter::<_, ()>::invocation_spec(
        &ApiGatewayHttpTrigger,
        &typed::<aws_lambda_events::apigw::ApiGatewayV2httpRequest>(
            "example-apigw-v2-request-no-authorizer.json",
        ),
        &InvocationContext::new(),
        &CompositePropagation::w3c(),
    );
    assert_eq!(spec.name(), "GET");
    assert_eq!(attr(spec.attributes(), "url.path"), s("/"));
    assert_eq!(attr(spec.attributes(), "url.query"), None);
    assert_eq!(attr(spec.attributes(), "url.scheme"), s("https"));
    assert_eq!(
        attr(spec.attributes(), "server.port"),
        Some(Value::I64(443))
    );
}

/// Every value of every sample, replaced in turn by values of the wrong type: the adapter
/// may describe less, but must never panic.
#[test]
fn no_sample_mutated_in_any_field_makes_an_adapter_panic() {
    fn paths(
        value: &serde_json::Value,
        prefix: &mut Vec<serde_json::Value>,
        out: &mut Vec<Vec<serde_json::Value>>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    prefix.push(key.as_str().into());
                    out.push(prefix.clone());
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            serde_json::Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    prefix.push(index.into());
                    out.push(prefix.clone());
                    paths(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    fn at<'a>(
        value: &'a mut serde_json::Value,
        path: &[serde_json::Value],
    ) -> &'a mut serde_json::Value {
        path.iter().fold(value, |node, step| match step {
            serde_json::Value::String(key) => &mut node[key.as_str()],
            serde_json::Value::Number(index) => &mut node[index.as_u64().unwrap() as usize],
            _ => unreachable!(),
        })
    }
    let replacements = [
        serde_json::Value::Null,
        serde_json::json!(-1),
        serde_json::json!(1.5e300),
        serde_json::json!(""),
        serde_json::json!("arn:aws:sqs:::"),
        serde_json::json!("Root=1-;Parent=;Sampled=9"),
        serde_json::json!([]),
        serde_json::json!({}),
    ];
    let propagation = propagation("tracecontext,baggage,xray,xray-lambda");
    let context = InvocationContext::new()
        .with_carrier_field(LAMBDA_TRACE_HEADER, "Root=1-zz;Parent=;Sampled=");
    let mut cases = 0;
    let samples = std::fs::read_dir(format!(
        "{}/../../shared/fixtures/aws-lambda-events",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
    .filter(|name| name.ends_with(".json"));
    for name in samples {
        let original = fixture(&name);
        let mut all = Vec::new();
        paths(&original, &mut Vec::new(), &mut all);
        for path in &all {
            for replacement in &replacements {
                let mut event = original.clone();
                *at(&mut event, path) = replacement.clone();
                let _ = TriggerAdapter::<_, serde_json::Value>::invocation_spec(
                    &AnyEventTrigger::new(),
                    &event,
                    &context,
                    &propagation,
                );
                let _ = TriggerAdapter::<serde_json::Value, _>::outcome(
                    &AnyEventTrigger::new(),
                    &event,
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 5_000, "only {cases} mutations were tried");
}

/// Presigned-URL credentials in the query of every HTTP event shape are redacted (the
/// conventions' keys, AWS SigV4 and GCS V4 keys, common secret names), keys kept.
#[test]
fn credential_query_values_are_redacted_in_every_http_event_shape() {
    use otel_faas_core::http::{CLOUD_QUERY_KEYS, COMMON_SECRET_QUERY_KEYS, SPEC_QUERY_KEYS};
    let keys: Vec<&str> = SPEC_QUERY_KEYS
        .into_iter()
        .chain(CLOUD_QUERY_KEYS)
        .chain(COMMON_SECRET_QUERY_KEYS)
        .collect();
    let secret_pairs: Vec<(String, String)> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            // Mixed case, as real clients send them.
            let key = if index % 2 == 0 {
                key.to_ascii_lowercase()
            } else {
                key.to_string()
            };
            (key, format!("s3cr3t{index}"))
        })
        .chain([("page".to_owned(), "2".to_owned())])
        .collect();
    let raw: String = secret_pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let parameters: serde_json::Map<String, serde_json::Value> = secret_pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
        .collect();

    let mut http_api = fixture("example-apigw-v2-request-no-authorizer.json");
    http_api["rawQueryString"] = raw.clone().into();
    http_api["queryStringParameters"] = parameters.clone().into();
    let mut rest = fixture("example-apigw-request.json");
    rest["queryStringParameters"] = parameters.clone().into();
    rest["multiValueQueryStringParameters"] = serde_json::Value::Null;
    let mut alb = fixture("example-alb-lambda-target-request-headers-only.json");
    alb["queryStringParameters"] = parameters.into();

    for (shape, event) in [("http api", http_api), ("rest", rest), ("alb", alb)] {
        let spec = TriggerAdapter::<_, ()>::invocation_spec(
            &AnyEventTrigger::new(),
            &event,
            &InvocationContext::new(),
            &propagation("tracecontext"),
        );
        let query = match attr(spec.attributes(), "url.query") {
            Some(Value::String(query)) => query.to_string(),
            other => panic!("{shape}: no url.query: {other:?}"),
        };
        assert!(!query.contains("s3cr3t"), "{shape}: {query}");
        assert!(query.contains("page=2"), "{shape}: {query}");
        for (key, _) in &secret_pairs[..keys.len()] {
            assert!(
                query.contains(&format!("{key}=REDACTED")),
                "{shape}: {key} in {query}"
            );
        }
    }
}
