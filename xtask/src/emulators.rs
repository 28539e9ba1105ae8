//! `cargo xtask emulators up|down|status`: the emulators the integration tests need, on
//! 127.0.0.1 only, installed under `target/` when missing, and stopped exactly as started.
//!
//! Each emulator runs in its own process group, so `down` stops it and whatever it spawned
//! (the Pub/Sub emulator is a Java process under a Python launcher). What runs is recorded in
//! `target/emulators/running.json`: `down` stops exactly those and nothing else.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::{step, workspace_root};

/// The emulators xtask knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emulator {
    /// moto: SQS, S3, SNS, EventBridge, DynamoDB (+ Streams), Lambda API.
    Moto,
    /// LocalStack on the host: SQS, S3, SNS, EventBridge.
    LocalStack,
    /// The Google Cloud Pub/Sub emulator.
    PubSub,
    /// Azurite: Azure Blob, Queue and Table storage.
    Azurite,
}

/// Pinned so that every machine runs the same emulator: the newest release whose engines
/// accept the Node.js 20 these machines have (3.36 and later ask for Node 21 and 22, and npm
/// printed a page of EBADENGINE warnings on a newcomer's first demo). The tests pass
/// `--skipApiVersionCheck`, so the SDKs' newer API versions are accepted.
const AZURITE: &str = "azurite@3.35.0";

impl Emulator {
    pub(crate) const ALL: [Emulator; 4] =
        [Self::Moto, Self::LocalStack, Self::PubSub, Self::Azurite];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Moto => "moto",
            Self::LocalStack => "localstack",
            Self::PubSub => "pubsub",
            Self::Azurite => "azurite",
        }
    }

    pub(crate) fn parse(name: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .with_context(|| {
                format!("unknown emulator `{name}` (known: moto, localstack, pubsub, azurite)")
            })
    }

    /// How many ports it listens on (Azurite: blob, queue, table).
    fn port_count(self) -> usize {
        if self == Self::Azurite { 3 } else { 1 }
    }

    fn startup_timeout(self) -> Duration {
        match self {
            Self::Moto | Self::Azurite => Duration::from_secs(30),
            Self::LocalStack | Self::PubSub => Duration::from_secs(120),
        }
    }

    /// Azurite stops on SIGINT and ignores SIGTERM.
    fn stop_signal(self) -> &'static str {
        if self == Self::Azurite { "INT" } else { "TERM" }
    }

    /// Installs what is missing.
    fn install(self, dir: &Path) -> anyhow::Result<()> {
        let requirements = |file: &str| {
            workspace_root()
                .join("integration-tests/emulators")
                .join(file)
        };
        match self {
            Self::Moto => install_venv(
                dir,
                "moto-venv",
                &python3()?,
                &requirements("requirements-moto.txt"),
            ),
            Self::LocalStack => install_venv(
                dir,
                "localstack-venv",
                &python313()?,
                &requirements("requirements-localstack.txt"),
            ),
            Self::PubSub => {
                let found = Command::new("gcloud")
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success());
                if !found {
                    bail!(
                        "the Pub/Sub emulator needs the Google Cloud CLI (`gcloud`) with its pubsub-emulator component; install them (`gcloud components install pubsub-emulator beta`, or the google-cloud-cli-pubsub-emulator package)"
                    );
                }
                Ok(())
            }
            Self::Azurite => {
                let installed = dir.join("azurite/node_modules/.bin/azurite");
                let pinned = dir.join("azurite/node_modules/azurite/package.json");
                let version = AZURITE.trim_start_matches("azurite@");
                let current = std::fs::read_to_string(&pinned)
                    .is_ok_and(|text| text.contains(&format!("\"version\": \"{version}\"")));
                if installed.exists() && current {
                    return Ok(());
                }
                std::fs::create_dir_all(dir.join("azurite"))?;
                let mut npm = Command::new("npm");
                npm.args(["install", "--no-audit", "--no-fund", "--prefix"])
                    .arg(dir.join("azurite"))
                    .arg(AZURITE);
                step(&format!("npm install {AZURITE}"), npm)
                    .context("Azurite needs Node.js and npm (apt-get install nodejs npm)")
            }
        }
    }

    fn command(self, dir: &Path, ports: &[u16]) -> Command {
        let port = ports[0];
        // Data directories must exist before the emulators start (gcloud does not create its).
        let data = dir.join(format!("{}-{port}", self.name()));
        let _ = std::fs::create_dir_all(&data);
        match self {
            Self::Moto => {
                let mut command = Command::new(dir.join("moto-venv/bin/moto_server"));
                command
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    // Lets tests read back the requests moto received.
                    .env("MOTO_ENABLE_RECORDING", "True")
                    // moto writes the recording to its working directory unless told otherwise.
                    .env("MOTO_RECORDER_FILEPATH", data.join("recording"));
                command
            }
            Self::LocalStack => {
                let mut command = Command::new(dir.join("localstack-venv/bin/python"));
                let root = data;
                command
                    .args(["-m", "localstack.runtime.main"])
                    .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
                    .env("GATEWAY_SERVER", "hypercorn")
                    .env("OVERRIDE_IN_DOCKER", "0")
                    .env("DNS_ADDRESS", "0")
                    .env("SKIP_SSL_CERT_DOWNLOAD", "1")
                    .env("DISABLE_EVENTS", "1")
                    .env("FILESYSTEM_ROOT", root);
                command
            }
            Self::PubSub => {
                let mut command = Command::new("gcloud");
                command
                    .args(["beta", "emulators", "pubsub", "start", "--quiet"])
                    .arg(format!("--host-port=127.0.0.1:{port}"))
                    .arg(format!(
                        "--data-dir={}",
                        dir.join(format!("pubsub-{port}")).display()
                    ));
                command
            }
            Self::Azurite => {
                let mut command = Command::new(dir.join("azurite/node_modules/.bin/azurite"));
                command
                    .args(["--silent", "--skipApiVersionCheck", "--location"])
                    .arg(&data)
                    .args([
                        "--blobHost",
                        "127.0.0.1",
                        "--blobPort",
                        &ports[0].to_string(),
                    ])
                    .args([
                        "--queueHost",
                        "127.0.0.1",
                        "--queuePort",
                        &ports[1].to_string(),
                    ])
                    .args([
                        "--tableHost",
                        "127.0.0.1",
                        "--tablePort",
                        &ports[2].to_string(),
                    ]);
                command
            }
        }
    }

    /// Whether it answers on `port`.
    fn healthy(self, port: u16) -> bool {
        let path = match self {
            Self::Moto => "/moto-api/",
            Self::LocalStack => "/_localstack/health",
            Self::PubSub | Self::Azurite => "/",
        };
        match crate::process::http_status(
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            "GET",
            path,
        ) {
            // Azurite answers a bare GET with 400: it is up.
            Ok(status) if self == Self::Azurite => status > 0,
            Ok(status) => status == 200,
            Err(_) => false,
        }
    }
}

