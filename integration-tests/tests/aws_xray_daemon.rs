//! `OTEL_TRACES_EXPORTER=awsxray`: the pipeline from the `OTEL_*` variables sends its spans
//! as X-Ray segment documents over UDP to a fake daemon on 127.0.0.1
//! ([`FakeXrayDaemon`]), which reads each datagram as the daemon does and checks each
//! document against the developer guide's required fields.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use otel_faas_aws::xray::daemon::xray_daemon_destination;
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::{Pipeline, Telemetry};
use otel_faas_integration_tests::FakeXrayDaemon;
use serde_json::Value;

fn pipeline(address: &str, extra: &[(&'static str, &'static str)]) -> Telemetry {
    let mut env = MapEnvironment::from([
        ("OTEL_TRACES_EXPORTER", "awsxray"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_SERVICE_NAME", "orders"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/orders"),
    ]);
    env.insert("AWS_XRAY_DAEMON_ADDRESS", address);
    for (key, value) in extra {
        env.insert(*key, *value);
    }
    Pipeline::with_environment(env)
        .with_span_destination(xray_daemon_destination())
        .install()
}

/// `LambdaTelemetry` for the function `name`, sending its spans to `daemon` only.
fn lambda_telemetry(daemon: &FakeXrayDaemon, name: &str) -> otel_faas_aws::LambdaTelemetry {
    let env = MapEnvironment::from([
        ("OTEL_TRACES_EXPORTER", "awsxray".to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ("AWS_XRAY_DAEMON_ADDRESS", daemon.address()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
    ]);
    otel_faas_aws::LambdaTelemetry::builder_with_environment(env).build()
}

/// The official Lambda event sample `file` (../shared/fixtures/aws-lambda-events).
fn lambda_event<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = format!(
        "{}/../../shared/fixtures/aws-lambda-events/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A Lambda trace root of now, with `rest` as its 24 hex digits: X-Ray refuses trace ids
/// whose epoch is over 30 days old.
fn fresh_root(rest: &str) -> String {
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("1-{epoch:08x}-{rest}")
}

/// The Lambda context of one invocation of `function` with `trace_header`.
fn lambda_context(
    request_id: &str,
    function: &str,
    trace_header: String,
) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.request_id = request_id.into();
    context.invoked_function_arn =
        format!("arn:aws:lambda:us-east-1:123456789012:function:{function}");
    context.xray_trace_id = Some(trace_header);
    context
}

async fn flush(telemetry: &Telemetry) -> Result<(), otel_faas_core::engine::FlushError> {
    telemetry.flusher().flush(Duration::from_secs(2)).await
}

fn by_name<'a>(documents: &'a [Value], name: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no document named {name}: {documents:#?}"))
}

#[tokio::test]
async fn spans_reach_the_daemon_as_segment_documents() {
    let daemon = FakeXrayDaemon::start().await;
    let telemetry = pipeline(&daemon.address(), &[]);
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    let tracer = telemetry.tracer_provider().tracer("test");
    let server = tracer
        .span_builder("GET /orders/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.path", "/orders/7"),
            KeyValue::new("http.response.status_code", 200),
        ])
        .start(&tracer);
    let cx = opentelemetry::Context::current_with_span(server);
    let mut client = tracer
        .span_builder("GET")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.full", "https://prices.example.com/items/7"),
            KeyValue::new("server.address", "prices.example.com"),
            KeyValue::new("http.response.status_code", 503),
        ])
        .start_with_context(&tracer, &cx);
    client.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "reqwest::Error"),
            KeyValue::new("exception.message", "the price service is down"),
        ],
    );
    client.set_status(Status::error("503"));
    client.end();
    cx.span().end();
    flush(&telemetry).await.expect("the flush");

    let documents = daemon.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(documents.len(), 2, "{documents:#?}");
    assert_eq!(daemon.violations(), Vec::<String>::new());
    let segment = by_name(&documents, "orders");
    let subsegment = documents
        .iter()
        .find(|d| d.get("type").is_some())
        .expect("the CLIENT span is a subsegment");
    // One trace, the subsegment under the segment.
    assert_eq!(segment["trace_id"], subsegment["trace_id"]);
    assert_eq!(subsegment["type"], "subsegment");
    // The remote node is named after the service called, and an HTTP call is no database.
    assert_eq!(subsegment["name"], "prices.example.com");
    assert_eq!(subsegment["namespace"], "remote");
    assert!(subsegment.get("sql").is_none(), "{subsegment}");
    assert_eq!(subsegment["parent_id"], segment["id"]);
    assert!(segment.get("parent_id").is_none(), "a root: {segment}");
    // X-Ray trace ids carry the epoch seconds: within a minute of now.
    let epoch = u64::from_str_radix(&segment["trace_id"].as_str().unwrap()[2..10], 16).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(epoch) < 60,
        "trace id epoch {epoch}, now {now}"
    );
    // The HTTP fields, and fault (5xx) with its cause.
    assert_eq!(segment["http"]["request"]["method"], "GET");
    assert_eq!(segment["http"]["response"]["status"], 200);
    assert_ne!(segment.get("fault"), Some(&Value::Bool(true)));
    assert_eq!(subsegment["http"]["response"]["status"], 503);
    assert_eq!(subsegment["fault"], true, "{subsegment}");
    let cause = subsegment["cause"].to_string();
    assert!(cause.contains("the price service is down"), "{subsegment}");
    // The log group, so that X-Ray links the function's logs.
    assert!(
        segment.to_string().contains("/aws/lambda/orders"),
        "{segment}"
    );
}

