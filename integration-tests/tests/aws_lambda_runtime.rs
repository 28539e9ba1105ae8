//! Real Lambda function binaries (the workspace examples), polled by the real
//! `lambda_runtime` crate from a local Runtime API, exporting over real OTLP.

use std::time::Duration;

use otel_faas_integration_tests::{
    AttrValue, FunctionProcess, Invoke, LocalRuntimeApi, OtlpReceiver, ReceivedSpan, SpanKind,
    StatusCode, build_binary,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:orders";
const ALIAS_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:otel-faas-test:live";

/// Fields drop in order: the process first, so that nothing polls the API as it stops.
struct Function {
    process: FunctionProcess,
    api: LocalRuntimeApi,
    receiver: OtlpReceiver,
}

impl Function {
    fn start(package: &str, bin: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with(
            LocalRuntimeApi::start().expect("runtime api"),
            package,
            bin,
            env,
        )
    }

    fn start_with(api: LocalRuntimeApi, package: &str, bin: &str, env: &[(&str, &str)]) -> Self {
        let binary = build_binary(package, bin).expect("example binary");
        let receiver = OtlpReceiver::start().expect("receiver");
        let mut vars = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())];
        vars.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let process =
            FunctionProcess::spawn(&binary, &api.address(), &vars).expect("function process");
        Self {
            api,
            receiver,
            process,
        }
    }

    async fn invoke(&self, invoke: Invoke) -> otel_faas_integration_tests::Invoked {
        match self.api.invoke(invoke, WAIT).await {
            Ok(invoked) => invoked,
            Err(error) => panic!("{error}\nfunction log:\n{}", self.process.log()),
        }
    }

    async fn spans_until(&self, done: impl FnMut(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        match self.receiver.wait_until(WAIT, done).await {
            Ok(spans) => spans,
            Err(error) => panic!("{error}\nfunction log:\n{}", self.process.log()),
        }
    }
}

fn sqs_message(id: &str, body: &str) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("handle-{id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1763700000000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1"
    })
}

