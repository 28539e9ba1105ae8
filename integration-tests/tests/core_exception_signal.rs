//! `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`: an invocation's exception as a span event (the
//! default), as a `faas.invocation.exception` log record at ERROR (`logs`), or both
//! (`logs/dup`), read off the wire.

use std::time::Duration;

use otel_faas_core::env::MapEnvironment;
use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
use otel_faas_core::{InvocationSpec, Pipeline, Propagation, TriggerAdapter};
use otel_faas_integration_tests::{AttrValue, OtlpReceiver, ReceivedLog, ReceivedSpan};

const WAIT: Duration = Duration::from_secs(20);

struct Job;

impl TriggerAdapter<(), ()> for Job {
    fn invocation_spec(
        &self,
        _: &(),
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(FaasTrigger::Http, SpanSpec::server("job"))
    }
}

/// Runs one failing invocation with the opt-in set to `opt_in` (unset for `None`); returns
/// the invocation span and the log records.
async fn failing_invocation(opt_in: Option<&str>) -> (ReceivedSpan, Vec<ReceivedLog>) {
    let receiver = OtlpReceiver::start().expect("receiver");
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
    ];
    if let Some(opt_in) = opt_in {
        env.push(("OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN", opt_in.to_owned()));
    }
    let telemetry =
        Pipeline::with_environment(env.into_iter().collect::<MapEnvironment>()).install();
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    let engine = telemetry.engine().build();
    let _ = engine
        .invocation(&Job, ())
        .run(|_| async { Err::<(), _>("the order table is locked") })
        .await;
    telemetry.flusher().flush(WAIT).await.expect("flush");
    let span = receiver
        .wait_for_span_where(WAIT, |s| s.name == "job")
        .await
        .expect("the invocation span");
    // Log records, if any, were exported by the same flush.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (span, receiver.logs())
}

fn exception_events(span: &ReceivedSpan) -> usize {
    span.events.iter().filter(|e| e.name == "exception").count()
}

fn assert_exception_record(span: &ReceivedSpan, logs: &[ReceivedLog]) {
    let records: Vec<_> = logs
        .iter()
        .filter(|l| l.event_name == "faas.invocation.exception")
        .collect();
    assert_eq!(records.len(), 1, "{logs:#?}");
    let record = records[0];
    assert_eq!(record.severity_number, 17, "ERROR");
    assert_eq!(record.severity_text, "ERROR");
    assert_eq!(record.trace_id, span.trace_id);
    assert_eq!(record.span_id, span.span_id);
    assert_eq!(
        record.attributes.get("exception.message"),
        Some(&AttrValue::Str("the order table is locked".into()))
    );
    assert!(record.attributes.contains_key("exception.type"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_exception_is_a_span_event_only() {
    let (span, logs) = failing_invocation(None).await;
    assert_eq!(exception_events(&span), 1);
    assert!(logs.iter().all(|l| l.event_name.is_empty()), "{logs:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_moves_the_exception_to_a_log_record() {
    let (span, logs) = failing_invocation(Some("logs")).await;
    assert_eq!(exception_events(&span), 0);
    assert_exception_record(&span, &logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_dup_records_both() {
    let (span, logs) = failing_invocation(Some("logs/dup")).await;
    assert_eq!(exception_events(&span), 1);
    assert_exception_record(&span, &logs);
}
