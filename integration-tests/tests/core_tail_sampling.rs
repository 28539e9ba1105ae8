//! Invocation-scoped tail sampling over 10,000 invocations, read off the wire: every
//! failing, timed-out, cold and remotely sampled invocation is kept whole, the others at
//! the configured ratio; an invocation's spans are kept or dropped together; memory per
//! invocation is bounded and the overflow counted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue};
use otel_faas_core::engine::{ColdStart, FlushPolicy, InvocationScope};
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
use otel_faas_core::{InvocationSpec, Pipeline, Propagation, TriggerAdapter};
use otel_faas_integration_tests::{AttrValue, OtlpReceiver};

const WAIT: Duration = Duration::from_secs(60);
const INVOCATIONS: i64 = 10_000;
const RATIO: f64 = 0.1;

/// What invocation `index` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ordinary,
    Errors,
    TimesOut,
    Cold,
    RemoteSampled,
}

fn kind(index: i64) -> Kind {
    match index % 100 {
        0..=4 => Kind::Errors,
        5 => Kind::TimesOut,
        6 => Kind::Cold,
        7..=9 => Kind::RemoteSampled,
        _ => Kind::Ordinary,
    }
}

/// An invocation whose span carries its index; remotely sampled ones get a sampled
/// remote parent, timed-out ones a short deadline.
struct Job;

impl TriggerAdapter<i64, ()> for Job {
    fn invocation_context(&self, index: &i64) -> InvocationContext {
        match kind(*index) {
            Kind::TimesOut => InvocationContext::new().with_deadline_in(Duration::from_millis(20)),
            _ => InvocationContext::new(),
        }
    }

    fn invocation_spec(
        &self,
        index: &i64,
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        let spec = InvocationSpec::new(
            FaasTrigger::Timer,
            SpanSpec::server("job").with_attribute(KeyValue::new("job.index", *index)),
        );
        if kind(*index) == Kind::RemoteSampled {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&index.to_be_bytes());
            id[15] = 1;
            let parent = SpanContext::new(
                TraceId::from_bytes(id),
                SpanId::from_bytes([7; 8]),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            );
            spec.with_parent(Context::new().with_remote_span_context(parent))
        } else {
            spec
        }
    }
}

