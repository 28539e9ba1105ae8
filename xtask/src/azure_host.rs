//! `cargo xtask azure-host <example>`: an Azure function app run locally as the Functions
//! host runs it — the documented local runner, since Azure Functions Core Tools (`func`)
//! cannot be installed offline (its npm package downloads the host binary at install time).
//!
//! The example's handler is built and started with `FUNCTIONS_CUSTOMHANDLER_PORT`; the
//! mini host (integration-tests' `FunctionAppHost`) then serves HTTP functions at
//! `http://127.0.0.1:7071/<routePrefix>/<route>` as `func start` does, feeds queue-triggered
//! functions from Azurite (started when the app binds a queue), writes queue outputs there,
//! and runs any non-HTTP function on `POST /admin/functions/<name>` with `{"input": "…"}`,
//! as the host's admin API does. The handler inherits the environment, so `OTEL_*`
//! variables point its telemetry wherever you want.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use otel_faas_integration_tests::{
    Azurite, FunctionAppHost, HostResponse, MiniHost, QueueOutcome, build_binary,
};
use serde_json::Value;

/// `func start`'s port.
const DEFAULT_PORT: u16 = 7071;

/// How often the queue listener looks for messages (the host backs off up to a minute
/// when queues are empty; a local runner answers faster).
const QUEUE_POLL: Duration = Duration::from_secs(1);

struct Options {
    example: String,
    port: u16,
    smoke: bool,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut example = None;
    let mut port = DEFAULT_PORT;
    let mut smoke = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .context("--port takes a port number")?
            }
            "--smoke" => smoke = true,
            other if other.starts_with("--") => bail!("unknown option `{other}` for azure-host"),
            other => example = Some(other.to_owned()),
        }
    }
    let Some(example) = example else {
        bail!(
            "usage: cargo xtask azure-host <example> [--port {DEFAULT_PORT}] [--smoke]\nfunction apps: {}",
            function_apps().join(", ")
        );
    };
    Ok(Options {
        example,
        port,
        smoke,
    })
}

