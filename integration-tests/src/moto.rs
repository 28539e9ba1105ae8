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

/// A running moto server; stopped when dropped.
pub struct Moto {
    child: Child,
    address: SocketAddr,
    log: PathBuf,
}

impl Moto {
    /// Starts moto on a free port and waits until it answers.
    pub fn start() -> Result<Self, ReceiverError> {
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
            .stdout(Stdio::null())
            .stderr(output)
            .spawn()
            .map_err(|e| ReceiverError::Start(format!("{}: {e}", server.display())))?;
        let mut moto = Self {
            child,
            address,
            log,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = moto.child.try_wait() {
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
