//! P7 of `cargo xtask bench`: what a failing collector costs each invocation, and what it
//! loses. In process: the pipeline from the `OTEL_*` variables exports over OTLP/HTTP to a
//! [`FaultyCollector`], the engine flushes at the end of each invocation (before the
//! response, the 2 s default budget), and each fault is held for a number of invocations,
//! then the collector recovers and a few more run.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
use otel_faas_core::{InvocationSpec, Propagation, TriggerAdapter};
use otel_faas_integration_tests::{Fault, FaultyCollector};

/// An invocation named after its number, so that the spans that arrive can be told apart.
struct Numbered;

impl TriggerAdapter<u32, ()> for Numbered {
    fn invocation_spec(
        &self,
        invocation: &u32,
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(
            FaasTrigger::Other,
            SpanSpec::server(format!("invocation-{invocation}")),
        )
    }
}

const FAULTS: [(&str, Fault); 7] = [
    ("refuses connections", Fault::Refuse),
    ("answers 503", Fault::Status(503)),
    ("answers 500", Fault::Status(500)),
    (
        "answers 429, Retry-After: 1",
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    ),
    ("resets mid-body", Fault::ResetMidBody),
    ("never answers", Fault::Hang),
    ("answers after 2 s", Fault::Slow(Duration::from_secs(2))),
];

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

pub(crate) async fn measure(quick: bool) -> anyhow::Result<String> {
    let during = if quick { 5 } else { 20 };
    let after = 5;
    let mut out = String::new();
    writeln!(
        out,
        "## P7 — a collector that fails\n\nTarget (issue 14): once a failure is detected, an \
         invocation pays ≤ 5 ms; spans ended during an outage are delivered after it while \
         the buffer has room; threads bounded; every drop counted. In process: the pipeline \
         from `OTEL_*` exporting over OTLP/HTTP to a collector that fails at the TCP level, \
         the engine flushing before each response (2 s budget). {during} invocations during \
         each fault, then the collector recovers and {after} more run.\n"
    )?;
    writeln!(
        out,
        "| The collector | Added per invocation: median | max | Spans delivered of those ended during the fault | Threads during the fault (before) |\n|---|---:|---:|---:|---:|"
    )?;
    for (label, fault) in FAULTS {
        let collector = FaultyCollector::start(Fault::Healthy)?;
        let telemetry = crate::bench_flush::traces_to(collector.endpoint());
        let engine = telemetry.engine().build();
        // A healthy invocation first: the connection pool is warm, as in a running function.
        engine
            .invocation(&Numbered, 0)
            .run(|_| async { Ok::<_, std::convert::Infallible>(()) })
            .await
            .ok();
        let threads_before = threads();
        collector.set_fault(fault);
        let mut costs = Vec::new();
        let mut threads_during = threads_before;
        for number in 1..=during {
            let started = Instant::now();
            engine
                .invocation(&Numbered, number)
                .run(|_| async { Ok::<_, std::convert::Infallible>(()) })
                .await
                .ok();
            costs.push(started.elapsed().as_secs_f64());
            threads_during = threads_during.max(threads());
        }
        collector.set_fault(Fault::Healthy);
        for number in during + 1..=during + after {
            engine
                .invocation(&Numbered, number)
                .run(|_| async { Ok::<_, std::convert::Infallible>(()) })
                .await
                .ok();
        }
        // Whatever the pipeline still holds has had its chance.
        let _ = telemetry.shutdown(Duration::from_secs(3)).await;
        let delivered = collector
            .receiver()
            .spans()
            .iter()
            .filter_map(|s| s.name.strip_prefix("invocation-")?.parse::<u32>().ok())
            .filter(|n| (1..=during).contains(n))
            .count();
        costs.sort_by(f64::total_cmp);
        let median = costs[costs.len() / 2];
        let max = costs.last().copied().unwrap_or(f64::NAN);
        println!(
            "    {label:<30} median {:>9.1} ms max {:>9.1} ms, {delivered}/{during} delivered, threads {threads_during} ({threads_before})",
            median * 1e3,
            max * 1e3
        );
        writeln!(
            out,
            "| {label} | {:.1} ms | {:.1} ms | {delivered} of {during} | {threads_during} ({threads_before}) |",
            median * 1e3,
            max * 1e3
        )?;
    }
    writeln!(out)?;
    Ok(out)
}
