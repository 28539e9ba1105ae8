//! A stand-in for Application Insights' ingestion endpoint: `POST /v2/track` over HTTPS on
//! 127.0.0.1, checked as the service checks it (gzip'd JSON, an array of envelopes, the
//! resource's instrumentation key), answering a track response — or a failure the test
//! chooses — and keeping every envelope for the test and for Microsoft's own model of the
//! API ([`validate_envelopes`], the Azure Monitor exporter for Python).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::server::BackgroundServer;
use crate::{ReceiverError, TestCertificate};

/// The instrumentation key of the stand-in's resource.
pub const TEST_INSTRUMENTATION_KEY: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

#[derive(Default)]
struct Received {
    envelopes: Mutex<Vec<Value>>,
    /// What the service would refuse (no gzip, not an array, another key).
    refusals: Mutex<Vec<String>>,
    requests: AtomicUsize,
    /// 0: accept; otherwise the status to answer.
    failing_with: AtomicU16,
}

/// The stand-in; stops when dropped.
pub struct FakeIngestion {
    received: Arc<Received>,
    server: BackgroundServer,
}

impl FakeIngestion {
    /// Starts it on an ephemeral port of 127.0.0.1, serving HTTPS with `certificate` (the
    /// exporter sends only over HTTPS; clients trust it through
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub fn start(certificate: &TestCertificate) -> Result<Self, ReceiverError> {
        let acceptor = certificate.acceptor(None).map_err(ReceiverError::Start)?;
        let received = Arc::new(Received::default());
        let app = Router::new()
            .route("/v2/track", post(track))
            .with_state(Arc::clone(&received));
        let server = BackgroundServer::start_with("fake-ingestion", 1, move |listener, stop| {
            crate::tls::serve_https(listener, acceptor, app, async {
                let _ = stop.await;
            })
        })?;
        Ok(Self { received, server })
    }

    /// The connection string of a resource whose ingestion endpoint is this stand-in.
    pub fn connection_string(&self) -> String {
        format!(
            "InstrumentationKey={TEST_INSTRUMENTATION_KEY};IngestionEndpoint=https://localhost:{}/;LiveEndpoint=https://localhost:{}/",
            self.server.address().port(),
            self.server.address().port()
        )
    }

    /// Answers `status` (with no body) from now on; `None` accepts again.
    pub fn fail_with(&self, status: Option<u16>) {
        self.received
            .failing_with
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// How many track requests arrived (accepted or not).
    pub fn requests(&self) -> usize {
        self.received.requests.load(Ordering::SeqCst)
    }

    /// Every envelope accepted so far.
    pub fn envelopes(&self) -> Vec<Value> {
        lock(&self.received.envelopes).clone()
    }

    /// What arrived that the service would have refused.
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.received.refusals).clone()
    }

    /// Waits until `done` holds for the envelopes, polling; the envelopes then.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Result<Vec<Value>, ReceiverError> {
        let deadline = Instant::now() + timeout;
        loop {
            let envelopes = self.envelopes();
            if done(&envelopes) {
                return Ok(envelopes);
            }
            if Instant::now() >= deadline {
                return Err(ReceiverError::Timeout {
                    timeout,
                    received: envelopes
                        .iter()
                        .map(|e| format!("{} {}", e["name"], e["data"]["baseData"]["name"]))
                        .collect::<Vec<_>>()
                        .join("\n"),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn track(State(received): State<Arc<Received>>, headers: HeaderMap, body: Bytes) -> Response {
    received.requests.fetch_add(1, Ordering::SeqCst);
    let failing = received.failing_with.load(Ordering::SeqCst);
    if failing != 0 {
        return StatusCode::from_u16(failing)
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            .into_response();
    }
    let refuse = |why: String| {
        lock(&received.refusals).push(why.clone());
        (StatusCode::BAD_REQUEST, why).into_response()
    };
    let request = crate::signals::ReceivedRequest::new("/v2/track", &headers);
    if !request.content_type.starts_with("application/json") {
        return refuse(format!("content-type {:?}", request.content_type));
    }
    let json = if request.content_encoding == "gzip" {
        let mut text = Vec::new();
        if let Err(error) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut text) {
            return refuse(format!("the gzip body does not decompress: {error}"));
        }
        text
    } else {
        body.to_vec()
    };
    let Ok(Value::Array(envelopes)) = serde_json::from_slice::<Value>(&json) else {
        return refuse("the body is not a JSON array of envelopes".to_owned());
    };
    let mut errors = Vec::new();
    for (index, envelope) in envelopes.iter().enumerate() {
        if envelope["iKey"] != TEST_INSTRUMENTATION_KEY {
            errors.push(json!({"index": index, "statusCode": 400,
                "message": "Invalid instrumentation key"}));
        }
    }
    let accepted = envelopes.len() - errors.len();
    lock(&received.envelopes).extend(envelopes.iter().cloned());
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::PARTIAL_CONTENT
    };
    let answer =
        json!({"itemsReceived": envelopes.len(), "itemsAccepted": accepted, "errors": errors});
    (
        status,
        [("content-type", "application/json")],
        answer.to_string(),
    )
        .into_response()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The venv `cargo xtask test` installs the Python oracle into
/// (`integration-tests/oracle/requirements-azure-monitor.txt`).
pub fn azure_monitor_venv() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
        .join("emulators")
        .join("azure-monitor-venv")
}

/// Checks `envelopes` with Microsoft's model of the track API (the Azure Monitor exporter
/// for Python, `integration-tests/oracle/validate_app_insights_envelopes.py`): `Ok` with
/// the oracle's summary, or every problem it found. An error, never a pass, when the
/// oracle is not installed.
pub fn validate_envelopes(envelopes: &[Value]) -> Result<String, String> {
    let python = azure_monitor_venv().join("bin").join("python");
    if !python.exists() {
        return Err(format!(
            "the Application Insights oracle is not installed at {}: run `cargo xtask test`, which installs it \
             (python3 -m venv {venv} && {venv}/bin/pip install -r integration-tests/oracle/requirements-azure-monitor.txt)",
            python.display(),
            venv = azure_monitor_venv().display()
        ));
    }
    let script =
        crate::workspace_root().join("integration-tests/oracle/validate_app_insights_envelopes.py");
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    let input = serde_json::to_vec(envelopes).map_err(|e| e.to_string())?;
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin.write_all(&input).map_err(|e| e.to_string())?;
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(said)
    } else {
        Err(said)
    }
}
