//! Application Insights without a collector: the `azuremonitor` destination of
//! otel-faas-azure posting to a stand-in ingestion endpoint over HTTPS (`FakeIngestion`),
//! every envelope checked by Microsoft's model of the track API (the Azure Monitor exporter
//! for Python), and the failures a function must survive.

use std::time::Duration;

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use otel_faas_azure::AzureFunctionsResourceDetector;
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::pipeline::{Exporter, Signal};
use otel_faas_core::{Pipeline, Telemetry};
use otel_faas_integration_tests::{
    FakeIngestion, FunctionProcess, MiniHost, TEST_INSTRUMENTATION_KEY, TestCertificate,
    build_binary, validate_envelopes, workspace_root,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const BUDGET: Duration = Duration::from_secs(2);

/// The host's span the invocation continues (its `traceparent`).
const HOST_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const HOST_SPAN: &str = "00f067aa0ba902b7";

fn certificate(test: &str) -> TestCertificate {
    TestCertificate::in_temp_dir(&format!("app-insights-{test}")).expect("a certificate")
}

/// A Function App's environment wired to `connection_string`, with no OTLP endpoint.
fn app_environment(connection_string: &str, certificate: &TestCertificate) -> MapEnvironment {
    MapEnvironment::from([
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            connection_string.to_owned(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            certificate.ca_file().display().to_string(),
        ),
        ("WEBSITE_SITE_NAME", "orders-app".to_owned()),
        ("WEBSITE_INSTANCE_ID", "6a2b0c9d1e".to_owned()),
        ("WEBSITE_RESOURCE_GROUP", "orders-rg".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "3600000".to_owned()),
    ])
}

fn install(env: MapEnvironment) -> Telemetry {
    otel_faas_azure::app_insights::register(
        Pipeline::with_environment(env).with_detector(AzureFunctionsResourceDetector),
    )
    .install()
}

fn of_type<'a>(envelopes: &'a [Value], base_type: &str) -> Vec<&'a Value> {
    envelopes
        .iter()
        .filter(|e| e["data"]["baseType"] == base_type)
        .collect()
}

fn tag<'a>(envelope: &'a Value, key: &str) -> &'a str {
    envelope["tags"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no tag {key}: {envelope}"))
}

/// Spans of one invocation (the host's remote parent, a SERVER span, a CLIENT call, an
/// INTERNAL step that records an exception), a log record inside the call and a counter,
/// flushed as an invocation flushes.
async fn record_an_invocation(telemetry: &Telemetry) -> (SpanId, SpanId) {
    let host = SpanContext::new(
        TraceId::from_hex(HOST_TRACE).unwrap(),
        SpanId::from_hex(HOST_SPAN).unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let parent = Context::new().with_remote_span_context(host);
    let tracer = telemetry.tracer_provider().tracer("orders");
    let server = tracer
        .span_builder("POST /api/orders")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", "/api/orders"),
            KeyValue::new("url.scheme", "https"),
            KeyValue::new("url.path", "/api/orders"),
            KeyValue::new("server.address", "orders-app.azurewebsites.net"),
            KeyValue::new("http.response.status_code", 201),
        ])
        .start_with_context(&tracer, &parent);
    let server_id = server.span_context().span_id();
    let in_server = parent.with_span(server);
    let mut client = tracer
        .span_builder("GET")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.full", "https://stock.example.com/items/42"),
            KeyValue::new("server.address", "stock.example.com"),
            KeyValue::new("server.port", 443),
            KeyValue::new("http.response.status_code", 200),
        ])
        .start_with_context(&tracer, &in_server);
    let client_id = client.span_context().span_id();
    let logger = telemetry.logger_provider().logger("orders");
    let mut record = logger.create_log_record();
    record.set_body("stock checked".into());
    record.set_severity_number(Severity::Info);
    record.set_severity_text("INFO");
    record.set_trace_context(
        TraceId::from_hex(HOST_TRACE).unwrap(),
        client_id,
        Some(TraceFlags::SAMPLED),
    );
    logger.emit(record);
    client.end();
    let mut step = tracer
        .span_builder("reserve")
        .start_with_context(&tracer, &in_server);
    step.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "ReservationError"),
            KeyValue::new("exception.message", "no stock left"),
        ],
    );
    step.set_status(Status::error("no stock left"));
    step.end();
    in_server.span().end();
    telemetry
        .meter("orders")
        .u64_counter("orders.placed")
        .build()
        .add(3, &[KeyValue::new("channel", "web")]);
    telemetry
        .flusher()
        .flush(BUDGET)
        .await
        .expect("the flush succeeds");
    (server_id, client_id)
}

