//! `cargo xtask demo`: the example functions, an embedded OTLP receiver, a realistic
//! scenario (an HTTP function; an orders API on Lambda sending to SQS, a worker storing in
//! DynamoDB; the same on Azure Functions through an Azurite queue, and on Cloud Run
//! functions through the Pub/Sub emulator; one request across the three clouds over HTTP),
//! and the traces printed as a waterfall and written as an HTML page.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use otel_faas_integration_tests::{
    AttrValue, FakeAwsEndpoint, FakeXrayDaemon, FunctionProcess, Invoke, LocalRuntimeApi,
    OtlpReceiver, ReceivedSpan, SpanKind, StatusCode, build_binary, render_segment_tree,
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

/// The account, region and resources of the orders pipeline, as Lambda would see them.
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";
const TABLE: &str = "orders";

/// An API Gateway HTTP API (payload 2.0) event for `POST /orders` with a JSON body, with the
/// caller's `traceparent` if given.
fn orders_request(body: &str, traceparent: Option<&str>) -> Value {
    let mut headers = json!({
        "content-type": "application/json",
        "host": "api.orders.example.com",
        "user-agent": "otel-faas-demo",
    });
    if let Some(traceparent) = traceparent {
        headers["traceparent"] = json!(traceparent);
    }
    json!({
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/orders",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "demo",
            "domainName": "api.orders.example.com",
            "domainPrefix": "api",
            "http": {
                "method": "POST",
                "path": "/orders",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "otel-faas-demo"
            },
            "requestId": "demo-request",
            "routeKey": "POST /orders",
            "stage": "$default",
            "time": "21/Nov/2026:08:00:00 +0000",
            "timeEpoch": 1_763_712_000_000_u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// The environment of a function of the orders pipeline: its name, the receiver, and the
/// AWS stand-in with credentials that only it accepts.
fn pipeline_environment(
    name: &str,
    receiver: &OtlpReceiver,
    aws: &FakeAwsEndpoint,
    daemon: &FakeXrayDaemon,
) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        // Both destinations at once: the receiver, and X-Ray through a daemon (the local
        // UDP listener here; Lambda's own with active tracing).
        ("OTEL_TRACES_EXPORTER", "otlp,awsxray".to_owned()),
        ("AWS_XRAY_DAEMON_ADDRESS", daemon.address()),
        ("OTEL_SERVICE_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_ENDPOINT_URL", aws.endpoint()),
        // Service-specific endpoints win over AWS_ENDPOINT_URL: a developer's own must not.
        ("AWS_ENDPOINT_URL_SQS", aws.endpoint()),
        ("AWS_ENDPOINT_URL_DYNAMODB", aws.endpoint()),
        ("AWS_ACCESS_KEY_ID", "demo".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "demo".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("ORDERS_QUEUE_URL", QUEUE_URL.to_owned()),
        ("ORDERS_TABLE", TABLE.to_owned()),
    ]
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
    let binary = build_binary("example-http-function", "http-function")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let target = crate::target_dir();

    let receiver = OtlpReceiver::start().context("starting the embedded OTLP receiver")?;
    let port = crate::process::free_port()?;
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
    crate::process::wait_until_ready(address, "/healthz", Duration::from_secs(30))?;
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
        let status =
            crate::process::request(address, call.method, call.path, traceparent.as_deref())?;
        println!(
            "  {} {:<12} → {status}   {}",
            call.method, call.path, call.what
        );
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(receiver.wait_until(Duration::from_secs(15), |spans| {
            spans.iter().filter(|s| s.kind == SpanKind::Server).count() >= SCENARIO.len()
                && spans.iter().filter(|s| s.name == "load_order").count() >= 2
        }))
        .context("the function's spans did not reach the receiver")?;

    // The orders API's caller has a trace of its own, too (a web shop, say), with an
    // X-Ray-compatible id (its first 8 hex digits the epoch seconds), so that the same trace
    // reaches X-Ray through the daemon.
    let shop_trace = format!(
        "{:08x}{:024x}",
        (now / 1_000_000_000) as u32,
        now.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) >> 32
    );
    let (spans, orders_sent) = runtime.block_on(orders_pipeline(&receiver, &shop_trace))?;
    check_the_pipeline(&spans, orders_sent)?;

    // Part three, on Azure Functions: another shop's trace through the function app.
    let azure_trace = format!(
        "{:016x}{:016x}",
        now.rotate_left(13) as u64,
        (now >> 5) as u64
    );
    crate::demo_azure::run(&receiver, &azure_trace)?;

    // Part four, on Cloud Run functions: a third shop's trace through Pub/Sub.
    let gcp_trace = format!(
        "{:016x}{:016x}",
        now.rotate_left(17) as u64,
        (now >> 9) as u64
    );
    crate::demo_gcp::run(&receiver, &gcp_trace)?;

    // Part five: one request across the three clouds, over HTTP.
    let across_trace = format!(
        "{:016x}{:016x}",
        now.rotate_left(23) as u64,
        (now >> 11) as u64
    );
    crate::demo_across::run(&receiver, &across_trace)?;
    let spans = receiver.spans();

    println!(
        "\n{} spans received over OTLP/HTTP (decoded with opentelemetry-proto):\n",
        spans.len()
    );
    print!("{}", render_waterfall(&spans));
    // Metrics and logs beside the traces: what each function counted, and its log records,
    // each joined to a trace shown above.
    println!(
        "\nFaaS metrics received over OTLP (per function and trigger; exports are cumulative):\n"
    );
    print!(
        "{}",
        crate::demo_signals::render_metrics(&receiver.metrics())
    );
    println!("\nLog records received over OTLP, each in the trace and span it was written in:\n");
    print!(
        "{}",
        crate::demo_signals::render_correlated_logs(&receiver.logs(), &spans, 12)?
    );
    println!();
    let html = log_dir.join("traces.html");
    std::fs::write(&html, render_waterfall_html(&spans, "otel-faas demo"))
        .with_context(|| format!("writing {}", html.display()))?;
    println!(
        "Each block is one trace; █ marks when a span ran on the trace's time axis.\n\
         The HTTP function's first trace continues the caller's trace\n\
         {caller_trace}; order 42 continues the web shop's trace\n\
         {shop_trace}. The worker's batch and message spans link (↪) to\n\
         the send spans of the orders API that produced their messages; order 42 is stored in\n\
         DynamoDB, order 43 fails alone (a partial batch failure).\n\
         On Azure, order 44 continues the trace {azure_trace}: `order` enqueues it on\n\
         Azurite with its context, `fulfil` takes it up; order 45 fails five times and goes\n\
         to orders-poison.\n\
         On Cloud Run, order 46 continues the trace {gcp_trace}: `orders` publishes it\n\
         with its context, the Pub/Sub emulator pushes it to `fulfil`.\n\
         Across the three clouds, trace {across_trace}: the orders API on Lambda asks the\n\
         Azure function `quote`, which asks the Cloud Run function for the price — each call a\n\
         CLIENT span whose context the next function continues.\n\
         The metrics are the FaaS metrics each function recorded (the Lambda functions flush\n\
         them with each invocation; the Azure and Cloud Run servers at SIGTERM); each log\n\
         record carries the trace and span it was written in, all among the traces above.\n\
         The same traces, with every attribute, event and link: {}\n\
         The functions' own logs: {} and, for the Lambda functions, {}.",
        html.display(),
        log_dir.join("http-function.log").display(),
        crate::target_dir().join("function-logs").display()
    );
    Ok(())
}

fn nanos_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(1)
}

