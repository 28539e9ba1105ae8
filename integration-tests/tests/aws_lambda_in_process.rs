//! `LambdaTelemetry` and the batch helpers driven in-process, exporting over real OTLP.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::LambdaEvent;
use otel_faas_aws::lambda::LambdaEventAdapter;
use otel_faas_aws::{KinesisTrigger, LambdaTelemetry, SqsTrigger};
use otel_faas_core::env::MapEnvironment;
use otel_faas_integration_tests::{AttrValue, OtlpReceiver, SpanKind, StatusCode};

const WAIT: Duration = Duration::from_secs(10);

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!(
        "{}/../../shared/fixtures/aws-lambda-events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn lambda_env(receiver: &OtlpReceiver) -> MapEnvironment {
    MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("AWS_LAMBDA_FUNCTION_NAME", "consumer".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "3".to_owned()),
    ])
}

fn context(request_id: &str) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.request_id = request_id.into();
    context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:consumer".into();
    context
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_batches_stop_at_the_first_failed_record_and_report_its_sequence_number() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let otel = LambdaTelemetry::builder_with_environment(lambda_env(&receiver)).build();
    let event: aws_lambda_events::kinesis::KinesisEvent = fixture("example-kinesis-event.json");
    let second = event.records[1].kinesis.sequence_number.clone();
    let mut seen = 0;
    let response = otel
        .engine()
        .invocation(
            &LambdaEventAdapter::new(KinesisTrigger::new()),
            LambdaEvent::new(event, context("k-1")),
        )
        .run(|event| async move {
            let response =
                otel_faas_aws::batch::process_kinesis_batch(&event.payload, async |record| {
                    seen += 1;
                    match record.kinesis.sequence_number.ends_with("4444") {
                        true => Err("poison record"),
                        false => Ok(()),
                    }
                })
                .await;
            Ok::<_, std::convert::Infallible>(response)
        })
        .await
        .unwrap();
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [Some(second.clone())]);

    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans
                .iter()
                .filter(|s| s.name == "simple-stream process")
                .count()
                == 3
        })
        .await
        .unwrap();
    let invocation = spans.iter().find(|s| s.name == "consumer").unwrap();
    assert_eq!(invocation.status, StatusCode::Error);
    assert_eq!(
        invocation.attr_str("error.type"),
        Some("partial_batch_failure")
    );
    let records: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.name == "simple-stream process" && s.attr("messaging.batch.message_count").is_none()
        })
        .collect();
    assert_eq!(records.len(), 2);
    let failed = records
        .iter()
        .find(|s| s.status == StatusCode::Error)
        .unwrap();
    assert_eq!(failed.kind, SpanKind::Consumer);
    assert_eq!(failed.attr_str("messaging.system"), Some("aws.kinesis"));
    assert_eq!(
        failed.attr_str("messaging.message.id"),
        Some(second.as_str())
    );
    assert_eq!(
        failed.attr_str("aws.kinesis.stream_name"),
        Some("simple-stream")
    );
    assert_eq!(
        failed.attr_str("messaging.destination.partition.id"),
        Some("shardId-000000000000")
    );
    otel.shutdown(WAIT).await.unwrap();
}

