//! The FaaS metrics of the semantic conventions, recorded by the engine's observer that
//! `Telemetry::engine` adds whenever metrics are exported, asserted after crossing OTLP.

use std::time::Duration;

use otel_faas_core::env::MapEnvironment;
use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
use otel_faas_core::{InvocationSpec, Pipeline, Propagation, TriggerAdapter};
use otel_faas_integration_tests::{AttrValue, OtlpReceiver, ReceivedMetric};

const WAIT: Duration = Duration::from_secs(20);

/// A trigger of a chosen kind; `deadline_in` gives the invocation a deadline.
struct Job {
    trigger: FaasTrigger,
    deadline_in: Option<Duration>,
}

impl TriggerAdapter<(), ()> for Job {
    fn invocation_context(&self, _: &()) -> InvocationContext {
        match self.deadline_in {
            Some(time_left) => InvocationContext::new().with_deadline_in(time_left),
            None => InvocationContext::new(),
        }
    }

    fn invocation_spec(
        &self,
        _: &(),
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(self.trigger, SpanSpec::server("job"))
    }
}

/// The sum of the last exported points of `name` with `faas.trigger` = `trigger`
/// (cumulative temporality: the last export holds the totals).
fn total(metrics: &[ReceivedMetric], name: &str, trigger: &str) -> f64 {
    metrics
        .iter()
        .rev()
        .find(|m| m.name == name)
        .map(|m| {
            m.points
                .iter()
                .filter(|(_, attributes)| {
                    attributes.get("faas.trigger") == Some(&AttrValue::Str(trigger.to_owned()))
                })
                .map(|(value, _)| value)
                .sum()
        })
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_errors_timeouts_coldstarts_and_durations_are_counted() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        // Only the flushes export, so what arrives is what the invocations recorded.
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000".to_owned()),
        ("OTEL_SERVICE_NAME", "orders".to_owned()),
    ]))
    .install();
    // The process began initialising 1.5 s before the cold invocation.
    let init_started = std::time::SystemTime::now() - Duration::from_millis(1500);
    let engine = telemetry.engine().init_started(init_started).build();
    let http = Job {
        trigger: FaasTrigger::Http,
        deadline_in: None,
    };
    let timer = Job {
        trigger: FaasTrigger::Timer,
        deadline_in: None,
    };
    let late = Job {
        trigger: FaasTrigger::Timer,
        deadline_in: Some(Duration::from_millis(50)),
    };
    // The cold one, over HTTP, succeeds; two more HTTP, one of them failing.
    for fail in [false, false, true] {
        let _ = engine
            .invocation(&http, ())
            .run(move |_| async move { if fail { Err("refused") } else { Ok(()) } })
            .await;
    }
    // Timers: one succeeds, one times out.
    let _ = engine
        .invocation(&timer, ())
        .run(|_| async { Ok::<_, &str>(()) })
        .await;
    let _ = engine
        .invocation(&late, ())
        .run(|_| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<_, &str>(())
        })
        .await;
    telemetry.flusher().flush(WAIT).await.expect("flush");
    receiver
        .wait_for(WAIT, |r| {
            r.metrics().iter().any(|m| m.name == "faas.timeouts")
        })
        .await
        .expect("the metrics arrive");
    let metrics = receiver.metrics();
    assert_eq!(total(&metrics, "faas.invocations", "http"), 3.0);
    assert_eq!(total(&metrics, "faas.invocations", "timer"), 2.0);
    assert_eq!(total(&metrics, "faas.errors", "http"), 1.0);
    assert_eq!(
        total(&metrics, "faas.errors", "timer"),
        0.0,
        "a timeout is not an error"
    );
    assert_eq!(total(&metrics, "faas.timeouts", "timer"), 1.0);
    assert_eq!(total(&metrics, "faas.coldstarts", "http"), 1.0);
    assert_eq!(total(&metrics, "faas.coldstarts", "timer"), 0.0);
    // Histogram points carry their count.
    assert_eq!(total(&metrics, "faas.invoke_duration", "http"), 3.0);
    assert_eq!(total(&metrics, "faas.invoke_duration", "timer"), 2.0);
    let duration = metrics
        .iter()
        .find(|m| m.name == "faas.invoke_duration")
        .unwrap();
    assert_eq!(duration.unit, "s");
    // One init duration, the cold invocation's, of at least the 1.5 s before it.
    assert_eq!(total(&metrics, "faas.init_duration", "http"), 1.0);
    assert_eq!(total(&metrics, "faas.init_duration", "timer"), 0.0);
    let init = metrics
        .iter()
        .rev()
        .find(|m| m.name == "faas.init_duration")
        .unwrap();
    assert_eq!(init.unit, "s");
    let init_seconds = init.sums[0];
    assert!(
        (1.5..3.0).contains(&init_seconds),
        "init duration {init_seconds} s"
    );
    assert_eq!(
        duration.resource.get("service.name"),
        Some(&AttrValue::Str("orders".into()))
    );
}

/// With metrics off, no FaaS metric is recorded or exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_metrics_exporter_nothing_is_recorded() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
    ]))
    .install();
    let engine = telemetry.engine().build();
    let job = Job {
        trigger: FaasTrigger::Other,
        deadline_in: None,
    };
    engine
        .invocation(&job, ())
        .run(|_| async { Ok::<_, &str>(()) })
        .await
        .unwrap();
    telemetry.flusher().flush(WAIT).await.expect("flush");
    receiver
        .wait_for(WAIT, |r| !r.spans().is_empty())
        .await
        .expect("the span arrives");
    assert!(receiver.metrics().is_empty(), "{:?}", receiver.metrics());
}