#[tokio::test]
async fn a_span_too_large_for_a_datagram_is_cut_to_fit() {
    let daemon = FakeXrayDaemon::start().await;
    let telemetry = pipeline(
        &daemon.address(),
        &[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "1000000")],
    );
    let tracer = telemetry.tracer_provider().tracer("test");
    // An exception whose message alone is 200 KiB: the cause would not fit a datagram.
    let mut large = tracer
        .span_builder("large")
        .with_kind(SpanKind::Server)
        .start(&tracer);
    large.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "Overflow"),
            KeyValue::new("exception.message", "x".repeat(200 * 1024)),
        ],
    );
    large.set_status(Status::error("overflow"));
    large.end();
    tracer.start("small").end();
    flush(&telemetry).await.expect("the flush");
    let documents = daemon.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(daemon.violations(), Vec::<String>::new());
    assert_eq!(documents.len(), 2, "both sent: {documents:#?}");
    let sizes = daemon.sizes();
    assert!(sizes.iter().all(|size| *size <= 65_507), "{sizes:?}");
    let cut = documents
        .iter()
        .find_map(|d| d.pointer("/cause/exceptions/0/message")?.as_str())
        .expect("the exception is kept, its message cut");
    assert_eq!(cut.len(), 1024, "cut to 1 KiB");
    assert!(cut.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn a_daemon_that_is_not_there_fails_no_invocation_and_is_counted() {
    // A port nothing listens on: the kernel answers each datagram with "port unreachable".
    let gone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = gone.local_addr().unwrap().to_string();
    drop(gone);
    let telemetry = pipeline(&address, &[]);
    let tracer = telemetry.tracer_provider().tracer("test");
    for round in 0..5 {
        tracer.start(format!("invocation-{round}")).end();
        // The flush reports, never panics; the spans of a failed send are counted.
        let _ = flush(&telemetry).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = telemetry.export_stats();
    assert!(stats.dropped_export_failed >= 1, "{stats:?}");
    assert_eq!(
        stats.exported + stats.dropped() + stats.held,
        5,
        "every span exported, dropped or held: {stats:?}"
    );
}

#[tokio::test]
async fn an_address_that_does_not_parse_is_a_warning_and_no_exporter() {
    let telemetry = pipeline("localhost", &[]);
    let warnings = telemetry.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].variable, "OTEL_TRACES_EXPORTER");
    assert_eq!(warnings[0].value, "awsxray");
    assert!(
        warnings[0]
            .accepted
            .contains("the X-Ray daemon address `localhost` does not parse (no port)"),
        "{:?}",
        warnings[0]
    );
    // Spans still end without anything to send them to.
    telemetry
        .tracer_provider()
        .tracer("test")
        .start("work")
        .end();
    flush(&telemetry).await.expect("nothing to flush");
}