/// By default only `AWSTraceHeader` is linked — also when a `traceparent` of the same
/// trace is in the message attributes — on the batch span and on the per-message span of
/// the batch helper, as the AWS Lambda conventions ask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_links_aws_trace_header_and_by_default_nothing_else() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let otel = LambdaTelemetry::builder_with_environment(lambda_env(&receiver)).build();
    let mut event: aws_lambda_events::sqs::SqsEvent = fixture("example-sqs-event.json");
    event.records.truncate(1);
    let message = &mut event.records[0];
    message.attributes.insert(
        "AWSTraceHeader".to_owned(),
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
    );
    message.message_attributes.insert(
        "traceparent".to_owned(),
        serde_json::from_value(serde_json::json!({
            "dataType": "String",
            "stringValue": "00-5759e988bd862e3fe1be46a994272793-00f067aa0ba902b7-01"
        }))
        .unwrap(),
    );
    let message_id = message.message_id.clone().unwrap();
    otel.engine()
        .invocation(
            &LambdaEventAdapter::new(SqsTrigger::new()),
            LambdaEvent::new(event, context("links-1")),
        )
        .run(
            |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
                let response =
                    otel_faas_aws::batch::process_sqs_batch(&event.payload, async |_| {
                        Ok::<_, String>(())
                    })
                    .await;
                Ok::<_, std::convert::Infallible>(response)
            },
        )
        .await
        .unwrap();
    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans
                .iter()
                .filter(|s| s.name.ends_with(" process"))
                .count()
                == 2
        })
        .await
        .unwrap();
    let processing: Vec<_> = spans
        .iter()
        .filter(|s| s.name.ends_with(" process"))
        .collect();
    for span in &processing {
        let links: Vec<(&str, &str)> = span
            .links
            .iter()
            .map(|l| (l.trace_id.as_str(), l.span_id.as_str()))
            .collect();
        assert_eq!(
            links,
            [("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8")],
            "{}: AWSTraceHeader only",
            span.name
        );
        assert_eq!(
            span.attr_str("server.address"),
            Some("sqs.us-west-2.amazonaws.com")
        );
    }
    let per_message = processing
        .iter()
        .find(|s| s.attr_str("messaging.message.id") == Some(message_id.as_str()))
        .expect("the per-message span");
    assert_eq!(per_message.kind, SpanKind::Consumer);
    otel.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_start_without_the_restore_hook_is_not_a_cold_start() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let env = lambda_env(&receiver).with("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start");
    let otel = LambdaTelemetry::builder_with_environment(env).build();
    let event: aws_lambda_events::sqs::SqsEvent = fixture("example-sqs-event.json");
    otel.engine()
        .invocation(
            &LambdaEventAdapter::new(SqsTrigger::new()),
            LambdaEvent::new(event, context("s-1")),
        )
        .run(|_| async { Ok::<_, std::convert::Infallible>(()) })
        .await
        .unwrap();
    let spans = receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "consumer"))
        .await
        .unwrap();
    let invocation = spans.iter().find(|s| s.name == "consumer").unwrap();
    assert_eq!(
        invocation.attr("faas.coldstart"),
        Some(&AttrValue::Bool(false))
    );
    assert!(spans.iter().all(|s| s.name != "init"));
    otel.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xray_ids_start_with_the_epoch_seconds() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let otel = LambdaTelemetry::builder_with_environment(lambda_env(&receiver))
        .xray_ids()
        .build();
    let event: aws_lambda_events::sqs::SqsEvent = fixture("example-sqs-event.json");
    otel.engine()
        .invocation(
            &LambdaEventAdapter::new(SqsTrigger::new()),
            LambdaEvent::new(event, context("x-1")),
        )
        .run(|_| async { Ok::<_, std::convert::Infallible>(()) })
        .await
        .unwrap();
    let spans = receiver
        .wait_until(WAIT, |spans| spans.iter().any(|s| s.name == "consumer"))
        .await
        .unwrap();
    let invocation = spans.iter().find(|s| s.name == "consumer").unwrap();
    let seconds = u64::from_str_radix(&invocation.trace_id[..8], 16).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(seconds) < 300,
        "trace id {} does not start with the epoch seconds",
        invocation.trace_id
    );
    otel.shutdown(WAIT).await.unwrap();
}

/// A local emulator that sends a duration where epoch milliseconds belong (`600000`): the
/// deadline is ignored, so a quick invocation is not recorded as a timeout (it was, at once,
/// with the watchdog firing on a deadline in 1970).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_implausible_deadline_is_ignored_rather_than_timing_the_invocation_out() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let otel = LambdaTelemetry::builder_with_environment(lambda_env(&receiver)).build();
    let event: aws_lambda_events::sqs::SqsEvent = fixture("example-sqs-event.json");
    for (request_id, deadline) in [("emulator", 600_000_u64), ("stale", 1_000_000_000_000)] {
        let mut context = context(request_id);
        context.deadline = deadline;
        otel.engine()
            .invocation(
                &LambdaEventAdapter::new(SqsTrigger::new()),
                LambdaEvent::new(event.clone(), context),
            )
            .run(|_event| async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                Ok::<_, std::convert::Infallible>(
                    aws_lambda_events::sqs::SqsBatchResponse::default(),
                )
            })
            .await
            .unwrap();
    }
    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans.iter().filter(|s| s.name == "consumer").count() == 2
        })
        .await
        .unwrap();
    for span in spans.iter().filter(|s| s.name == "consumer") {
        assert_eq!(span.status, StatusCode::Unset, "{span:?}");
        assert_eq!(span.attr_str("error.type"), None, "{span:?}");
        assert!(
            span.duration_nanos() >= 30_000_000,
            "the handler ran to its end"
        );
    }
}

