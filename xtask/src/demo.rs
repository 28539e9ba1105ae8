//! `cargo xtask demo`: the example function, an embedded OTLP receiver, a few requests,
//! and the traces printed as a waterfall.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use otel_faas_integration_tests::{
    FunctionProcess, Invoke, LocalRuntimeApi, OtlpReceiver, SpanKind, build_binary,
    render_waterfall, render_waterfall_html,
};
use serde_json::{Value, json};

/// One request of the scenario.
struct Call {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    traceparent: bool,
}

const SCENARIO: [Call; 4] = [
    Call {
        what: "a caller with a trace of its own reads an order",
        method: "GET",
        path: "/orders/42",
        traceparent: true,
    },
    Call {
        what: "a new order is created (no incoming trace: the function starts one)",
        method: "POST",
        path: "/orders",
        traceparent: false,
    },
    Call {
        what: "an order that does not exist (404: the client's failure, status stays unset)",
        method: "GET",
        path: "/orders/0",
        traceparent: false,
    },
    Call {
        what: "a dependency is down (503: an ERROR span with error.type)",
        method: "GET",
        path: "/fail",
        traceparent: false,
    },
];

/// The consumer's ARN as Lambda passes it: invoked through the `live` alias.
const CONSUMER_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer:live";

/// One SQS message as Lambda delivers it, with a W3C context in its attributes if given.
fn sqs_message(id: &str, body: &str, traceparent: Option<&str>) -> Value {
    let mut attributes = json!({});
    if let Some(traceparent) = traceparent {
        attributes["traceparent"] = json!({ "stringValue": traceparent, "dataType": "String" });
    }
    json!({
        "messageId": id,
        "receiptHandle": format!("handle-{id}"),
        "body": body,
        "attributes": { "ApproximateReceiveCount": "1", "SentTimestamp": "1763700000000" },
        "messageAttributes": attributes,
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
        "awsRegion": "us-east-1"
    })
}

