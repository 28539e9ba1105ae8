//! `cargo xtask test`: everything CI checks, as a table of steps ([`STEPS`]) run in order,
//! each applying to the suites it concerns. `cargo xtask help` says what each flag does.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::emulators;
use crate::{
    HELP, Totals, azure_host, cargo, demo, imports, localstack, package, step, stop_on_ctrl_c,
    target_dir, test_step, workspace_root,
};

/// Which tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suite {
    All,
    Core,
    Aws,
    Azure,
    Gcp,
}

/// What the command line asked for.
#[derive(Debug)]
struct Options {
    lint: bool,
    suite: Suite,
}

/// One step of the run: its name, what it does, for which options, and how.
struct Step {
    name: &'static str,
    what: &'static str,
    applies: fn(&Options) -> bool,
    run: fn(&mut State) -> anyhow::Result<()>,
}

/// The steps, in order.
const STEPS: &[Step] = &[
    Step {
        name: "lint",
        what: "cargo fmt --check, the import-circle check, clippy -D warnings (the workspace, \
               bench/, core and messaging feature by feature), cargo doc with warnings denied, \
               cfn-lint on every SAM template",
        applies: |options| options.lint,
        run: lint,
    },
    Step {
        name: "services",
        what: "what the suite's tests talk to, installed and started for the run and stopped \
               after it: moto, Azurite, the Pub/Sub emulator, the Node Functions Framework, \
               cargo-lambda",
        applies: |_| true,
        run: start_services,
    },
    Step {
        name: "tests",
        what: "cargo test for the suite (unit, doc and integration tests), and core's unit \
               tests without its default features",
        applies: |_| true,
        run: tests,
    },
    Step {
        name: "demo",
        what: "cargo xtask demo, as a smoke run",
        applies: |_| true,
        run: |_| {
            println!("\n==> cargo xtask demo (smoke run)");
            demo::run().context("the demo failed")
        },
    },
    Step {
        name: "azure-host",
        what: "the documented local runner of the Azure function app, through its front like \
               a developer's first requests",
        applies: |options| matches!(options.suite, Suite::All | Suite::Azure),
        run: |_| {
            println!("\n==> cargo xtask azure-host azure-function-app --smoke");
            azure_host::run(&[
                "azure-function-app".to_owned(),
                "--smoke".to_owned(),
                "--port".to_owned(),
                "0".to_owned(),
            ])
            .context("the azure-host smoke run failed")
        },
    },
    Step {
        name: "package",
        what: "a release build of the smallest Lambda example, zipped: packaging is a \
               user-facing command and breaks silently otherwise (a renamed binary, a lost \
               executable bit)",
        applies: |_| true,
        run: |_| {
            println!("\n==> cargo xtask package lambda-scheduled (smoke run)");
            // `--host`: the template's arm64 needs a cross toolchain this machine may lack.
            package::run(&["lambda-scheduled".to_owned(), "--host".to_owned()])
                .context("packaging failed")
        },
    },
];

/// What the steps share.
struct State {
    options: Options,
    /// In CI the lock file must be respected exactly.
    locked: bool,
    services: Option<Services>,
    totals: Totals,
}

impl State {
    /// `command` with `--locked` in CI.
    fn with_lock(&self, mut command: Command) -> Command {
        if self.locked {
            command.arg("--locked");
        }
        command
    }

    /// `command` told where the started services are, with `--locked` in CI.
    fn with_services(&self, mut command: Command) -> Command {
        if let Some(services) = &self.services {
            services.tell(&mut command);
        }
        self.with_lock(command)
    }
}

/// The emulators and tools started for the run; the emulators stop when it is dropped.
struct Services {
    moto: Option<emulators::Running>,
    azurite: Option<emulators::Running>,
    pubsub: Option<emulators::Running>,
    functions_framework: Option<PathBuf>,
    cargo_lambda: Option<PathBuf>,
    _stop: emulators::StopOnDrop,
}

impl Services {
    /// The variables the integration tests read the services' addresses from.
    fn tell(&self, command: &mut Command) {
        if let Some(moto) = &self.moto {
            command
                .env("OTEL_FAAS_AWS_ENDPOINT", moto.endpoint())
                .env("OTEL_FAAS_AWS_EMULATOR", "moto");
        }
        if let Some(cargo_lambda) = &self.cargo_lambda {
            command.env("OTEL_FAAS_CARGO_LAMBDA", cargo_lambda);
        }
        if let Some(modules) = &self.functions_framework {
            command.env("OTEL_FAAS_FUNCTIONS_FRAMEWORK", modules);
        }
        if let Some(pubsub) = &self.pubsub {
            command.env(
                "OTEL_FAAS_PUBSUB_EMULATOR_HOST",
                format!("127.0.0.1:{}", pubsub.ports[0]),
            );
        }
        if let Some(azurite) = &self.azurite {
            // Ports are blob, queue, table.
            command.env(
                "OTEL_FAAS_AZURITE_QUEUE_ENDPOINT",
                format!("http://127.0.0.1:{}", azurite.ports[1]),
            );
        }
    }
}