fn sqs_event(messages: Vec<Value>) -> Value {
    json!({ "Records": messages })
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_batch_under_the_real_runtime_links_producers_and_reports_partial_failures() {
    // Opted in to context in the message attributes, so that the `traceparent` of m-2 is
    // linked too — by the batch span and, through the adapter carried in the handler's
    // context, by the per-message span.
    let function = Function::start(
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[("OTEL_FAAS_SQS_MESSAGE_CONTEXT", "true")],
    );
    let mut traced = sqs_message("m-1", "hello");
    traced["attributes"]["AWSTraceHeader"] =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into();
    let mut w3c = sqs_message("m-2", "fail");
    w3c["messageAttributes"]["traceparent"] = json!({
        "stringValue": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "dataType": "String"
    });
    let plain = sqs_message("m-3", "world");
    let invoked = function
        .invoke(
            Invoke::new(sqs_event(vec![traced, w3c, plain]))
                .request_id("req-sqs-1")
                .invoked_arn(ALIAS_ARN),
        )
        .await;
    assert_eq!(
        invoked.response,
        Some(json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]}))
    );

    let spans = function
        .spans_until(|spans| named(spans, "orders process").len() >= 4)
        .await;
    let invocation = &named(&spans, "otel-faas-test")[0];
    assert_eq!(invocation.kind, SpanKind::Server);
    assert_eq!(invocation.attr_str("faas.trigger"), Some("pubsub"));
    assert_eq!(invocation.attr_str("faas.invocation_id"), Some("req-sqs-1"));
    assert_eq!(
        invocation.attr_str("aws.lambda.invoked_arn"),
        Some(ALIAS_ARN)
    );
    assert_eq!(
        invocation.attr_str("cloud.account.id"),
        Some("123456789012")
    );
    assert_eq!(
        invocation.attr_str("cloud.resource_id"),
        Some("arn:aws:lambda:us-east-1:123456789012:function:otel-faas-test:7"),
        "the alias must be replaced by the running version"
    );
    assert_eq!(invocation.status, StatusCode::Error);
    assert_eq!(
        invocation.attr_str("error.type"),
        Some("partial_batch_failure")
    );
    assert_eq!(
        invocation.attr("aws.lambda.batch_item_failures"),
        Some(&AttrValue::Int(1))
    );
    assert_eq!(
        invocation.resource_attr("cloud.platform"),
        Some(&AttrValue::from("aws_lambda"))
    );
    assert_eq!(
        invocation.resource_attr("faas.max_memory"),
        Some(&AttrValue::Int(128 * 1024 * 1024))
    );
    assert_eq!(
        invocation.resource_attr("faas.version"),
        Some(&AttrValue::from("7"))
    );
    assert_eq!(
        invocation.resource_attr("service.name"),
        Some(&AttrValue::from("otel-faas-test"))
    );

    let processing = named(&spans, "orders process");
    let batch = processing
        .iter()
        .find(|s| s.parent_span_id == invocation.span_id)
        .expect("the batch span under the invocation");
    assert_eq!(batch.kind, SpanKind::Consumer);
    assert_eq!(batch.attr_str("messaging.system"), Some("aws_sqs"));
    assert_eq!(
        batch.attr("messaging.batch.message_count"),
        Some(&AttrValue::Int(3))
    );
    let mut linked: Vec<&str> = batch.links.iter().map(|l| l.trace_id.as_str()).collect();
    linked.sort_unstable();
    assert_eq!(
        linked,
        [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "5759e988bd862e3fe1be46a994272793"
        ]
    );

    let messages: Vec<_> = processing
        .iter()
        .filter(|s| s.parent_span_id == batch.span_id)
        .collect();
    assert_eq!(messages.len(), 3, "one span per message");
    let by_id = |id: &str| {
        messages
            .iter()
            .find(|s| s.attr_str("messaging.message.id") == Some(id))
            .unwrap_or_else(|| panic!("no span for {id}"))
    };
    assert_eq!(
        by_id("m-1").links[0].trace_id,
        "5759e988bd862e3fe1be46a994272793"
    );
    assert_eq!(
        by_id("m-2").links[0].trace_id,
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(by_id("m-3").links.is_empty());
    assert_eq!(by_id("m-2").status, StatusCode::Error);
    assert_eq!(by_id("m-1").status, StatusCode::Unset);
    // lambda_runtime's own tracing span is kept out: no orphan trace per invocation.
    assert!(named(&spans, "Lambda runtime invoke").is_empty());
    // The user's #[instrument] span nests under its message span.
    let handle = named(&spans, "handle");
    assert!(
        handle
            .iter()
            .any(|h| h.parent_span_id == by_id("m-3").span_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_queues_stop_at_the_first_failure_and_report_the_rest() {
    let function = Function::start("example-lambda-sqs-batch", "lambda-sqs-batch", &[]);
    let fifo = "arn:aws:sqs:us-east-1:123456789012:orders.fifo";
    let messages: Vec<Value> = [("f-1", "ok"), ("f-2", "fail"), ("f-3", "ok"), ("f-4", "ok")]
        .iter()
        .map(|(id, body)| {
            let mut message = sqs_message(id, body);
            message["eventSourceARN"] = fifo.into();
            message
        })
        .collect();
    let invoked = function.invoke(Invoke::new(sqs_event(messages))).await;
    assert_eq!(
        invoked.response,
        Some(json!({"batchItemFailures": [
            {"itemIdentifier": "f-2"}, {"itemIdentifier": "f-3"}, {"itemIdentifier": "f-4"}
        ]}))
    );
    let spans = function
        .spans_until(|spans| {
            named(spans, "otel-faas-test").len() == 1
                && named(spans, "orders.fifo process").len() >= 3
        })
        .await;
    // The batch span plus f-1 and f-2: f-3 and f-4 never ran.
    assert_eq!(named(&spans, "orders.fifo process").len(), 3);
    let batch = spans
        .iter()
        .find(|s| {
            s.name == "orders.fifo process" && s.attr("messaging.batch.message_count").is_some()
        })
        .unwrap();
    assert!(batch.event("records skipped").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_invocation_is_cold_with_an_init_span_and_the_second_is_warm() {
    let function = Function::start("example-lambda-sqs-batch", "lambda-sqs-batch", &[]);
    for id in ["cold", "warm"] {
        function
            .invoke(Invoke::new(sqs_event(vec![sqs_message("m", "ok")])).request_id(id))
            .await;
    }
    let spans = function
        .spans_until(|spans| named(spans, "otel-faas-test").len() == 2)
        .await;
    let invocation = |id: &str| {
        *named(&spans, "otel-faas-test")
            .iter()
            .find(|s| s.attr_str("faas.invocation_id") == Some(id))
            .unwrap()
    };
    assert_eq!(
        invocation("cold").attr("faas.coldstart"),
        Some(&AttrValue::Bool(true))
    );
    assert_eq!(
        invocation("warm").attr("faas.coldstart"),
        Some(&AttrValue::Bool(false))
    );
    let inits = named(&spans, "init");
    assert_eq!(inits.len(), 1);
    assert_eq!(inits[0].parent_span_id, invocation("cold").span_id);
}

/// SnapStart: the runtime asks to be restored once its init is done; after the restore
/// the first invocation is cold, with a `restore` span (not `init`, which happened at
/// publish time) — through `lambda_runtime`'s SnapStart hooks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapstart_restore_makes_the_next_invocation_cold_with_a_restore_span() {
    let function = Function::start(
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start"),
            ("OTEL_FAAS_LAMBDA_PLATFORM_TELEMETRY", "true"),
            ("OTEL_FAAS_LAMBDA_TELEMETRY_LISTEN", "127.0.0.1:0"),
        ],
    );
    for id in ["restored-1", "restored-2"] {
        function
            .invoke(Invoke::new(sqs_event(vec![sqs_message(id, "ok")])).request_id(id))
            .await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let spans = function
        .spans_until(|spans| {
            named(spans, "otel-faas-test").len() == 2 && !named(spans, "platform.report").is_empty()
        })
        .await;
    assert_eq!(function.api.restores(), 1, "{}", function.process.log());
    let invocation = |id: &str| {
        named(&spans, "otel-faas-test")
            .into_iter()
            .find(|s| s.attr_str("faas.invocation_id") == Some(id))
            .unwrap_or_else(|| panic!("no invocation {id}"))
    };
    let first = invocation("restored-1");
    assert_eq!(first.attr("faas.coldstart"), Some(&AttrValue::Bool(true)));
    assert_eq!(
        invocation("restored-2").attr("faas.coldstart"),
        Some(&AttrValue::Bool(false))
    );
    let restore = named(&spans, "restore");
    assert_eq!(restore.len(), 1, "one restore span");
    assert_eq!(restore[0].parent_span_id, first.span_id);
    assert!(restore[0].end_unix_nanos <= first.start_unix_nanos + 1_000_000);
    assert!(
        named(&spans, "init").is_empty(),
        "the init ran at publish time"
    );
    // The platform's figures: the restore as Lambda measured it, on the restored
    // invocation's report and as the restore-duration metric.
    let report = named(&spans, "platform.report")[0];
    assert_eq!(report.parent_span_id, first.span_id);
    assert_eq!(
        report.attr_f64("otel_faas.lambda.restore_duration_ms"),
        Some(otel_faas_integration_tests::RESTORE_MS)
    );
    assert_eq!(report.attr_f64("otel_faas.lambda.init_duration_ms"), None);
    function
        .receiver
        .wait_for(WAIT, |r| {
            r.metrics().iter().any(|m| {
                m.name == "otel_faas.lambda.restore_duration"
                    && m.sums == [otel_faas_integration_tests::RESTORE_MS / 1000.0]
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", function.receiver.metrics()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_concurrency_is_not_a_cold_start() {
    let function = Function::start(
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")],
    );
    function
        .invoke(Invoke::new(sqs_event(vec![sqs_message("m", "ok")])))
        .await;
    let spans = function
        .spans_until(|spans| !named(spans, "otel-faas-test").is_empty())
        .await;
    assert_eq!(
        named(&spans, "otel-faas-test")[0].attr("faas.coldstart"),
        Some(&AttrValue::Bool(false))
    );
    assert!(named(&spans, "init").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_trace_header_is_the_parent_only_with_xray_lambda_and_sampled() {
    let function = Function::start(
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[("OTEL_PROPAGATORS", "tracecontext,baggage,xray-lambda")],
    );
    let header = |sampled: u8| {
        format!(
            "Root=1-6789abcd-0123456789abcdef01234567;Parent=1111222233334444;Sampled={sampled}"
        )
    };
    function
        .invoke(
            Invoke::new(sqs_event(vec![sqs_message("m", "ok")]))
                .request_id("sampled")
                .trace_header(header(1)),
        )
        .await;
    function
        .invoke(
            Invoke::new(sqs_event(vec![sqs_message("m", "ok")]))
                .request_id("unsampled")
                .trace_header(header(0)),
        )
        .await;
    let spans = function
        .spans_until(|spans| named(spans, "otel-faas-test").len() == 2)
        .await;
    let invocation = |id: &str| {
        *named(&spans, "otel-faas-test")
            .iter()
            .find(|s| s.attr_str("faas.invocation_id") == Some(id))
            .unwrap()
    };
    assert_eq!(
        invocation("sampled").trace_id,
        "6789abcd0123456789abcdef01234567"
    );
    assert_eq!(invocation("sampled").parent_span_id, "1111222233334444");
    // Sampled=0 is what Lambda sends with X-Ray off: a new trace, not a silently dropped one.
    assert_ne!(
        invocation("unsampled").trace_id,
        "6789abcd0123456789abcdef01234567"
    );
    assert_eq!(invocation("unsampled").parent_span_id, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_an_error_span_and_an_invocation_error() {
    let function = Function::start("example-lambda-sqs-batch", "lambda-sqs-batch", &[]);
    let invoked = function
        .invoke(Invoke::new(sqs_event(vec![sqs_message("p-1", "panic")])).request_id("panics"))
        .await;
    assert!(invoked.response.is_none());
    assert!(
        invoked.error.is_some(),
        "lambda_runtime reports the panic as an invocation error"
    );
    let spans = function
        .spans_until(|spans| !named(spans, "otel-faas-test").is_empty())
        .await;
    let invocation = named(&spans, "otel-faas-test")[0];
    assert_eq!(invocation.status, StatusCode::Error);
    assert_eq!(invocation.attr_str("error.type"), Some("panic"));
    let message = spans
        .iter()
        .find(|s| s.attr_str("messaging.message.id") == Some("p-1"))
        .expect("the message span");
    assert_eq!(message.status, StatusCode::Error);
    assert!(message.event("exception").is_some());

    // The process survives the panic and serves the next invocation.
    let invoked = function
        .invoke(Invoke::new(sqs_event(vec![sqs_message("ok", "ok")])))
        .await;
    assert_eq!(invoked.response, Some(json!({"batchItemFailures": []})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_past_its_deadline_exports_a_timeout_span_before_the_deadline() {
    let function = Function::start("example-lambda-sqs-batch", "lambda-sqs-batch", &[]);
    let started = std::time::Instant::now();
    let timeout = Duration::from_millis(2500);
    let deadline = started + timeout;
    // The slow message outlives the deadline; the local API keeps waiting for it.
    let invocation = function.api.invoke(
        Invoke::new(sqs_event(vec![sqs_message("s-1", "slow")])).timeout(timeout),
        Duration::from_secs(15),
    );
    let waiting = function.spans_until(|spans| !named(spans, "otel-faas-test").is_empty());
    let (spans, _) = tokio::join!(waiting, invocation);
    let span = named(&spans, "otel-faas-test")[0];
    assert!(
        span.received_at < deadline,
        "exported {:?} after the deadline",
        span.received_at - deadline
    );
    assert_eq!(span.status, StatusCode::Error);
    assert_eq!(span.attr_str("error.type"), Some("timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_response_flush_happens_after_the_response_and_before_the_next_invocation() {
    let function = Function::start(
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[
            ("OTEL_FAAS_FLUSH", "after-response"),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    );
    // A slow collector makes the order of events unmistakable.
    function
        .receiver
        .set_response_delay(Duration::from_millis(400));
    let invoked = function
        .invoke(Invoke::new(sqs_event(vec![sqs_message("a-1", "ok")])))
        .await;
    assert_eq!(
        function.api.extension_count(),
        1,
        "the otel-faas extension registered"
    );
    let spans = function.receiver.spans();
    let invocation = named(&spans, "otel-faas-test");
    assert_eq!(
        invocation.len(),
        1,
        "exported before Lambda considered the invocation over"
    );
    let exported = invocation[0].received_at;
    assert!(
        exported > invoked.responded_at,
        "the response waited for telemetry"
    );
    assert!(
        exported < invoked.completed_at,
        "the next invocation could start before the export"
    );
    assert!(invoked.completed_at - invoked.responded_at >= Duration::from_millis(350));
    // The extension learns that the invocation ended from the engine (an observer); without
    // it, it would wait until the deadline before flushing.
    assert!(
        invoked.completed_at - invoked.responded_at < Duration::from_secs(5),
        "the extension waited {:?} after the response: it did not hear that the invocation ended",
        invoked.completed_at - invoked.responded_at
    );
}

/// With real work in the handler (5 s), the extension must wait for the invocation to end:
/// one that flushed as soon as INVOKE arrived would find nothing to export and let Lambda
/// move on, and the span would never arrive before the invocation is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_response_flush_waits_for_a_handler_that_works() {
    let function = Function::start(
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[
            ("OTEL_FAAS_FLUSH", "after-response"),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    );
    let invoked = function
        .invoke(Invoke::new(sqs_event(vec![sqs_message("w-1", "slow")])))
        .await;
    let spans = function.receiver.spans();
    let invocation = named(&spans, "otel-faas-test");
    assert_eq!(
        invocation.len(),
        1,
        "exported before Lambda considered the invocation over:\n{}",
        function.process.log()
    );
    assert!(
        invocation[0].duration_nanos() >= 5_000_000_000,
        "the handler worked 5 s"
    );
    assert!(invocation[0].received_at < invoked.completed_at);
    assert!(
        invoked.completed_at - invoked.responded_at < Duration::from_secs(2),
        "the extension held the environment {:?} after the response",
        invoked.completed_at - invoked.responded_at
    );
}

/// An event `lambda_runtime` cannot deserialise never reaches the engine; the extension
/// still learns that the request is over (from the runtime's own span) and returns at once
/// — it used to hold the environment until the deadline (6 s for a 2 ms error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_response_is_not_held_by_an_event_the_runtime_refuses() {
    let function = Function::start(
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[("OTEL_FAAS_FLUSH", "after-response")],
    );
    let invoked = function
        .invoke(Invoke::new(json!("not an SQS event")).timeout(Duration::from_secs(6)))
        .await;
    assert!(
        invoked.error.is_some(),
        "the runtime refuses the event: {invoked:?}\n{}",
        function.process.log()
    );
    let held = invoked.completed_at - invoked.responded_at;
    assert!(
        held < Duration::from_secs(2),
        "the extension held the environment {held:?} after the runtime's error\n{}",
        function.process.log()
    );
    // And the next invocation is served as usual.
    let next = function
        .invoke(Invoke::new(sqs_event(vec![sqs_message("after", "ok")])))
        .await;
    assert!(next.response.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_response_flush_exports_before_the_response() {
    let function = Function::start(
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[("OTEL_BSP_SCHEDULE_DELAY", "600000")],
    );
    let invoked = function
        .invoke(Invoke::new(sqs_event(vec![sqs_message("b-1", "ok")])))
        .await;
    assert_eq!(function.api.extension_count(), 0);
    let spans = function.receiver.spans();
    let invocation = named(&spans, "otel-faas-test");
    assert_eq!(invocation.len(), 1);
    assert!(invocation[0].received_at < invoked.responded_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exports_what_is_left_and_exits() {
    let mut function = Function::start(
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[
            ("OTEL_FAAS_FLUSH", "after-response"),
            ("OTEL_FAAS_FLUSH_BUDGET_MS", "0"),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    );
    function
        .invoke(Invoke::new(sqs_event(vec![sqs_message("t-1", "ok")])))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        function.receiver.spans().is_empty(),
        "nothing flushes with a zero budget: {:?}\n{}",
        function
            .receiver
            .spans()
            .iter()
            .map(|s| (&s.name, s.received_at))
            .collect::<Vec<_>>(),
        function.process.log()
    );
    function.process.terminate().expect("SIGTERM");
    let spans = function
        .spans_until(|spans| !named(spans, "otel-faas-test").is_empty())
        .await;
    assert_eq!(named(&spans, "otel-faas-test").len(), 1);
    assert_eq!(
        function.process.wait_for_exit(Duration::from_secs(5)),
        Some(true)
    );
}

/// On Lambda Managed Instances the after-response extension subscribes to SHUTDOWN only
/// (the stand-in refuses INVOKE there, as Lambda does, and the function would fail its
/// init), and spans of concurrent invocations leave on the batch processor's schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_instances_subscribe_to_shutdown_only_and_export_on_schedule() {
    let api = LocalRuntimeApi::start_with_concurrency(4).expect("runtime api");
    let function = Function::start_with(
        api,
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[
            ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"),
            ("OTEL_FAAS_FLUSH", "after-response"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let invocations = (0..4).map(|i| {
        function.api.invoke(
            Invoke::new(sqs_event(vec![sqs_message(&format!("mi-{i}"), "ok")]))
                .request_id(format!("mi-{i}")),
            WAIT,
        )
    });
    for invoked in futures_util::future::join_all(invocations).await {
        let invoked = invoked.unwrap_or_else(|e| panic!("{e}\n{}", function.process.log()));
        assert!(invoked.response.is_some(), "{invoked:?}");
    }
    let spans = function
        .spans_until(|spans| named(spans, "otel-faas-test").len() == 4)
        .await;
    assert_eq!(named(&spans, "otel-faas-test").len(), 4);
    assert_eq!(
        function.api.extension_events(),
        [vec!["SHUTDOWN".to_owned()]],
        "{}",
        function.process.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_concurrent_keeps_each_invocations_trace_header_apart() {
    let api = LocalRuntimeApi::start_with_concurrency(4).expect("runtime api");
    let function = Function::start_with(
        api,
        "example-lambda-sqs-batch",
        "lambda-sqs-batch",
        &[
            ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"),
            ("OTEL_PROPAGATORS", "tracecontext,xray-lambda"),
        ],
    );
    let invocations = (0..12).map(|i| {
        let header = format!(
            "Root=1-6789abcd-{i:024x};Parent={:016x};Sampled=1",
            0x1000 + i
        );
        let mut message = sqs_message(&format!("c-{i}"), "ok");
        message["body"] = if i % 3 == 0 {
            "slow-ish".into()
        } else {
            "ok".into()
        };
        function.api.invoke(
            Invoke::new(sqs_event(vec![message]))
                .request_id(format!("c-{i}"))
                .trace_header(header),
            WAIT,
        )
    });
    for result in futures_util::future::join_all(invocations).await {
        result.expect("invocation");
    }
    let spans = function
        .spans_until(|spans| named(spans, "otel-faas-test").len() == 12)
        .await;
    for invocation in named(&spans, "otel-faas-test") {
        let id = invocation.attr_str("faas.invocation_id").unwrap();
        let i: u64 = id.trim_start_matches("c-").parse().unwrap();
        assert_eq!(
            invocation.trace_id,
            format!("6789abcd{i:024x}"),
            "{id} took another invocation's trace"
        );
        assert_eq!(invocation.parent_span_id, format!("{:016x}", 0x1000 + i));
        assert_eq!(
            invocation.attr("faas.coldstart"),
            Some(&AttrValue::Bool(false))
        );
    }
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../shared/fixtures/aws-lambda-events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The official REST API sample, sent to `/orders/{id}`.
fn rest_request(path: &str, traceparent: Option<&str>) -> Value {
    let mut event = fixture("example-apigw-request.json");
    event["resource"] = "/orders/{id}".into();
    event["path"] = path.into();
    event["httpMethod"] = "GET".into();
    event["requestContext"]["httpMethod"] = "GET".into();
    event["requestContext"]["resourcePath"] = "/orders/{id}".into();
    event["pathParameters"] = json!({"id": path.trim_start_matches("/orders/")});
    event["body"] = Value::Null;
    if let Some(traceparent) = traceparent {
        event["headers"]["traceparent"] = traceparent.into();
        event["multiValueHeaders"]["traceparent"] = json!([traceparent]);
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_on_lambda_http_is_one_server_span_per_request_with_the_api_gateway_route() {
    let function = Function::start(
        "example-lambda-http-axum",
        "lambda-http-axum",
        // As the example's template sets it: routes without the API Gateway stage.
        &[("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")],
    );
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let invoked = function
        .invoke(
            Invoke::new(rest_request("/orders/42", Some(traceparent)))
                .request_id("http-1")
                .invoked_arn(ALIAS_ARN),
        )
        .await;
    let response = invoked.response.expect("a response");
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(response["body"], "order 42");

    let spans = function
        .spans_until(|spans| {
            !named(spans, "GET /orders/{id}").is_empty() && !named(spans, "load_order").is_empty()
        })
        .await;
    let server = named(&spans, "GET /orders/{id}")[0];
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(server.parent_span_id, "b7ad6b7169203331");
    assert_eq!(server.attr_str("faas.trigger"), Some("http"));
    assert_eq!(server.attr_str("http.route"), Some("/orders/{id}"));
    assert_eq!(server.attr_str("url.path"), Some("/orders/42"));
    assert_eq!(server.attr_str("http.request.method"), Some("GET"));
    assert_eq!(
        server.attr("http.response.status_code"),
        Some(&AttrValue::Int(200))
    );
    assert_eq!(server.attr_str("client.address"), Some("192.168.196.186"));
    assert_eq!(server.attr_str("faas.invocation_id"), Some("http-1"));
    assert_eq!(server.attr_str("cloud.account.id"), Some("123456789012"));
    assert_eq!(server.status, StatusCode::Unset);
    let child = named(&spans, "load_order")[0];
    assert_eq!(child.parent_span_id, server.span_id);
}

/// An ALB target and an HTTP API `$default` route (the payload a function URL sends too)
/// carry no route: the span is named after the route axum matched, which the example's
/// `HttpRouteLayer` records once the router has matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_names_the_span_where_the_event_carries_no_route() {
    let function = Function::start("example-lambda-http-axum", "lambda-http-axum", &[]);
    let mut alb = fixture("example-alb-lambda-target-request-headers-only.json");
    alb["path"] = "/orders/7".into();
    alb["queryStringParameters"] = json!({});
    let mut default_route = fixture("example-apigw-v2-request-no-authorizer.json");
    default_route["rawPath"] = "/orders/8".into();
    default_route["requestContext"]["http"]["method"] = "GET".into();
    default_route["requestContext"]["http"]["path"] = "/orders/8".into();
    default_route["requestContext"]["stage"] = "$default".into();
    default_route["body"] = Value::Null;
    for (id, event) in [("alb", alb), ("default", default_route)] {
        let invoked = function.invoke(Invoke::new(event).request_id(id)).await;
        let response = invoked.response.expect("a response");
        assert_eq!(response["statusCode"], 200, "{id}: {response}");
    }
    let spans = function
        .spans_until(|spans| spans.iter().filter(|s| s.kind == SpanKind::Server).count() == 2)
        .await;
    for (id, path) in [("alb", "/orders/7"), ("default", "/orders/8")] {
        let server = spans
            .iter()
            .find(|s| s.kind == SpanKind::Server && s.attr_str("faas.invocation_id") == Some(id))
            .unwrap_or_else(|| panic!("no server span for {id}"));
        assert_eq!(server.name, "GET /orders/{id}", "{id}");
        assert_eq!(server.attr_str("http.route"), Some("/orders/{id}"), "{id}");
        assert_eq!(server.attr_str("url.path"), Some(path), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_on_lambda_http_404_is_not_an_error_but_503_is() {
    let function = Function::start(
        "example-lambda-http-axum",
        "lambda-http-axum",
        // As the example's template sets it: routes without the API Gateway stage.
        &[("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")],
    );
    let missing = function
        .invoke(Invoke::new(rest_request("/orders/0", None)))
        .await;
    assert_eq!(missing.response.unwrap()["statusCode"], 404);
    let mut failing = rest_request("/fail", None);
    failing["resource"] = "/fail".into();
    failing["requestContext"]["resourcePath"] = "/fail".into();
    let failed = function.invoke(Invoke::new(failing)).await;
    assert_eq!(failed.response.unwrap()["statusCode"], 503);
    let spans = function
        .spans_until(|spans| spans.iter().filter(|s| s.kind == SpanKind::Server).count() == 2)
        .await;
    let not_found = named(&spans, "GET /orders/{id}")[0];
    assert_eq!(not_found.status, StatusCode::Unset);
    assert_eq!(
        not_found.attr("http.response.status_code"),
        Some(&AttrValue::Int(404))
    );
    let unavailable = named(&spans, "GET /fail")[0];
    assert_eq!(unavailable.status, StatusCode::Error);
    assert_eq!(unavailable.attr_str("error.type"), Some("503"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_stream_function_reports_the_first_failed_record() {
    let function = Function::start(
        "example-lambda-dynamodb-stream",
        "lambda-dynamodb-stream",
        &[],
    );
    let mut event = fixture("example-dynamodb-event.json");
    let mut removed = event["Records"][0].clone();
    removed["eventName"] = "REMOVE".into();
    removed["dynamodb"]["SequenceNumber"] = "9999".into();
    event["Records"].as_array_mut().unwrap().push(removed);
    let invoked = function.invoke(Invoke::new(event)).await;
    assert_eq!(
        invoked.response,
        Some(json!({"batchItemFailures": [{"itemIdentifier": "9999"}]}))
    );
    let spans = function
        .spans_until(|spans| {
            !named(spans, "otel-faas-test").is_empty()
                && named(spans, "Example-Table process").len() == 3
        })
        .await;
    let invocation = named(&spans, "otel-faas-test")[0];
    assert_eq!(invocation.attr_str("faas.trigger"), Some("datasource"));
    assert_eq!(
        invocation.attr_str("faas.document.collection"),
        Some("Example-Table")
    );
    assert_eq!(
        invocation.attr_str("faas.document.operation"),
        Some("mixed"),
        "an insert and a delete"
    );
    assert_eq!(invocation.status, StatusCode::Error);
    let records = named(&spans, "Example-Table process");
    let failed: Vec<_> = records
        .iter()
        .filter(|s| s.status == StatusCode::Error)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].attr_str("faas.document.operation"),
        Some("delete")
    );
    assert!(
        records
            .iter()
            .all(|r| r.parent_span_id == invocation.span_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_function_accepts_a_notification_without_user_identity() {
    let function = Function::start("example-lambda-s3", "lambda-s3", &[]);
    let mut event = fixture("example-s3-event.json");
    let record = event["Records"][0].as_object_mut().unwrap();
    record.remove("userIdentity");
    record.remove("requestParameters");
    let invoked = function.invoke(Invoke::new(event)).await;
    assert_eq!(
        invoked.response,
        Some(json!({"indexed": ["s3://sourcebucket/Happy%20Face.jpg"]}))
    );
    let spans = function
        .spans_until(|spans| !named(spans, "otel-faas-test").is_empty())
        .await;
    let invocation = named(&spans, "otel-faas-test")[0];
    assert_eq!(invocation.attr_str("faas.trigger"), Some("datasource"));
    assert_eq!(
        invocation.attr_str("faas.document.collection"),
        Some("sourcebucket")
    );
    assert_eq!(
        invocation.attr_str("faas.document.name"),
        Some("Happy Face.jpg")
    );
    assert_eq!(
        invocation.attr_str("faas.document.operation"),
        Some("insert")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_function_is_a_timer_with_the_configured_cron() {
    let function = Function::start(
        "example-lambda-scheduled",
        "lambda-scheduled",
        &[("SCHEDULE_EXPRESSION", "cron(0 3 * * ? *)")],
    );
    function
        .invoke(Invoke::new(fixture("example-eventbridge-schedule.json")))
        .await;
    let spans = function
        .spans_until(|spans| {
            !named(spans, "otel-faas-test").is_empty()
                && !named(spans, "compact_reports").is_empty()
        })
        .await;
    let invocation = named(&spans, "otel-faas-test")[0];
    assert_eq!(invocation.attr_str("faas.trigger"), Some("timer"));
    assert_eq!(invocation.attr_str("faas.cron"), Some("cron(0 3 * * ? *)"));
    assert_eq!(
        invocation.attr_str("faas.time"),
        Some("2015-10-08T16:53:06.000Z")
    );
    assert_eq!(
        named(&spans, "compact_reports")[0].parent_span_id,
        invocation.span_id
    );
}

/// `OTEL_METRICS_EXPORTER=awsemf`: the FaaS metrics, the Powertools `ColdStart` metric and
/// the function's own counter (the standard meter API) arrive as EMF lines on standard
/// output, each valid by the specification's rules, with the invocations' values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_as_embedded_metric_format_on_standard_output() {
    let function = Function::start(
        "example-lambda-scheduled",
        "lambda-scheduled",
        &[
            ("OTEL_METRICS_EXPORTER", "awsemf"),
            ("OTEL_FAAS_EMF_NAMESPACE", "otel-faas/tests"),
        ],
    );
    for _ in 0..3 {
        function
            .invoke(Invoke::new(fixture("example-eventbridge-schedule.json")))
            .await;
    }
    // Spans still go over OTLP; the EMF lines were written before each response.
    function
        .spans_until(|spans| named(spans, "otel-faas-test").len() >= 3)
        .await;
    let documents = otel_faas_integration_tests::emf_documents(&function.process.stdout())
        .unwrap_or_else(|error| panic!("{error}"));
    let metrics: Vec<_> = documents.iter().flat_map(|d| d.metrics.iter()).collect();
    let values = |name: &str| -> Vec<f64> {
        metrics
            .iter()
            .filter(|m| m.name == name)
            .flat_map(|m| m.values.iter().copied())
            .collect()
    };
    let by_name = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name} in {documents:#?}"))
    };
    assert_eq!(values("faas.invocations").iter().sum::<f64>(), 3.0);
    assert_eq!(
        values("faas.invoke_duration").len(),
        3,
        "one value per invocation"
    );
    assert_eq!(values("faas.coldstarts"), [1.0]);
    assert_eq!(values("faas.init_duration").len(), 1);
    assert_eq!(values("ColdStart"), [1.0]);
    assert_eq!(values("reports.compacted").iter().sum::<f64>(), 9.0);
    assert!(values("faas.errors").iter().all(|v| *v == 0.0));

    let invocations = by_name("faas.invocations");
    assert_eq!(invocations.namespace, "otel-faas/tests");
    assert_eq!(invocations.unit.as_deref(), Some("Count"));
    assert_eq!(invocations.dimensions[0]["faas.trigger"], "timer");
    assert_eq!(invocations.dimensions[0]["service.name"], "otel-faas-test");
    assert_eq!(
        by_name("faas.invoke_duration").unit.as_deref(),
        Some("Seconds")
    );
    let compacted = by_name("reports.compacted");
    assert_eq!(compacted.dimensions[0]["report.kind"], "daily");
    assert_eq!(compacted.unit.as_deref(), Some("Count"));
    let cold = by_name("ColdStart");
    assert_eq!(cold.dimensions[0]["function_name"], "otel-faas-test");
    assert_eq!(cold.dimensions[0]["service"], "otel-faas-test");
}

/// `AWS_LAMBDA_LOG_FORMAT=JSON`: the example's log line is one JSON object on standard
/// error carrying the request id, the cold start and the OpenTelemetry trace and span ids
/// of the span it was written in — the ids of the spans that arrive over OTLP — and the same
/// event arrives as an OTLP log record in the same trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_the_trace_ids_of_the_spans() {
    let function = Function::start(
        "example-lambda-scheduled",
        "lambda-scheduled",
        &[("AWS_LAMBDA_LOG_FORMAT", "JSON")],
    );
    for request in ["req-log-1", "req-log-2"] {
        function
            .invoke(Invoke::new(fixture("example-eventbridge-schedule.json")).request_id(request))
            .await;
    }
    let spans = function
        .spans_until(|spans| named(spans, "compact_reports").len() >= 2)
        .await;
    function
        .receiver
        .wait_for(WAIT, |r| {
            r.logs()
                .iter()
                .filter(|l| l.body == "compacted the reports")
                .count()
                >= 2
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", function.process.log()));
    let stdout = function.process.log();
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "compacted the reports")
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let records = function.receiver.logs();
    for (line, (request, cold)) in lines
        .iter()
        .zip([("req-log-1", true), ("req-log-2", false)])
    {
        assert_eq!(line["requestId"], request, "{line}");
        assert_eq!(line["coldStart"], cold);
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["reports"], 3);
        let span = spans
            .iter()
            .find(|s| {
                s.name == "compact_reports" && Some(s.span_id.as_str()) == line["spanId"].as_str()
            })
            .unwrap_or_else(|| panic!("no span {} among {spans:#?}", line["spanId"]));
        assert_eq!(line["traceId"].as_str(), Some(span.trace_id.as_str()));
        let invocation = spans
            .iter()
            .find(|s| s.name == "otel-faas-test" && s.trace_id == span.trace_id)
            .expect("the invocation span of the same trace");
        assert_eq!(invocation.attr_str("faas.invocation_id"), Some(request));
        assert!(
            records.iter().any(|r| r.body == "compacted the reports"
                && r.trace_id == span.trace_id
                && r.span_id == span.span_id),
            "an OTLP log record in the same span: {records:#?}"
        );
    }
}

/// `OTEL_FAAS_LAMBDA_PLATFORM_TELEMETRY=true`: the example's extension subscribes to the
/// Telemetry API during init; each `platform.report` reaches it during the next invocation
/// (the environment is frozen in between) and becomes the memory, billed-duration and cost
/// metrics and a `platform.report` span under that invocation's span; `platform.initReport`
/// becomes the platform's init duration. In both flush modes: before the response the
/// extension only subscribes, after it it also flushes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_figures_arrive_from_the_telemetry_api_one_invocation_late() {
    use otel_faas_aws::lambda::platform::{
        BILLED_DURATION_ATTRIBUTE, BILLED_DURATION_METRIC, COST_ATTRIBUTE, COST_METRIC,
        INIT_DURATION_ATTRIBUTE, MAX_MEMORY_USED_ATTRIBUTE, PLATFORM_INIT_DURATION_METRIC,
        REPORT_SPAN_NAME,
    };
    for flush in ["before-response", "after-response"] {
        let api = LocalRuntimeApi::start().expect("runtime api");
        api.report_memory(512, 77);
        let function = Function::start_with(
            api,
            "example-lambda-scheduled",
            "lambda-scheduled",
            &[
                ("OTEL_FAAS_FLUSH", flush),
                ("OTEL_FAAS_LAMBDA_PLATFORM_TELEMETRY", "true"),
                ("OTEL_FAAS_LAMBDA_TELEMETRY_LISTEN", "127.0.0.1:0"),
                ("OTEL_FAAS_LAMBDA_PRICE_PER_GB_SECOND", "0.001"),
                ("OTEL_FAAS_LAMBDA_PRICE_PER_REQUEST", "0"),
            ],
        );
        let requests = ["req-pf-1", "req-pf-2", "req-pf-3", "req-pf-4"];
        for request in requests {
            function
                .invoke(
                    Invoke::new(fixture("example-eventbridge-schedule.json")).request_id(request),
                )
                .await;
            // Invocations some time apart, as a schedule's are: Lambda's 25 ms buffering runs
            // out while the environment is frozen, and the report is sent as it thaws.
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let spans = function
            .spans_until(|spans| named(spans, REPORT_SPAN_NAME).len() >= 2)
            .await;
        let context = || format!("{flush}: {spans:#?}\n{}", function.process.log());
        let events = function.api.platform_events();
        let report_of = |request: &str| {
            events
                .iter()
                .find(|e| e["type"] == "platform.report" && e["record"]["requestId"] == request)
                .unwrap_or_else(|| panic!("no report of {request} in {events:#?}"))
                .clone()
        };
        for request in &requests[..2] {
            let invocation = spans
                .iter()
                .find(|s| {
                    s.name == "otel-faas-test" && s.attr_str("faas.invocation_id") == Some(request)
                })
                .unwrap_or_else(|| panic!("no invocation span of {request}: {}", context()));
            let report = spans
                .iter()
                .find(|s| {
                    s.name == REPORT_SPAN_NAME && s.attr_str("faas.invocation_id") == Some(request)
                })
                .unwrap_or_else(|| panic!("no report span of {request}: {}", context()));
            assert_eq!(report.trace_id, invocation.trace_id, "{}", context());
            assert_eq!(report.parent_span_id, invocation.span_id, "{}", context());
            let platform = report_of(request);
            let billed = platform["record"]["metrics"]["billedDurationMs"]
                .as_i64()
                .expect("billed");
            assert_eq!(
                report.attr_int(BILLED_DURATION_ATTRIBUTE),
                Some(billed),
                "{}",
                context()
            );
            assert_eq!(report.attr_int(MAX_MEMORY_USED_ATTRIBUTE), Some(77));
            assert_eq!(report.attr_str("otel_faas.lambda.status"), Some("success"));
            // 512 MB is half a GB: billed seconds × 0.5 × 0.001 USD.
            let cost = report.attr_f64(COST_ATTRIBUTE).expect("a cost");
            #[allow(clippy::cast_precision_loss)]
            let expected = billed as f64 / 1000.0 * 0.5 * 0.001;
            assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
            // The report spans the billed window: from the invocation's start to the report.
            assert!(report.start_unix_nanos <= invocation.end_unix_nanos);
            assert!(report.end_unix_nanos >= invocation.end_unix_nanos);
            let cold = request == &requests[0];
            assert_eq!(
                report.attr_f64(INIT_DURATION_ATTRIBUTE).is_some(),
                cold,
                "only the cold report has the init duration: {}",
                context()
            );
        }
        function
            .receiver
            .wait_for(WAIT, |r| {
                let metrics = r.metrics();
                let count = |name: &str| -> f64 {
                    metrics
                        .iter()
                        .filter(|m| m.name == name)
                        .flat_map(|m| m.points.iter().map(|(v, _)| *v))
                        .sum()
                };
                count("faas.mem_usage") >= 2.0
                    && count(BILLED_DURATION_METRIC) >= 2.0
                    && count(COST_METRIC) > 0.0
                    && count(PLATFORM_INIT_DURATION_METRIC) >= 1.0
            })
            .await
            .unwrap_or_else(|e| panic!("{flush}: {e}\n{}", function.process.log()));
        let metrics = function.receiver.metrics();
        let memory = metrics
            .iter()
            .find(|m| m.name == "faas.mem_usage")
            .expect("faas.mem_usage");
        assert_eq!(memory.unit, "By");
        assert_eq!(memory.sums[0] / memory.points[0].0, 77.0 * 1024.0 * 1024.0);
        assert_eq!(
            memory.points[0].1.get("faas.trigger"),
            Some(&AttrValue::Str("timer".to_owned()))
        );
        let init = metrics
            .iter()
            .find(|m| m.name == PLATFORM_INIT_DURATION_METRIC)
            .expect("init duration");
        let init_event = events
            .iter()
            .find(|e| e["type"] == "platform.initReport")
            .expect("an init report");
        let init_ms = init_event["record"]["metrics"]["durationMs"]
            .as_f64()
            .expect("init ms");
        assert!((init.sums[0] - init_ms / 1000.0).abs() < 1e-9);
        assert!(
            function.api.delivery_errors().is_empty(),
            "{:?}",
            function.api.delivery_errors()
        );
        let log = function.process.log();
        assert!(
            !log.contains("otel-faas warning") && !log.contains("kind=\"lambda-telemetry"),
            "{log}"
        );
    }
}

/// The JSON lines the function wrote (Lambda's JSON log format) up to its first response.
async fn json_log_lines(env: &[(&str, &str)]) -> Vec<Value> {
    let mut vars = vec![("AWS_LAMBDA_LOG_FORMAT", "JSON")];
    vars.extend_from_slice(env);
    let function = Function::start("example-lambda-sqs-batch", "lambda-sqs-batch", &vars);
    let invoked = function
        .invoke(Invoke::new(sqs_event(vec![sqs_message("l-1", "hello")])))
        .await;
    assert_eq!(invoked.response, Some(json!({"batchItemFailures": []})));
    // Each line is written to standard error before the handler returns.
    function
        .process
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("level").is_some())
        .collect()
}

fn levels(lines: &[Value]) -> std::collections::BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l["level"].as_str())
        .map(str::to_owned)
        .collect()
}

/// Lambda's lines follow the function's log level setting, else `RUST_LOG`, else `INFO`:
/// no library's DEBUG line by default, as on the other clouds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_log_lines_follow_the_level_setting_then_rust_log() {
    let default = json_log_lines(&[]).await;
    assert!(
        default.iter().any(|l| l["message"] == "processed"),
        "{default:?}"
    );
    assert_eq!(levels(&default), ["INFO".to_owned()].into(), "{default:#?}");
    let debug = json_log_lines(&[("RUST_LOG", "debug")]).await;
    assert!(levels(&debug).contains("DEBUG"), "{debug:#?}");
    // The function's own setting wins over RUST_LOG.
    let warn = json_log_lines(&[("RUST_LOG", "debug"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")]).await;
    assert!(
        !warn.iter().any(|l| l["message"] == "processed"),
        "{warn:#?}"
    );
    assert!(
        levels(&warn).iter().all(|l| l == "WARN" || l == "ERROR"),
        "{warn:#?}"
    );
}