pub(crate) fn python3() -> anyhow::Result<PathBuf> {
    ["python3", "python"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()))
        .map(PathBuf::from)
        .context("moto needs Python 3 with venv and pip; none was found (apt-get install python3 python3-venv)")
}

/// LocalStack needs Python 3.13 or newer: `python3.13` on the PATH, or one of pyenv's.
fn python313() -> anyhow::Result<PathBuf> {
    if Command::new("python3.13")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(PathBuf::from("python3.13"));
    }
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")))
        .map(|root| root.join("versions"));
    if let Some(versions) = pyenv
        && let Ok(entries) = std::fs::read_dir(versions)
    {
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name().to_string_lossy().starts_with("3.1")
                    && !e.file_name().to_string_lossy().starts_with("3.1.")
            })
            .map(|e| e.path().join("bin/python3"))
            .filter(|p| p.exists())
            .filter(|p| {
                Command::new(p)
                    .args([
                        "-c",
                        "import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)",
                    ])
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .collect();
        found.sort();
        if let Some(python) = found.pop() {
            return Ok(python);
        }
    }
    bail!(
        "LocalStack needs Python 3.13 or newer; none was found (python3.13 on the PATH, or `pyenv install 3.13`)"
    )
}

/// A venv at `dir/name` with `requirements` installed, unless the same requirements are.
pub(crate) fn install_venv(
    dir: &Path,
    name: &str,
    python: &Path,
    requirements: &Path,
) -> anyhow::Result<()> {
    let venv = dir.join(name);
    let stamp = venv.join("installed-requirements.txt");
    let wanted = std::fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    if std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted) {
        return Ok(());
    }
    let mut create = Command::new(python);
    create.args(["-m", "venv"]).arg(&venv);
    step(&format!("{} -m venv {name}", python.display()), create)?;
    let mut install = Command::new(venv.join("bin/pip"));
    install
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(requirements);
    step(
        &format!(
            "pip install -r {}",
            requirements
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
        ),
        install,
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

/// One running emulator, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Running {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) ports: Vec<u16>,
}

impl Running {
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[0])
    }
}

pub(crate) fn dir() -> PathBuf {
    crate::target_dir().join("emulators")
}

fn state_file() -> PathBuf {
    dir().join("running.json")
}

fn load() -> Vec<Running> {
    std::fs::read_to_string(state_file())
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn save(running: &[Running]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir())?;
    std::fs::write(state_file(), serde_json::to_string_pretty(running)?)?;
    Ok(())
}

fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
}