/// Part two, the orders pipeline on Lambda: the orders API (lambda_http + axum) takes two
/// orders and sends each to SQS through the real AWS SDK; the worker (lambda_runtime)
/// receives them as one SQS batch — the event an event source mapping would build from the
/// messages sent — and stores each order in DynamoDB. Both run as real processes polling a
/// local Runtime API; the AWS calls go to an in-process stand-in for SQS and DynamoDB.
/// Runs the orders pipeline; returns the spans received and how many orders were sent.
async fn orders_pipeline(
    receiver: &OtlpReceiver,
    caller_trace: &str,
) -> anyhow::Result<(Vec<ReceivedSpan>, usize)> {
    println!("\nbuilding the orders pipeline (lambda-orders-api, lambda-orders-worker)…");
    let api_binary = build_binary("example-lambda-orders-api", "lambda-orders-api")
        .context("building example-lambda-orders-api")?;
    let worker_binary = build_binary("example-lambda-orders-worker", "lambda-orders-worker")
        .context("building example-lambda-orders-worker")?;
    let aws = FakeAwsEndpoint::start().context("starting the AWS stand-in")?;
    let daemon = FakeXrayDaemon::start().await;

    let api_runtime = LocalRuntimeApi::start().context("starting a local Lambda Runtime API")?;
    let api = FunctionProcess::spawn(
        &api_binary,
        &api_runtime.address(),
        &pipeline_environment("orders-api", receiver, &aws, &daemon),
    )
    .context("starting lambda-orders-api")?;
    let orders = [
        (
            r#"{"id": 42, "items": 2}"#,
            Some(format!("00-{caller_trace}-b7ad6b7169203331-01")),
            "a caller with a trace of its own places order 42",
        ),
        (
            r#"{"id": 43, "items": 0}"#,
            None,
            "order 43 has no items: the API takes it, the worker will refuse it",
        ),
    ];
    for (index, (body, traceparent, what)) in orders.iter().enumerate() {
        let invoked = api_runtime
            .invoke(
                Invoke::new(orders_request(body, traceparent.as_deref()))
                    .request_id(format!("demo-order-{index}"))
                    .invoked_arn(format!(
                        "arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api"
                    )),
                Duration::from_secs(20),
            )
            .await
            .map_err(|error| anyhow::anyhow!("{error}\norders-api log:\n{}", api.log()))?;
        let status = invoked
            .response
            .as_ref()
            .and_then(|response| response["statusCode"].as_u64())
            .with_context(|| {
                format!(
                    "orders-api did not answer with a status: {:?}\nlog:\n{}",
                    invoked.error,
                    api.log()
                )
            })?;
        println!("  POST /orders {body:<24} → {status}   {what}");
    }

    let event = aws.sqs_event(REGION);
    let sent = event["Records"].as_array().map_or(0, Vec::len);
    if sent != orders.len() {
        bail!(
            "orders-api sent {sent} SQS messages, {} expected\nlog:\n{}",
            orders.len(),
            api.log()
        );
    }
    let worker_runtime = LocalRuntimeApi::start().context("starting a local Lambda Runtime API")?;
    let worker = FunctionProcess::spawn(
        &worker_binary,
        &worker_runtime.address(),
        &pipeline_environment("orders-worker", receiver, &aws, &daemon),
    )
    .context("starting lambda-orders-worker")?;
    let invoked = worker_runtime
        .invoke(
            Invoke::new(event)
                .request_id("demo-sqs-batch")
                .invoked_arn(format!(
                    "arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-worker:live"
                )),
            Duration::from_secs(20),
        )
        .await
        .map_err(|error| anyhow::anyhow!("{error}\norders-worker log:\n{}", worker.log()))?;
    println!(
        "  SQS batch of {sent} → {}   order 42 is stored; order 43 fails alone and SQS would \
         retry only it",
        invoked.response.map(|r| r.to_string()).unwrap_or_default()
    );
    let stored = aws
        .calls()
        .iter()
        .filter(|call| call.target == "DynamoDB_20120810.PutItem")
        .count();
    if stored != 1 {
        bail!(
            "orders-worker stored {stored} orders, 1 expected\nlog:\n{}",
            worker.log()
        );
    }
    let spans = receiver
        .wait_until(Duration::from_secs(15), |spans| {
            spans.iter().filter(|s| s.name == "orders process").count() >= 3
                && spans.iter().any(|s| s.name == "DynamoDB.PutItem")
                && spans.iter().filter(|s| s.name == "send orders").count() >= 2
        })
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "{error}\norders-api log:\n{}\norders-worker log:\n{}",
                api.log(),
                worker.log()
            )
        })?;
    check_the_segments(&daemon, &spans, caller_trace).await?;
    Ok((spans, orders.len()))
}

