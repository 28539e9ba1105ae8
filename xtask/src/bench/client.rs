//! P8 of `cargo xtask bench`: an outgoing call through otel-faas's `TracingMiddleware` beside
//! a bare reqwest call, to a loopback server in the same process (`bench/src/bin/http_client.rs`).
//! Instructions with callgrind, `(I(b) − I(a)) / (b − a)` per call so that start-up is
//! excluded; wall as the median call of a run, the median of nine runs (five with
//! `--quick`), the modes taking turns.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Context as _, bail};

use super::Settings;
use super::measure::{FUNCTION_CPU, callgrind_total};

/// One run of the binary: the median call's wall time in nanoseconds.
fn run(
    settings: &Settings,
    mode: &str,
    calls: usize,
    callgrind: Option<&std::path::Path>,
) -> anyhow::Result<u64> {
    let binary = settings.bin_dir.join("http_client");
    let mut command = Command::new("taskset");
    command.args(["-c", &FUNCTION_CPU.to_string()]);
    if let Some(out) = callgrind {
        command
            .arg("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()));
    }
    let output = command
        .arg(&binary)
        .args([mode, &calls.to_string()])
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} {mode} {calls} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("median_ns="))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no median in the output: {stdout}"))
}

/// The binary's modes, in pairs (baseline, traced) and the row labels.
const MODES: [(&str, &str, &str); 4] = [
    ("bare", "inside an invocation", "reqwest"),
    (
        "traced",
        "inside an invocation",
        "reqwest + TracingMiddleware",
    ),
    ("bare-outside", "outside any invocation", "reqwest"),
    (
        "traced-outside",
        "outside any invocation",
        "reqwest + TracingMiddleware",
    ),
];

pub(super) fn measure(settings: &Settings) -> anyhow::Result<String> {
    let (a, b) = if settings.quick {
        (100, 300)
    } else {
        (200, 1200)
    };
    let walls = if settings.quick { 5 } else { 9 };
    let mut instructions = Vec::new();
    for (mode, _, _) in MODES {
        let mut totals = Vec::new();
        for calls in [a, b] {
            let out = settings
                .logs
                .join(format!("callgrind-http-client-{mode}-{calls}.out"));
            run(settings, mode, calls, Some(&out))?;
            totals.push(callgrind_total(&out)?);
        }
        #[allow(clippy::cast_precision_loss)]
        instructions.push((totals[1].saturating_sub(totals[0])) as f64 / (b - a) as f64);
    }
    // Wall: the modes take turns, run after run, so that a machine getting busier or
    // quieter over the minute weighs on every mode alike (one mode's runs back to back
    // read such a drift as a difference between the modes).
    let mut medians = vec![Vec::new(); MODES.len()];
    for _ in 0..walls {
        for ((mode, _, _), runs) in MODES.iter().zip(&mut medians) {
            runs.push(run(settings, mode, 2000, None)?);
        }
    }
    let mut rows = Vec::new();
    for (((mode, _, _), per_call), mut runs) in MODES.iter().zip(instructions).zip(medians) {
        runs.sort_unstable();
        let wall = runs[runs.len() / 2];
        println!("    {mode}: {per_call:.0} instructions per call, median {wall} ns");
        rows.push((per_call, wall));
    }
    let mut out = String::new();
    writeln!(
        out,
        "## P8 — an outgoing HTTP call through `TracingMiddleware`\n\nTarget: ≤ 15 k instructions \
         and ≤ 5 µs per call over a bare reqwest call, for a call a function makes inside an \
         invocation. A GET to a loopback server in the same process, with reqwest alone and \
         through reqwest-middleware with otel-faas's `TracingMiddleware` (the CLIENT span, its \
         attributes, `traceparent` injected, the span exported to a counting exporter). Inside \
         an invocation: one invocation of the engine per call, flushed at its end (the \
         engine's default), in both rows; the span comes from the invocation's tracer. Outside \
         any invocation (start-up code, a program that is not a function): inside a span of \
         the global tracer, a flush every 100 calls; the span comes from the global tracer. \
         Instructions: callgrind, ({b} − {a} calls) / {}; wall: the median call of 2000, the \
         median of {walls} runs, the modes taking turns, on one CPU.\n\n| where | client | instructions / call | over \
         bare | wall (median call) | over bare |\n|---|---|---:|---:|---:|---:|",
        b - a
    )?;
    for (pair, modes) in rows.chunks(2).zip(MODES.chunks(2)) {
        let (bare_i, bare_w) = pair[0];
        for ((per_call, wall), (mode, place, label)) in pair.iter().zip(modes) {
            let baseline = mode.starts_with("bare");
            #[allow(clippy::cast_precision_loss)]
            let over_wall = (*wall as f64 - bare_w as f64) / 1e3;
            writeln!(
                out,
                "| {place} | {label} | {per_call:.0} | {} | {:.1} µs | {} |",
                if baseline {
                    "—".to_owned()
                } else {
                    format!("{:+.0}", per_call - bare_i)
                },
                *wall as f64 / 1e3,
                if baseline {
                    "—".to_owned()
                } else {
                    format!("{over_wall:+.1} µs")
                }
            )?;
        }
    }
    writeln!(out)?;
    Ok(out)
}