/// Stops the function when the demo ends, however it ends.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn run() -> anyhow::Result<()> {
    println!("building the example function…");
    let status = crate::cargo()
        .args(["build", "--quiet", "-p", "example-http-function"])
        .status()
        .context("could not run cargo build")?;
    if !status.success() {
        bail!("building example-http-function failed");
    }
    let target = crate::target_dir();
    let binary = target.join("debug").join("http-function");

    let receiver = OtlpReceiver::start().context("starting the embedded OTLP receiver")?;
    let port = free_port()?;
    let log_dir = target.join("demo");
    std::fs::create_dir_all(&log_dir)?;
    let log = std::fs::File::create(log_dir.join("http-function.log"))?;
    let child = Command::new(&binary)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("OTEL_SERVICE_NAME", "orders-demo")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let _function = Function(child);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    wait_until_ready(address)?;
    println!(
        "the function listens on http://{address}; the receiver on {}\n",
        receiver.endpoint()
    );

    let now = nanos_now();
    let caller_trace = format!("{:016x}{:016x}", now.rotate_left(29) as u64, now as u64);
    for call in &SCENARIO {
        let traceparent = call
            .traceparent
            .then(|| format!("00-{caller_trace}-00f067aa0ba902b7-01"));
        let status = request(address, call.method, call.path, traceparent.as_deref())?;
        println!(
            "  {} {:<12} → {status}   {}",
            call.method, call.path, call.what
        );
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http_spans = runtime
        .block_on(receiver.wait_until(Duration::from_secs(15), |spans| {
            spans.iter().filter(|s| s.kind == SpanKind::Server).count() >= SCENARIO.len()
                && spans.iter().filter(|s| s.name == "load_order").count() >= 2
        }))
        .context("the function's spans did not reach the receiver")?;

    // Part two: a Lambda function under the real lambda_runtime crate, polled from a local
    // Runtime API, consuming an SQS batch. The demo writes the event as SQS delivers it; the
    // first two messages carry the context of the `POST /orders` trace, as a producer
    // instrumented with otel-faas-messaging would have sent them.
    let order_span = http_spans
        .iter()
        .find(|s| s.kind == SpanKind::Server && s.attr_str("http.request.method") == Some("POST"))
        .context("the POST /orders span is missing")?;
    let producer = format!("00-{}-{}-01", order_span.trace_id, order_span.span_id);
    println!("\nbuilding the example Lambda function (lambda-sqs-batch)…");
    let binary = build_binary("example-lambda-sqs-batch", "lambda-sqs-batch")
        .context("building example-lambda-sqs-batch")?;
    let api = LocalRuntimeApi::start().context("starting the local Lambda Runtime API")?;
    let consumer = FunctionProcess::spawn(
        &binary,
        &api.address(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_SERVICE_NAME", "orders-consumer".to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-consumer".to_owned()),
        ],
    )
    .context("starting lambda-sqs-batch")?;
    let event = json!({ "Records": [
        sqs_message("order-42-created", "order 42 created", Some(&producer)),
        sqs_message("order-43-created", "fail", Some(&producer)),
        sqs_message("newsletter-sent", "newsletter sent", None),
    ]});
    let invoked = runtime
        .block_on(
            api.invoke(
                Invoke::new(event)
                    .request_id("demo-sqs-batch-1")
                    .invoked_arn(CONSUMER_ARN),
                Duration::from_secs(20),
            ),
        )
        .map_err(|error| anyhow::anyhow!("{error}\nfunction log:\n{}", consumer.log()))?;
    println!(
        "  SQS batch of 3 → {}   the message `fail` fails: a partial batch failure, the \
         others succeed",
        invoked.response.map(|r| r.to_string()).unwrap_or_default()
    );
    let spans = runtime
        .block_on(receiver.wait_until(Duration::from_secs(15), |spans| {
            spans.iter().filter(|s| s.name == "orders process").count() >= 4
        }))
        .map_err(|error| anyhow::anyhow!("{error}\nfunction log:\n{}", consumer.log()))?;
    drop(consumer);

    println!(
        "\n{} spans received over OTLP/HTTP (decoded with opentelemetry-proto):\n",
        spans.len()
    );
    print!("{}", render_waterfall(&spans));
    let html = log_dir.join("traces.html");
    std::fs::write(&html, render_waterfall_html(&spans, "otel-faas demo"))
        .with_context(|| format!("writing {}", html.display()))?;
    println!(
        "Each block is one trace; █ marks when a span ran on the trace's time axis.\n\
         The first trace continues the caller's trace {caller_trace}; the SQS batch's spans\n\
         link (↪) to the POST /orders trace that produced its messages.\n\
         The same traces, with every attribute, event and link: {}\n\
         The function's own log is in {}.",
        html.display(),
        log_dir.join("http-function.log").display()
    );
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn wait_until_ready(address: SocketAddr) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if request(address, "GET", "/healthz", None).is_ok_and(|status| status == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the example function did not answer on http://{address}/healthz within 30 s")
}

/// The status of `method path` on `address`: a health check that needs no client library.
pub(crate) fn http_status(address: SocketAddr, method: &str, path: &str) -> anyhow::Result<u16> {
    request(address, method, path, None)
}

/// A minimal HTTP/1.1 request: the demo needs no client library.
fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    traceparent: Option<&str>,
) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: otel-faas-demo\r\nContent-Length: 0\r\nConnection: close\r\n"
    );
    if let Some(traceparent) = traceparent {
        head.push_str(&format!("traceparent: {traceparent}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // Read only up to the status line: some servers keep the connection open regardless.
    let mut response = Vec::new();
    let mut chunk = [0_u8; 512];
    while !response.windows(2).any(|w| w == b"\r\n") {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..read]);
    }
    let response = String::from_utf8_lossy(&response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response: {response:?}"))
}

fn nanos_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(1)
}
