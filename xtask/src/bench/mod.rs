//! `cargo xtask bench [--quick]`: the cost of telemetry, otel-faas beside its peers, written
//! to BENCHMARKS.md.
//!
//! Every variant is a real function binary (the `bench/` workspace: the same handler bare,
//! with otel-faas, with lambda_runtime's `OpenTelemetryLayer`, with
//! opentelemetry-lambda-tower), polled by the real `lambda_runtime` from the local Runtime
//! API, exporting to an exporter that counts and drops spans. Each figure is measured in the
//! same run as its baselines:
//!
//! * instructions with callgrind (repeatable on this noisy 2-core machine): the process runs
//!   `a` then `b` invocations in two runs, and `(I(b) − I(a)) / (b − a)` is the cost of one
//!   invocation, start-up excluded — the whole process: runtime, HTTP to the Runtime API,
//!   deserialisation, the handler, the telemetry and the export, on every thread;
//! * wall time per invocation, from the runtime receiving the event to its response reaching
//!   the Runtime API (median, p99, min–max);
//! * cold start (exec → first `/next`), RSS after many invocations.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::{cargo, target_dir, workspace_root};

mod client;
mod faults;
mod flush;
mod measure;
mod report;

use measure::*;
use report::*;

/// A variant of a scenario: its binary and extra environment.
#[derive(Clone)]
struct Variant {
    label: &'static str,
    binary: &'static str,
    env: &'static [(&'static str, &'static str)],
}

const ECHO: [Variant; 5] = [
    Variant {
        label: "bare lambda_runtime",
        binary: "echo_bare",
        env: &[],
    },
    Variant {
        label: "otel-faas (before response)",
        binary: "echo_otel_faas",
        env: &[],
    },
    Variant {
        label: "otel-faas (after response)",
        binary: "echo_otel_faas",
        env: &[("OTEL_FAAS_FLUSH", "after-response")],
    },
    Variant {
        label: "lambda_runtime OpenTelemetryLayer",
        binary: "echo_runtime_layer",
        env: &[],
    },
    Variant {
        label: "opentelemetry-lambda-tower",
        binary: "echo_lambda_tower",
        env: &[],
    },
];

/// P4's collector-free destinations: the echo function built with a feature of bench/,
/// started with what selects the destination. Nothing is sent at start-up (no span yet), so
/// no daemon or endpoint needs to listen; the credentials are placeholders.
const DESTINATIONS: [(&str, Variant); 4] = [
    (
        "xray-daemon",
        Variant {
            label: "otel-faas, X-Ray through the daemon (awsxray)",
            binary: "echo_otel_faas",
            env: &[
                ("OTEL_TRACES_EXPORTER", "awsxray"),
                ("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000"),
            ],
        },
    ),
    (
        "sigv4",
        Variant {
            label: "otel-faas, X-Ray's OTLP endpoint with SigV4 (TLS)",
            binary: "echo_otel_faas",
            env: &[
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://xray.us-east-1.amazonaws.com/v1/traces",
                ),
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                (
                    "AWS_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                ),
            ],
        },
    ),
    (
        "app-insights",
        Variant {
            label: "otel-faas, Application Insights (azuremonitor, all three signals)",
            binary: "echo_otel_faas",
            env: &[
                (
                    "APPLICATIONINSIGHTS_CONNECTION_STRING",
                    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/",
                ),
                ("OTEL_TRACES_EXPORTER", "azuremonitor"),
                ("OTEL_METRICS_EXPORTER", "azuremonitor"),
                ("OTEL_LOGS_EXPORTER", "azuremonitor"),
            ],
        },
    ),
    (
        "telemetry-api",
        Variant {
            label: "otel-faas, Cloud Trace through the Telemetry API (token signer, TLS)",
            binary: "echo_otel_faas",
            env: &[
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://telemetry.googleapis.com/v1/traces",
                ),
                ("OTEL_TRACES_EXPORTER", "otlp"),
                // Nothing listens: the token thread starts and is refused at once.
                ("GCE_METADATA_HOST", "127.0.0.1:9"),
            ],
        },
    ),
];

const SQS: [Variant; 3] = [
    Variant {
        label: "bare lambda_runtime",
        binary: "sqs_bare",
        env: &[],
    },
    Variant {
        label: "otel-faas (span per record, links)",
        binary: "sqs_otel_faas",
        env: &[],
    },
    Variant {
        label: "opentelemetry-lambda-tower (links)",
        binary: "sqs_lambda_tower",
        env: &[],
    },
];

