//! `otlp/stdout`: a real example (`examples/http-function`) run with every signal sent both
//! over OTLP/HTTP and as OTLP JSON lines on its standard output; the captured output is
//! decoded back with opentelemetry-proto and must say what the receiver got from the same
//! run — the same spans (ids, parents, names, kinds, attributes, resource), log records and
//! metrics — with nothing else on standard output.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use otel_faas_integration_tests::{
    ExampleService, OtlpLines, OtlpReceiver, ReceivedMetric, ReceivedSpan, build_binary,
    decode_otlp_lines, target_dir,
};

const WAIT: Duration = Duration::from_secs(30);

/// What identifies a span and everything it says, for comparing two deliveries.
fn described(spans: &[ReceivedSpan]) -> BTreeMap<String, String> {
    spans
        .iter()
        .map(|span| {
            (
                span.span_id.clone(),
                format!(
                    "{} {} parent={} {:?} {:?} {:?} resource={:?}",
                    span.trace_id,
                    span.name,
                    span.parent_span_id,
                    span.kind,
                    span.status,
                    span.attributes,
                    span.resource
                ),
            )
        })
        .collect()
}

/// The last value of `name` summed over its points, if it was exported.
fn last_total(metrics: &[ReceivedMetric], name: &str) -> Option<f64> {
    metrics
        .iter()
        .rev()
        .find(|metric| metric.name == name)
        .map(|metric| metric.points.iter().map(|(value, _)| value).sum())
}

fn names(metrics: &[ReceivedMetric]) -> BTreeSet<String> {
    metrics.iter().map(|metric| metric.name.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_s_standard_output_says_what_the_collector_received() {
    let binary = build_binary("example-http-function", "http-function").expect("build");
    let receiver = OtlpReceiver::start().expect("receiver");
    let logs = target_dir().join("function-logs");
    std::fs::create_dir_all(&logs).expect("a log directory");
    let out_path = logs.join(format!(
        "http-function-otlp-stdout-{}.out",
        std::process::id()
    ));
    let err_path = out_path.with_extension("log");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let both = "otlp,otlp/stdout";
    let service = ExampleService::start(
        &binary,
        &[
            ("OTEL_TRACES_EXPORTER", both),
            ("OTEL_METRICS_EXPORTER", both),
            ("OTEL_LOGS_EXPORTER", both),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ],
        &receiver,
        Stdio::from(out),
        Stdio::from(err),
    );
    service.wait_ready().await;
    assert_eq!(service.get("/orders/7").await, 200);
    assert_eq!(service.get("/orders/0").await, 404);
    assert_eq!(service.get("/fail").await, 503);

    let read = || {
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        decode_otlp_lines(&text).unwrap_or_else(|e| {
            panic!(
                "{e}\n--- standard error ---\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            )
        })
    };
    // Both deliveries complete: the three requests' spans, the error's log record, and a
    // metrics export after the last request, on each side.
    let complete = |spans: &[ReceivedSpan], metrics: &[ReceivedMetric], logs: usize| {
        spans.iter().filter(|s| s.name.starts_with("GET ")).count() == 3
            && last_total(metrics, "faas.invocations") == Some(3.0)
            && logs >= 1
    };
    let deadline = Instant::now() + WAIT;
    let lines: OtlpLines = loop {
        let lines = read();
        let received = complete(
            &receiver.spans(),
            &receiver.metrics(),
            receiver.logs().len(),
        );
        if received && complete(&lines.spans, &lines.metrics, lines.logs.len()) {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "incomplete: stdout has {} spans, {} metrics, {} logs; the receiver {} spans, {} metrics, {} logs",
            lines.spans.len(),
            lines.metrics.len(),
            lines.logs.len(),
            receiver.spans().len(),
            receiver.metrics().len(),
            receiver.logs().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(service);

    let from_stdout = described(&lines.spans);
    let from_receiver = described(&receiver.spans());
    assert_eq!(from_stdout, from_receiver);
    assert!(
        from_stdout
            .values()
            .any(|s| s.contains("GET /orders/{id}") && s.contains("Server")),
        "{from_stdout:#?}"
    );

    let log_key = |body: &str, trace: &str, span: &str, severity: i32| {
        format!("{severity} {trace}/{span} {body}")
    };
    let stdout_logs: BTreeSet<String> = lines
        .logs
        .iter()
        .map(|l| log_key(&l.body, &l.trace_id, &l.span_id, l.severity_number))
        .collect();
    let received_logs: BTreeSet<String> = receiver
        .logs()
        .iter()
        .map(|l| log_key(&l.body, &l.trace_id, &l.span_id, l.severity_number))
        .collect();
    assert_eq!(stdout_logs, received_logs);
    assert!(
        stdout_logs
            .iter()
            .any(|l| l.contains("the inventory service is unavailable")),
        "{stdout_logs:?}"
    );

    assert_eq!(names(&lines.metrics), names(&receiver.metrics()));
    assert_eq!(
        last_total(&lines.metrics, "faas.invocations"),
        last_total(&receiver.metrics(), "faas.invocations")
    );
    assert!(lines.requests >= 3);
}
