//! The pipeline per signal, over real OTLP: metrics and logs delivered beside spans, each
//! signal's own settings, HTTPS to a receiver with a certificate made at test time, gzip,
//! the attribute value-length limit, and export failures a user sees without a `tracing`
//! subscriber.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{Span as _, Tracer as _};
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::{Pipeline, Telemetry};
use otel_faas_integration_tests::{AttrValue, OtlpReceiver, TestCertificate, workspace_root};

const WAIT: Duration = Duration::from_secs(10);

fn install(pairs: &[(&str, String)]) -> Telemetry {
    let env: MapEnvironment = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain([("OTEL_SERVICE_NAME".to_owned(), "pipeline".to_owned())])
        .collect();
    Pipeline::with_environment(env).install()
}

fn emit_span(telemetry: &Telemetry, name: &'static str, attributes: Vec<KeyValue>) {
    let mut span = telemetry.tracer("test").start(name);
    span.set_attributes(attributes);
    span.end();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_point_and_a_log_record_are_delivered_beside_spans() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = install(&[("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())]);

    let counter = telemetry
        .meter("orders")
        .u64_counter("orders.placed")
        .with_unit("{order}")
        .build();
    counter.add(3, &[KeyValue::new("region", "eu")]);
    let logger = telemetry.logger_provider().logger("orders");
    let mut record = logger.create_log_record();
    record.set_body("payment declined".into());
    record.set_severity_number(Severity::Error);
    record.set_severity_text("ERROR");
    logger.emit(record);
    emit_span(&telemetry, "checkout", vec![]);
    // One flush, one budget, all three signals.
    telemetry.flusher().flush(WAIT).await.expect("flush");

    receiver
        .wait_for(WAIT, |r| {
            !r.metrics().is_empty() && !r.logs().is_empty() && !r.spans().is_empty()
        })
        .await
        .unwrap();
    let metrics = receiver.metrics();
    let placed = metrics
        .iter()
        .find(|m| m.name == "orders.placed")
        .expect("the counter");
    assert_eq!(placed.unit, "{order}");
    assert_eq!(placed.points.len(), 1);
    assert_eq!(placed.points[0].0, 3.0);
    assert_eq!(
        placed.points[0].1.get("region"),
        Some(&AttrValue::from("eu"))
    );
    assert_eq!(
        placed.resource.get("service.name"),
        Some(&AttrValue::from("pipeline"))
    );
    let logs = receiver.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].body, "payment declined");
    assert_eq!(logs[0].severity_number, Severity::Error as i32);
    assert_eq!(
        logs[0].resource.get("service.name"),
        Some(&AttrValue::from("pipeline"))
    );
    let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    for path in ["/v1/traces", "/v1/metrics", "/v1/logs"] {
        assert!(
            paths.iter().any(|p| p == path),
            "no request to {path}: {paths:?}"
        );
    }
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_signal_goes_where_its_own_variables_say() {
    let general = OtlpReceiver::start().expect("receiver");
    let metrics_only = OtlpReceiver::start().expect("receiver");
    let telemetry = install(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", general.endpoint()),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            format!("{}/v1/metrics", metrics_only.endpoint()),
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=general".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "x-tenant=metrics".to_owned(),
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "http/json".to_owned(),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]);
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    telemetry.meter("m").u64_counter("hits").build().add(1, &[]);
    emit_span(&telemetry, "routed", vec![]);
    let logger = telemetry.logger_provider().logger("l");
    let mut record = logger.create_log_record();
    record.set_body("dropped: OTEL_LOGS_EXPORTER=none".into());
    logger.emit(record);
    telemetry.flusher().flush(WAIT).await.expect("flush");

    general.wait_for_span("routed", WAIT).await.unwrap();
    metrics_only
        .wait_for(WAIT, |r| !r.metrics().is_empty())
        .await
        .unwrap();
    assert!(
        general.metrics().is_empty(),
        "metrics went to the general endpoint"
    );
    assert!(metrics_only.spans().is_empty());
    assert!(general.logs().is_empty() && metrics_only.logs().is_empty());

    let traces_request = general
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/traces")
        .unwrap();
    assert_eq!(
        traces_request.content_encoding, "gzip",
        "the traces compression"
    );
    assert_eq!(
        traces_request.headers.get("x-tenant").map(String::as_str),
        Some("general")
    );
    assert_eq!(traces_request.content_type, "application/x-protobuf");
    let metrics_request = metrics_only.requests().into_iter().next().unwrap();
    assert_eq!(
        metrics_request.content_encoding, "",
        "compression was set for traces only"
    );
    assert_eq!(
        metrics_request.headers.get("x-tenant").map(String::as_str),
        Some("metrics")
    );
    assert_eq!(metrics_request.content_type, "application/json");
    telemetry.shutdown(WAIT).await.unwrap();
}

/// After a snapshot restore every exporter's HTTP client is rebuilt (a fresh connection
/// pool); the rebuilt one keeps its settings — here the CA of an HTTPS endpoint — and
/// delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_exporter_clients_keep_their_settings_and_deliver() {
    let dir = workspace_root()
        .join("target/test-tls")
        .join(format!("reconnect-{}", std::process::id()));
    let certificate = TestCertificate::generate(&dir).expect("certificate");
    let receiver = OtlpReceiver::start_tls(&certificate).expect("TLS receiver");
    let telemetry = install(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            certificate.ca_file().display().to_string(),
        ),
    ]);
    emit_span(&telemetry, "before-restore", vec![]);
    telemetry.flusher().flush(WAIT).await.expect("flush");
    let rebuilt = tokio::task::spawn_blocking(otel_faas_core::pipeline::reconnect_exporters)
        .await
        .unwrap();
    assert!(rebuilt >= 3, "traces, metrics and logs: {rebuilt} rebuilt");
    emit_span(&telemetry, "after-restore", vec![]);
    telemetry
        .flusher()
        .flush(WAIT)
        .await
        .expect("flush after the rebuild");
    receiver.wait_for_span("after-restore", WAIT).await.unwrap();
    assert!(receiver.spans().iter().any(|s| s.name == "before-restore"));
    telemetry.shutdown(WAIT).await.expect("a clean shutdown");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_reaches_a_receiver_whose_ca_is_configured_and_fails_loudly_otherwise() {
    let dir = workspace_root()
        .join("target/test-tls")
        .join(format!("{}", std::process::id()));
    let certificate = TestCertificate::generate(&dir).expect("certificate");
    let receiver = OtlpReceiver::start_tls(&certificate).expect("TLS receiver");
    assert!(receiver.endpoint().starts_with("https://"));

    let trusted = install(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            certificate.ca_file().display().to_string(),
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
    ]);
    assert!(trusted.warnings().is_empty(), "{:?}", trusted.warnings());
    emit_span(&trusted, "over-tls", vec![]);
    trusted.flusher().flush(WAIT).await.expect("flush over TLS");
    let span = receiver.wait_for_span("over-tls", WAIT).await.unwrap();
    assert_eq!(
        span.resource_attr("service.name"),
        Some(&AttrValue::from("pipeline"))
    );
    assert_eq!(receiver.requests()[0].content_encoding, "gzip");
    trusted.shutdown(WAIT).await.expect("a clean shutdown");

    // Without the CA, the self-signed certificate is refused: nothing arrives, and the
    // failure is not silent — shutdown reports it.
    let untrusted = install(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000".to_owned()),
    ]);
    emit_span(&untrusted, "refused", vec![]);
    let _ = untrusted.flusher().flush(WAIT).await;
    let error = untrusted
        .shutdown(WAIT)
        .await
        .expect_err("the export failed");
    assert!(error.to_string().contains("export(s) failed"), "{error}");
    assert!(!receiver.spans().iter().any(|s| s.name == "refused"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_configured_client_certificate() {
    let dir = workspace_root()
        .join("target/test-tls")
        .join(format!("mutual-{}", std::process::id()));
    let server = TestCertificate::generate(&dir).expect("server certificate");
    let client = TestCertificate::generate_named(&dir, "client").expect("client certificate");
    let receiver = OtlpReceiver::start_mutual_tls(&server, &client).expect("mTLS receiver");
    let ca = server.ca_file().display().to_string();

    let with_identity = install(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.clone()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            client.ca_file().display().to_string(),
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            client.key_file().display().to_string(),
        ),
    ]);
    assert!(
        with_identity.warnings().is_empty(),
        "{:?}",
        with_identity.warnings()
    );
    emit_span(&with_identity, "mutual", vec![]);
    with_identity.flusher().flush(WAIT).await.expect("flush");
    receiver.wait_for_span("mutual", WAIT).await.unwrap();
    with_identity
        .shutdown(WAIT)
        .await
        .expect("a clean shutdown");

    // The same CA but no client certificate: the receiver refuses the handshake.
    let without_identity = install(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000".to_owned()),
    ]);
    emit_span(&without_identity, "anonymous", vec![]);
    let _ = without_identity.flusher().flush(WAIT).await;
    assert!(without_identity.shutdown(WAIT).await.is_err());
    assert!(!receiver.spans().iter().any(|s| s.name == "anonymous"));
    let _ = std::fs::remove_dir_all(dir);
}

