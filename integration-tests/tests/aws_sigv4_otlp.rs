//! Spans and log records straight into AWS's OTLP endpoints, signed with SigV4: each
//! request checked by an independent implementation (botocore's `SigV4Auth`, in
//! `oracle/sigv4_verifier.py`) over HTTPS, the payload decoded as OTLP. No network beyond
//! loopback: `OTEL_FAAS_AWS_SIGV4_SERVICE` signs for X-Ray and CloudWatch Logs an endpoint
//! on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use otel_faas_aws::lambda::LambdaEventAdapter;
use otel_faas_aws::{LambdaTelemetry, ScheduledTrigger};
use otel_faas_core::Environment;
use otel_faas_integration_tests::{SigV4Verifier, SignedRequest};
use prost::Message as _;

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";
const REGION: &str = "eu-west-1";

/// An environment whose values a test changes while the pipeline runs, as credentials
/// rotate under a running function.
#[derive(Debug, Clone, Default)]
struct ChangingEnvironment(Arc<Mutex<HashMap<String, String>>>);

impl ChangingEnvironment {
    fn set(&self, key: &str, value: &str) {
        self.0
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.to_owned());
    }
    fn remove(&self, key: &str) {
        self.0.lock().unwrap().remove(key);
    }
}

impl Environment for ChangingEnvironment {
    fn get(&self, key: &str) -> Option<String> {
        self.0.lock().unwrap().get(key).cloned()
    }
}

fn verifier(dir: &str) -> SigV4Verifier {
    let dir = std::env::temp_dir().join(format!("otel-faas-sigv4-{dir}-{}", std::process::id()));
    SigV4Verifier::start(&dir, KEY, SECRET, Some(TOKEN), REGION)
}

/// A Lambda function's environment exporting spans to `traces` and logs to `logs` on the
/// verifier, signed for X-Ray and CloudWatch Logs.
fn environment(verifier: &SigV4Verifier, traces: &str, logs: Option<&str>) -> ChangingEnvironment {
    let env = ChangingEnvironment::default();
    for (key, value) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "nightly".to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
        ("AWS_SESSION_TOKEN", TOKEN.to_owned()),
        (
            "OTEL_FAAS_AWS_SIGV4_SERVICE",
            "traces=xray,logs=logs".to_owned(),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", verifier.url(traces)),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", verifier.ca_file()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
    ] {
        env.set(key, &value);
    }
    match logs {
        Some(path) => {
            env.set("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &verifier.url(path));
            env.set(
                "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
                "x-aws-log-group=/aws/lambda/nightly,x-aws-log-stream=otel",
            );
        }
        None => env.set("OTEL_LOGS_EXPORTER", "none"),
    }
    env
}

/// One scheduled invocation, flushed; the handler writes a log record when `log` is set.
async fn invoke(otel: &LambdaTelemetry, request_id: &str, log: Option<&'static str>) {
    let event: aws_lambda_events::eventbridge::EventBridgeEvent = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../shared/fixtures/aws-lambda-events/example-eventbridge-schedule.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let mut context = lambda_runtime::Context::default();
    context.request_id = request_id.into();
    context.invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:nightly".into();
    let logger = otel.telemetry().logger_provider().logger("nightly");
    let reply = otel
        .engine()
        .invocation(
            &LambdaEventAdapter::new(ScheduledTrigger::new()),
            LambdaEvent::new(event, context),
        )
        .run(|_| async move {
            otel_faas_aws::xray::annotations::annotate("report_kind", "daily");
            if let Some(body) = log {
                let mut record = logger.create_log_record();
                record.set_body(body.into());
                logger.emit(record);
            }
            Ok::<_, std::convert::Infallible>(())
        })
        .await;
    assert!(reply.is_ok(), "the invocation itself never fails");
    let _ = otel
        .telemetry()
        .flusher()
        .flush(Duration::from_secs(5))
        .await;
}

fn accepted(requests: &[SignedRequest], path: &str) -> Vec<SignedRequest> {
    requests
        .iter()
        .filter(|r| r.path == path && r.refused.is_none())
        .cloned()
        .collect()
}

/// Spans to X-Ray's OTLP endpoint and log records to CloudWatch Logs', gzip-compressed,
/// each request's signature the one botocore computes for its service (credential scope
/// and all), the payloads decoded as OTLP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_logs_are_signed_as_botocore_signs_them() {
    let verifier = verifier("signed");
    let env = environment(&verifier, "/v1/traces", Some("/v1/logs"));
    env.set("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    let otel = LambdaTelemetry::builder_with_environment(env).build();
    assert!(
        otel.telemetry().warnings().is_empty(),
        "{:?}",
        otel.telemetry().warnings()
    );
    invoke(&otel, "signed-1", Some("compacted 42 reports")).await;
    let requests = verifier.wait_for(2, Duration::from_secs(10));
    let refused: Vec<_> = requests.iter().filter_map(|r| r.refused.clone()).collect();
    assert!(refused.is_empty(), "refused: {refused:#?}");

    let traces = accepted(&requests, "/v1/traces");
    assert_eq!(traces.len(), 1, "{requests:#?}");
    assert_eq!(traces[0].service.as_deref(), Some("xray"));
    assert!(traces[0].gzip, "signed over the compressed bytes");
    let spans = ExportTraceServiceRequest::decode(traces[0].body.as_slice()).expect("OTLP spans");
    let names: Vec<&str> = spans
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.as_str())
        .collect();
    assert!(names.contains(&"nightly"), "{names:?}");
    // The annotation as X-Ray's OTLP endpoint reads it: the attribute, listed.
    let invocation = spans
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .find(|s| s.name == "nightly")
        .unwrap();
    let attribute = |key: &str| {
        invocation
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.clone())
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    assert_eq!(
        attribute("report_kind"),
        Some(Any::StringValue("daily".into()))
    );
    match attribute("aws.xray.annotations") {
        Some(Any::ArrayValue(list)) => {
            let keys: Vec<_> = list.values.iter().filter_map(|v| v.value.clone()).collect();
            assert_eq!(keys, [Any::StringValue("report_kind".into())]);
        }
        other => panic!("aws.xray.annotations: {other:?}"),
    }
    assert_eq!(attribute("annotation.report_kind"), None);

    otel.telemetry()
        .flusher()
        .flush(Duration::from_secs(5))
        .await
        .ok();
    let requests = verifier.wait_for(2, Duration::from_secs(10));
    let logs = accepted(&requests, "/v1/logs");
    assert_eq!(logs.len(), 1, "{requests:#?}");
    assert_eq!(logs[0].service.as_deref(), Some("logs"));
    let records = ExportLogsServiceRequest::decode(logs[0].body.as_slice()).expect("OTLP logs");
    let bodies: Vec<String> = records
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .filter_map(|l| l.body.as_ref())
        .map(|b| format!("{b:?}"))
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("compacted 42 reports")),
        "{bodies:?}"
    );
}