/// The examples that are function apps (a `host.json` with `customHandler`).
fn function_apps() -> Vec<String> {
    let mut apps: Vec<String> = std::fs::read_dir(crate::workspace_root().join("examples"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("host.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    apps.sort();
    apps
}

/// The handler: `customHandler.description.defaultExecutablePath` of host.json, built from
/// the example's package.
fn handler_binary(root: &Path) -> anyhow::Result<PathBuf> {
    let host: Value = serde_json::from_slice(
        &std::fs::read(root.join("host.json")).context("reading host.json")?,
    )
    .context("host.json is not JSON")?;
    let executable = host["customHandler"]["description"]["defaultExecutablePath"]
        .as_str()
        .context("host.json has no customHandler.description.defaultExecutablePath")?;
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .context("reading the example's Cargo.toml")?;
    let package = manifest
        .lines()
        .find_map(|line| {
            let value = line.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        })
        .context("the example's Cargo.toml names no package")?;
    println!("building {package} (bin {executable})…");
    build_binary(&package, executable).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The handler process, stopped when the runner ends.
struct Handler(Child);

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    let root = crate::workspace_root()
        .join("examples")
        .join(&options.example);
    if !root.join("host.json").is_file() {
        bail!(
            "examples/{} is not a function app (no host.json); function apps: {}",
            options.example,
            function_apps().join(", ")
        );
    }
    let binary = handler_binary(&root)?;
    let bindings = std::fs::read_dir(&root)?
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("function.json")).ok())
        .collect::<String>();
    let azurite = if bindings.contains("\"queue") {
        crate::emulators::install(crate::emulators::Emulator::Azurite)?;
        let azurite = Azurite::start().map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("Azurite's queue service: {}", azurite.queue_endpoint());
        Some(azurite)
    } else {
        None
    };
    let handler_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = Command::new(&binary);
    command
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", handler_port.to_string())
        .env("FUNCTIONS_APP_ROOT_PATH", &root)
        .current_dir(&root);
    if std::env::var_os("WEBSITE_SITE_NAME").is_none() {
        command.env("WEBSITE_SITE_NAME", &options.example);
    }
    let _handler = Handler(
        command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?,
    );
    let host = MiniHost::new(SocketAddr::from(([127, 0, 0, 1], handler_port)));
    host.wait_until_ready(Duration::from_secs(60))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app =
        Arc::new(FunctionAppHost::load(&root, host, azurite).map_err(|e| anyhow::anyhow!("{e}"))?);
    let front = TcpListener::bind(("127.0.0.1", options.port))
        .with_context(|| format!("binding 127.0.0.1:{}", options.port))?;
    let address = front.local_addr()?;
    print_functions(&app, address);

    let stop = Arc::new(AtomicBool::new(false));
    crate::stop_on_ctrl_c_flag(Arc::clone(&stop));
    let completed = Arc::new(AtomicUsize::new(0));
    let listener = {
        let app = Arc::clone(&app);
        let stop = Arc::clone(&stop);
        let completed = Arc::clone(&completed);
        std::thread::spawn(move || listen_to_queues(&app, &stop, &completed))
    };
    front.set_nonblocking(true)?;
    let smoke = options
        .smoke
        .then(|| std::thread::spawn(move || smoke_run(address, &completed)));
    while !stop.load(Ordering::Relaxed) {
        match front.accept() {
            Ok((stream, _)) => {
                let app = Arc::clone(&app);
                std::thread::spawn(move || {
                    if let Err(error) = serve(&app, stream) {
                        eprintln!("azure-host: {error:#}");
                    }
                });
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => return Err(error.into()),
        }
        if smoke
            .as_ref()
            .is_some_and(std::thread::JoinHandle::is_finished)
        {
            stop.store(true, Ordering::Relaxed);
        }
    }
    let _ = listener.join();
    match smoke.map(std::thread::JoinHandle::join) {
        Some(Ok(result)) => result,
        Some(Err(_)) => bail!("the smoke run panicked"),
        None => Ok(()),
    }
}

fn print_functions(app: &FunctionAppHost, address: SocketAddr) {
    println!("\nFunctions (served at http://{address}):");
    for function in app.functions() {
        let trigger = function
            .bindings
            .iter()
            .find(|b| {
                b["type"]
                    .as_str()
                    .is_some_and(|t| t.to_ascii_lowercase().ends_with("trigger"))
            })
            .cloned()
            .unwrap_or(Value::Null);
        let kind = trigger["type"].as_str().unwrap_or("?");
        if kind.eq_ignore_ascii_case("httpTrigger") {
            let methods = trigger["methods"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_uppercase)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_else(|| "any method".to_owned());
            let route = trigger["route"].as_str().unwrap_or(&function.name);
            let prefix = app.route_prefix();
            let path = if prefix.is_empty() {
                format!("/{route}")
            } else {
                format!("/{prefix}/{route}")
            };
            println!("  {:<10} [{methods}] http://{address}{path}", function.name);
        } else if let Some(queue) = function.trigger_queue() {
            println!(
                "  {:<10} queueTrigger on `{queue}` (Azurite), or POST http://{address}/admin/functions/{}",
                function.name, function.name
            );
        } else {
            println!(
                "  {:<10} {kind}: run it with POST http://{address}/admin/functions/{} {{\"input\": \"…\"}}",
                function.name, function.name
            );
        }
    }
    println!(
        "\nTelemetry goes where OTEL_EXPORTER_OTLP_ENDPOINT says ({}).\nCtrl-C stops the host and the handler.\n",
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .unwrap_or_else(|_| "unset: http://localhost:4318".to_owned())
    );
}

fn listen_to_queues(app: &FunctionAppHost, stop: &AtomicBool, completed: &AtomicUsize) {
    if app.queue_endpoint().is_none() {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        match app.poll_queues() {
            Ok(deliveries) => {
                for delivery in deliveries {
                    let outcome = match delivery.outcome {
                        QueueOutcome::Completed => {
                            completed.fetch_add(1, Ordering::Relaxed);
                            "completed"
                        }
                        QueueOutcome::Released => "failed; released for a retry",
                        QueueOutcome::Poisoned => "failed; moved to the poison queue",
                    };
                    println!(
                        "  queue message {} (dequeue {}) → {}: {outcome}",
                        delivery.message_id, delivery.dequeue_count, delivery.function
                    );
                }
            }
            Err(error) => eprintln!("azure-host: the queue listener: {error}"),
        }
        std::thread::sleep(QUEUE_POLL);
    }
}

/// One request from a client, answered.
fn serve(app: &FunctionAppHost, stream: TcpStream) -> anyhow::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return respond(stream, &plain(400, "not an HTTP request"));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    let started = Instant::now();
    let response = if let Some(name) = target.strip_prefix("/admin/functions/") {
        let input = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["input"].as_str().map(str::to_owned))
            .unwrap_or_default();
        match app.run_now(name, &input) {
            // The host's admin API accepts and runs; 202 whatever the function does.
            Some(Ok(reply)) => {
                println!("  admin run {name} → handler {}", reply.status);
                plain(202, "")
            }
            Some(Err(error)) => plain(500, &error.to_string()),
            None => plain(404, &format!("no non-HTTP function {name:?}")),
        }
    } else {
        // Hop-by-hop and framing headers are the front's, not the request's.
        let forwarded: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(n, _)| {
                !["content-length", "transfer-encoding", "connection"]
                    .iter()
                    .any(|h| n.eq_ignore_ascii_case(h))
            })
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        match app.http(&method, &target, &forwarded, &body) {
            Ok(response) => response,
            Err(error) => plain(502, &error.to_string()),
        }
    };
    println!(
        "  {method} {target} → {} in {:.1?}",
        response.status,
        started.elapsed()
    );
    respond(stream, &response)
}