/// gRPC over TLS (feature `otlp-grpc-tls`): the CA file and the client identity reach
/// tonic, against a receiver that only serves clients presenting their certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_mutual_tls_uses_the_ca_and_the_client_certificate() {
    let dir = workspace_root()
        .join("target/test-tls")
        .join(format!("grpc-{}", std::process::id()));
    let server = TestCertificate::generate(&dir).expect("server certificate");
    let client = TestCertificate::generate_named(&dir, "client").expect("client certificate");
    let receiver = OtlpReceiver::start_mutual_tls(&server, &client).expect("mTLS receiver");
    assert!(receiver.grpc_endpoint().starts_with("https://"));
    let telemetry = install(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            server.ca_file().display().to_string(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            client.ca_file().display().to_string(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            client.key_file().display().to_string(),
        ),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]);
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    emit_span(&telemetry, "grpc-over-tls", vec![]);
    telemetry.flusher().flush(WAIT).await.expect("flush");
    receiver.wait_for_span("grpc-over-tls", WAIT).await.unwrap();
    assert_eq!(receiver.request_content_types(), ["application/grpc"]);
    telemetry.shutdown(WAIT).await.expect("a clean shutdown");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_value_length_limit_cuts_string_attributes_of_spans_events_and_links() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = install(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "16".to_owned()),
    ]);
    let huge = "x".repeat(1 << 20);
    let mut span = telemetry.tracer("test").start("limited");
    span.set_attribute(KeyValue::new("header", huge.clone()));
    span.set_attribute(KeyValue::new("accented", "é".repeat(40)));
    span.set_attribute(KeyValue::new("count", 7));
    span.add_event(
        "exception",
        vec![KeyValue::new("exception.message", huge.clone())],
    );
    span.end();
    telemetry.flusher().flush(WAIT).await.expect("flush");

    let span = receiver.wait_for_span("limited", WAIT).await.unwrap();
    assert_eq!(
        span.attr_str("header"),
        Some("x".repeat(16).as_str()),
        "a 1 MB value was cut"
    );
    assert_eq!(
        span.attr_str("accented"),
        Some("é".repeat(16).as_str()),
        "characters, not bytes"
    );
    assert_eq!(span.attr("count"), Some(&AttrValue::Int(7)));
    let event = span.event("exception").unwrap();
    assert_eq!(
        event
            .attributes
            .get("exception.message")
            .and_then(AttrValue::as_str)
            .map(str::len),
        Some(16)
    );
    telemetry.shutdown(WAIT).await.unwrap();
}

