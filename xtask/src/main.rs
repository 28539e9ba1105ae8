//! Project tasks, run as `cargo xtask <command>`.
//!
//! Nothing here needs more than the Rust toolchain: the demo's collector is embedded.

mod azure_host;
mod bench;
mod check;
mod demo;
mod demo_across;
mod demo_azure;
mod demo_gcp;
mod demo_signals;
mod emulators;
mod imports;
mod localstack;
mod package;
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context as _, bail};

const HELP: &str = "\
cargo xtask <command>

Commands:
  test [--no-lint] [--suite all|core|aws|azure|gcp] [--aws-endpoint moto|localstack]
                     The whole check CI runs: cargo fmt --check, the import-circle check
                     (`imports`), clippy -D warnings (the
                     workspace, the bench/ binaries, and core alone with its default features and without
                     any), cargo doc with warnings denied (every feature, and core's
                     defaults), cfn-lint on every example's SAM template (installed into
                     target/emulators/cfn-lint-venv), cargo-lambda installed into
                     target/emulators/cargo-lambda-venv (the Lambda examples run under
                     `cargo lambda watch`), moto installed into target/emulators/moto-venv (the
                     AWS emulator tests capture real events from), every unit, doc and
                     integration test, core's unit tests without otlp-grpc, and a run of
                     the demo, of `azure-host azure-function-app --smoke` and of
                     `package lambda-scheduled`. Needs the Rust
                     toolchain and Python 3 with pip.
                     The AWS tests run against one moto, the Azure tests against one
                     Azurite (npm, installed into target/emulators/azurite; needs Node.js),
                     the GCP tests against one Pub/Sub emulator (gcloud's), each started
                     for the run and stopped after it (also on failure or Ctrl-C). --suite picks one suite.
                     --aws-endpoint localstack runs the AWS emulator suite on LocalStack
                     instead: the one at LOCALSTACK_ENDPOINT (default
                     http://127.0.0.1:4566) when it answers, else LocalStack started on
                     the host (Python >= 3.13); it probes which services the endpoint
                     serves, runs every test those allow and reports per service.
                     --no-lint skips fmt, clippy and doc, for a quicker local loop.
  imports            No import circle inside any crate of the workspace: arrows between
                     sibling modules run one way (part of `test`).
  bench [--quick] [--only P1,P2,P3,P4,P5,P6,P7]
                     The cost of telemetry beside the peers, written to BENCHMARKS.md: the
                     function binaries of bench/ (bare lambda_runtime, otel-faas,
                     lambda_runtime's OpenTelemetryLayer, opentelemetry-lambda-tower; built
                     into target/bench) under the local Runtime API — instructions per
                     invocation (callgrind; needs valgrind), wall times, SQS batches of 10
                     to 10,000 records, cold start, binary sizes (lto, stripped, with and
                     without TLS), resident memory, and what a failing
                     collector costs (P7, in process). --quick measures fewer invocations
                     and sizes; --only runs some measures into
                     target/bench/BENCHMARKS-partial.md.
  emulators up|down|status [moto|localstack|pubsub|azurite ...]
                     Installs what is missing (venvs and npm packages under target/) and
                     starts the emulators on 127.0.0.1, each health-checked; records their
                     PIDs and ports in target/emulators/running.json so that `down` stops
                     exactly those. Without names: all of them.
  demo               Builds the examples and runs them against an embedded OTLP receiver:
                     the HTTP function (a few requests), then the orders pipeline on
                     Lambda — an HTTP API that sends each order to SQS and a worker that
                     receives them as one SQS batch and stores them in DynamoDB, both
                     under the real lambda_runtime polled from local Runtime APIs, their
                     AWS SDK calls answered by an in-process stand-in; then the Azure
                     function app under the mini host, an order placed over HTTP going
                     through an Azurite queue to the queue-triggered function; then the
                     Cloud Run function, an order published to the Pub/Sub emulator and
                     pushed to its Pub/Sub handler. Prints each trace as a waterfall and
                     writes the same as target/demo/traces.html; fails if the traces do
                     not link up. Needs the Rust toolchain, Node.js with npm for Azurite
                     (installed into target/emulators) and gcloud's Pub/Sub emulator.
  package <example> [--target <triple> | --arm64 | --host]
                     A release build of a Lambda example, stripped, for the architecture
                     its template.yaml declares (arm64 → aarch64-unknown-linux-gnu),
                     zipped as an executable `bootstrap` for the provided.al2023 runtime,
                     written to target/lambda/<example>/bootstrap.zip; reports the binary
                     and zip sizes, the Lambda architecture and the glibc the binary needs
                     (warns when it is newer than Amazon Linux 2023's). Says what to
                     install when the target's standard library or linker is missing.
                     --target names the triple (it must match the template); --host
                     builds for this machine whatever the template says (a smoke test).
                     Without an example: lists the Lambda examples.
  azure-host <example> [--port 7071] [--smoke]
                     Runs an Azure function app (an example with host.json) as the
                     Functions host would, on this machine: builds and starts the
                     handler, serves its HTTP functions at http://127.0.0.1:7071/api/…,
                     feeds its queue triggers from Azurite (installed and started when
                     the app binds a queue; needs Node.js), writes its queue outputs there,
                     and runs any other function on POST /admin/functions/<name>. The
                     local runner, since Azure Functions Core Tools cannot be installed
                     offline. The handler inherits OTEL_* from your environment. --smoke
                     sends a few requests through it, checks the answers and that a
                     queued order is fulfilled, and stops.
  help               This text.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => check::run(&args[1..]),
        Some("demo") => demo::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("emulators") => emulators::command(&args[1..]),
        Some("package") => package::run(&args[1..]),
        Some("azure-host") => azure_host::run(&args[1..]),
        Some("imports") => imports::check(&workspace_root()),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives one level below it.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where cargo puts build output: `CARGO_TARGET_DIR`, else `target/` in the workspace.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

pub(crate) fn cargo() -> Command {
    // Without the variables `cargo run` set for xtask: each build then sees the environment
    // the test processes' builds see, and nothing is compiled twice for a difference in it.
    otel_faas_integration_tests::cargo_command()
}

/// Runs one step, printing its name and duration; fails the task if the step fails.
fn step(name: &str, mut command: Command) -> anyhow::Result<()> {
    println!("\n==> {name}");
    let started = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("could not start `{name}`"))?;
    println!(
        "<== {name}: {} in {:.1?}",
        if status.success() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    if !status.success() {
        bail!("step `{name}` failed ({status})");
    }
    Ok(())
}

/// Which tests `cargo xtask test` runs.
/// On Ctrl-C, raises `flag`, for a task that stops by itself and cleans up.
pub(crate) fn stop_on_ctrl_c_flag(flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
}

/// On Ctrl-C, stops `emulators` before exiting, as a normal end of the run would.
pub(crate) fn stop_on_ctrl_c(emulators: Vec<emulators::Emulator>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            let _ = emulators::down(&emulators);
            std::process::exit(130);
        }
    });
}

