//! Project tasks, run as `cargo xtask <command>`.
//!
//! Nothing here needs more than the Rust toolchain: the demo's collector is embedded.

mod azure_host;
mod bench;
mod bench_faults;
mod bench_flush;
mod demo;
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
        Some("test") => test(&args[1..]),
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
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(workspace_root());
    command
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suite {
    All,
    Core,
    Aws,
    Azure,
    Gcp,
}

fn test(args: &[String]) -> anyhow::Result<()> {
    let mut lint = true;
    let mut suite = Suite::All;
    let mut aws_endpoint = "moto".to_owned();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-lint" => lint = false,
            "--suite" => {
                suite = match args.next().map(String::as_str) {
                    Some("all") => Suite::All,
                    Some("core") => Suite::Core,
                    Some("aws") => Suite::Aws,
                    Some("azure") => Suite::Azure,
                    Some("gcp") => Suite::Gcp,
                    other => bail!("--suite takes all, core, aws, azure or gcp, not {other:?}"),
                }
            }
            "--aws-endpoint" => {
                aws_endpoint = args
                    .next()
                    .cloned()
                    .context("--aws-endpoint takes moto or localstack")?
            }
            other => bail!("unknown option `{other}` for test\n\n{HELP}"),
        }
    }
    if aws_endpoint == "localstack" {
        return localstack::run(lint);
    }
    if aws_endpoint != "moto" {
        bail!("--aws-endpoint takes moto or localstack, not {aws_endpoint:?}");
    }
    // In CI the lock file must be respected exactly.
    let locked = std::env::var("CI").is_ok_and(|ci| ci == "true");
    let with_lock = |mut command: Command| {
        if locked {
            command.arg("--locked");
        }
        command
    };
    let started = Instant::now();
    if lint {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--", "--check"]);
        step("cargo fmt --check", fmt)?;

        // Arrows between sibling modules run one way in every crate (see imports.rs).
        println!("==> imports: no circle inside any crate");
        imports::check(&workspace_root())?;

        // `cargo clippy ARGS -- -D warnings`, as one step.
        let clippy = |name: &str, args: &[&str]| -> anyhow::Result<()> {
            let mut command = cargo();
            command.arg("clippy").args(args);
            let mut command = with_lock(command);
            command.args(["--", "-D", "warnings"]);
            step(name, command)
        };
        clippy(
            "cargo clippy -D warnings",
            &["--workspace", "--all-targets"],
        )?;
        // The workspace build unifies features (the integration tests turn on otlp-grpc),
        // so core's default feature set is checked on its own.
        clippy(
            "cargo clippy -p otel-faas-core (default features) -D warnings",
            &["-p", "otel-faas-core", "--all-targets"],
        )?;
        // Without TLS and the exporters beyond spans: the smallest build, for a function that
        // only traces to a plain-http collector next to it.
        clippy(
            "cargo clippy -p otel-faas-core --no-default-features -D warnings",
            &[
                "-p",
                "otel-faas-core",
                "--all-targets",
                "--no-default-features",
            ],
        )?;
        // Each exporter feature alone: their code is behind cfgs that must compile in any
        // combination a user picks.
        for feature in ["otlp-metrics", "otlp-logs", "console", "otlp-grpc", "axum"] {
            clippy(
                &format!(
                    "cargo clippy -p otel-faas-core --no-default-features --features {feature} -D warnings"
                ),
                &[
                    "-p",
                    "otel-faas-core",
                    "--lib",
                    "--no-default-features",
                    "--features",
                    feature,
                ],
            )?;
        }
        // A Lambda function without TLS (default-features = false on otel-faas-aws).
        clippy(
            "cargo clippy -p otel-faas-aws --lib --no-default-features -D warnings",
            &["-p", "otel-faas-aws", "--lib", "--no-default-features"],
        )?;

        // The bench binaries (bench/, a workspace of its own so that the peers' OpenTelemetry
        // versions stay out of the library's build): checked here so that `cargo xtask
        // bench` keeps building.
        let bench = workspace_root().join("bench/Cargo.toml");
        let mut fmt_bench = cargo();
        fmt_bench
            .args(["fmt", "--manifest-path"])
            .arg(&bench)
            .args(["--", "--check"]);
        step("cargo fmt --check (bench/)", fmt_bench)?;
        let mut clippy_bench = cargo();
        // The workspace's target directory: the library's crates are already checked there.
        clippy_bench
            .args(["clippy", "--all-targets", "--manifest-path"])
            .arg(&bench)
            .arg("--target-dir")
            .arg(target_dir());
        let mut clippy_bench = with_lock(clippy_bench);
        clippy_bench.args(["--", "-D", "warnings"]);
        step("cargo clippy (bench/) -D warnings", clippy_bench)?;

        // Users turn on one SDK feature of otel-faas-messaging at a time; each alone (and
        // none) must build without warnings, which the unified workspace build cannot show.
        for feature in [
            "",
            "aws-sdk",
            "sqs",
            "sns",
            "eventbridge",
            "lambda",
            "dynamodb",
            "s3",
            "storage-queue",
            "aws-config",
        ] {
            clippy(
                &format!("cargo clippy -p otel-faas-messaging --features '{feature}' -D warnings"),
                &[
                    "-p",
                    "otel-faas-messaging",
                    "--no-default-features",
                    "--features",
                    feature,
                ],
            )?;
        }

        // With every feature, as docs.rs builds them (package.metadata.docs.rs), so that
        // feature-gated items (the server harness, lambda-http, the SDK producers) are
        // documented and their links checked; and core with its default features, which
        // is what most users read locally.
        let mut doc = cargo();
        doc.args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings");
        step("cargo doc --all-features (warnings denied)", with_lock(doc))?;
        let mut doc_core = cargo();
        doc_core
            .args(["doc", "-p", "otel-faas-core", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings");
        step(
            "cargo doc -p otel-faas-core (default features, warnings denied)",
            with_lock(doc_core),
        )?;

        // The AWS SDK code of otel-faas-messaging is behind features the workspace build
        // does not turn on for docs.
        let mut doc_messaging = cargo();
        doc_messaging
            .args([
                "doc",
                "-p",
                "otel-faas-messaging",
                "--all-features",
                "--no-deps",
            ])
            .env("RUSTDOCFLAGS", "-D warnings");
        step(
            "cargo doc -p otel-faas-messaging --all-features (warnings denied)",
            with_lock(doc_messaging),
        )?;

        // Every SAM template must deploy: cfn-lint with the SAM translator, offline, from a
        // venv under target/ that this step installs.
        cfn_lint()?;
    }
    // The AWS tests run against one moto for the whole run; stopped however the run ends.
    let moto = if matches!(suite, Suite::Core | Suite::Azure | Suite::Gcp) {
        None
    } else {
        println!("\n==> emulators up: moto");
        Some(emulators::up(emulators::Emulator::Moto)?)
    };
    // Azurite, for the Azure tests whose mini host takes messages from its queues.
    let azurite = if matches!(suite, Suite::All | Suite::Azure) {
        println!("\n==> emulators up: azurite");
        Some(emulators::up(emulators::Emulator::Azurite)?)
    } else {
        None
    };
    // The Pub/Sub emulator, for the GCP test that has it push to the server.
    let pubsub = if matches!(suite, Suite::All | Suite::Gcp) {
        println!("\n==> emulators up: pubsub");
        Some(emulators::up(emulators::Emulator::PubSub)?)
    } else {
        None
    };
    // The Node Functions Framework, the oracle the GCP server is compared with.
    let functions_framework = if matches!(suite, Suite::All | Suite::Gcp) {
        Some(install_functions_framework()?)
    } else {
        None
    };
    let started_emulators: Vec<emulators::Emulator> = moto
        .iter()
        .map(|_| emulators::Emulator::Moto)
        .chain(azurite.iter().map(|_| emulators::Emulator::Azurite))
        .chain(pubsub.iter().map(|_| emulators::Emulator::PubSub))
        .collect();
    let _stop = emulators::StopOnDrop(started_emulators.clone());
    stop_on_ctrl_c(started_emulators);
    // cargo-lambda, the Runtime API emulator most Rust users run: the Lambda examples run
    // under `cargo lambda watch` (integration-tests/tests/cargo_lambda.rs).
    let cargo_lambda = if matches!(suite, Suite::Core | Suite::Azure | Suite::Gcp) {
        None
    } else {
        Some(install_cargo_lambda()?)
    };
    let with_aws = |mut command: Command| {
        if let Some(moto) = &moto {
            command
                .env("OTEL_FAAS_AWS_ENDPOINT", moto.endpoint())
                .env("OTEL_FAAS_AWS_EMULATOR", "moto");
        }
        if let Some(cargo_lambda) = &cargo_lambda {
            command.env("OTEL_FAAS_CARGO_LAMBDA", cargo_lambda);
        }
        if let Some(modules) = &functions_framework {
            command.env("OTEL_FAAS_FUNCTIONS_FRAMEWORK", modules);
        }
        if let Some(pubsub) = &pubsub {
            command.env(
                "OTEL_FAAS_PUBSUB_EMULATOR_HOST",
                format!("127.0.0.1:{}", pubsub.ports[0]),
            );
        }
        if let Some(azurite) = &azurite {
            // Ports are blob, queue, table.
            command.env(
                "OTEL_FAAS_AZURITE_QUEUE_ENDPOINT",
                format!("http://127.0.0.1:{}", azurite.ports[1]),
            );
        }
        with_lock(command)
    };

    let mut totals = Totals::default();
    let mut run = |name: &str, args: &[&str]| -> anyhow::Result<()> {
        let mut command = cargo();
        command.args(args);
        totals.merge(test_step(name, with_aws(command))?);
        Ok(())
    };
    // Core's unit tests again without its default features: the pipeline then reads the
    // exporter variables as a traces-only build must (metrics and logs default to none).
    let core_alone = [
        "test",
        "-p",
        "otel-faas-core",
        "--no-default-features",
        "--lib",
    ];
    match suite {
        Suite::All => {
            run(
                "cargo test --workspace (unit, doc and integration tests)",
                &["test", "--workspace"],
            )?;
            run(
                "cargo test -p otel-faas-core --no-default-features --lib",
                &core_alone,
            )?;
        }
        Suite::Core => {
            run(
                "cargo test: core and the engine over OTLP",
                &[
                    "test",
                    "-p",
                    "otel-faas-core",
                    "-p",
                    "otel-faas-integration-tests",
                    "--lib",
                    "--test",
                    "engine_over_otlp",
                ],
            )?;
            run(
                "cargo test -p otel-faas-core --no-default-features --lib",
                &core_alone,
            )?;
        }
        Suite::Aws => {
            run(
                "cargo test: otel-faas-aws and otel-faas-messaging (all features)",
                &[
                    "test",
                    "-p",
                    "otel-faas-aws",
                    "-p",
                    "otel-faas-messaging",
                    "--all-features",
                ],
            )?;
            run(
                "cargo test: the AWS integration tests",
                &[
                    "test",
                    "-p",
                    "otel-faas-integration-tests",
                    "--test",
                    "lambda_runtime",
                    "--test",
                    "lambda_in_process",
                    "--test",
                    "moto_events",
                    "--test",
                    "sdk_over_moto",
                    "--test",
                    "lambda_to_lambda",
                    "--test",
                    "cargo_lambda",
                ],
            )?;
        }
        Suite::Azure => {
            run(
                "cargo test -p otel-faas-azure (unit and doc tests)",
                &["test", "-p", "otel-faas-azure"],
            )?;
            run(
                "cargo test: the custom handler under the mini host, with Azurite",
                &[
                    "test",
                    "-p",
                    "otel-faas-integration-tests",
                    "--lib",
                    "--test",
                    "azure_custom_handler",
                ],
            )?;
        }
        Suite::Gcp => {
            run(
                "cargo test -p otel-faas-gcp (unit, conformance and doc tests)",
                &["test", "-p", "otel-faas-gcp"],
            )?;
            run(
                "cargo test: the Functions Framework server over HTTP, with the Pub/Sub emulator",
                &[
                    "test",
                    "-p",
                    "otel-faas-integration-tests",
                    "--test",
                    "gcp_functions_framework",
                ],
            )?;
        }
    }
    if matches!(suite, Suite::All | Suite::Core) {
        run(
            "cargo test -p otel-faas-core --lib (default features, without otlp-grpc)",
            &["test", "-p", "otel-faas-core", "--lib"],
        )?;
    }

    println!("\n==> cargo xtask demo (smoke run)");
    demo::run().context("the demo failed")?;

    // The documented local runner of the Azure function app, through its front like a
    // developer's first requests.
    if matches!(suite, Suite::All | Suite::Azure) {
        println!("\n==> cargo xtask azure-host azure-function-app --smoke");
        azure_host::run(&[
            "azure-function-app".to_owned(),
            "--smoke".to_owned(),
            "--port".to_owned(),
            "0".to_owned(),
        ])
        .context("the azure-host smoke run failed")?;
    }

    // A release build of the smallest Lambda example, zipped: packaging is a user-facing
    // command and breaks silently otherwise (a renamed binary, a lost executable bit).
    println!("\n==> cargo xtask package lambda-scheduled (smoke run)");
    // `--host`: the template's arm64 needs a cross toolchain this machine may lack.
    package::run(&["lambda-scheduled".to_owned(), "--host".to_owned()])
        .context("packaging failed")?;

    println!(
        "\nxtask test: every step passed in {:.1?}",
        started.elapsed()
    );
    // One closing line for the whole workspace, in the plain form CI reads.
    println!(
        "tests: {} passed, {} failed, {} ignored",
        totals.passed, totals.failed, totals.ignored
    );
    Ok(())
}

/// Installs cargo-lambda (PyPI) into `target/emulators/cargo-lambda-venv` and returns the
/// path of its binary.
fn install_cargo_lambda() -> anyhow::Result<PathBuf> {
    let venvs = target_dir().join("emulators");
    emulators::install_venv(
        &venvs,
        "cargo-lambda-venv",
        &emulators::python3()?,
        &workspace_root().join("xtask/requirements-cargo-lambda.txt"),
    )?;
    let binary = venvs.join("cargo-lambda-venv/bin/cargo-lambda");
    if !binary.is_file() {
        bail!(
            "the cargo-lambda package installed no binary at {}",
            binary.display()
        );
    }
    Ok(binary)
}

/// The Node Functions Framework, pinned: the GCP tests' differential oracle.
const FUNCTIONS_FRAMEWORK: &str = "@google-cloud/functions-framework@5.0.5";

/// Installs the Node Functions Framework (npm) into `target/emulators/functions-framework`
/// unless the pinned version is there; returns its `node_modules`.
fn install_functions_framework() -> anyhow::Result<PathBuf> {
    let dir = target_dir().join("emulators/functions-framework");
    let stamp = dir.join("installed-version.txt");
    let modules = dir.join("node_modules");
    if std::fs::read_to_string(&stamp).is_ok_and(|v| v == FUNCTIONS_FRAMEWORK)
        && modules.join(".bin/functions-framework").exists()
    {
        return Ok(modules);
    }
    std::fs::create_dir_all(&dir)?;
    let mut npm = Command::new("npm");
    npm.args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg(FUNCTIONS_FRAMEWORK);
    step(&format!("npm install {FUNCTIONS_FRAMEWORK}"), npm)
        .context("the GCP oracle needs Node.js and npm (apt-get install nodejs npm)")?;
    std::fs::write(&stamp, FUNCTIONS_FRAMEWORK)?;
    Ok(modules)
}

/// Runs cfn-lint on every example's `template.yaml`.
fn cfn_lint() -> anyhow::Result<()> {
    let venvs = target_dir().join("emulators");
    emulators::install_venv(
        &venvs,
        "cfn-lint-venv",
        &emulators::python3()?,
        &workspace_root().join("xtask/requirements-cfn-lint.txt"),
    )?;
    let mut templates: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("examples"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("template.yaml"))
        .filter(|template| template.exists())
        .collect();
    templates.sort();
    if templates.is_empty() {
        bail!("no examples/*/template.yaml found: cfn-lint has nothing to check");
    }
    let mut lint = Command::new(venvs.join("cfn-lint-venv/bin/cfn-lint"));
    lint.args(&templates);
    step(
        &format!("cfn-lint ({} SAM templates)", templates.len()),
        lint,
    )
}

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
