//! P8 of `cargo xtask bench`: an outgoing call through otel-faas's `TracingMiddleware` beside
//! a bare reqwest call, to a loopback server in the same process (`bench/src/bin/http_client.rs`).
//! Instructions with callgrind, `(I(b) − I(a)) / (b − a)` per call so that start-up is
//! excluded; wall as the median call of a run, the median of five runs.

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

pub(super) fn measure(settings: &Settings) -> anyhow::Result<String> {
    let (a, b) = if settings.quick {
        (100, 300)
    } else {
        (200, 1200)
    };
    let walls = if settings.quick { 3 } else { 5 };
    let mut rows = Vec::new();
    for mode in ["bare", "traced"] {
        let mut totals = Vec::new();
        for calls in [a, b] {
            let out = settings
                .logs
                .join(format!("callgrind-http-client-{mode}-{calls}.out"));
            run(settings, mode, calls, Some(&out))?;
            totals.push(callgrind_total(&out)?);
        }
        #[allow(clippy::cast_precision_loss)]
        let per_call = (totals[1].saturating_sub(totals[0])) as f64 / (b - a) as f64;
        let mut medians = (0..walls)
            .map(|_| run(settings, mode, 2000, None))
            .collect::<anyhow::Result<Vec<u64>>>()?;
        medians.sort_unstable();
        let wall = medians[medians.len() / 2];
        println!("    {mode}: {per_call:.0} instructions per call, median {wall} ns");
        rows.push((mode, per_call, wall));
    }
    let (_, bare_i, bare_w) = rows[0];
    let mut out = String::new();
    writeln!(
        out,
        "## P8 — an outgoing HTTP call through `TracingMiddleware`\n\nTarget: ≤ 15 k instructions \
         and ≤ 5 µs per call over a bare reqwest call. A GET to a loopback server in the same \
         process, with reqwest alone and through reqwest-middleware with otel-faas's \
         `TracingMiddleware` inside a span (the CLIENT span, its attributes, `traceparent` \
         injected, the span exported to a counting exporter with a flush every 100 calls). \
         Instructions: callgrind, ({b} − {a} calls) / {}; wall: the median call of 2000, the \
         median of {walls} runs, on one CPU.\n\n| client | instructions / call | over bare | wall \
         (median call) | over bare |\n|---|---:|---:|---:|---:|",
        b - a
    )?;
    for (mode, per_call, wall) in rows {
        let label = if mode == "bare" {
            "reqwest"
        } else {
            "reqwest + TracingMiddleware"
        };
        #[allow(clippy::cast_precision_loss)]
        let over_wall = (wall as f64 - bare_w as f64) / 1e3;
        writeln!(
            out,
            "| {label} | {per_call:.0} | {} | {:.1} µs | {} |",
            if mode == "bare" {
                "—".to_owned()
            } else {
                format!("{:+.0}", per_call - bare_i)
            },
            wall as f64 / 1e3,
            if mode == "bare" {
                "—".to_owned()
            } else {
                format!("{over_wall:+.1} µs")
            }
        )?;
    }
    writeln!(out)?;
    Ok(out)
}
