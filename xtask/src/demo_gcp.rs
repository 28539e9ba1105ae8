//! Part four of the demo, the orders pipeline on Cloud Run functions: the example
//! (`examples/gcp-function`) as a real process, the Pub/Sub emulator between its HTTP API
//! and its Pub/Sub handler. An order placed over HTTP is published with its trace context
//! in the message's attributes; the emulator pushes it to `/fulfil`, which continues the
//! trace.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use otel_faas_integration_tests::{
    FunctionProcess, MiniHost, OtlpReceiver, PubSubEmulator, ReceivedSpan, SpanKind, StatusCode,
    build_binary,
};

const PROJECT: &str = "demo";

/// Runs the GCP part and checks its trace.
pub(crate) fn run(receiver: &OtlpReceiver, caller_trace: &str) -> anyhow::Result<()> {
    println!("\nbuilding the Cloud Run function (gcp-function) and starting the Pub/Sub emulator…");
    let binary = build_binary("example-gcp-function", "gcp-function")
        .context("building example-gcp-function")?;
    let emulator = PubSubEmulator::start().context("starting the Pub/Sub emulator")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
    let function = FunctionProcess::spawn(
        &binary,
        "127.0.0.1:9",
        &[
            ("PORT", port.to_string()),
            ("HOST", "127.0.0.1".to_owned()),
            ("PUBSUB_EMULATOR_HOST", emulator.host()),
            ("GOOGLE_CLOUD_PROJECT", PROJECT.to_owned()),
            ("OTEL_SERVICE_NAME", "orders-gcp".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ],
    )
    .context("starting gcp-function")?;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let client = MiniHost::new(address);
    let started = std::time::Instant::now();
    while client.send("GET", "/hello", &[], None, false).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!(
                "gcp-function did not answer on {address}\nlog:\n{}",
                function.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    emulator.create_topic(PROJECT, "orders")?;
    emulator.create_push_subscription(
        PROJECT,
        "orders-push",
        "orders",
        &format!("http://{address}/fulfil"),
    )?;
    let orders = [
        (
            r#"{"id": 46, "items": ["kettle"]}"#,
            Some(format!("00-{caller_trace}-a1b2c3d4e5f60718-01")),
            "a caller with a trace of its own places order 46",
        ),
        (
            r#"{"id": 47, "items": []}"#,
            None,
            "order 47 has no items: `orders` publishes it, `fulfil` will refuse it",
        ),
    ];
    for (body, traceparent, what) in &orders {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(traceparent) = traceparent {
            headers.push(("traceparent", traceparent));
        }
        let response = client
            .send("POST", "/orders", &headers, Some(body.as_bytes()), false)
            .with_context(|| format!("POST /orders\nlog:\n{}", function.log()))?;
        println!("  POST /orders {body:<32} → {}   {what}", response.status);
        if response.status != 202 {
            bail!(
                "orders answered {}: {}\nlog:\n{}",
                response.status,
                response.body,
                function.log()
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let spans = runtime
        .block_on(receiver.wait_until(Duration::from_secs(30), |spans| {
            spans.iter().filter(|s| s.name == "send orders").count() >= 2
                && spans
                    .iter()
                    .filter(|s| s.name == "subscribe orders-push" && s.kind == SpanKind::Consumer)
                    .count()
                    >= 2
        }))
        .map_err(|error| anyhow::anyhow!("{error}\ngcp-function log:\n{}", function.log()))?;
    println!(
        "  Pub/Sub emulator → /fulfil: order 46 fulfilled, order 47 refused (Pub/Sub redelivers it)"
    );
    crate::demo_signals::stop_gracefully(function, "gcp-function")?;
    drop(emulator);
    check(&spans, caller_trace)
}

/// The demo is also a test: the caller's trace goes through the HTTP function, its
/// `send orders` span and the push's invocation, whose `subscribe` span links to the send.
pub(crate) fn check(spans: &[ReceivedSpan], caller_trace: &str) -> anyhow::Result<()> {
    let in_trace = |s: &&ReceivedSpan| s.trace_id == caller_trace;
    let send = spans
        .iter()
        .filter(in_trace)
        .find(|s| s.name == "send orders" && s.kind == SpanKind::Producer)
        .context("no PRODUCER `send orders` span in the caller's trace")?;
    let http = spans
        .iter()
        .filter(in_trace)
        .find(|s| s.span_id == send.parent_span_id)
        .context("`send orders` is not inside the HTTP invocation")?;
    if http.attr_str("faas.trigger") != Some("http") {
        bail!("the parent of `send orders` is not the HTTP invocation");
    }
    let consumer = spans
        .iter()
        .filter(in_trace)
        .find(|s| s.name == "subscribe orders-push" && s.kind == SpanKind::Consumer)
        .context("the push did not continue the caller's trace")?;
    if !consumer
        .links
        .iter()
        .any(|l| l.trace_id == send.trace_id && l.span_id == send.span_id)
    {
        bail!("`subscribe orders-push` does not link to `send orders`");
    }
    let push = spans
        .iter()
        .find(|s| s.span_id == consumer.parent_span_id)
        .context("the subscribe span has no invocation around it")?;
    if push.parent_span_id != send.span_id {
        bail!("the push's invocation is not a child of `send orders`");
    }
    let refused = spans.iter().any(|s| {
        s.attr_str("faas.trigger") == Some("pubsub")
            && s.status == StatusCode::Error
            && s.attr_str("error.type") == Some("EmptyOrder")
    });
    if !refused {
        bail!("order 47 must fail with error.type EmptyOrder");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use otel_faas_integration_tests::{AttrValue, ReceivedLink};

    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn span(id: &str, parent: &str, name: &str, kind: SpanKind) -> ReceivedSpan {
        ReceivedSpan::new(TRACE, id, parent, name, kind)
    }

    fn pipeline() -> Vec<ReceivedSpan> {
        let mut http = span("h", "caller", "POST", SpanKind::Server);
        http.attributes
            .insert("faas.trigger".into(), AttrValue::Str("http".into()));
        let mut consumer = span("c", "p", "subscribe orders-push", SpanKind::Consumer);
        consumer.links.push(ReceivedLink {
            trace_id: TRACE.into(),
            span_id: "s".into(),
            attributes: BTreeMap::new(),
        });
        let mut refused = span("r", "", "subscribe orders-push", SpanKind::Server);
        refused.trace_id = "other".into();
        refused.status = StatusCode::Error;
        refused
            .attributes
            .insert("faas.trigger".into(), AttrValue::Str("pubsub".into()));
        refused
            .attributes
            .insert("error.type".into(), AttrValue::Str("EmptyOrder".into()));
        vec![
            http,
            span("s", "h", "send orders", SpanKind::Producer),
            span("p", "s", "subscribe orders-push", SpanKind::Server),
            consumer,
            refused,
        ]
    }

    #[test]
    fn a_trace_that_hangs_together_passes() {
        check(&pipeline(), TRACE).unwrap();
    }

    #[test]
    fn a_push_in_a_trace_of_its_own_fails() {
        let mut spans = pipeline();
        spans[3].trace_id = "other".into();
        assert!(check(&spans, TRACE).is_err());
    }

    #[test]
    fn a_subscribe_span_without_its_link_fails() {
        let mut spans = pipeline();
        spans[3].links.clear();
        assert!(check(&spans, TRACE).is_err());
    }

    #[test]
    fn a_missing_refusal_fails() {
        let mut spans = pipeline();
        spans.pop();
        assert!(check(&spans, TRACE).is_err());
    }
}
