//! `tracing` events as OTLP log records through the one-line set-up (`init_tracing`, the
//! logs bridge), each in the trace context of the span it was written in, read off the
//! wire. One test: it installs the process's global subscriber.

use std::time::Duration;

use otel_faas_core::env::MapEnvironment;
use otel_faas_core::subscriber::TracingOptions;
use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
use otel_faas_core::{InvocationSpec, Pipeline, Propagation, TriggerAdapter};
use otel_faas_integration_tests::{AttrValue, OtlpReceiver};
use tracing::Instrument as _;

const WAIT: Duration = Duration::from_secs(20);

struct Job;

impl TriggerAdapter<(), ()> for Job {
    fn invocation_context(&self, _: &()) -> InvocationContext {
        InvocationContext::new().with_invocation_id("req-logs-1")
    }

    fn invocation_spec(
        &self,
        _: &(),
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(FaasTrigger::Timer, SpanSpec::server("job"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_become_log_records_in_the_trace_context_of_their_span() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_SERVICE_NAME", "logs".to_owned()),
    ]))
    .install();
    telemetry
        .init_tracing(TracingOptions::default())
        .expect("the only subscriber of this test binary");
    tracing::info!("outside any invocation");
    let engine = telemetry.engine().build();
    engine
        .invocation(&Job, ())
        .run(|_| async {
            tracing::info!(order = 42, paid = true, "order placed");
            async { tracing::warn!(code = "declined", "card declined") }
                .instrument(tracing::info_span!("charge"))
                .await;
            tracing::debug!("below the level");
            tracing::info!(target: "hyper::client", "an exporter's own event");
            tracing::info!(target: "otel_faas", "otel-faas's own event");
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .unwrap();
    telemetry.flusher().flush(WAIT).await.expect("flush");
    receiver
        .wait_for(WAIT, |r| {
            r.logs().len() >= 3 && r.spans().iter().any(|s| s.name == "charge")
        })
        .await
        .expect("log records and spans arrive");
    // Anything late would show now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = receiver.logs();
    let spans = receiver.spans();
    let job = spans
        .iter()
        .find(|s| s.name == "job")
        .expect("invocation span");
    let charge = spans
        .iter()
        .find(|s| s.name == "charge")
        .expect("charge span");
    let record = |body: &str| {
        logs.iter()
            .find(|l| l.body == body)
            .unwrap_or_else(|| panic!("no record {body:?} in {logs:#?}"))
    };

    let placed = record("order placed");
    assert_eq!(placed.trace_id, job.trace_id);
    assert_eq!(
        placed.span_id, job.span_id,
        "written in the invocation span"
    );
    assert_eq!(placed.severity_text, "INFO");
    assert_eq!(placed.severity_number, 9);
    assert_eq!(placed.attributes.get("order"), Some(&AttrValue::Int(42)));
    assert_eq!(placed.attributes.get("paid"), Some(&AttrValue::Bool(true)));
    assert_eq!(
        placed.resource.get("service.name"),
        Some(&AttrValue::Str("logs".into()))
    );

    let declined = record("card declined");
    assert_eq!(declined.trace_id, job.trace_id);
    assert_eq!(
        declined.span_id, charge.span_id,
        "written in the tracing span"
    );
    assert_eq!(declined.severity_number, 13);

    let outside = record("outside any invocation");
    assert!(outside.trace_id.is_empty(), "{outside:?}");

    for body in [
        "below the level",
        "an exporter's own event",
        "otel-faas's own event",
    ] {
        assert!(logs.iter().all(|l| l.body != body), "{body:?} was exported");
    }
}