/// Installs `emulator` when it is missing.
pub(crate) fn install(emulator: Emulator) -> anyhow::Result<()> {
    let dir = dir();
    std::fs::create_dir_all(&dir)?;
    emulator
        .install(&dir)
        .with_context(|| format!("installing {}", emulator.name()))
}

/// Starts `emulator` unless a recorded, healthy one is running; returns it.
pub(crate) fn up(emulator: Emulator) -> anyhow::Result<Running> {
    let mut running = load();
    if let Some(existing) = running.iter().find(|r| r.name == emulator.name())
        && alive(existing.pid)
        && emulator.healthy(existing.ports[0])
    {
        return Ok(existing.clone());
    }
    running.retain(|r| r.name != emulator.name());
    let dir = dir();
    std::fs::create_dir_all(&dir)?;
    emulator
        .install(&dir)
        .with_context(|| format!("installing {}", emulator.name()))?;
    let ports = crate::process::free_ports(emulator.port_count())?;
    let log_path = dir.join(format!("{}.log", emulator.name()));
    let log = std::fs::File::create(&log_path)?;
    let child = emulator
        .command(&dir, &ports)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", emulator.name()))?;
    let record = Running {
        name: emulator.name().to_owned(),
        pid: child.id(),
        ports,
    };
    // Recorded before the health check, so that `down` stops it even if we fail below.
    running.push(record.clone());
    save(&running)?;
    let started = Instant::now();
    while started.elapsed() < emulator.startup_timeout() {
        if emulator.healthy(record.ports[0]) {
            println!(
                "{} is up on {} (pid {}, log {})",
                emulator.name(),
                record.endpoint(),
                record.pid,
                log_path.display()
            );
            return Ok(record);
        }
        if !alive(record.pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = down(&[emulator]);
    let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let tail: Vec<&str> = log_text
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    bail!(
        "{} did not become healthy on 127.0.0.1:{} within {:?}; its log ({}) ends with:\n{}",
        emulator.name(),
        record.ports[0],
        emulator.startup_timeout(),
        log_path.display(),
        tail.join("\n")
    )
}

/// Stops the recorded emulators among `emulators` (all recorded ones when empty).
pub(crate) fn down(emulators: &[Emulator]) -> anyhow::Result<()> {
    let mut running = load();
    let (stop, keep): (Vec<Running>, Vec<Running>) = running
        .drain(..)
        .partition(|r| emulators.is_empty() || emulators.iter().any(|e| e.name() == r.name));
    for record in &stop {
        let signal = Emulator::parse(&record.name).map_or("TERM", Emulator::stop_signal);
        signal_group(record.pid, signal);
        let deadline = Instant::now() + Duration::from_secs(15);
        while alive(record.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        // Whatever is left of the group (a launcher's children) goes too.
        signal_group(record.pid, "KILL");
        // Its data (LocalStack's state, recordings, Azurite's blobs) is of no use to the next one.
        if let Some(port) = record.ports.first() {
            let _ = std::fs::remove_dir_all(dir().join(format!("{}-{port}", record.name)));
        }
        println!("{} stopped (pid {})", record.name, record.pid);
    }
    save(&keep)
}

/// Prints what runs.
pub(crate) fn status() -> anyhow::Result<()> {
    let running = load();
    if running.is_empty() {
        println!(
            "no emulator is running (none recorded in {})",
            state_file().display()
        );
    }
    for record in running {
        let healthy = Emulator::parse(&record.name)
            .is_ok_and(|e| alive(record.pid) && e.healthy(record.ports[0]));
        println!(
            "{:<11} pid {:<7} {:<26} {}",
            record.name,
            record.pid,
            record.endpoint(),
            if healthy { "healthy" } else { "NOT answering" }
        );
    }
    Ok(())
}

/// `cargo xtask emulators up|down|status [names]`.
pub(crate) fn command(args: &[String]) -> anyhow::Result<()> {
    let names: Vec<Emulator> = args
        .iter()
        .skip(1)
        .map(|n| Emulator::parse(n))
        .collect::<anyhow::Result<_>>()?;
    match args.first().map(String::as_str) {
        Some("up") => {
            let chosen = if names.is_empty() {
                Emulator::ALL.to_vec()
            } else {
                names
            };
            for emulator in chosen {
                up(emulator)?;
            }
            Ok(())
        }
        Some("down") => down(&names),
        Some("status") => status(),
        _ => bail!(
            "usage: cargo xtask emulators up|down|status [moto|localstack|pubsub|azurite ...]"
        ),
    }
}

/// Stops the emulators a task started, however the task ends.
pub(crate) struct StopOnDrop(pub(crate) Vec<Emulator>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Err(error) = down(&self.0) {
            eprintln!("xtask: stopping emulators failed: {error:#}");
        }
    }
}