/// With the connection string set and no OTLP endpoint, traces, metrics and logs arrive as
/// the service stores them: a request for the SERVER span under the host's span, a
/// dependency for the call and for the step, the exception, the log line and the metric —
/// one operation id (the trace id), each parent id the span's parent, the app as role name
/// and the instance as role instance; and Microsoft's model of the API accepts every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_metrics_and_logs_arrive_as_one_operation_the_service_accepts() {
    let certificate = certificate("accepts");
    let ingestion = FakeIngestion::start(&certificate).expect("the stand-in");
    let telemetry = install(app_environment(
        &ingestion.connection_string(),
        &certificate,
    ));
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    for signal in [Signal::Traces, Signal::Metrics, Signal::Logs] {
        assert_eq!(
            telemetry.config().signal(signal).exporters,
            [Exporter::Named("azuremonitor")],
            "{signal} default"
        );
    }
    let (server_id, client_id) = record_an_invocation(&telemetry).await;
    let envelopes = ingestion
        .wait_for(WAIT, |envelopes| {
            [
                "RequestData",
                "RemoteDependencyData",
                "ExceptionData",
                "MessageData",
                "MetricData",
            ]
            .iter()
            .all(|t| !of_type(envelopes, t).is_empty())
        })
        .expect("every kind of telemetry");
    assert!(
        ingestion.refusals().is_empty(),
        "{:?}",
        ingestion.refusals()
    );

    let requests = of_type(&envelopes, "RequestData");
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = requests[0];
    assert_eq!(request["name"], "Microsoft.ApplicationInsights.Request");
    assert_eq!(request["iKey"], TEST_INSTRUMENTATION_KEY);
    assert_eq!(tag(request, "ai.operation.id"), HOST_TRACE);
    assert_eq!(tag(request, "ai.operation.parentId"), HOST_SPAN);
    assert_eq!(tag(request, "ai.cloud.role"), "orders-app");
    assert_eq!(tag(request, "ai.cloud.roleInstance"), "6a2b0c9d1e");
    assert_eq!(request["data"]["baseData"]["id"], server_id.to_string());
    assert_eq!(request["data"]["baseData"]["name"], "POST /api/orders");
    assert_eq!(request["data"]["baseData"]["responseCode"], "201");
    assert_eq!(request["data"]["baseData"]["success"], true);

    let dependencies = of_type(&envelopes, "RemoteDependencyData");
    let call = dependencies
        .iter()
        .find(|d| d["data"]["baseData"]["id"] == client_id.to_string())
        .unwrap_or_else(|| panic!("no dependency for the call: {dependencies:?}"));
    assert_eq!(
        call["name"],
        "Microsoft.ApplicationInsights.RemoteDependency"
    );
    assert_eq!(tag(call, "ai.operation.id"), HOST_TRACE);
    assert_eq!(tag(call, "ai.operation.parentId"), server_id.to_string());
    assert_eq!(call["data"]["baseData"]["type"], "HTTP");
    assert_eq!(call["data"]["baseData"]["target"], "stock.example.com:443");
    assert_eq!(
        call["data"]["baseData"]["data"],
        "https://stock.example.com/items/42"
    );
    assert_eq!(call["data"]["baseData"]["resultCode"], "200");
    let step = dependencies
        .iter()
        .find(|d| d["data"]["baseData"]["name"] == "reserve")
        .unwrap_or_else(|| panic!("no dependency for the step: {dependencies:?}"));
    assert_eq!(step["data"]["baseData"]["type"], "InProc");
    assert_eq!(step["data"]["baseData"]["success"], false);
    assert_eq!(tag(step, "ai.operation.parentId"), server_id.to_string());

    let exceptions = of_type(&envelopes, "ExceptionData");
    assert_eq!(exceptions.len(), 1, "{exceptions:?}");
    let details = &exceptions[0]["data"]["baseData"]["exceptions"][0];
    assert_eq!(details["typeName"], "ReservationError");
    assert_eq!(details["message"], "no stock left");
    assert_eq!(tag(exceptions[0], "ai.operation.id"), HOST_TRACE);

    let messages = of_type(&envelopes, "MessageData");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["data"]["baseData"]["message"], "stock checked");
    assert_eq!(tag(messages[0], "ai.operation.id"), HOST_TRACE);
    assert_eq!(
        tag(messages[0], "ai.operation.parentId"),
        client_id.to_string()
    );
    assert_eq!(tag(messages[0], "ai.cloud.roleInstance"), "6a2b0c9d1e");

    let metrics = of_type(&envelopes, "MetricData");
    let placed = metrics
        .iter()
        .find(|m| m["data"]["baseData"]["metrics"][0]["name"] == "orders.placed")
        .unwrap_or_else(|| panic!("no orders.placed: {metrics:?}"));
    assert_eq!(placed["data"]["baseData"]["metrics"][0]["value"], 3.0);
    assert_eq!(placed["data"]["baseData"]["properties"]["channel"], "web");
    assert_eq!(tag(placed, "ai.cloud.role"), "orders-app");

    match validate_envelopes(&envelopes) {
        Ok(summary) => assert!(summary.contains("envelopes valid"), "{summary}"),
        Err(problems) => panic!("Microsoft's model refuses:\n{problems}"),
    }
    let stats = telemetry.export_stats();
    assert_eq!((stats.exported, stats.dropped()), (3, 0), "{stats:?}");
}

