//! P7 of `cargo xtask bench`: what a failing collector costs each invocation, and what it
//! loses. In process: the pipeline from the `OTEL_*` variables exports over OTLP/HTTP to a
//! [`FaultyCollector`], the engine flushes at the end of each invocation (before the
//! response, the 2 s default budget), and each fault is held for a number of invocations
//! 100 ms apart, then the collector recovers and invocations go on until the export path
//! holds nothing.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use otel_faas_integration_tests::{Fault, FaultyCollector, NumberedInvocation, invocation_number};

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
    let mut out = String::new();
    writeln!(
        out,
        "## P7 — a collector that fails\n\nTarget (issue 14): once a failure is detected, an \
         invocation pays ≤ 5 ms; spans ended during an outage are delivered after it while \
         the buffer has room; threads bounded; every drop counted. In process: the pipeline \
         from `OTEL_*` exporting over OTLP/HTTP to a collector that fails at the TCP level \
         or answers badly, the engine flushing before each response (2 s budget). {during} \
         invocations 100 ms apart during each fault; then the collector recovers and \
         invocations go on, 100 ms apart, until nothing is held (at most 10 s). \
         `integration-tests/tests/core_collector_faults.rs` runs 10,000 invocations per fault in \
         both flush modes.\n"
    )?;
    writeln!(
        out,
        "| The collector | Added per invocation: median | max | Spans of the fault delivered | dropped (counted) | Recovered after | Threads during the fault (before) |\n|---|---:|---:|---:|---:|---:|---:|"
    )?;
    for (label, fault) in FAULTS {
        let collector = FaultyCollector::start(Fault::Healthy)?;
        let telemetry = super::flush::traces_to(collector.endpoint());
        let engine = telemetry.engine().build();
        let invoke = |number: u32| {
            let engine = &engine;
            async move {
                let started = Instant::now();
                engine
                    .invocation(&NumberedInvocation, number)
                    .run(|_| async { Ok::<_, std::convert::Infallible>(()) })
                    .await
                    .ok();
                started.elapsed()
            }
        };
        // A healthy invocation first: the connection pool is warm, as in a running function.
        invoke(0).await;
        let threads_before = threads();
        collector.set_fault(fault);
        let mut costs = Vec::new();
        let mut threads_during = threads_before;
        for number in 1..=during {
            costs.push(invoke(number).await.as_secs_f64());
            threads_during = threads_during.max(threads());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        collector.set_fault(Fault::Healthy);
        let recovered = Instant::now();
        let mut number = during;
        while telemetry.export_stats().held > 0 && recovered.elapsed() < Duration::from_secs(10) {
            number += 1;
            invoke(number).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let recovery = recovered.elapsed();
        let stats = telemetry.export_stats();
        let _ = telemetry.shutdown(Duration::from_secs(3)).await;
        let delivered = collector
            .receiver()
            .spans()
            .iter()
            .filter_map(|s| invocation_number(&s.name))
            .filter(|n| (1..=during).contains(n))
            .collect::<std::collections::HashSet<_>>()
            .len();
        costs.sort_by(f64::total_cmp);
        let median = costs[costs.len() / 2];
        let max = costs.last().copied().unwrap_or(f64::NAN);
        println!(
            "    {label:<30} median {:>9.2} ms max {:>9.1} ms, {delivered}/{during} delivered, {} dropped, recovered in {:.1} s, threads {threads_during} ({threads_before})",
            median * 1e3,
            max * 1e3,
            stats.dropped(),
            recovery.as_secs_f64()
        );
        writeln!(
            out,
            "| {label} | {:.2} ms | {:.1} ms | {delivered} of {during} | {} | {:.1} s | {threads_during} ({threads_before}) |",
            median * 1e3,
            max * 1e3,
            stats.dropped(),
            recovery.as_secs_f64()
        )?;
    }
    writeln!(out)?;
    Ok(out)
}
