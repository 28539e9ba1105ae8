//! Each server as a user runs it: the `function-probe` binary (a function written from the
//! crate docs) as a real process on the cloud-free quick start, the Functions Framework
//! server (Cloud Run) and the custom handler (Azure, driven by the mini host as the
//! Functions host drives it), called by hyper's client, spans decoded off the wire.
//!
//! * A handler that panics is answered `500`, its span records the `500` with
//!   `error.type=panic`, and the next request is served.
//! * On Cloud Run, only the configured level reaches standard output (`INFO` by default,
//!   `RUST_LOG` honoured); OpenTelemetry's own start-up notices stay out.
//! * Function keys (`code`, `x-functions-key`) on Azure and API keys (`key`) on Google are
//!   redacted in `url.query`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use otel_faas_integration_tests::{
    FunctionAppHost, MiniHost, OtlpReceiver, ReceivedSpan, StatusCode,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
/// Panicking requests sent to each server (the trial that found the defect sent 1,000;
/// every one was refused alike, so a few show it).
const PANICS: usize = 20;

/// The probe process; killed when dropped.
struct Probe {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// The app root an Azure probe reads.
    app_root: Option<PathBuf>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(root) = &self.app_root {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

impl Probe {
    /// Starts `function-probe <mode>` exporting to `receiver`, with `env` beside it.
    fn start(mode: &str, receiver: &OtlpReceiver, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("otel-faas-probe-{mode}-{port}"));
        std::fs::create_dir_all(&dir).expect("the probe's folder");
        let mut command = Command::new(env!("CARGO_BIN_EXE_function-probe"));
        command
            .arg(mode)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_METRICS_EXPORTER", "none")
            .env("OTEL_LOGS_EXPORTER", "none")
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(dir.join("stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr file"));
        let child = command.spawn().expect("the probe starts");
        Self {
            child,
            port,
            dir,
            app_root: None,
        }
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Sends SIGTERM, as the platforms do before stopping an instance, and waits for the
    /// exit.
    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM");
        let started = Instant::now();
        while self.child.try_wait().expect("the probe's status").is_none() {
            assert!(started.elapsed() < WAIT, "the probe did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `path` is answered at all.
    async fn wait_until_serving(&self, path: &str) {
        let started = Instant::now();
        while get(self.port, path).await.is_err() {
            assert!(
                started.elapsed() < WAIT,
                "the probe did not start:\n{}\n{}",
                self.stderr(),
                self.stdout()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One `GET` with hyper's HTTP/1.1 client: the status and body, or why none came.
async fn get(port: u16, path: &str) -> Result<(u16, String), String> {
    send(port, http::Request::get(path), Empty::<Bytes>::new()).await
}

/// One request with hyper's HTTP/1.1 client.
async fn send<B>(
    port: u16,
    request: http::request::Builder,
    body: B,
) -> Result<(u16, String), String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let request = request
        .header("host", format!("127.0.0.1:{port}"))
        .body(body)
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("no response: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// An Azure app root: `host.json` in the default (envelope) mode and an HTTP function
/// (`httpTrigger` `req`, `http` output `res`) for each of the probe's functions.
fn azure_app_root() -> PathBuf {
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let root = std::env::temp_dir().join(format!(
        "otel-faas-azure-root-{}-{serial}",
        std::process::id()
    ));
    std::fs::create_dir_all(&root).expect("the app root");
    let host = json!({"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "function-probe"}}});
    std::fs::write(root.join("host.json"), host.to_string()).expect("host.json");
    for function in ["panic", "levels", "ok"] {
        let folder = root.join(function);
        std::fs::create_dir_all(&folder).expect("a function folder");
        let bindings = json!({"bindings": [
            {"type": "httpTrigger", "name": "req", "direction": "in", "methods": ["get"]},
            {"type": "http", "name": "res", "direction": "out"},
        ]});
        std::fs::write(folder.join("function.json"), bindings.to_string()).expect("function.json");
    }
    root
}

/// The probe on Azure, and the mini host in front of it.
async fn start_azure(receiver: &OtlpReceiver, env: &[(&str, &str)]) -> (Probe, FunctionAppHost) {
    let root = azure_app_root();
    let root_text = root.display().to_string();
    let mut all: Vec<(&str, &str)> = vec![("FUNCTIONS_APP_ROOT_PATH", &root_text)];
    all.extend_from_slice(env);
    let mut probe = Probe::start("azure", receiver, &all);
    probe.app_root = Some(root.clone());
    let host = MiniHost::new(probe.address());
    let ready = tokio::task::spawn_blocking(move || host.wait_until_ready(WAIT).map(|_| host))
        .await
        .expect("the readiness probe");
    let host = ready.unwrap_or_else(|e| panic!("{e}\n{}", probe.stderr()));
    let app = FunctionAppHost::load(&root, host, None).expect("the app");
    (probe, app)
}

/// One request through the mini host, as the Functions host takes it.
async fn azure_get(app: &std::sync::Arc<FunctionAppHost>, path: &str) -> (u16, String) {
    let app = std::sync::Arc::clone(app);
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || app.http("GET", &path, &[], b""))
        .await
        .expect("the request")
        .map(|reply| (reply.status, reply.body))
        .unwrap_or_else(|e| panic!("no reply: {e}"))
}

async fn spans_where(
    receiver: &OtlpReceiver,
    count: usize,
    what: &str,
    found: impl Fn(&ReceivedSpan) -> bool,
) -> Vec<ReceivedSpan> {
    let started = Instant::now();
    loop {
        let spans: Vec<ReceivedSpan> = receiver.spans().into_iter().filter(&found).collect();
        if spans.len() >= count {
            return spans;
        }
        assert!(
            started.elapsed() < WAIT,
            "{} of {count} {what} spans arrived",
            spans.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every panic span records the `500` its caller got, as an ERROR with `error.type=panic`
/// and the exception event.
async fn assert_panic_spans(receiver: &OtlpReceiver) {
    let spans = spans_where(receiver, PANICS, "panic", |s| {
        s.attr_str("error.type") == Some("panic")
    })
    .await;
    for span in &spans {
        assert_eq!(
            span.attr_int("http.response.status_code"),
            Some(500),
            "{}: {:?}",
            span.name,
            span.attributes
        );
        assert_eq!(span.status, StatusCode::Error);
        assert_eq!(span.attr_str("faas.trigger"), Some("http"));
        let exception = span.event("exception").expect("the exception event");
        assert!(
            exception
                .attributes
                .get("exception.message")
                .and_then(|m| m.as_str())
                .is_some_and(|m| m.contains("the probe panics on purpose")),
            "{exception:?}"
        );
    }
}

async fn panics_are_answered_500(mode: &str) {
    let receiver = OtlpReceiver::start().expect("receiver");
    let probe = Probe::start(mode, &receiver, &[]);
    probe.wait_until_serving("/ok").await;
    for n in 0..PANICS {
        let answer = get(probe.port, "/panic").await;
        assert!(
            matches!(answer, Ok((500, _))),
            "panic {n}: {answer:?}\n{}",
            probe.stderr()
        );
    }
    assert_eq!(
        get(probe.port, "/ok").await,
        Ok((200, "ok".to_owned())),
        "the next request is served"
    );
    assert_panic_spans(&receiver).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_answers_a_panicking_handler_500() {
    panics_are_answered_500("plain").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_run_answers_a_panicking_handler_500() {
    panics_are_answered_500("gcp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_answers_a_panicking_http_function_500() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let (probe, app) = start_azure(&receiver, &[]).await;
    let app = std::sync::Arc::new(app);
    for n in 0..PANICS {
        let (status, body) = azure_get(&app, "/api/panic").await;
        assert_eq!(status, 500, "panic {n}: {body}\n{}", probe.stderr());
    }
    assert_eq!(azure_get(&app, "/api/ok").await.0, 200, "the next request");
    assert_panic_spans(&receiver).await;
}

/// The probe's own lines on standard output, as Cloud Logging would ingest them.
fn cloud_logging_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

/// `GET /levels` on a Cloud Run probe with `env`; the `probe line <level>` messages that
/// reached standard output once the `error` one has, and every line written.
async fn cloud_run_levels(env: &[(&str, &str)]) -> (Vec<String>, Vec<Value>, String) {
    let receiver = OtlpReceiver::start().expect("receiver");
    let mut all = vec![
        ("K_SERVICE", "orders"),
        ("K_REVISION", "orders-00001-abc"),
        ("GOOGLE_CLOUD_PROJECT", "demo"),
        // Nothing listens there: no metadata server, as when run locally.
        ("GCE_METADATA_HOST", "127.0.0.1:9"),
    ];
    all.extend_from_slice(env);
    let probe = Probe::start("gcp", &receiver, &all);
    probe.wait_until_serving("/ok").await;
    assert_eq!(get(probe.port, "/levels").await, Ok((200, "ok".to_owned())));
    let started = Instant::now();
    let lines = loop {
        let lines = cloud_logging_lines(&probe.stdout());
        if lines.iter().any(|l| l["message"] == "probe line error") {
            break lines;
        }
        assert!(
            started.elapsed() < WAIT,
            "no error line: {}",
            probe.stdout()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let probe_lines = lines
        .iter()
        .filter_map(|l| l["message"].as_str())
        .filter(|m| m.starts_with("probe line "))
        .map(str::to_owned)
        .collect();
    (probe_lines, lines, probe.stderr())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cloud_run_only_info_and_above_reach_standard_output_by_default() {
    let (probe_lines, lines, stderr) = cloud_run_levels(&[]).await;
    assert_eq!(
        probe_lines,
        ["probe line info", "probe line warn", "probe line error"]
    );
    // No library's DEBUG line either (hyper, the SDK), and none of OpenTelemetry's
    // start-up notices ("Global tracer provider is set").
    for line in &lines {
        assert_ne!(line["severity"], "DEBUG", "{line}");
        assert!(
            !line["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Global"),
            "{line}"
        );
    }
    assert!(!stderr.contains("Global tracer provider"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cloud_run_rust_log_sets_the_level() {
    let (quiet, _, _) = cloud_run_levels(&[("RUST_LOG", "warn")]).await;
    assert_eq!(quiet, ["probe line warn", "probe line error"]);
    // Per target: the function's own lines down to TRACE, the libraries' at WARN.
    let (verbose, lines, _) = cloud_run_levels(&[("RUST_LOG", "warn,function_probe=trace")]).await;
    assert_eq!(
        verbose,
        [
            "probe line trace",
            "probe line debug",
            "probe line info",
            "probe line warn",
            "probe line error"
        ]
    );
    let from_libraries: Vec<&Value> = lines
        .iter()
        .filter(|l| l["severity"] == "DEBUG" || l["severity"] == "INFO")
        .filter(|l| {
            !l["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("probe line ")
        })
        .collect();
    assert!(from_libraries.is_empty(), "{from_libraries:?}");
}

/// The `probe line <level>` messages on standard error once the `error` one is there, and
/// the whole of standard error.
async fn stderr_levels(probe: &Probe) -> (Vec<String>, String) {
    let started = Instant::now();
    loop {
        let stderr = probe.stderr();
        if stderr.contains("probe line error") {
            let lines = stderr
                .lines()
                .filter_map(|line| line.find("probe line ").map(|at| line[at..].to_owned()))
                .collect();
            return (lines, stderr);
        }
        assert!(started.elapsed() < WAIT, "no error line: {stderr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Off Cloud Run, the plain lines on standard error: `INFO` and above, none of
/// OpenTelemetry's start-up notices — on the quick start and on Azure alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_lines_hold_the_level_and_keep_opentelemetry_notices_out() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let plain = Probe::start("plain", &receiver, &[]);
    plain.wait_until_serving("/healthz").await;
    assert_eq!(get(plain.port, "/levels").await, Ok((200, "ok".to_owned())));
    let (lines, stderr) = stderr_levels(&plain).await;
    assert_eq!(
        lines,
        ["probe line info", "probe line warn", "probe line error"],
        "{stderr}"
    );
    assert!(!stderr.contains("Global"), "{stderr}");
    assert!(!stderr.contains("DEBUG"), "{stderr}");

    let (azure, app) = start_azure(&receiver, &[("RUST_LOG", "warn")]).await;
    let app = std::sync::Arc::new(app);
    assert_eq!(azure_get(&app, "/api/levels").await.0, 200);
    let (lines, stderr) = stderr_levels(&azure).await;
    assert_eq!(lines, ["probe line warn", "probe line error"], "{stderr}");
}

/// `url.query` of the invocation span of `GET <path>`, once exported.
async fn recorded_query(receiver: &OtlpReceiver, marker: &str) -> String {
    let span = spans_where(receiver, 1, "marked", |s| {
        s.attr_str("url.query").is_some_and(|q| q.contains(marker))
    })
    .await;
    span[0].attr_str("url.query").unwrap_or_default().to_owned()
}

const KEYS_QUERY: &str =
    "/ok?mark=keys&code=fn-key-1&x-functions-key=fn-key-2&key=api-key-3&Code=fn-key-4&page=2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_function_keys_are_redacted() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let (_probe, app) = start_azure(&receiver, &[]).await;
    let app = std::sync::Arc::new(app);
    let path = KEYS_QUERY.replace("/ok", "/api/ok");
    assert_eq!(azure_get(&app, &path).await.0, 200);
    assert_eq!(
        recorded_query(&receiver, "mark=keys").await,
        "mark=keys&code=REDACTED&x-functions-key=REDACTED&key=api-key-3&Code=REDACTED&page=2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_api_keys_are_redacted_on_cloud_run() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let probe = Probe::start("gcp", &receiver, &[]);
    probe.wait_until_serving("/ok").await;
    assert_eq!(get(probe.port, KEYS_QUERY).await.map(|r| r.0), Ok(200));
    assert_eq!(
        recorded_query(&receiver, "mark=keys").await,
        "mark=keys&code=fn-key-1&x-functions-key=fn-key-2&key=REDACTED&Code=fn-key-4&page=2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_keys_come_from_otel_faas_redact_query_keys() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let probe = Probe::start(
        "plain",
        &receiver,
        &[("OTEL_FAAS_REDACT_QUERY_KEYS", "code, page")],
    );
    probe.wait_until_serving("/ok").await;
    assert_eq!(get(probe.port, KEYS_QUERY).await.map(|r| r.0), Ok(200));
    assert_eq!(
        recorded_query(&receiver, "mark=keys").await,
        "mark=keys&code=REDACTED&x-functions-key=fn-key-2&key=api-key-3&Code=REDACTED&page=REDACTED"
    );
}

/// A collector that takes traces only: the final flush's message names the signal that
/// failed and where it went (all spans arrived).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_final_flush_names_the_signal_and_its_endpoint() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let mut probe = Probe::start(
        "plain",
        &receiver,
        &[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            // Nothing listens there.
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://user:secret@127.0.0.1:9/v1/metrics",
            ),
        ],
    );
    probe.wait_until_serving("/healthz").await;
    assert_eq!(
        get(probe.port, "/ok?mark=flush").await.map(|r| r.0),
        Ok(200)
    );
    probe.terminate();
    let stderr = probe.stderr();
    let line = stderr
        .lines()
        .find(|line| line.contains("the final flush did not complete"))
        .unwrap_or_else(|| panic!("no final flush failure: {stderr}"));
    assert!(
        line.contains("metrics (OTLP at http://127.0.0.1:9/v1/metrics): "),
        "{line}"
    );
    assert!(!line.contains("traces"), "{line}");
    assert!(!line.contains("secret"), "{line}");
    recorded_query(&receiver, "mark=flush").await;
}

/// An event the function's argument cannot be read from is `error.type=invalid_event` on
/// every platform, the same value as a body that is no event at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_argument_cannot_take_is_an_invalid_event() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let probe = Probe::start("gcp", &receiver, &[]);
    probe.wait_until_serving("/ok").await;
    // A Cloud Storage event, binary mode, to a function that takes Pub/Sub messages.
    let request = http::Request::post("/on_message")
        .header("ce-id", "storage-1")
        .header(
            "ce-source",
            "//storage.googleapis.com/projects/_/buckets/orders",
        )
        .header("ce-type", "google.cloud.storage.object.v1.finalized")
        .header("ce-specversion", "1.0")
        .header("content-type", "application/json");
    let body = http_body_util::Full::new(Bytes::from_static(
        br#"{"bucket":"orders","name":"a.json"}"#,
    ));
    let (status, reason) = send(probe.port, request, body).await.expect("an answer");
    assert_eq!(status, 500, "{reason}");
    let spans = spans_where(&receiver, 1, "storage-1", |s| {
        s.attr_str("cloudevents.event_id") == Some("storage-1")
    })
    .await;
    assert_eq!(spans[0].attr_str("error.type"), Some("invalid_event"));
    assert_eq!(spans[0].status, StatusCode::Error);
}