/// An endpoint that fails is one failed export, named by its real reason, never retried by
/// the exporter (its own retries would hold every flush for 35 s), and counted; an
/// endpoint that accepts again gets the next invocation's spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_one_counted_failure_with_its_reason_and_no_retries() {
    let certificate = certificate("fails");
    let ingestion = FakeIngestion::start(&certificate).expect("the stand-in");
    let traces_only = || {
        let mut env = app_environment(&ingestion.connection_string(), &certificate);
        env.insert("OTEL_METRICS_EXPORTER", "none");
        env.insert("OTEL_LOGS_EXPORTER", "none");
        install(env)
    };
    let mut telemetry = traces_only();
    for status in [503, 429, 500] {
        // A pipeline each: after one failure the circuit holds the next flushes back.
        telemetry = traces_only();
        let tracer = telemetry.tracer_provider().tracer("orders");
        ingestion.fail_with(Some(status));
        let before = ingestion.requests();
        drop(tracer.start("during an outage"));
        let error = telemetry
            .flusher()
            .flush(BUDGET)
            .await
            .expect_err("the flush reports the failure");
        let message = error.to_string();
        assert!(
            message.contains(&format!("answered {status}")) && message.contains("localhost"),
            "{message}"
        );
        assert!(!message.contains(TEST_INSTRUMENTATION_KEY), "{message}");
        // The exporter's first retry would come after 500 ms.
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(ingestion.requests() - before, 1, "{status}: retried");
        assert_eq!(telemetry.export_stats().dropped_export_failed, 1);
    }
    let tracer = telemetry.tracer_provider().tracer("orders");
    ingestion.fail_with(None);
    // The circuit opened; the exporter thread's probe closes it.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        drop(tracer.start("after the outage"));
        let _ = telemetry.flusher().flush(BUDGET).await;
        if !ingestion.envelopes().is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let envelopes = ingestion.envelopes();
    assert!(
        envelopes
            .iter()
            .any(|e| e["data"]["baseData"]["name"] == "after the outage"),
        "{envelopes:?}"
    );
}

/// An ingestion endpoint nobody listens on, and connection strings that cannot be used:
/// each a clear warning or a counted failure, the invocation's flush never failing the
/// function, the connection string never repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connection_strings_and_an_unreachable_endpoint_are_warnings_and_counted_failures() {
    let certificate = certificate("bad");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let unreachable = format!(
        "InstrumentationKey={TEST_INSTRUMENTATION_KEY};IngestionEndpoint=https://localhost:{closed}/"
    );
    let mut env = app_environment(&unreachable, &certificate);
    env.insert("OTEL_METRICS_EXPORTER", "none");
    env.insert("OTEL_LOGS_EXPORTER", "none");
    let telemetry = install(env);
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    drop(
        telemetry
            .tracer_provider()
            .tracer("orders")
            .start("nowhere"),
    );
    let error = telemetry
        .flusher()
        .flush(BUDGET)
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "ingestion endpoint https://localhost:{closed} failed"
        )),
        "{message}"
    );
    assert_eq!(telemetry.export_stats().dropped_export_failed, 1);

    for (value, says) in [
        (
            "IngestionEndpoint=https://eu.example.com/",
            "has no InstrumentationKey",
        ),
        (
            "InstrumentationKey=secret-key;IngestionEndpoint",
            "part 2 is not `Key=Value`",
        ),
        (
            "InstrumentationKey=secret-key;IngestionEndpoint=ftp://x",
            "not an https:// URL",
        ),
        (
            "InstrumentationKey=secret-key;Authorization=AAD",
            "Authorization=AAD is not supported",
        ),
    ] {
        let telemetry = install(app_environment(value, &certificate));
        let warnings = telemetry.warnings();
        assert_eq!(warnings.len(), 3, "one per signal: {warnings:?}");
        for warning in warnings {
            assert_eq!(warning.value, "azuremonitor");
            assert!(
                warning
                    .accepted
                    .contains("APPLICATIONINSIGHTS_CONNECTION_STRING cannot be used")
                    && warning.accepted.contains(says),
                "{warning:?}"
            );
            assert!(!warning.to_string().contains("secret-key"), "{warning}");
        }
        // Nothing is exported, and nothing fails.
        drop(
            telemetry
                .tracer_provider()
                .tracer("orders")
                .start("dropped"),
        );
        telemetry
            .flusher()
            .flush(BUDGET)
            .await
            .expect("no exporter");
    }
}