/// The count limits reach the SDK, and the schedules reach the batch span processor and the
/// periodic metric reader: what arrives here was never flushed by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_limits_and_export_schedules_are_applied() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = install(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2".to_owned()),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "1".to_owned()),
        // Far below the defaults (5 s and 60 s), so that only the configured schedules can
        // deliver within the wait below.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]);
    let mut span = telemetry.tracer("test").start("limited-counts");
    for index in 0..5 {
        span.set_attribute(KeyValue::new(format!("a{index}"), index));
        span.add_event(format!("e{index}"), vec![]);
    }
    span.end();
    telemetry
        .meter("m")
        .u64_counter("ticks")
        .build()
        .add(1, &[]);

    let started = std::time::Instant::now();
    receiver
        .wait_for(Duration::from_millis(2500), |r| {
            r.spans().iter().any(|s| s.name == "limited-counts")
                && r.metrics().iter().any(|m| m.name == "ticks")
        })
        .await
        .unwrap_or_else(|error| panic!("not exported on the configured schedules: {error}"));
    assert!(started.elapsed() < Duration::from_millis(2500));
    let span = receiver
        .wait_for_span("limited-counts", WAIT)
        .await
        .unwrap();
    assert_eq!(span.attributes.len(), 2, "{:?}", span.attributes);
    assert_eq!(span.events.len(), 1, "{:?}", span.events);
    telemetry.shutdown(WAIT).await.unwrap();
}