/// `http.response.status_code` and a 5xx ERROR belong to HTTP invocations only: a queue
/// handler that returns `{"statusCode": 500}` (through the raw-JSON adapter) is not an HTTP
/// failure; an API Gateway invocation with the same response is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_code_counts_only_for_http_invocations() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let otel = LambdaTelemetry::builder_with_environment(lambda_env(&receiver)).build();
    let response = serde_json::json!({"statusCode": 500, "body": "oops"});
    for (request_id, event) in [
        (
            "queue",
            fixture::<serde_json::Value>("example-sqs-event.json"),
        ),
        (
            "http",
            fixture::<serde_json::Value>("example-apigw-v2-request-no-authorizer.json"),
        ),
    ] {
        let response = response.clone();
        otel.engine()
            .invocation(
                &LambdaEventAdapter::new(otel_faas_aws::AnyEventTrigger::new()),
                LambdaEvent::new(event, context(request_id)),
            )
            .run(|_event| async move { Ok::<_, std::convert::Infallible>(response) })
            .await
            .unwrap();
    }
    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans
                .iter()
                .filter(|s| s.attr_str("faas.invocation_id").is_some())
                .count()
                == 2
        })
        .await
        .unwrap();
    let by_id = |id: &str| {
        spans
            .iter()
            .find(|s| s.attr_str("faas.invocation_id") == Some(id))
            .unwrap()
            .clone()
    };
    let queue = by_id("queue");
    assert_eq!(queue.attr_str("faas.trigger"), Some("pubsub"));
    assert_eq!(queue.attr("http.response.status_code"), None, "{queue:?}");
    assert_eq!(queue.status, StatusCode::Unset);
    let http = by_id("http");
    assert_eq!(http.attr_str("faas.trigger"), Some("http"));
    assert_eq!(
        http.attr("http.response.status_code"),
        Some(&AttrValue::Int(500))
    );
    assert_eq!(http.status, StatusCode::Error);
    assert_eq!(http.attr_str("error.type"), Some("500"));
}

/// A batch with more producers than `OTEL_SPAN_LINK_COUNT_LIMIT`: the batch span links the
/// first ones in order, each once (two records from the same producer span are one link),
/// with their message ids. (That the adapter builds no more than that is `Links`' unit test,
/// and the engine telling it the limit `EngineBuilder::link_limit`'s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_batch_links_stop_at_the_span_link_limit() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let mut env = lambda_env(&receiver);
    env.insert("OTEL_SPAN_LINK_COUNT_LIMIT", "5");
    let otel = LambdaTelemetry::builder_with_environment(env).build();
    let sample: serde_json::Value = fixture("example-sqs-event.json");
    let records: Vec<serde_json::Value> = (0..40u32)
        .map(|i| {
            let mut record = sample["Records"][0].clone();
            record["messageId"] = serde_json::json!(format!("m-{i}"));
            // Records 0 and 1 come from the same producer span.
            let producer = if i == 0 { 1 } else { i };
            record["attributes"]["AWSTraceHeader"] = serde_json::json!(format!(
                "Root=1-5759e988-bd862e3fe1be46a9{producer:08x};Parent={producer:016x};Sampled=1"
            ));
            record
        })
        .collect();
    let event: aws_lambda_events::sqs::SqsEvent =
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    otel.engine()
        .invocation(
            &LambdaEventAdapter::new(SqsTrigger::new()),
            LambdaEvent::new(event, context("links-1")),
        )
        .run(|_| async { Ok::<_, std::convert::Infallible>(()) })
        .await
        .unwrap();
    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans.iter().any(|s| s.kind == SpanKind::Consumer)
        })
        .await
        .unwrap();
    let batch = spans.iter().find(|s| s.kind == SpanKind::Consumer).unwrap();
    let parents: Vec<String> = batch.links.iter().map(|l| l.span_id.clone()).collect();
    assert_eq!(
        parents,
        (1..=5u64).map(|p| format!("{p:016x}")).collect::<Vec<_>>(),
        "{batch:#?}"
    );
    assert_eq!(
        batch.links[0].attributes.get("messaging.message.id"),
        Some(&AttrValue::Str("m-0".to_owned()))
    );
    assert_eq!(
        batch.attr("messaging.batch.message_count"),
        Some(&AttrValue::Int(40))
    );
}