/// `OTEL_*_EXPORTER` and an OTLP endpoint win over the default: a collector configured by
/// the user keeps its signals.
#[test]
fn an_otlp_endpoint_or_the_exporter_variable_keeps_the_signal_off_app_insights() {
    let certificate = certificate("choice");
    let wired = "InstrumentationKey=k;IngestionEndpoint=https://eu.example.com/";
    let mut env = app_environment(wired, &certificate);
    env.insert(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "http://collector:4318/v1/metrics",
    );
    env.insert("OTEL_LOGS_EXPORTER", "otlp,azuremonitor");
    let telemetry = install(env);
    let config = telemetry.config();
    assert_eq!(config.traces.exporters, [Exporter::Named("azuremonitor")]);
    assert_eq!(config.metrics.exporters, [Exporter::Otlp]);
    assert_eq!(
        config.logs.exporters,
        [Exporter::Otlp, Exporter::Named("azuremonitor")]
    );
    let mut env = app_environment(wired, &certificate);
    env.insert("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
    let telemetry = install(env);
    assert_eq!(telemetry.config().traces.exporters, [Exporter::Otlp]);
}

/// The oracle is no rubber stamp: an id over the API's 512 characters, a request without
/// its response code, an unknown tag and a name that does not go with its data are each
/// refused.
#[test]
fn the_oracle_refuses_what_the_service_refuses() {
    let envelope = serde_json::json!({
        "name": "Microsoft.ApplicationInsights.RemoteDependency",
        "time": "2026-12-08T01:00:00.123Z",
        "iKey": TEST_INSTRUMENTATION_KEY,
        "tags": {"ai.operation.id": HOST_TRACE, "ai.operation.bogus": "x"},
        "data": {"baseType": "RequestData", "baseData": {
            "ver": 2, "id": "x".repeat(513), "name": "GET /", "duration": "00.00:00:00.001000",
            "success": true
        }}
    });
    let problems = validate_envelopes(&[envelope]).expect_err("refused");
    for expected in [
        "RequestData.id' must have length less than 512",
        "RequestData.response_code' can not be None",
        "'ai.operation.bogus' is not a context tag key",
        "name 'Microsoft.ApplicationInsights.RemoteDependency' for RequestData",
    ] {
        assert!(problems.contains(expected), "{expected}:\n{problems}");
    }
}

/// The Azure example as it runs in a Function App with monitoring on: started by the mini
/// host with only the connection string (no OTLP variable), an HTTP invocation that
/// continues the host's trace arrives in Application Insights as a dependency under the
/// host's request (the host writes the request itself), its log line as a trace of the same
/// operation and not in the reply's `Logs` (the host would write it again), and the FaaS
/// metrics; Microsoft's model accepts all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_example_in_the_mini_host_sends_to_app_insights_without_duplicating_the_host() {
    let certificate = certificate("example");
    let ingestion = FakeIngestion::start(&certificate).expect("the stand-in");
    let binary = build_binary("example-azure-function-app", "azure-function-app").expect("build");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let root = workspace_root().join("examples/azure-function-app");
    let process = FunctionProcess::spawn(
        &binary,
        "127.0.0.1:9",
        &[
            ("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string()),
            ("FUNCTIONS_APP_ROOT_PATH", root.display().to_string()),
            ("WEBSITE_SITE_NAME", "orders-app".to_owned()),
            ("WEBSITE_INSTANCE_ID", "6a2b0c9d1e".to_owned()),
            (
                "APPLICATIONINSIGHTS_CONNECTION_STRING",
                ingestion.connection_string(),
            ),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                certificate.ca_file().display().to_string(),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100".to_owned()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500".to_owned()),
        ],
    )
    .expect("the handler starts");
    let host = MiniHost::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    if let Err(error) = host.wait_until_ready(WAIT) {
        panic!("{error}\n{}", process.log());
    }
    let caller = format!("00-{HOST_TRACE}-{HOST_SPAN}-01");
    let request = json!({
        "Url": "https://orders-app.azurewebsites.net/api/hello/ada",
        "Method": "GET",
        "Query": {},
        "Headers": {"Host": ["orders-app.azurewebsites.net"], "traceparent": [caller]},
        "Params": {"name": "ada"},
        "Identities": [],
        "Body": "",
    });
    let reply = host
        .invoke(
            "hello",
            "inv-app-insights",
            &json!({"req": request}),
            &json!({"name": "\"ada\"", "sys": {"MethodName": "hello"}}),
            &[("traceparent", &caller)],
            false,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", process.log()));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let logs = &reply.json()["Logs"];
    assert!(
        logs.is_null() || logs.as_array().is_some_and(Vec::is_empty),
        "the host would write these lines again: {logs}"
    );
    let envelopes = ingestion
        .wait_for(WAIT, |envelopes| {
            let metric = |name: &str| {
                of_type(envelopes, "MetricData")
                    .iter()
                    .any(|m| m["data"]["baseData"]["metrics"][0]["name"] == name)
            };
            !of_type(envelopes, "RemoteDependencyData").is_empty()
                && !of_type(envelopes, "MessageData").is_empty()
                && metric("faas.invocations")
                && metric("faas.invoke_duration")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", process.log()));
    assert!(
        of_type(&envelopes, "RequestData").is_empty(),
        "the host writes the request: {envelopes:?}"
    );
    let invocation = of_type(&envelopes, "RemoteDependencyData")
        .into_iter()
        .find(|d| d["data"]["baseData"]["properties"]["faas.invocation_id"] == "inv-app-insights")
        .unwrap_or_else(|| panic!("no invocation dependency: {envelopes:?}"));
    assert_eq!(invocation["data"]["baseData"]["type"], "InProc");
    assert_eq!(tag(invocation, "ai.operation.id"), HOST_TRACE);
    assert_eq!(tag(invocation, "ai.operation.parentId"), HOST_SPAN);
    assert_eq!(tag(invocation, "ai.cloud.role"), "orders-app");
    assert_eq!(tag(invocation, "ai.cloud.roleInstance"), "6a2b0c9d1e");
    let greeting = of_type(&envelopes, "MessageData")
        .into_iter()
        .find(|m| m["data"]["baseData"]["message"] == "greeting")
        .unwrap_or_else(|| panic!("no greeting line: {envelopes:?}"));
    assert_eq!(tag(greeting, "ai.operation.id"), HOST_TRACE);
    assert_eq!(
        tag(greeting, "ai.operation.parentId"),
        invocation["data"]["baseData"]["id"].as_str().unwrap()
    );
    assert!(
        ingestion.refusals().is_empty(),
        "{:?}",
        ingestion.refusals()
    );
    match validate_envelopes(&envelopes) {
        Ok(summary) => assert!(summary.contains("envelopes valid"), "{summary}"),
        Err(problems) => panic!("Microsoft's model refuses:\n{problems}"),
    }
    let log = process.log();
    assert!(!log.contains("warning"), "{log}");
    assert!(!log.contains(TEST_INSTRUMENTATION_KEY), "{log}");
}

/// Spans kept at a ratio say so (`sampleRate`, in percent), so that the portal extrapolates
/// its counts; metrics and logs, which are not sampled, do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampling_ratio_is_the_items_sample_rate() {
    let certificate = certificate("ratio");
    let ingestion = FakeIngestion::start(&certificate).expect("the stand-in");
    let mut env = app_environment(&ingestion.connection_string(), &certificate);
    env.insert("OTEL_TRACES_SAMPLER", "parentbased_traceidratio");
    env.insert("OTEL_TRACES_SAMPLER_ARG", "0.5");
    env.insert("OTEL_LOGS_EXPORTER", "none");
    let telemetry = install(env);
    let tracer = telemetry.tracer_provider().tracer("orders");
    for i in 0..40 {
        drop(tracer.start(format!("root {i}")));
    }
    telemetry
        .meter("orders")
        .u64_counter("orders.placed")
        .build()
        .add(1, &[]);
    telemetry.flusher().flush(BUDGET).await.expect("flushed");
    let envelopes = ingestion
        .wait_for(WAIT, |e| {
            !of_type(e, "RemoteDependencyData").is_empty() && !of_type(e, "MetricData").is_empty()
        })
        .expect("spans and the metric");
    let spans = of_type(&envelopes, "RemoteDependencyData");
    assert!(spans.len() < 40, "the ratio sampled: {}", spans.len());
    for span in spans {
        assert_eq!(span["sampleRate"], 50.0, "{span}");
    }
    for metric in of_type(&envelopes, "MetricData") {
        assert!(metric.get("sampleRate").is_none(), "{metric}");
    }
}
