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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use otel_faas_integration_tests::{Invoke, LocalRuntimeApi, lambda_environment};
use serde_json::Value;

use crate::{cargo, target_dir, workspace_root};

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
                "unknown argument `{other}` (cargo xtask bench [--quick] [--only P1,P2,P3,P4,P5,P6,P7])"
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

impl Settings {
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
        out.push_str(&crate::bench_flush::measure(settings.quick).await?);
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
        for variant in ECHO.iter().filter(|v| v.env.is_empty()) {
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
        out.push_str(&crate::bench_faults::measure(settings.quick).await?);
    }

    // The analysis: the gaps, their profiled causes and what would close them. Written by
    // hand from callgrind profiles, so kept apart from the measured tables above.
    let findings = workspace_root().join("bench/FINDINGS.md");
    let findings = std::fs::read_to_string(&findings)
        .with_context(|| format!("reading {}", findings.display()))?;
    out.push_str(&findings);
    Ok(out)
}

fn kb_to_mb(kb: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let kb = kb as f64;
    kb / 1024.0
}

fn overhead_table(out: &mut String, rows: &[(&'static str, f64, Samples)]) -> anyhow::Result<()> {
    writeln!(
        out,
        "| Variant | Instructions | over bare | Wall median | p99 | min – max | over bare (median) |\n|---|---:|---:|---:|---:|---:|---:|"
    )?;
    let Some((_, bare_i, bare_w)) = rows.first() else {
        return Ok(());
    };
    for (label, instructions, wall) in rows {
        writeln!(
            out,
            "| {label} | {:.0} | {:+.0} | {} | {} | {} – {} | {} |",
            instructions,
            instructions - bare_i,
            micros(wall.median()),
            micros(wall.p99()),
            micros(wall.min()),
            micros(wall.max()),
            signed_micros(wall.median() - bare_w.median()),
        )?;
    }
    writeln!(out)?;
    Ok(())
}

fn micros(seconds: f64) -> String {
    format!("{:.1} µs", seconds * 1e6)
}

fn signed_micros(seconds: f64) -> String {
    format!("{:+.1} µs", seconds * 1e6)
}

/// Durations in seconds, sorted.
struct Samples(Vec<f64>);

impl Samples {
    fn new(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self(samples)
    }
    fn quantile(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((self.0.len() - 1) as f64 * q).round() as usize;
        self.0[index]
    }
    fn median(&self) -> f64 {
        self.quantile(0.5)
    }
    fn p99(&self) -> f64 {
        self.quantile(0.99)
    }
    fn min(&self) -> f64 {
        self.0.first().copied().unwrap_or(f64::NAN)
    }
    fn max(&self) -> f64 {
        self.0.last().copied().unwrap_or(f64::NAN)
    }
    fn summary(&self) -> String {
        format!(
            "median {} p99 {} ({} – {})",
            micros(self.median()),
            micros(self.p99()),
            micros(self.min()),
            micros(self.max())
        )
    }
}

/// A function process under the local Runtime API.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn start(
        settings: &Settings,
        variant: &Variant,
        api: &LocalRuntimeApi,
        under_callgrind: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let binary = settings.bin_dir.join(variant.binary);
        if !binary.exists() {
            bail!("{} was not built", binary.display());
        }
        let log = settings.logs.join(format!(
            "{}-{}.log",
            variant.binary,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        // The function on a CPU of its own (Lambda gives small functions less than one
        // vCPU), the driver and the Runtime API on the others: they no longer take turns on
        // the same core, which was most of the wall-time noise.
        let mut command = Command::new("taskset");
        command.args(["-c", &FUNCTION_CPU.to_string()]);
        if let Some(out) = under_callgrind {
            command
                .arg("valgrind")
                .arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", out.display()));
        }
        command.arg(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(lambda_environment(&api.address()))
            .envs(QUIET)
            .envs(variant.env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self { child, log })
    }

    /// Waits for the process to exit (the API answered its `next` with 503 as it stopped).
    fn wait_exit(mut self, timeout: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + timeout;
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                bail!(
                    "the function did not exit; its log ({}):\n{}",
                    self.log.display(),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// P5: the echo binaries built as a user ships them (bench/'s `size` profile: fat LTO, one
/// codegen unit, stripped), and otel-faas's again with TLS.
fn binary_sizes() -> anyhow::Result<String> {
    let target = target_dir().join("bench-size");
    let manifest = workspace_root().join("bench/Cargo.toml");
    let build = |features: &[&str]| -> anyhow::Result<()> {
        let mut command = cargo();
        command
            .args(["build", "--profile", "size", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target);
        for variant in &ECHO {
            command.args(["--bin", variant.binary]);
        }
        command.args(features);
        let status = command.status().context("cargo build --profile size")?;
        if !status.success() {
            bail!("cargo build --profile size failed ({status})");
        }
        Ok(())
    };
    let size = |binary: &str| -> anyhow::Result<u64> {
        let path = target.join("size").join(binary);
        Ok(std::fs::metadata(&path)
            .with_context(|| format!("{} was not built", path.display()))?
            .len())
    };
    build(&[])?;
    let mut rows = Vec::new();
    for variant in ECHO.iter().filter(|v| v.env.is_empty()) {
        rows.push((variant.label.to_owned(), size(variant.binary)?));
    }
    // The rows above are otel-faas as a function that only traces builds it
    // (default-features = false); then with the exporters of the default features, and
    // with TLS.
    build(&["--features", "every-exporter"])?;
    rows.insert(
        2,
        (
            "otel-faas + metrics and logs over OTLP, console".to_owned(),
            size("echo_otel_faas")?,
        ),
    );
    build(&["--features", "tls"])?;
    rows.insert(
        3,
        (
            "otel-faas with TLS (rustls)".to_owned(),
            size("echo_otel_faas")?,
        ),
    );
    let bare = rows.first().map_or(0, |(_, size)| *size);
    let mut out = String::new();
    writeln!(
        out,
        "## P5 — stripped release binary of the echo function\n\nTarget: ≤ 1 MB over bare \
         with OTLP/HTTP without TLS; the TLS cost stated. Built with fat LTO, one codegen \
         unit and `strip` (bench/'s `size` profile), for this machine. `otel-faas` is a \
         function that only traces (otel-faas-aws with `default-features = false`: spans \
         over OTLP/HTTP); the next rows add the default features' metrics and logs \
         exporters and the console exporters, or TLS.\n\n| Variant | Size | \
         over bare |\n|---|---:|---:|"
    )?;
    for (label, size) in rows {
        #[allow(clippy::cast_possible_wrap, clippy::cast_precision_loss)]
        let over = (size as i64 - bare as i64) as f64 / (1024.0 * 1024.0);
        #[allow(clippy::cast_precision_loss)]
        let mib = size as f64 / (1024.0 * 1024.0);
        println!("    {label:<40} {mib:.2} MiB ({over:+.2})");
        writeln!(out, "| {label} | {mib:.2} MiB | {over:+.2} MiB |")?;
    }
    writeln!(out)?;
    Ok(out)
}

/// The CPU the function processes run on: the last one.
static FUNCTION_CPU: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .saturating_sub(1)
});

/// Keeps this process (the driver and the local Runtime API) off the function's CPU.
fn pin_driver() -> anyhow::Result<()> {
    if *FUNCTION_CPU == 0 {
        println!("    one CPU only: the function and the driver share it");
        return Ok(());
    }
    let others = format!("0-{}", *FUNCTION_CPU - 1);
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", &others, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .context("taskset (util-linux) pins the driver and the functions to their CPUs")?;
    if !status.success() {
        bail!("taskset could not pin the driver ({status})");
    }
    Ok(())
}

/// Long enough that no invocation meets its deadline, even under callgrind.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(900);

async fn invoke(api: &LocalRuntimeApi, running: &Running, event: &Value) -> anyhow::Result<f64> {
    let mut invoke = Invoke::new(event.clone());
    invoke.timeout = INVOKE_TIMEOUT;
    let invoked = api
        .invoke(invoke, Duration::from_secs(600))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nfunction log:\n{}", running.log()))?;
    if let Some(error) = invoked.error {
        bail!(
            "the function failed: {error}\nfunction log:\n{}",
            running.log()
        );
    }
    Ok((invoked.responded_at - invoked.delivered_at).as_secs_f64())
}

async fn instructions_per_invocation(
    settings: &Settings,
    variant: &Variant,
    event: &Value,
    a: usize,
    b: usize,
) -> anyhow::Result<f64> {
    let mut totals = Vec::new();
    for count in [a, b] {
        // Named by label: two variants of one binary keep their profiles apart.
        let out = settings
            .logs
            .join(format!("callgrind-{}-{count}.out", slug(variant.label)));
        let api = LocalRuntimeApi::start()?;
        let running = Running::start(settings, variant, &api, Some(&out))?;
        for _ in 0..count {
            invoke(&api, &running, event).await?;
        }
        drop(api);
        running.wait_exit(Duration::from_secs(120))?;
        totals.push(callgrind_total(&out)?);
    }
    #[allow(clippy::cast_precision_loss)]
    let per = (totals[1] as f64 - totals[0] as f64) / (b - a) as f64;
    Ok(per)
}

/// A label as a file name: lowercase letters and digits, dashes between words.
fn slug(label: &str) -> String {
    label
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The instruction total of a callgrind output file.
fn callgrind_total(path: &Path) -> anyhow::Result<u64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no totals in {}", path.display()))
}

async fn wall_per_invocation(
    settings: &Settings,
    variant: &Variant,
    event: &Value,
    warm_up: usize,
    count: usize,
) -> anyhow::Result<Samples> {
    let api = LocalRuntimeApi::start()?;
    let running = Running::start(settings, variant, &api, None)?;
    for _ in 0..warm_up {
        invoke(&api, &running, event).await?;
    }
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        samples.push(invoke(&api, &running, event).await?);
    }
    drop(api);
    running.wait_exit(Duration::from_secs(30))?;
    Ok(Samples::new(samples))
}

async fn cold_start(settings: &Settings, variant: &Variant) -> anyhow::Result<f64> {
    let api = LocalRuntimeApi::start()?;
    let started = Instant::now();
    let running = Running::start(settings, variant, &api, None)?;
    if !api.wait_until_polled(Duration::from_secs(30)).await {
        bail!("{} never polled:\n{}", variant.label, running.log());
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(api);
    running.wait_exit(Duration::from_secs(30))?;
    Ok(elapsed)
}

async fn startup_instructions(settings: &Settings, variant: &Variant) -> anyhow::Result<u64> {
    let out = settings
        .logs
        .join(format!("callgrind-start-{}.out", variant.binary));
    let api = LocalRuntimeApi::start()?;
    let running = Running::start(settings, variant, &api, Some(&out))?;
    if !api.wait_until_polled(Duration::from_secs(120)).await {
        bail!("{} never polled:\n{}", variant.label, running.log());
    }
    drop(api);
    running.wait_exit(Duration::from_secs(120))?;
    callgrind_total(&out)
}

async fn resident_memory(
    settings: &Settings,
    variant: &Variant,
    event: &Value,
    checkpoints: &[usize],
) -> anyhow::Result<Vec<u64>> {
    let api = LocalRuntimeApi::start()?;
    let running = Running::start(settings, variant, &api, None)?;
    let mut done = 0;
    let mut rss = Vec::new();
    for &checkpoint in checkpoints {
        while done < checkpoint {
            invoke(&api, &running, event).await?;
            done += 1;
        }
        rss.push(vm_rss(running.child.id())?);
        if checkpoint == *checkpoints.last().unwrap_or(&0) {
            let (anon, file) = rss_split(running.child.id())?;
            println!("      anonymous {anon} kB, file-backed {file} kB");
            rss.push(anon);
            rss.push(file);
        }
    }
    drop(api);
    running.wait_exit(Duration::from_secs(30))?;
    Ok(rss)
}

/// RssAnon and RssFile of a process, in kB: the heap and stacks, and the pages of the
/// binary and libraries.
fn rss_split(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no {name}"))
    };
    Ok((field("RssAnon:")?, field("RssFile:")?))
}

/// VmRSS of a process, in kB.
fn vm_rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")
}

fn fixture(name: &str) -> anyhow::Result<Value> {
    let path = workspace_root()
        .join("../shared/fixtures/aws-lambda-events")
        .join(name);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// An SQS event of `size` records, each from the official sample's record with its own
/// message id and its producer's X-Ray header.
fn sqs_event(size: usize) -> anyhow::Result<Value> {
    let sample = fixture("example-sqs-event.json")?;
    let template = sample["Records"][0].clone();
    let records: Vec<Value> = (0..size)
        .map(|i| {
            let mut record = template.clone();
            record["messageId"] = Value::from(format!("message-{i:05}"));
            record["attributes"]["AWSTraceHeader"] = Value::from(format!(
                "Root=1-5759e988-bd862e3fe1be46a9{i:08x};Parent={i:016x};Sampled=1"
            ));
            record
        })
        .collect();
    Ok(serde_json::json!({ "Records": records }))
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "(unknown date)".to_owned(), |s| s.trim().to_owned())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_default();
    let version = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map_or_else(|| format!("{program}: not found"), |s| s.trim().to_owned())
    };
    format!(
        "- {cpu}, {cores} cores, {memory}\n- {}\n- {}\n- command: `cargo xtask bench`",
        version("rustc", "-V"),
        version("valgrind", "--version")
    )
}
