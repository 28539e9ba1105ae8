//! moto, the AWS emulator, for tests that capture real events.
//!
//! `cargo xtask test` installs moto into `target/emulators/moto-venv` (from
//! `integration-tests/emulators/requirements-moto.txt`). Each [`Moto`] starts its own
//! server on a free port of 127.0.0.1 and stops it when dropped. When moto is not installed
//! or does not come up, [`Moto::start`] fails with an error that says so — tests that need
//! it fail loudly rather than skip.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::function::workspace_root;
use crate::receiver::ReceiverError;

/// Where `cargo xtask test` installs moto.
pub fn moto_venv() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("emulators")
        .join("moto-venv")
}

/// The variable through which `cargo xtask test` hands the tests an AWS emulator it runs
/// (`http://127.0.0.1:PORT`). Every AWS test takes its endpoint from [`Moto::start`], which
/// reads it: that is the one place, so moto and LocalStack are interchangeable.
pub const AWS_ENDPOINT_VARIABLE: &str = "OTEL_FAAS_AWS_ENDPOINT";

/// Which emulator [`AWS_ENDPOINT_VARIABLE`] points at: `moto` or `localstack`.
pub const AWS_EMULATOR_VARIABLE: &str = "OTEL_FAAS_AWS_EMULATOR";

/// An AWS emulator for a test: the one `cargo xtask test` runs (see
/// [`AWS_ENDPOINT_VARIABLE`]), or else a moto server of its own, stopped when dropped.
pub struct Moto {
    child: Option<Child>,
    address: SocketAddr,
    log: PathBuf,
    kind: String,
}

impl Moto {
    /// The emulator `cargo xtask test` runs, or moto started on a free port; either way, it
    /// answers before this returns.
    pub fn start() -> Result<Self, ReceiverError> {
        if let Ok(endpoint) = std::env::var(AWS_ENDPOINT_VARIABLE) {
            let address = endpoint
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse::<SocketAddr>()
                .map_err(|e| {
                    ReceiverError::Start(format!("{AWS_ENDPOINT_VARIABLE}={endpoint}: {e}"))
                })?;
            let kind = std::env::var(AWS_EMULATOR_VARIABLE).unwrap_or_else(|_| "moto".to_owned());
            return Ok(Self {
                child: None,
                address,
                log: PathBuf::new(),
                kind,
            });
        }
        Self::start_own()
    }

    /// Which emulator this is: `moto` or `localstack`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    fn start_own() -> Result<Self, ReceiverError> {
        let venv = moto_venv();
        let server = venv.join("bin").join("moto_server");
        if !server.exists() {
            return Err(ReceiverError::Start(format!(
                "moto is not installed at {}: run `cargo xtask test`, which installs it into a venv \
                 (python3 -m venv {} && {}/bin/pip install -r integration-tests/emulators/requirements-moto.txt)",
                server.display(),
                venv.display(),
                venv.display()
            )));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| ReceiverError::Start(e.to_string()))?
            .port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let log = venv.with_file_name(format!("moto-{port}.log"));
        let output =
            std::fs::File::create(&log).map_err(|e| ReceiverError::Start(e.to_string()))?;
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Lets tests read back the requests moto received (see `recording`).
            .env("MOTO_ENABLE_RECORDING", "True")
            // moto writes the recording to its working directory unless told otherwise.
            .env(
                "MOTO_RECORDER_FILEPATH",
                venv.with_file_name(format!("moto-{port}.recording")),
            )
            .stdout(Stdio::null())
            .stderr(output)
            .spawn()
            .map_err(|e| ReceiverError::Start(format!("{}: {e}", server.display())))?;
        let mut moto = Self {
            child: Some(child),
            address,
            log,
            kind: "moto".to_owned(),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(Ok(Some(status))) = moto.child.as_mut().map(Child::try_wait) {
                return Err(ReceiverError::Start(format!(
                    "moto exited with {status}: {}",
                    moto.log()
                )));
            }
            if moto.healthy() {
                return Ok(moto);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(ReceiverError::Start(format!(
            "moto did not answer on http://{address} within 30 s: {}",
            moto.log()
        )))
    }

    fn healthy(&self) -> bool {
        self.moto_api("GET", "/moto-api/").is_some_and(|response| {
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
        })
    }

    /// One request to moto's own API; the whole response, or `None` if it failed.
    fn moto_api(&self, method: &str, path: &str) -> Option<String> {
        let mut stream =
            TcpStream::connect_timeout(&self.address, Duration::from_millis(500)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.address
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    }

    /// Starts moto's request recorder: every request from now on can be read back with
    /// [`recording`](Self::recording).
    pub fn start_recording(&self) -> Result<(), ReceiverError> {
        self.moto_api("POST", "/moto-api/recorder/start-recording")
            .map(|_| ())
            .ok_or_else(|| ReceiverError::Start("moto's recorder did not start".into()))
    }

    /// The requests moto received since [`start_recording`](Self::start_recording), as moto
    /// records them (one JSON document per line).
    pub fn recording(&self) -> Result<String, ReceiverError> {
        self.moto_api("GET", "/moto-api/recorder/download-recording")
            .ok_or_else(|| ReceiverError::Start("moto's recording could not be read".into()))
    }

    /// The endpoint URL, for `AWS_ENDPOINT_URL` or an SDK's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What moto wrote to its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs a scenario of `integration-tests/emulators/capture_events.py` against this
    /// server and returns the event it captured.
    pub fn capture(
        &self,
        scenario: &str,
        args: &[&str],
    ) -> Result<serde_json::Value, ReceiverError> {
        let script = workspace_root().join("integration-tests/emulators/capture_events.py");
        let output = Command::new(moto_venv().join("bin").join("python"))
            .arg(&script)
            .arg(self.endpoint())
            .arg(scenario)
            .args(args)
            .output()
            .map_err(|e| ReceiverError::Start(format!("{}: {e}", script.display())))?;
        if !output.status.success() {
            return Err(ReceiverError::Start(format!(
                "capturing {scenario} from moto failed: {}\nmoto log:\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.log()
            )));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| ReceiverError::Start(format!("capture {scenario} printed no JSON: {e}")))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
            // The recording can grow large; the log is kept only when a test failed, to read.
            let _ = std::fs::remove_file(self.log.with_extension("recording"));
            if !std::thread::panicking() {
                let _ = std::fs::remove_file(&self.log);
            }
        }
    }
}