/// The same traces through the X-Ray daemon path: every span of the orders pipeline as a
/// segment document the developer guide's schema accepts, the web shop's trace among them
/// under its X-Ray id; printed as X-Ray shows them.
async fn check_the_segments(
    daemon: &FakeXrayDaemon,
    spans: &[ReceivedSpan],
    caller_trace: &str,
) -> anyhow::Result<()> {
    let pipeline: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| {
            matches!(
                s.resource.get("service.name"),
                Some(AttrValue::Str(name)) if name == "orders-api" || name == "orders-worker"
            )
        })
        .collect();
    let documents = daemon
        .wait_for(pipeline.len(), Duration::from_secs(10))
        .await;
    let violations = daemon.violations();
    if !violations.is_empty() {
        bail!("segment documents the X-Ray schema refuses: {violations:#?}");
    }
    if documents.len() < pipeline.len() {
        bail!(
            "{} spans of the orders pipeline reached the receiver, {} segment documents the daemon",
            pipeline.len(),
            documents.len()
        );
    }
    let xray_trace = format!("1-{}-{}", &caller_trace[..8], &caller_trace[8..]);
    let shop = documents
        .iter()
        .filter(|d| d["trace_id"] == xray_trace.as_str())
        .count();
    if shop < 2 {
        bail!("the web shop's trace {xray_trace} has {shop} segment documents, 2 or more expected");
    }
    println!(
        "\nthe orders pipeline through the X-Ray daemon path ({} segment documents over UDP, \
         each valid against X-Ray's segment document schema):\n",
        documents.len()
    );
    print!("{}", render_segment_tree(&documents));
    Ok(())
}