#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) ignored: u64,
}

impl Totals {
    pub(crate) fn merge(&mut self, other: Totals) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }

    /// Adds one `test result: ok. 9 passed; 0 failed; 1 ignored; …` line.
    fn add(&mut self, line: &str) {
        let Some(counts) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in counts.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(number)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += number,
                "failed" => self.failed += number,
                "ignored" => self.ignored += number,
                _ => {}
            }
        }
    }
}

/// Runs the test step, echoing its output and adding up every crate's result line.
pub(crate) fn test_step(name: &str, mut command: Command) -> anyhow::Result<Totals> {
    use std::io::BufRead as _;

    println!("\n==> {name}");
    let started = Instant::now();
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{name}`"))?;
    let mut totals = Totals::default();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            totals.add(&line);
            println!("{line}");
        }
    }
    let status = child.wait()?;
    println!(
        "<== {name}: {} in {:.1?}",
        if status.success() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    if !status.success() {
        println!("tests: {} passed, {} failed", totals.passed, totals.failed);
        bail!("step `{name}` failed ({status})");
    }
    if totals.passed == 0 {
        bail!("`{name}` ran no test at all");
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::Totals;

    #[test]
    fn totals_add_up_cargo_result_lines() {
        let mut totals = Totals::default();
        totals.add("test result: ok. 21 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        totals.add("test result: FAILED. 8 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 3.01s");
        totals.add("running 9 tests");
        assert_eq!((totals.passed, totals.failed, totals.ignored), (29, 1, 2));
    }

    fn shell(script: &str) -> std::process::Command {
        let mut command = std::process::Command::new("sh");
        command.args(["-c", script]);
        command
    }

    /// A step that ran no test (a filter that matched nothing, tests all ignored, a binary
    /// that printed no summary) fails the run instead of counting as a pass.
    #[test]
    fn a_step_that_ran_no_test_fails_the_run() {
        let none = super::test_step("no output", shell("true")).unwrap_err();
        assert!(none.to_string().contains("ran no test at all"), "{none}");
        let ignored = shell(
            "echo 'test result: ok. 0 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out'",
        );
        assert!(super::test_step("all ignored", ignored).is_err());
        let failing = shell(
            "echo 'test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out'; exit 1",
        );
        assert!(super::test_step("exit status", failing).is_err());
        let one = shell(
            "echo 'test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out'",
        );
        assert_eq!(super::test_step("one test", one).unwrap().passed, 1);
    }
}
