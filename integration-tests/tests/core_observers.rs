//! The one end path: every way an invocation ends — returned, failed, errored, panicked,
//! timed out, dropped — produces one record for the observers and one exported span, and
//! the two agree. Spans are read off the wire from the OTLP receiver.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt as _;
use otel_faas_core::engine::{
    CANCELLED_ERROR_TYPE, InvocationRecord, InvocationStart, InvocationStatus,
};
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::trigger::{FaasTrigger, InvocationContext, Outcome};
use otel_faas_core::{
    InvocationObserver, InvocationSpec, Pipeline, Propagation, SpanSpec, Telemetry, TriggerAdapter,
};
use otel_faas_integration_tests::{AttrValue, OtlpReceiver, StatusCode};

const WAIT: Duration = Duration::from_secs(10);

fn telemetry(receiver: &OtlpReceiver) -> Telemetry {
    Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_SERVICE_NAME", "observers".to_owned()),
    ]))
    .install()
}

/// Names each invocation after the event, and reads a response of `false` as a failure.
struct Named;

impl TriggerAdapter<&'static str, bool> for Named {
    fn invocation_spec(
        &self,
        name: &&'static str,
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(FaasTrigger::Timer, SpanSpec::server(*name))
    }

    fn outcome(&self, ok: &bool) -> Outcome {
        if *ok {
            Outcome::success()
        } else {
            Outcome::failed("job_failed", Some("the job reported a failure".into()))
        }
    }
}

#[derive(Default)]
struct Recorder {
    starts: Mutex<Vec<InvocationStart>>,
    ends: Mutex<Vec<InvocationRecord>>,
}

impl InvocationObserver for Recorder {
    fn on_start(&self, start: &InvocationStart) {
        self.starts.lock().unwrap().push(start.clone());
    }
    fn on_end(&self, record: &InvocationRecord) {
        self.ends.lock().unwrap().push(record.clone());
    }
}

struct Panicking;

impl InvocationObserver for Panicking {
    fn on_start(&self, _: &InvocationStart) {
        panic!("a broken observer");
    }
    fn on_end(&self, _: &InvocationRecord) {
        panic!("a broken observer");
    }
}

#[derive(Debug, thiserror::Error)]
#[error("card declined")]
struct Declined;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_see_the_start_and_the_one_end_of_every_outcome() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver);
    let recorder = Arc::new(Recorder::default());
    // A panicking observer first: it must neither fail invocations nor starve the recorder.
    let engine = telemetry
        .engine()
        .observer(Panicking)
        .observer(Arc::clone(&recorder))
        .deadline_margin(Duration::from_millis(100))
        .build();

    let ok = engine
        .invocation(&Named, "succeeds")
        .run(|_| async { Ok::<_, Infallible>(true) })
        .await;
    assert!(ok.unwrap());
    let failed = engine
        .invocation(&Named, "fails")
        .run(|_| async { Ok::<_, Infallible>(false) })
        .await;
    assert!(!failed.unwrap());
    let errored = engine
        .invocation(&Named, "errors")
        .run(|_| async { Err::<bool, _>(Declined) })
        .await;
    assert!(errored.is_err());
    let panicked = AssertUnwindSafe(
        engine
            .invocation(&Named, "panics")
            .run(|_| async { panic!("boom") as Result<bool, Infallible> }),
    )
    .catch_unwind()
    .await;
    assert!(panicked.is_err(), "the panic resumes");
    // The deadline passes while the handler runs; the late response must not end it again.
    let timed_out = engine
        .invocation(&Named, "times out")
        .context(InvocationContext::new().with_deadline_in(Duration::from_millis(300)))
        .run(|_| async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            Ok::<_, Infallible>(true)
        })
        .await;
    assert!(timed_out.unwrap());
    // The invocation future is dropped mid-handler: a client that hung up.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        engine
            .invocation(&Named, "is cancelled")
            .run(|_| std::future::pending::<Result<bool, Infallible>>()),
    )
    .await;
    assert!(cancelled.is_err(), "the invocation was still running");

    let expected = [
        ("succeeds", InvocationStatus::Succeeded, None),
        ("fails", InvocationStatus::Failed, Some("job_failed")),
        (
            "errors",
            InvocationStatus::Errored,
            Some("core_observers::Declined"),
        ),
        ("panics", InvocationStatus::Panicked, Some("panic")),
        ("times out", InvocationStatus::TimedOut, Some("timeout")),
        (
            "is cancelled",
            InvocationStatus::Cancelled,
            Some(CANCELLED_ERROR_TYPE),
        ),
    ];
    let spans = receiver.wait_for_spans(expected.len(), WAIT).await.unwrap();
    let starts = recorder.starts.lock().unwrap().clone();
    let ends = recorder.ends.lock().unwrap().clone();
    assert_eq!(starts.len(), expected.len(), "one start per invocation");
    assert_eq!(ends.len(), expected.len(), "exactly one end per invocation");
    for (index, (name, status, error_type)) in expected.into_iter().enumerate() {
        let span = spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name}"));
        let start = &starts[index];
        let end = &ends[index];
        assert_eq!(end.sequence(), start.sequence(), "{name}");
        assert_eq!(end.status(), status, "{name}");
        assert_eq!(end.error_type(), error_type, "{name}");
        assert_eq!(end.trigger(), FaasTrigger::Timer);
        assert_eq!(end.cold_start(), index == 0, "{name}");
        // The record describes the exported span, not some other one.
        assert_eq!(
            end.span_context().span_id().to_string(),
            span.span_id,
            "{name}"
        );
        assert_eq!(span.attr_str("error.type"), error_type, "{name}");
        let expected_status = if status.is_success() {
            StatusCode::Unset
        } else {
            StatusCode::Error
        };
        assert_eq!(span.status, expected_status, "{name}");
    }
    let timeout = &ends[4];
    assert!(
        timeout.duration() < Duration::from_millis(550),
        "the timeout is recorded when the watchdog fires, not when the handler returns: {:?}",
        timeout.duration()
    );
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_invocation_is_exported_as_cancelled() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver);
    let engine = telemetry.engine().build();
    let started = Arc::new(tokio::sync::Notify::new());
    let task = tokio::spawn({
        let engine = engine.clone();
        let started = Arc::clone(&started);
        async move {
            engine
                .invocation(&Named, "abandoned")
                .run(|_| async move {
                    started.notify_one();
                    std::future::pending::<Result<bool, Infallible>>().await
                })
                .await
        }
    });
    started.notified().await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // Nothing flushed at the end of a dropped invocation (it cannot await): the batch
    // processor or the platform's flush exports it.
    engine.flusher().flush(WAIT).await.unwrap();

    let span = receiver.wait_for_span("abandoned", WAIT).await.unwrap();
    assert_eq!(span.status, StatusCode::Error);
    assert_eq!(span.attr_str("error.type"), Some(CANCELLED_ERROR_TYPE));
    assert!(span.status_message.contains("dropped"), "{span:?}");
    assert_eq!(span.attr("faas.coldstart"), Some(&AttrValue::Bool(true)));
    telemetry.shutdown(WAIT).await.unwrap();
}