/// The demo is also a test (`cargo xtask test` runs it): the traces must hang together.
fn check_the_pipeline(spans: &[ReceivedSpan], orders: usize) -> anyhow::Result<()> {
    let sends: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name == "send orders" && s.kind == SpanKind::Producer)
        .collect();
    if sends.len() != orders {
        bail!(
            "{} PRODUCER spans `send orders` arrived, {orders} expected (one per order sent)",
            sends.len()
        );
    }
    let batch = spans
        .iter()
        .find(|s| {
            s.name == "orders process"
                && s.kind == SpanKind::Consumer
                && s.attr("messaging.batch.message_count")
                    == Some(&AttrValue::Int(i64::try_from(orders).unwrap_or(i64::MAX)))
        })
        .context("the worker's batch span is missing")?;
    for send in &sends {
        if !links_to(batch, send) {
            bail!(
                "the worker's batch does not link to the send span {} of trace {}",
                send.span_id,
                send.trace_id
            );
        }
    }
    // One span per message, inside the batch, each linked to its own send.
    let messages: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| {
            s.kind == SpanKind::Consumer
                && s.parent_span_id == batch.span_id
                && s.attr("messaging.message.id").is_some()
        })
        .collect();
    if messages.len() != orders {
        bail!(
            "{} message spans inside the batch, {orders} expected",
            messages.len()
        );
    }
    let mut linked: Vec<&str> = Vec::new();
    for message in &messages {
        let own: Vec<&&ReceivedSpan> = sends
            .iter()
            .filter(|send| links_to(message, send))
            .collect();
        match own.as_slice() {
            [send] => linked.push(&send.span_id),
            _ => bail!(
                "the message span {} links to {} send spans, one expected",
                message.span_id,
                own.len()
            ),
        }
    }
    linked.sort_unstable();
    linked.dedup();
    if linked.len() != orders {
        bail!("two message spans link to the same send");
    }
    // The refused order's span names the error's own type, though the worker returns it
    // inside an `anyhow::Error`.
    let refused = messages
        .iter()
        .find(|message| message.status == StatusCode::Error)
        .context("no message span is an ERROR: the order without items must fail")?;
    if refused.attr_str("error.type") != Some("EmptyOrder") {
        bail!(
            "the refused message's error.type is {:?}, EmptyOrder expected",
            refused.attr_str("error.type")
        );
    }
    let put = spans
        .iter()
        .find(|s| s.name == "DynamoDB.PutItem")
        .context("the DynamoDB.PutItem span is missing")?;
    if put.trace_id != batch.trace_id {
        bail!("DynamoDB.PutItem is not in the worker's trace");
    }
    if !messages
        .iter()
        .any(|message| put.descends_from(message, spans))
    {
        bail!("DynamoDB.PutItem is not inside a message span");
    }
    Ok(())
}