/// Telemetry to the in-process counting exporter only.
const QUIET: [(&str, &str); 5] = [
    ("OTEL_TRACES_EXPORTER", "none"),
    ("OTEL_METRICS_EXPORTER", "none"),
    ("OTEL_LOGS_EXPORTER", "none"),
    ("OTEL_SERVICE_NAME", "bench"),
    ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
];

struct Settings {
    quick: bool,
    /// `--only P1,P7`: the measures to run; all when empty.
    only: Vec<String>,
    bin_dir: PathBuf,
    logs: PathBuf,
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    // The driver, the local Runtime API, the receiver and the in-process measures (P3, P7)
    // are this binary: measured in a debug build they would time unoptimised code. So a
    // debug xtask runs its release build.
    if cfg!(debug_assertions) {
        println!(
            "==> building xtask in release mode for the bench (its receivers and P3, P7 run in it)"
        );
        let status = cargo()
            .args(["run", "--release", "--quiet", "-p", "xtask", "--", "bench"])
            .args(args)
            .status()
            .context("cargo run --release -p xtask")?;
        if !status.success() {
            bail!("the release build of xtask bench failed ({status})");
        }
        return Ok(());
    }
    let mut quick = false;
    let mut only = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let list = rest.next().context("--only takes a list, such as P1,P7")?;
                only.extend(list.split(',').map(|m| m.trim().to_owned()));
            }
            other => bail!(
                "unknown argument `{other}` (cargo xtask bench [--quick] [--only P1,P2,P3,P4,P5,P6,P7,P8])"
            ),
        }
    }
    let bench_target = target_dir().join("bench");
    println!("==> building the bench binaries (bench/, release)");
    let status = cargo()
        .args(["build", "--release", "--bins", "--manifest-path"])
        .arg(workspace_root().join("bench/Cargo.toml"))
        .arg("--target-dir")
        .arg(&bench_target)
        .status()
        .context("cargo build of bench/")?;
    if !status.success() {
        bail!("cargo build of bench/ failed ({status})");
    }
    let logs = bench_target.join("logs");
    std::fs::create_dir_all(&logs)?;
    let settings = Settings {
        quick,
        only,
        bin_dir: bench_target.join("release"),
        logs,
    };
    pin_driver()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(measure_all(&settings))?;
    // A partial run does not replace the whole report.
    let path = if settings.only.is_empty() {
        workspace_root().join("BENCHMARKS.md")
    } else {
        bench_target.join("BENCHMARKS-partial.md")
    };
    std::fs::write(&path, report)?;
    println!("==> wrote {}", path.display());
    Ok(())
}

/// Builds bench/'s binaries in release with `feature`, in a target directory of their own
/// under `target/bench`; the directory of the binaries.
fn build_bench_with(feature: &str) -> anyhow::Result<PathBuf> {
    let dir = target_dir().join("bench").join(format!("with-{feature}"));
    println!("==> building the bench binaries with `{feature}` (bench/, release)");
    let status = cargo()
        .args([
            "build",
            "--release",
            "--bins",
            "--features",
            feature,
            "--manifest-path",
        ])
        .arg(workspace_root().join("bench/Cargo.toml"))
        .arg("--target-dir")
        .arg(&dir)
        .status()
        .context("cargo build of bench/")?;
    if !status.success() {
        bail!("cargo build of bench/ with {feature} failed ({status})");
    }
    Ok(dir.join("release"))
}

impl Settings {
    /// The same settings, running the binaries of `bin_dir`.
    fn with_bin_dir(&self, bin_dir: PathBuf) -> Self {
        Self {
            quick: self.quick,
            only: self.only.clone(),
            bin_dir,
            logs: self.logs.clone(),
        }
    }

    fn wants(&self, measure: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|m| m.eq_ignore_ascii_case(measure))
    }
}