#[test]
fn an_unsupported_variable_is_warned_once_at_install() {
    let telemetry = install(&[
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        (
            "OTEL_EXPORTER_JAEGER_ENDPOINT",
            "http://jaeger:14268".to_owned(),
        ),
    ]);
    let unsupported: Vec<String> = telemetry
        .warnings()
        .iter()
        .filter(|w| w.is_unsupported())
        .map(|w| w.to_string())
        .collect();
    assert_eq!(
        unsupported,
        ["OTEL_EXPORTER_JAEGER_ENDPOINT is set but not supported by otel-faas: it has no effect"]
    );
}

/// A user without a `tracing` subscriber still sees a failing export: one line on stderr
/// per signal (not one per export), without header values, and shutdown says so.
#[test]
fn a_failing_export_is_visible_on_stderr_without_a_subscriber() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline-probe"))
        .env_clear()
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://user:hunter1@127.0.0.1:{port}"),
        )
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20hunter2",
        )
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
        .env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_LOGS_EXPORTER", "none")
        .output()
        .expect("the probe runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failures: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("exporting traces to"))
        .collect();
    assert_eq!(failures.len(), 1, "one line per failure kind:\n{stderr}");
    assert!(
        failures[0].contains(&format!("http://127.0.0.1:{port}/v1/traces")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter1") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    // Three flushes: the first fails and opens the circuit, the next two keep their spans
    // without trying; shutdown tries once more. Two failed exports, three spans dropped at
    // shutdown — counted, and said on stderr.
    assert!(
        stdout.contains("shutdown: telemetry export failed: 2 export(s) failed since start-up"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains("otel-faas: 3 span(s) dropped since the last report (3 shutdown)"),
        "stderr: {stderr}"
    );
}

/// Spans the export path drops are exported as the conventions' SDK metric, with the
/// reason as `error.type`; a pipeline that drops nothing sends none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_spans_are_exported_as_the_sdk_self_metric() {
    let receiver = OtlpReceiver::start().expect("receiver");
    // Spans go to a port nothing listens on; metrics to the receiver.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let telemetry = install(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("http://{dead}/v1/traces"),
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]);
    for _ in 0..3 {
        emit_span(&telemetry, "undeliverable", vec![]);
    }
    let _ = telemetry.flusher().flush(WAIT).await;
    assert_eq!(telemetry.export_stats().held, 3, "kept for a later send");
    assert!(
        !receiver
            .metrics()
            .iter()
            .any(|m| m.name == "otel.sdk.processor.span.processed"),
        "nothing dropped yet: no self-metric"
    );
    // Shutdown tries once more, drops what is left, then exports the metrics.
    let _ = telemetry.shutdown(WAIT).await;
    assert_eq!(telemetry.export_stats().dropped_shutdown, 3);
    receiver
        .wait_for(WAIT, |r| {
            r.metrics()
                .iter()
                .any(|m| m.name == "otel.sdk.processor.span.processed")
        })
        .await
        .expect("the self-metric arrives");
    let metric = receiver
        .metrics()
        .into_iter()
        .rfind(|m| m.name == "otel.sdk.processor.span.processed")
        .expect("the self-metric");
    assert_eq!(metric.unit, "{span}");
    assert_eq!(metric.scope, "otel-faas");
    let (value, attributes) = metric.points.first().expect("one point").clone();
    assert_eq!(value, 3.0);
    assert_eq!(
        attributes.get("error.type"),
        Some(&AttrValue::from("shutdown"))
    );
    assert_eq!(
        attributes.get("otel.component.type"),
        Some(&AttrValue::from("otel_faas_span_processor"))
    );
}