fn read_chunked(reader: &mut impl std::io::BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(std::io::Error::other)?;
        if size == 0 {
            // The trailer section ends with an empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
    }
}

fn plain(status: u16, body: &str) -> HostResponse {
    HostResponse {
        status,
        headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
        body: body.to_owned(),
    }
}

fn respond(mut stream: TcpStream, response: &HostResponse) -> anyhow::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        response.status,
        reason(response.status),
        response.body.len()
    );
    for (name, value) in &response.headers {
        if !["content-length", "transfer-encoding", "connection"].contains(&name.as_str()) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(response.body.as_bytes())?;
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// `--smoke`: what a developer would do first, through the front like any client — an
/// order over HTTP, fulfilled through the queue, and the timer run by the admin API;
/// then the runner stops.
fn smoke_run(address: SocketAddr, completed: &AtomicUsize) -> anyhow::Result<()> {
    let request = |method: &str, path: &str, body: &str| -> anyhow::Result<(u16, String)> {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status")?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    };
    let checks: [(&str, &str, &str, u16, &str); 4] = [
        ("GET", "/api/hello/ada", "", 200, "hello, ada"),
        (
            "POST",
            "/api/orders",
            r#"{"id": 1, "items": ["tea"]}"#,
            202,
            "order 1 queued",
        ),
        (
            "POST",
            "/admin/functions/nightly",
            r#"{"input": ""}"#,
            202,
            "",
        ),
        ("GET", "/api/nowhere", "", 404, ""),
    ];
    for (method, path, body, status, expected) in checks {
        let (got, text) = request(method, path, body)?;
        if got != status || !text.contains(expected) {
            bail!("{method} {path}: {got} {text:?}, {status} with {expected:?} expected");
        }
    }
    // The order goes through Azurite to `fulfil`, which must complete it.
    let started = Instant::now();
    while completed.load(Ordering::Relaxed) == 0 {
        if started.elapsed() > Duration::from_secs(20) {
            bail!("the queued order was not fulfilled within 20 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("azure-host --smoke: every check passed");
    Ok(())
}