/// `cargo xtask test [--no-lint] [--suite …] [--aws-endpoint …]`.
pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
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
    let mut state = State {
        options: Options { lint, suite },
        locked: std::env::var("CI").is_ok_and(|ci| ci == "true"),
        services: None,
        totals: Totals::default(),
    };
    let started = Instant::now();
    for step in STEPS {
        if !(step.applies)(&state.options) {
            continue;
        }
        println!("\n=== step {}: {}", step.name, step.what);
        (step.run)(&mut state).with_context(|| format!("step `{}`", step.name))?;
    }
    println!(
        "\nxtask test: every step passed in {:.1?}",
        started.elapsed()
    );
    // One closing line for the whole workspace, in the plain form CI reads.
    println!(
        "tests: {} passed, {} failed, {} ignored",
        state.totals.passed, state.totals.failed, state.totals.ignored
    );
    Ok(())
}

/// fmt, the import-circle check, clippy, docs, cfn-lint.
fn lint(state: &mut State) -> anyhow::Result<()> {
    let with_lock = |command: Command| state.with_lock(command);
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
    for feature in [
        "otlp-metrics",
        "otlp-logs",
        "console",
        "otlp-grpc",
        "axum",
        "reqwest-middleware",
    ] {
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
    Ok(())
}

/// Installs and starts what the suite's tests talk to.
fn start_services(state: &mut State) -> anyhow::Result<()> {
    state.services = Some(Services::start(state.options.suite)?);
    Ok(())
}

impl Services {
    fn start(suite: Suite) -> anyhow::Result<Self> {
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
        // Microsoft's model of Application Insights' track API (the Azure Monitor exporter
        // for Python), the oracle of the `azuremonitor` destination's envelopes.
        if matches!(suite, Suite::All | Suite::Azure) {
            emulators::install_venv(
                &target_dir().join("emulators"),
                "azure-monitor-venv",
                &emulators::python3()?,
                &workspace_root().join("integration-tests/oracle/requirements-azure-monitor.txt"),
            )?;
        }
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
        let stop = emulators::StopOnDrop(started_emulators.clone());
        stop_on_ctrl_c(started_emulators);
        // cargo-lambda, the Runtime API emulator most Rust users run: the Lambda examples run
        // under `cargo lambda watch` (integration-tests/tests/aws_cargo_lambda.rs).
        let cargo_lambda = if matches!(suite, Suite::Core | Suite::Azure | Suite::Gcp) {
            None
        } else {
            Some(install_cargo_lambda()?)
        };
        Ok(Services {
            moto,
            azurite,
            pubsub,
            functions_framework,
            cargo_lambda,
            _stop: stop,
        })
    }
}

/// `cargo test` for the suite.
fn tests(state: &mut State) -> anyhow::Result<()> {
    let suite = state.options.suite;
    let mut run = |name: &str, args: &[&str]| -> anyhow::Result<()> {
        let mut command = cargo();
        command.args(args);
        let command = state.with_services(command);
        state.totals.merge(test_step(name, command)?);
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
                    "core_engine",
                    "--test",
                    "core_otlp_stdout",
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
                    "aws_lambda_runtime",
                    "--test",
                    "aws_lambda_in_process",
                    "--test",
                    "aws_moto_events",
                    "--test",
                    "aws_sdk_over_moto",
                    "--test",
                    "aws_lambda_to_lambda",
                    "--test",
                    "aws_cargo_lambda",
                    "--test",
                    "aws_xray_daemon",
                    "--test",
                    "aws_sigv4_otlp",
                    "--test",
                    "aws_ecs_resource",
                    "--test",
                    "aws_xray_sampling",
                    "--test",
                    "aws_ec2_eks_resource",
                ],
            )?;
        }
        Suite::Azure => {
            run(
                "cargo test -p otel-faas-azure (unit and doc tests)",
                &["test", "-p", "otel-faas-azure"],
            )?;
            run(
                "cargo test: the custom handler under the mini host, with Azurite; Application Insights",
                &[
                    "test",
                    "-p",
                    "otel-faas-integration-tests",
                    "--lib",
                    "--test",
                    "azure_custom_handler",
                    "--test",
                    "azure_app_insights",
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
                    "--test",
                    "gcp_telemetry_api",
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
