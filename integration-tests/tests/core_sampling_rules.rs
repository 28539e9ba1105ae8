//! Rule-based head sampling from `OTEL_FAAS_SAMPLING_RULES` (a file, as deployments ship
//! it), read off the wire: health checks are never traced, the API always is, the rest
//! falls to the default; children follow their root.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use otel_faas_core::engine::InvocationScope;
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
use otel_faas_core::{InvocationSpec, Pipeline, Propagation, TriggerAdapter};
use otel_faas_integration_tests::OtlpReceiver;

const RULES: &str = r#"{
  "version": 2,
  "rules": [
    {"description": "never trace health checks", "url_path": "/health*", "fixed_target": 0, "rate": 0.0},
    {"description": "always keep the API", "http_method": "*", "url_path": "/api/*", "fixed_target": 0, "rate": 1.0}
  ],
  "default": {"fixed_target": 0, "rate": 0.0}
}"#;

/// A GET of the path in the event.
struct Get;

impl TriggerAdapter<&'static str, ()> for Get {
    fn invocation_spec(
        &self,
        path: &&'static str,
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(
            FaasTrigger::Http,
            SpanSpec::server(format!("GET {path}")).with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.path", *path),
            ]),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_are_never_traced_and_the_api_always_is() {
    let rules = std::env::temp_dir().join(format!("otel-faas-rules-{}.json", std::process::id()));
    std::fs::write(&rules, RULES).expect("the rules file");
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ("OTEL_FAAS_SAMPLING_RULES", rules.display().to_string()),
    ]))
    .install();
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    let engine = telemetry.engine().build();
    for path in ["/health", "/api/orders", "/healthz", "/about", "/api/stock"] {
        engine
            .invocation(&Get, path)
            .run(|_| async {
                InvocationScope::current()
                    .expect("inside")
                    .in_span(SpanSpec::new("query", SpanKind::Client), async {
                        Ok::<_, &str>(())
                    })
                    .await
            })
            .await
            .unwrap();
    }
    receiver
        .wait_for(Duration::from_secs(20), |r| r.spans().len() >= 4)
        .await
        .expect("the API's spans");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spans = receiver.spans();
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["GET /api/orders", "GET /api/stock", "query", "query"]
    );
    let _ = std::fs::remove_file(rules);
}

#[test]
fn an_invalid_document_is_reported_and_the_standard_sampler_applies() {
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        (
            "OTEL_FAAS_SAMPLING_RULES",
            r#"{"version": 2, "rules": [{"url_pth": "/"}]}"#,
        ),
    ]))
    .install();
    let warning = &telemetry.warnings()[0];
    assert_eq!(warning.variable, "OTEL_FAAS_SAMPLING_RULES");
    assert!(warning.accepted.contains("url_pth"), "{warning}");
    assert_eq!(warning.value, "(a document)");
}