#[tokio::test]
async fn unsampled_spans_send_nothing() {
    let daemon = FakeXrayDaemon::start().await;
    let unsampled = pipeline(&daemon.address(), &[("OTEL_TRACES_SAMPLER", "always_off")]);
    unsampled
        .tracer_provider()
        .tracer("test")
        .start("not sampled")
        .end();
    flush(&unsampled).await.expect("the flush");
    // The same daemon receives a sampled span: it was listening all along.
    let sampled = pipeline(&daemon.address(), &[]);
    sampled
        .tracer_provider()
        .tracer("test")
        .start("sampled")
        .end();
    flush(&sampled).await.expect("the flush");
    let documents = daemon.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let names: Vec<String> = daemon
        .documents()
        .iter()
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(documents.len(), 1);
    assert_eq!(names.len(), 1, "{names:?}");
}

#[tokio::test]
async fn a_database_call_keeps_its_sql_url_and_a_root_job_is_a_segment() {
    let daemon = FakeXrayDaemon::start().await;
    let telemetry = pipeline(&daemon.address(), &[]);
    let tracer = telemetry.tracer_provider().tracer("test");
    // A scheduled job: an INTERNAL span without a parent.
    let job = tracer.start("nightly-report");
    let cx = opentelemetry::Context::current_with_span(job);
    tracer
        .span_builder("SELECT orders")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("server.address", "db.internal"),
            KeyValue::new("server.port", 5432),
        ])
        .start_with_context(&tracer, &cx)
        .end();
    cx.span().end();
    flush(&telemetry).await.expect("the flush");
    let documents = daemon.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(daemon.violations(), Vec::<String>::new());
    assert_eq!(documents.len(), 2, "{documents:#?}");
    let job = by_name(&documents, "orders");
    assert!(job.get("type").is_none(), "a segment: {job}");
    let query = by_name(&documents, "db.internal");
    assert_eq!(query["parent_id"], job["id"]);
    assert_eq!(query["sql"]["url"], "db.internal:5432", "{query}");
}

/// A Lambda invocation under `LambdaTelemetry` with `awsxray` and nothing else configured
/// (no `OTEL_PROPAGATORS`): its document sits under Lambda's own segment (the `Parent` of `Lambda-Runtime-Trace-Id`) in
/// Lambda's trace, and an invocation Lambda did not sample sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_invocation_sits_under_lambdas_segment_and_unsampled_sends_nothing() {
    use lambda_runtime::LambdaEvent;
    use otel_faas_aws::SqsTrigger;
    use otel_faas_aws::lambda::LambdaEventAdapter;

    let daemon = FakeXrayDaemon::start().await;
    let otel = lambda_telemetry(&daemon, "consumer");
    assert!(
        otel.telemetry().warnings().is_empty(),
        "{:?}",
        otel.telemetry().warnings()
    );
    let event: aws_lambda_events::sqs::SqsEvent = lambda_event("example-sqs-event.json");
    let root = fresh_root("bd862e3fe1be46a994272793");
    let invoke = |sampled: &'static str, request_id: &'static str| {
        let context = lambda_context(
            request_id,
            "consumer",
            format!("Root={root};Parent=53995c3f42cd8ad8;Sampled={sampled}"),
        );
        let event = event.clone();
        let otel = &otel;
        async move {
            otel.engine()
                .invocation(
                    &LambdaEventAdapter::new(SqsTrigger::new()),
                    LambdaEvent::new(event, context),
                )
                .run(|_| async { Ok::<_, std::convert::Infallible>(()) })
                .await
                .unwrap();
            otel.telemetry()
                .flusher()
                .flush(Duration::from_secs(2))
                .await
                .expect("the flush");
        }
    };
    invoke("0", "not-sampled").await;
    invoke("1", "sampled").await;
    let documents = daemon.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(daemon.violations(), Vec::<String>::new());
    let documents: Vec<&Value> = documents
        .iter()
        .filter(|d| d["parent_id"] == "53995c3f42cd8ad8")
        .collect();
    assert_eq!(documents.len(), 1, "{:#?}", daemon.documents());
    let invocation = documents[0];
    assert_eq!(invocation["trace_id"], root.as_str());
    // Everything the sampled invocation sent is in Lambda's trace; nothing of the other.
    assert!(
        daemon
            .documents()
            .iter()
            .all(|d| d["trace_id"] == root.as_str()),
        "{:#?}",
        daemon.documents()
    );
}