fn links_to(span: &ReceivedSpan, target: &ReceivedSpan) -> bool {
    span.links
        .iter()
        .any(|l| l.trace_id == target.trace_id && l.span_id == target.span_id)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use otel_faas_integration_tests::ReceivedLink;

    use super::*;

    fn span(id: &str, parent: &str, name: &str, kind: SpanKind) -> ReceivedSpan {
        let trace = if name == "send orders" {
            format!("{id:0>32}")
        } else {
            "f".repeat(32)
        };
        ReceivedSpan::new(&trace, id, parent, name, kind)
    }

    fn link(to: &ReceivedSpan) -> ReceivedLink {
        ReceivedLink {
            trace_id: to.trace_id.clone(),
            span_id: to.span_id.clone(),
            attributes: BTreeMap::new(),
        }
    }

    /// What the demo produces: two sends, a batch linked to both, a span per message linked
    /// to its own send, and the PutItem inside the first message span.
    fn pipeline() -> Vec<ReceivedSpan> {
        let send_a = span("a1", "", "send orders", SpanKind::Producer);
        let send_b = span("b1", "", "send orders", SpanKind::Producer);
        let mut batch = span("c1", "w0", "orders process", SpanKind::Consumer);
        batch
            .attributes
            .insert("messaging.batch.message_count".into(), AttrValue::Int(2));
        batch.links = vec![link(&send_a), link(&send_b)];
        let mut message_a = span("d1", "c1", "orders process", SpanKind::Consumer);
        message_a
            .attributes
            .insert("messaging.message.id".into(), AttrValue::from("m-a"));
        message_a.links = vec![link(&send_a)];
        let mut message_b = span("d2", "c1", "orders process", SpanKind::Consumer);
        message_b
            .attributes
            .insert("messaging.message.id".into(), AttrValue::from("m-b"));
        message_b.links = vec![link(&send_b)];
        message_b.status = StatusCode::Error;
        message_b
            .attributes
            .insert("error.type".into(), AttrValue::from("EmptyOrder"));
        let store = span("e1", "d1", "store", SpanKind::Internal);
        let put = span("e2", "e1", "DynamoDB.PutItem", SpanKind::Client);
        vec![send_a, send_b, batch, message_a, message_b, store, put]
    }

    #[test]
    fn a_pipeline_that_hangs_together_passes() {
        check_the_pipeline(&pipeline(), 2).unwrap();
    }

    #[test]
    fn missing_producers_fail() {
        let spans: Vec<ReceivedSpan> = pipeline()
            .into_iter()
            .filter(|s| s.kind != SpanKind::Producer)
            .collect();
        let error = check_the_pipeline(&spans, 2).unwrap_err().to_string();
        assert!(error.contains("0 PRODUCER spans"), "{error}");
    }

    #[test]
    fn a_message_linked_to_the_wrong_send_fails() {
        let mut spans = pipeline();
        let send_a = spans[0].clone();
        spans[4].links = vec![link(&send_a)];
        let error = check_the_pipeline(&spans, 2).unwrap_err().to_string();
        assert!(error.contains("same send"), "{error}");
    }

    #[test]
    fn a_put_outside_the_message_spans_fails() {
        let mut spans = pipeline();
        spans[6].parent_span_id = "c1".into();
        let error = check_the_pipeline(&spans, 2).unwrap_err().to_string();
        assert!(error.contains("not inside a message span"), "{error}");
    }

    #[test]
    fn a_refused_order_without_its_error_type_fails() {
        let mut spans = pipeline();
        spans[4]
            .attributes
            .insert("error.type".into(), AttrValue::from("anyhow::Error"));
        let error = check_the_pipeline(&spans, 2).unwrap_err().to_string();
        assert!(error.contains("EmptyOrder expected"), "{error}");
        spans[4].status = StatusCode::Unset;
        let error = check_the_pipeline(&spans, 2).unwrap_err().to_string();
        assert!(error.contains("must fail"), "{error}");
    }

    #[test]
    fn missing_message_spans_fail() {
        let spans: Vec<ReceivedSpan> = pipeline()
            .into_iter()
            .filter(|s| !s.attributes.contains_key("messaging.message.id"))
            .collect();
        assert!(check_the_pipeline(&spans, 2).is_err());
    }
}
