//! Measuring a function process: starting it under the local Runtime API, invoking it,
//! counting its instructions (callgrind), its memory (RSS) and its binary's size.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use otel_faas_integration_tests::{Invoke, LocalRuntimeApi, lambda_environment};
use serde_json::Value;

use crate::{cargo, target_dir, workspace_root};

use super::report::Samples;
use super::{ECHO, QUIET, Settings, Variant};

/// A function process under the local Runtime API.
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) log: PathBuf,
}

impl Running {
    pub(super) fn start(
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
    pub(super) fn wait_exit(mut self, timeout: Duration) -> anyhow::Result<()> {
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

    pub(super) fn log(&self) -> String {
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

/// The CPU the function processes run on: the last one.
pub(super) static FUNCTION_CPU: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .saturating_sub(1)
});

/// Keeps this process (the driver and the local Runtime API) off the function's CPU.
pub(super) fn pin_driver() -> anyhow::Result<()> {
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
pub(super) const INVOKE_TIMEOUT: Duration = Duration::from_secs(900);

pub(super) async fn invoke(
    api: &LocalRuntimeApi,
    running: &Running,
    event: &Value,
) -> anyhow::Result<f64> {
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

pub(super) async fn instructions_per_invocation(
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
pub(super) fn slug(label: &str) -> String {
    label
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The instruction total of a callgrind output file.
pub(super) fn callgrind_total(path: &Path) -> anyhow::Result<u64> {
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

pub(super) async fn wall_per_invocation(
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

pub(super) async fn cold_start(settings: &Settings, variant: &Variant) -> anyhow::Result<f64> {
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

pub(super) async fn startup_instructions(
    settings: &Settings,
    variant: &Variant,
) -> anyhow::Result<u64> {
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

pub(super) async fn resident_memory(
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
pub(super) fn rss_split(pid: u32) -> anyhow::Result<(u64, u64)> {
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
pub(super) fn vm_rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")
}

/// P5: the echo binaries built as a user ships them (bench/'s `size` profile: fat LTO, one
/// codegen unit, stripped), and otel-faas's again with TLS.
pub(super) fn binary_sizes() -> anyhow::Result<String> {
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
    // The collector-free destinations, each over the traces-only build.
    build(&["--features", "xray-daemon"])?;
    rows.insert(
        4,
        (
            "otel-faas with the X-Ray daemon destination (awsxray)".to_owned(),
            size("echo_otel_faas")?,
        ),
    );
    build(&["--features", "sigv4"])?;
    rows.insert(
        5,
        (
            "otel-faas with SigV4 for X-Ray's OTLP endpoint (and TLS)".to_owned(),
            size("echo_otel_faas")?,
        ),
    );
    build(&["--features", "app-insights"])?;
    rows.insert(
        6,
        (
            "otel-faas with Application Insights (azuremonitor, and TLS)".to_owned(),
            size("echo_otel_faas")?,
        ),
    );
    build(&["--features", "telemetry-api"])?;
    rows.insert(
        7,
        (
            "otel-faas with the Telemetry API's token signer (and TLS)".to_owned(),
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
         exporters and the console exporters, or TLS, or a collector-free X-Ray destination.\n\n| Variant | Size | \
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

pub(super) fn fixture(name: &str) -> anyhow::Result<Value> {
    let path = workspace_root()
        .join("../shared/fixtures/aws-lambda-events")
        .join(name);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// An SQS event of `size` records, each from the official sample's record with its own
/// message id and its producer's X-Ray header.
pub(super) fn sqs_event(size: usize) -> anyhow::Result<Value> {
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