#[tokio::test]
async fn a_url_over_xrays_limit_is_shortened_not_lost() {
    let daemon = FakeXrayDaemon::start().await;
    let telemetry = pipeline(&daemon.address(), &[]);
    let tracer = telemetry.tracer_provider().tracer("test");
    let root = opentelemetry::Context::current_with_span(tracer.start("job"));
    let long = format!("https://prices.example.com/items?ids={}", "7,".repeat(200));
    let mut call = tracer
        .span_builder("GET")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.full", long.clone()),
            KeyValue::new("http.response.status_code", 500),
        ])
        .start_with_context(&tracer, &root);
    call.add_event(
        "exception",
        vec![KeyValue::new("exception.message", "the server failed")],
    );
    call.end();
    root.span().end();
    flush(&telemetry).await.expect("the flush");
    let documents = daemon.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(daemon.violations(), Vec::<String>::new());
    assert_eq!(documents.len(), 2, "{documents:#?}");
    let call = documents
        .iter()
        .find(|d| d.get("type").is_some())
        .expect("the call");
    let url = call["http"]["request"]["url"].as_str().expect("its URL");
    assert_eq!(url, &long[..250]);
    // Shortening the strings was enough: the cause stays.
    assert!(
        call["cause"].to_string().contains("the server failed"),
        "{call}"
    );
}

#[tokio::test]
async fn annotations_are_indexed_and_the_51st_goes_to_metadata() {
    use otel_faas_aws::xray::annotations::annotate;
    let daemon = FakeXrayDaemon::start().await;
    let telemetry = pipeline(&daemon.address(), &[]);
    let tracer = telemetry.tracer_provider().tracer("test");
    let span = tracer.start("job");
    let cx = opentelemetry::Context::current_with_span(span);
    {
        let _attached = cx.clone().attach();
        annotate("order_id", "7");
        annotate("retries", 2_i64);
        annotate("express", true);
        annotate("order-id", "refused");
        for n in 0..50 {
            annotate(&format!("extra_{n:02}"), n);
        }
    }
    cx.span().end();
    flush(&telemetry).await.expect("the flush");
    let documents = daemon.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(daemon.violations(), Vec::<String>::new());
    let annotations = documents[0]["annotations"]
        .as_object()
        .expect("annotations");
    assert_eq!(annotations["order_id"], "7");
    assert_eq!(annotations["retries"], 2);
    assert_eq!(annotations["express"], true);
    assert!(!annotations.contains_key("order-id") && !annotations.contains_key("order_id2"));
    assert_eq!(annotations.len(), 50, "X-Ray keeps 50");
    // The three left over are metadata, not lost, in X-Ray's default namespace.
    let metadata = documents[0]["metadata"].as_object().expect("metadata");
    assert_eq!(metadata.keys().collect::<Vec<_>>(), ["default"]);
    let default = metadata["default"].as_object().expect("a namespace");
    assert_eq!(default.len(), 3, "{default:?}");
    let left_over = default
        .keys()
        .filter(|key| key.starts_with("extra_"))
        .count();
    assert_eq!(left_over, 3, "{default:?}");
}

