//! An HTTPS endpoint that takes only requests whose SigV4 signature botocore recomputes to
//! the same value (`oracle/sigv4_verifier.py`, run with the Python of moto's virtual
//! environment, which has botocore): the independent check of what `aws-sigv4` signs.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::function::workspace_root;
use crate::moto::moto_venv;
use crate::tls::TestCertificate;

/// One request the verifier answered.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// The request's path.
    pub path: String,
    /// The service of the signature's scope (`xray`, `logs`); `None` when refused.
    pub service: Option<String>,
    /// Whether the body came gzip-compressed.
    pub gzip: bool,
    /// The body, uncompressed; empty when refused.
    pub body: Vec<u8>,
    /// Why the request was refused (403), if it was.
    pub refused: Option<String>,
}

/// The verifier process; stopped when dropped.
pub struct SigV4Verifier {
    child: Child,
    port: u16,
    record: PathBuf,
    certificate: TestCertificate,
}

impl SigV4Verifier {
    /// Starts the verifier for these credentials and region, with a fresh self-signed
    /// certificate in `dir`. Panics, saying how to install moto, when its Python is missing.
    pub fn start(
        dir: &std::path::Path,
        access_key: &str,
        secret_key: &str,
        session_token: Option<&str>,
        region: &str,
    ) -> Self {
        let python = moto_venv().join("bin/python");
        assert!(
            python.is_file(),
            "botocore (with moto) is not installed at {}: run `cargo xtask test`, which installs \
             it (python3 -m venv target/emulators/moto-venv && target/emulators/moto-venv/bin/pip \
             install -r integration-tests/emulators/requirements-moto.txt)",
            python.display()
        );
        let certificate =
            TestCertificate::generate_named(dir, "sigv4").expect("a test certificate");
        let record = dir.join("sigv4-requests.jsonl");
        let _ = std::fs::remove_file(&record);
        let mut command = Command::new(python);
        command
            .arg(workspace_root().join("integration-tests/oracle/sigv4_verifier.py"))
            .arg("--cert")
            .arg(certificate.ca_file())
            .arg("--key")
            .arg(certificate.key_file())
            .args(["--access-key", access_key, "--secret-key", secret_key])
            .args(["--region", region])
            .arg("--record")
            .arg(&record)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(token) = session_token {
            command.args(["--session-token", token]);
        }
        let mut child = command.spawn().expect("the SigV4 verifier starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("the verifier's port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the verifier did not start: {line:?}"));
        Self {
            child,
            port,
            record,
            certificate,
        }
    }

    /// `https://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// The PEM file that trusts the verifier's certificate (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub fn ca_file(&self) -> String {
        self.certificate.ca_file().display().to_string()
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<SignedRequest> {
        let Ok(text) = std::fs::read_to_string(&self.record) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .map(|entry| SignedRequest {
                path: entry["path"].as_str().unwrap_or_default().to_owned(),
                service: entry["service"].as_str().map(str::to_owned),
                gzip: entry["gzip"].as_bool().unwrap_or(false),
                body: entry["body"]
                    .as_str()
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .unwrap_or_default(),
                refused: entry["refused"].as_str().map(str::to_owned),
            })
            .collect()
    }

    /// Waits until `count` requests were answered, or `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<SignedRequest> {
        let start = Instant::now();
        loop {
            let requests = self.requests();
            if requests.len() >= count || start.elapsed() > timeout {
                return requests;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SigV4Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