/// The verifier can say no: a request signed with another secret is refused as AWS
/// refuses it (and counted as dropped, the invocation unharmed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_by_the_verifier() {
    let verifier = verifier("wrong");
    let env = environment(&verifier, "/v1/traces", None);
    env.set("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let otel = LambdaTelemetry::builder_with_environment(env).build();
    invoke(&otel, "wrong-1", None).await;
    let requests = verifier.wait_for(1, Duration::from_secs(10));
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let refused = requests[0].refused.as_deref().unwrap_or_default();
    assert!(refused.starts_with("SignatureDoesNotMatch"), "{refused}");
    assert!(otel.telemetry().export_stats().dropped_rejected >= 1);
}

/// Credentials that change under a running function are used from the next export on;
/// an expired token and missing credentials are counted drops with a clear reason, never
/// a failed invocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_credentials_are_used_and_expired_or_missing_ones_are_counted_drops() {
    let verifier = verifier("rotated");
    let env = environment(&verifier, "/v1/traces", None);
    env.set("AWS_SESSION_TOKEN", "expired");
    let otel = LambdaTelemetry::builder_with_environment(env.clone()).build();

    invoke(&otel, "expired-1", None).await;
    let requests = verifier.wait_for(1, Duration::from_secs(10));
    assert!(
        requests[0]
            .refused
            .as_deref()
            .is_some_and(|r| r.starts_with("ExpiredTokenException")),
        "{requests:#?}"
    );
    let dropped = otel.telemetry().export_stats().dropped_rejected;
    assert!(dropped >= 1, "counted");

    // Fresh credentials, as Lambda's rotate: taken on the next export.
    env.set("AWS_SESSION_TOKEN", TOKEN);
    // The circuit opened on the refusal; reconnecting does not reset it, waiting does.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    invoke(&otel, "rotated-1", None).await;
    let requests = verifier.wait_for(2, Duration::from_secs(10));
    assert_eq!(
        accepted(&requests, "/v1/traces").len(),
        1,
        "the rotated token is used: {requests:#?}"
    );

    // No credentials at all: nothing sent, counted, the invocation unharmed.
    env.remove("AWS_ACCESS_KEY_ID");
    let before = otel.telemetry().export_stats().dropped_rejected;
    invoke(&otel, "missing-1", None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(verifier.requests().len(), 2, "nothing sent unsigned");
    assert!(otel.telemetry().export_stats().dropped_rejected > before);
}

/// An endpoint that answers 413 (a batch too large) drops the batch, counted; the
/// invocation is unharmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_from_the_endpoint_is_a_counted_drop() {
    let verifier = verifier("large");
    let env = environment(&verifier, "/too-large/v1/traces", None);
    let otel = LambdaTelemetry::builder_with_environment(env).build();
    invoke(&otel, "large-1", None).await;
    let requests = verifier.wait_for(1, Duration::from_secs(10));
    assert_eq!(
        requests[0].refused.as_deref(),
        Some("413 Request Entity Too Large"),
        "{requests:#?}"
    );
    assert!(otel.telemetry().export_stats().dropped_rejected >= 1);
}