/// The `lambda-xray` example as Lambda runs it with active tracing: the real
/// `lambda_runtime` against a local Runtime API that sends `Lambda-Runtime-Trace-Id`, the
/// daemon's address in `AWS_XRAY_DAEMON_ADDRESS`, the template's variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_xray_example_under_active_tracing() {
    use otel_faas_integration_tests::{FunctionProcess, Invoke, LocalRuntimeApi, build_binary};

    let daemon = FakeXrayDaemon::start().await;
    let api = LocalRuntimeApi::start().expect("the local Runtime API");
    let binary = build_binary("example-lambda-xray", "lambda-xray").expect("the example");
    let process = FunctionProcess::spawn(
        &binary,
        &api.address(),
        &[
            ("AWS_XRAY_DAEMON_ADDRESS", daemon.address()),
            ("OTEL_SERVICE_NAME", "nightly".to_owned()),
            ("OTEL_TRACES_EXPORTER", "awsxray".to_owned()),
            ("OTEL_METRICS_EXPORTER", "none".to_owned()),
            ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ],
    )
    .expect("the function process");
    let event: Value = lambda_event("example-eventbridge-schedule.json");
    let invoke = |root: String, sampled: &str| {
        let mut invoke = Invoke::new(event.clone());
        invoke.trace_header = Some(format!(
            "Root={root};Parent=53995c3f42cd8ad8;Sampled={sampled}"
        ));
        invoke
    };
    let unsampled = fresh_root("aaaaaaaaaaaaaaaaaaaaaaaa");
    let sampled = fresh_root("bd862e3fe1be46a994272793");
    for (root, flag) in [(&unsampled, "0"), (&sampled, "1")] {
        if let Err(error) = api
            .invoke(invoke(root.clone(), flag), Duration::from_secs(10))
            .await
        {
            panic!("{error}\nfunction log:\n{}", process.log());
        }
    }
    daemon.wait_for(2, Duration::from_secs(10)).await;
    // The unsampled invocation came first: anything it sent would be here by now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(daemon.violations(), Vec::<String>::new());
    let documents: Vec<Value> = daemon.documents();
    assert!(
        documents.iter().all(|d| d["trace_id"] == sampled.as_str()),
        "only the sampled invocation, in Lambda's trace: {documents:#?}\n{}",
        process.log()
    );
    let invocation = documents
        .iter()
        .find(|d| d["parent_id"] == "53995c3f42cd8ad8")
        .unwrap_or_else(|| panic!("the invocation under Lambda's segment: {documents:#?}"));
    assert_eq!(
        invocation["annotations"]["report_kind"], "daily",
        "{invocation}"
    );
    let job = documents
        .iter()
        .find(|d| d["name"] == "compact_reports")
        .expect("the handler's span");
    assert_eq!(job["parent_id"], invocation["id"]);
}