fn index_of(attributes: &BTreeMap<String, AttrValue>) -> Option<i64> {
    match attributes.get("job.index") {
        Some(AttrValue::Int(index)) => Some(*index),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_timed_out_cold_and_remotely_sampled_invocations_are_all_kept() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100000".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
        ("OTEL_FAAS_TAIL_SAMPLING_RATIO", RATIO.to_string()),
    ]))
    .install();
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    let cold = ColdStart::pre_initialized();
    let engine = telemetry
        .engine()
        .cold_start(cold.clone())
        .flush_policy(FlushPolicy::Background)
        .deadline_margin(Duration::from_millis(5))
        .build();
    for index in 0..INVOCATIONS {
        if kind(index) == Kind::Cold {
            // As after a snapshot restore: the next invocation is cold again.
            cold.restored(SystemTime::now());
        }
        let _ = engine
            .invocation(&Job, index)
            .run(move |_| async move {
                let scope = InvocationScope::current().expect("inside the invocation");
                scope
                    .in_span(
                        SpanSpec::new("step", opentelemetry::trace::SpanKind::Internal)
                            .with_attribute(KeyValue::new("job.index", index)),
                        async { Ok::<_, &str>(()) },
                    )
                    .await?;
                match kind(index) {
                    Kind::Errors => Err("refused"),
                    Kind::TimesOut => {
                        // Past the deadline (the watchdog ends the span 5 ms before it).
                        tokio::time::sleep(Duration::from_millis(60)).await;
                        Ok(())
                    }
                    _ => Ok(()),
                }
            })
            .await;
    }
    let stats = telemetry
        .tail_sampling_stats()
        .expect("tail sampling is on");
    assert_eq!(
        stats.kept_invocations + stats.dropped_invocations,
        INVOCATIONS as u64
    );
    assert_eq!(stats.overflowed, 0);
    // A timed-out invocation's flush has only the milliseconds before its deadline; on a
    // loaded machine that send may be cut, which must not hold this flush.
    telemetry.flusher().flush(WAIT).await.expect("flush");
    let kept = stats.kept_invocations as usize;
    receiver
        .wait_for(WAIT, |r| {
            r.spans().iter().filter(|s| s.name == "job").count() >= kept
        })
        .await
        .expect("every kept invocation arrives");
    let spans = receiver.spans();
    let invocations: BTreeSet<i64> = spans
        .iter()
        .filter(|s| s.name == "job")
        .filter_map(|s| index_of(&s.attributes))
        .collect();
    let steps: BTreeSet<i64> = spans
        .iter()
        .filter(|s| s.name == "step")
        .filter_map(|s| index_of(&s.attributes))
        .collect();
    assert_eq!(invocations.len(), kept, "each kept invocation once");
    // Whole invocations: a step arrives exactly when its invocation does.
    assert_eq!(invocations, steps);
    let mut ordinary = (0, 0);
    for index in 0..INVOCATIONS {
        match kind(index) {
            Kind::Ordinary => {
                ordinary.1 += 1;
                if invocations.contains(&index) {
                    ordinary.0 += 1;
                }
            }
            other => assert!(
                invocations.contains(&index),
                "{other:?} invocation {index} dropped"
            ),
        }
    }
    // 9,000 ordinary invocations at 10 %: the standard deviation of the kept fraction is
    // 0.32 points; the tolerance is 2 points (over 6 deviations).
    let fraction = f64::from(ordinary.0) / f64::from(ordinary.1);
    assert!(
        (fraction - RATIO).abs() < 0.02,
        "{} of {} ordinary invocations kept ({fraction})",
        ordinary.0,
        ordinary.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_holds_at_most_max_spans_and_counts_the_rest() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ("OTEL_FAAS_TAIL_SAMPLING_RATIO", "0".to_owned()),
        ("OTEL_FAAS_TAIL_SAMPLING_MAX_SPANS", "5".to_owned()),
        ("OTEL_FAAS_TAIL_SAMPLING_SLOW_MS", "100".to_owned()),
    ]))
    .install();
    let engine = telemetry
        .engine()
        .cold_start(ColdStart::pre_initialized())
        .build();
    // A slow invocation (kept) with 20 steps: 5 held, 15 counted.
    engine
        .invocation(&Job, 10)
        .run(|_| async {
            let scope = InvocationScope::current().expect("inside the invocation");
            for _ in 0..20 {
                scope
                    .in_span(
                        SpanSpec::new("step", opentelemetry::trace::SpanKind::Internal),
                        async { Ok::<_, &str>(()) },
                    )
                    .await?;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            Ok::<_, &str>(())
        })
        .await
        .unwrap();
    // A fast ordinary one at ratio 0: dropped, step and all.
    engine
        .invocation(&Job, 11)
        .run(|_| async { Ok::<_, &str>(()) })
        .await
        .unwrap();
    let stats = telemetry.tail_sampling_stats().unwrap();
    assert_eq!(stats.overflowed, 15);
    assert_eq!((stats.kept_invocations, stats.dropped_invocations), (1, 1));
    let spans = receiver
        .wait_until(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.name == "job")
        })
        .await
        .expect("the slow invocation");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spans = {
        let _ = spans;
        receiver.spans()
    };
    assert_eq!(spans.iter().filter(|s| s.name == "step").count(), 5);
    let jobs: Vec<_> = spans.iter().filter(|s| s.name == "job").collect();
    assert_eq!(jobs.len(), 1);
    assert_eq!(index_of(&jobs[0].attributes), Some(10));
}