async fn measure_all(settings: &Settings) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(out, "# Benchmarks\n")?;
    writeln!(
        out,
        "Written by `cargo xtask bench{}` on {}; every figure beside its baselines, measured \
         in the same run. Each variant is a real function binary (`bench/`) polled by the \
         real `lambda_runtime` from the local Runtime API, exporting spans to an in-process \
         exporter that counts and drops them; `OTEL_{{TRACES,METRICS,LOGS}}_EXPORTER=none` \
         for otel-faas, so only that exporter receives. Instructions are callgrind's, for the \
         whole process (runtime, HTTP to the Runtime API, deserialisation, handler, telemetry, \
         export; every thread), per invocation from two runs of different lengths. Wall times \
         are per invocation, from the runtime receiving the event to its response reaching \
         the Runtime API; the function runs alone on CPU {} (`taskset`), the driver and the \
         Runtime API on the others.\n",
        if settings.quick { " --quick" } else { "" },
        today(),
        *FUNCTION_CPU
    )?;
    writeln!(out, "## Machine\n\n{}\n", machine())?;

    if settings.wants("P1") {
        // P1.
        println!("==> P1: per-invocation cost, API Gateway HTTP API sample");
        let event = fixture("example-apigw-v2-request-no-authorizer.json")?;
        let (warm, n) = if settings.quick {
            (50, 300)
        } else {
            (200, 2000)
        };
        let (a, b) = if settings.quick { (10, 60) } else { (20, 220) };
        let mut rows = Vec::new();
        for variant in &ECHO {
            let instructions = instructions_per_invocation(settings, variant, &event, a, b).await?;
            let wall = wall_per_invocation(settings, variant, &event, warm, n).await?;
            println!(
                "    {:<40} {:>10.0} instr  {}",
                variant.label,
                instructions,
                wall.summary()
            );
            rows.push((variant.label, instructions, wall));
        }
        writeln!(
            out,
            "## P1 — per invocation, API Gateway HTTP API sample\n\nTarget: overhead ≤ lambda_runtime's \
             `OpenTelemetryLayer` in instructions and wall time, while emitting the full \
             conventions; after-response mode adds ≤ 20 µs to the response path. {n} invocations \
             after {warm} of warm-up for wall times; instructions from runs of {a} and {b}.\n"
        )?;
        overhead_table(&mut out, &rows)?;
    }

    if settings.wants("P2") {
        // P2.
        println!("==> P2: SQS batches");
        let sizes: &[usize] = if settings.quick {
            &[10, 100, 1000]
        } else {
            &[10, 100, 1000, 10_000]
        };
        writeln!(
            out,
            "## P2 — SQS batches, a span per record and a link per producer\n\nTarget: linear, \
             ≤ 1 µs and ≤ 5 k instructions per record over the bare function. Each record carries \
             its producer's `AWSTraceHeader`.\n"
        )?;
        writeln!(
            out,
            "| Records | Variant | Instructions / invocation | per record over bare | Wall median | per record over bare |\n|---:|---|---:|---:|---:|---:|"
        )?;
        for &size in sizes {
            let event = sqs_event(size)?;
            let (a, b) = match size {
                10 => (5, 25),
                100 => (3, 13),
                1000 => (1, 3),
                _ => (1, 2),
            };
            let invocations = (20_000 / size).clamp(3, 200);
            let mut bare = None;
            for variant in &SQS {
                let instructions =
                    instructions_per_invocation(settings, variant, &event, a, b).await?;
                let wall = wall_per_invocation(settings, variant, &event, 2, invocations).await?;
                println!(
                    "    {size:>6} {:<40} {:>14.0} instr  {}",
                    variant.label,
                    instructions,
                    wall.summary()
                );
                let (bare_i, bare_w) = *bare.get_or_insert((instructions, wall.median()));
                #[allow(clippy::cast_precision_loss)]
                let per = |value: f64| value / size as f64;
                writeln!(
                    out,
                    "| {size} | {} | {:.0} | {} | {} | {} |",
                    variant.label,
                    instructions,
                    if bare_i == instructions {
                        "—".to_owned()
                    } else {
                        format!("{:.0}", per(instructions - bare_i))
                    },
                    micros(wall.median()),
                    if bare_w == wall.median() {
                        "—".to_owned()
                    } else {
                        format!("{:+.2} µs", per(wall.median() - bare_w) * 1e6)
                    }
                )?;
            }
        }
        writeln!(out)?;
    }

    if settings.wants("P3") {
        println!("==> P3: flush of 10 spans to a loopback receiver");
        out.push_str(&flush::measure(settings.quick).await?);
    }

    if settings.wants("P4") {
        // P4.
        println!("==> P4: cold start");
        let runs = if settings.quick { 5 } else { 20 };
        writeln!(
            out,
            "## P4 — cold start, exec → first `/next`\n\nTarget: ≤ 0.5 ms over bare. Wall: {runs} runs \
             each, through `taskset`'s exec. Instructions: one run under callgrind, from exec to \
             the exit that follows the first `/next` (the Runtime API answers it 503).\n"
        )?;
        writeln!(
            out,
            "| Variant | Median | Min – max | Over bare (median) | Instructions | over bare |\n|---|---:|---:|---:|---:|---:|"
        )?;
        let mut bare_cold = None;
        // The default build's variants, then each destination's build (its own target
        // directory under target/bench, so the default binaries stay as they are).
        let mut measured: Vec<(&Variant, Settings)> = ECHO
            .iter()
            .filter(|v| v.env.is_empty())
            .map(|v| (v, settings.with_bin_dir(settings.bin_dir.clone())))
            .collect();
        for (feature, variant) in &DESTINATIONS {
            measured.push((variant, settings.with_bin_dir(build_bench_with(feature)?)));
        }
        for (variant, settings) in &measured {
            let (variant, settings) = (*variant, settings);
            let mut samples = Vec::new();
            for _ in 0..runs {
                samples.push(cold_start(settings, variant).await?);
            }
            let samples = Samples::new(samples);
            let instructions = startup_instructions(settings, variant).await?;
            println!(
                "    {:<40} {} {instructions} instr",
                variant.label,
                samples.summary()
            );
            let (bare, bare_i) = *bare_cold.get_or_insert((samples.median(), instructions));
            #[allow(clippy::cast_possible_wrap)]
            let over = instructions as i64 - bare_i as i64;
            writeln!(
                out,
                "| {} | {} | {} – {} | {} | {instructions} | {over:+} |",
                variant.label,
                micros(samples.median()),
                micros(samples.min()),
                micros(samples.max()),
                signed_micros(samples.median() - bare)
            )?;
        }
        writeln!(out)?;
    }

    if settings.wants("P5") {
        println!("==> P5: stripped release binaries (lto, codegen-units = 1, strip)");
        out.push_str(&binary_sizes()?);
    }

    if settings.wants("P6") {
        // P6.
        println!("==> P6: resident memory");
        let checkpoints: &[usize] = if settings.quick {
            &[1000]
        } else {
            &[1000, 10_000]
        };
        writeln!(
            out,
            "## P6 — resident memory (VmRSS) after many invocations\n\nTarget: ≤ 1.5 MB over bare, \
             flat (no leak).\n"
        )?;
        let mut header = "| Variant |".to_owned();
        let mut rule = "|---|".to_owned();
        for checkpoint in checkpoints {
            write!(header, " after {checkpoint} | over bare |")?;
            rule.push_str("---:|---:|");
        }
        header.push_str(
            " of which heap and stacks (anon) | over bare | binary and libraries (file) | over bare |",
        );
        rule.push_str("---:|---:|---:|---:|");
        writeln!(out, "{header}\n{rule}")?;
        let event = fixture("example-apigw-v2-request-no-authorizer.json")?;
        let mut bare_rss: Option<Vec<u64>> = None;
        for variant in ECHO.iter().filter(|v| v.env.is_empty()) {
            let rss = resident_memory(settings, variant, &event, checkpoints).await?;
            println!("    {:<40} {rss:?} kB", variant.label);
            let bare = bare_rss.get_or_insert_with(|| rss.clone()).clone();
            let mut row = format!("| {} |", variant.label);
            for (value, base) in rss.iter().zip(&bare) {
                #[allow(clippy::cast_possible_wrap)]
                let over = *value as i64 - *base as i64;
                write!(
                    row,
                    " {:.2} MB | {:+.2} MB |",
                    kb_to_mb(*value),
                    over as f64 / 1024.0
                )?;
            }
            writeln!(out, "{row}")?;
        }
        writeln!(out)?;
    }

    if settings.wants("P7") {
        // P7.
        println!("==> P7: a collector that fails");
        out.push_str(&faults::measure(settings.quick).await?);
    }

    if settings.wants("P8") {
        println!("==> P8: an outgoing HTTP call through TracingMiddleware");
        out.push_str(&client::measure(settings)?);
    }

    // The analysis: the gaps, their profiled causes and what would close them. Written by
    // hand from callgrind profiles, so kept apart from the measured tables above.
    let findings = workspace_root().join("bench/FINDINGS.md");
    let findings = std::fs::read_to_string(&findings)
        .with_context(|| format!("reading {}", findings.display()))?;
    out.push_str(&findings);
    Ok(out)
}