/// An HTTP caller that sends a W3C `traceparent` (a random trace id, which X-Ray refuses)
/// to a function with `awsxray`: the invocation is still Lambda's segment's child in
/// Lambda's trace — sent, not refused — and the caller's context is no parent of anything
/// sent (it is the invocation span's link; X-Ray segments carry no links).
#[tokio::test]
async fn a_w3c_caller_does_not_take_the_invocation_out_of_lambdas_trace() {
    use lambda_runtime::LambdaEvent;
    use otel_faas_aws::ApiGatewayHttpTrigger;
    use otel_faas_aws::lambda::LambdaEventAdapter;

    let daemon = FakeXrayDaemon::start().await;
    let otel = lambda_telemetry(&daemon, "orders");
    assert_eq!(
        otel.telemetry().propagation().names(),
        ["tracecontext", "baggage", "xray-lambda"]
    );
    let mut event: Value = lambda_event("example-apigw-v2-request-no-authorizer.json");
    event["headers"]["traceparent"] =
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into();
    let event: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
        serde_json::from_value(event).unwrap();
    let root = fresh_root("bd862e3fe1be46a994272793");
    let context = lambda_context(
        "with-a-w3c-caller",
        "orders",
        format!("Root={root};Parent=53995c3f42cd8ad8;Sampled=1"),
    );
    otel.engine()
        .invocation(
            &LambdaEventAdapter::new(ApiGatewayHttpTrigger),
            LambdaEvent::new(event, context),
        )
        .run(|_| async {
            let mut response = aws_lambda_events::apigw::ApiGatewayV2httpResponse::default();
            response.status_code = 200;
            Ok::<_, std::convert::Infallible>(response)
        })
        .await
        .unwrap();
    otel.telemetry()
        .flusher()
        .flush(Duration::from_secs(2))
        .await
        .expect("the flush");
    // The invocation and the cold start's `init` under it.
    let documents = daemon.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(daemon.violations(), Vec::<String>::new());
    let invocation = documents
        .iter()
        .find(|d| d["parent_id"] == "53995c3f42cd8ad8")
        .unwrap_or_else(|| panic!("the invocation under Lambda's segment: {documents:#?}"));
    // Named as the span is (a subsegment is named by its span, a segment by its service).
    assert_eq!(invocation["name"], "GET", "{invocation:#}");
    // A subsegment of Lambda's function segment, as X-Ray's SDKs record it, with the
    // request it served.
    assert_eq!(invocation["type"], "subsegment", "{invocation:#}");
    assert_eq!(
        invocation["http"]["request"]["method"], "GET",
        "{invocation:#}"
    );
    assert_eq!(
        invocation["http"]["response"]["status"], 200,
        "{invocation:#}"
    );
    assert!(invocation.get("sql").is_none(), "{invocation:#}");
    assert_eq!(
        invocation["aws"]["request_id"], "with-a-w3c-caller",
        "{invocation:#}"
    );
    assert!(
        documents.iter().all(|d| d["trace_id"] == root.as_str()),
        "{documents:#?}"
    );
    assert_eq!(otel.telemetry().export_stats().dropped_export_failed, 0);
}

/// A Lambda trace header that does not parse (a proxy mangled it, a test sent garbage) is
/// no parent: the invocation is a root segment in a trace of its own, with an X-Ray id,
/// sent whole — never a failed invocation.
#[tokio::test]
async fn a_malformed_lambda_trace_header_starts_a_trace_of_its_own() {
    use lambda_runtime::LambdaEvent;
    use otel_faas_aws::ScheduledTrigger;
    use otel_faas_aws::lambda::LambdaEventAdapter;

    let daemon = FakeXrayDaemon::start().await;
    let otel = lambda_telemetry(&daemon, "nightly");
    let event: aws_lambda_events::eventbridge::EventBridgeEvent =
        lambda_event("example-eventbridge-schedule.json");
    for (n, header) in [
        "Root=garbage;Parent=53995c3f42cd8ad8;Sampled=1",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz;Sampled=1",
        "Sampled=1",
    ]
    .into_iter()
    .enumerate()
    {
        let context = lambda_context(&format!("malformed-{n}"), "nightly", header.to_owned());
        let reply = otel
            .engine()
            .invocation(
                &LambdaEventAdapter::new(ScheduledTrigger::new()),
                LambdaEvent::new(event.clone(), context),
            )
            .run(|_| async { Ok::<_, std::convert::Infallible>(()) })
            .await;
        assert!(reply.is_ok(), "{header}");
    }
    otel.telemetry()
        .flusher()
        .flush(Duration::from_secs(2))
        .await
        .expect("the flush");
    let documents = daemon.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(daemon.violations(), Vec::<String>::new());
    let invocations: Vec<&Value> = documents
        .iter()
        .filter(|d| d["name"] == "nightly")
        .collect();
    assert_eq!(invocations.len(), 3, "{documents:#?}");
    for invocation in invocations {
        assert!(invocation.get("parent_id").is_none(), "{invocation:#}");
        assert!(
            invocation.get("type").is_none(),
            "a segment: {invocation:#}"
        );
    }
}
