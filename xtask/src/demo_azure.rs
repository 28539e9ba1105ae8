//! Part three of the demo, the orders pipeline on Azure Functions: the example function app
//! (`examples/azure-function-app`, a Rust custom handler) under the mini host, with
//! Azurite's queue between `order` and `fulfil`. An order placed over HTTP is enqueued by
//! the host's output binding, carrying the trace context `order` put in it; the mini host
//! takes it from Azurite as the host's queue listener does and `fulfil` continues the trace.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use otel_faas_integration_tests::{
    Azurite, FunctionAppHost, FunctionProcess, MiniHost, OtlpReceiver, QueueOutcome, ReceivedSpan,
    SpanKind, StatusCode, build_binary,
};

/// The function app's identity, as Azure would set it.
const APP: &str = "orders-app";
const SUBSCRIPTION: &str = "0b3a1f5e-8c1e-4d6a-9f0e-2a7c5d9b1e44";

/// Runs the Azure part; returns the id of the order that is fulfilled and the one that is
/// not (by message id), after their spans have arrived.
pub(crate) fn run(receiver: &OtlpReceiver, caller_trace: &str) -> anyhow::Result<()> {
    println!("\nbuilding the function app (azure-function-app) and starting Azurite…");
    crate::emulators::install(crate::emulators::Emulator::Azurite)?;
    let binary = build_binary("example-azure-function-app", "azure-function-app")
        .context("building example-azure-function-app")?;
    // Azurite's queue service of its own (or the one `cargo xtask test` runs), stopped when
    // the demo ends.
    let azurite = Azurite::start().context("starting Azurite")?;
    let root = crate::workspace_root().join("examples/azure-function-app");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
    let handler = FunctionProcess::spawn(
        &binary,
        "127.0.0.1:9",
        &[
            ("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string()),
            ("FUNCTIONS_APP_ROOT_PATH", root.display().to_string()),
            ("WEBSITE_SITE_NAME", APP.to_owned()),
            (
                "WEBSITE_OWNER_NAME",
                format!("{SUBSCRIPTION}+orders-rg-WestEuropewebspace-Linux"),
            ),
            ("WEBSITE_RESOURCE_GROUP", "orders-rg".to_owned()),
            ("REGION_NAME", "West Europe".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ],
    )
    .context("starting azure-function-app")?;
    let host = MiniHost::new(SocketAddr::from(([127, 0, 0, 1], port)));
    host.wait_until_ready(Duration::from_secs(30))
        .map_err(|error| anyhow::anyhow!("{error}\nhandler log:\n{}", handler.log()))?;
    let queue = azurite.queue("orders");
    queue.create().context("creating the orders queue")?;
    let app = FunctionAppHost::load(&root, host, Some(azurite)).context("loading the app")?;

    let orders = [
        (
            r#"{"id": 44, "items": ["lamp"]}"#,
            Some(format!("00-{caller_trace}-c2fb4a3b2e0f4d1a-01")),
            "a caller with a trace of its own places order 44",
        ),
        (
            r#"{"id": 45, "items": []}"#,
            None,
            "order 45 has no items: `order` takes it, `fulfil` will refuse it",
        ),
    ];
    for (body, traceparent, what) in &orders {
        let mut headers = vec![
            ("Host", "orders-app.azurewebsites.net"),
            ("Content-Type", "application/json"),
        ];
        if let Some(traceparent) = traceparent {
            headers.push(("traceparent", traceparent));
        }
        let response = app
            .http("POST", "/api/orders", &headers, body.as_bytes())
            .map_err(|error| anyhow::anyhow!("{error}\nhandler log:\n{}", handler.log()))?;
        println!(
            "  POST /api/orders {body:<30} → {}   {what}",
            response.status
        );
        if response.status != 202 {
            bail!(
                "order answered {}: {}\nhandler log:\n{}",
                response.status,
                response.body,
                handler.log()
            );
        }
    }
    // The queue listener: until the queue is empty (the refused order is retried up to the
    // fifth dequeue, then moved to orders-poison).
    let mut deliveries = Vec::new();
    for _ in 0..10 {
        let polled = app.poll_queues().context("taking messages from Azurite")?;
        if polled.is_empty() {
            break;
        }
        deliveries.extend(polled);
    }
    let count = |outcome| deliveries.iter().filter(|d| d.outcome == outcome).count();
    println!(
        "  queue orders (Azurite) → fulfil: {} completed, {} released for a retry, {} moved to orders-poison",
        count(QueueOutcome::Completed),
        count(QueueOutcome::Released),
        count(QueueOutcome::Poisoned)
    );
    if count(QueueOutcome::Completed) != 1 || count(QueueOutcome::Poisoned) != 1 {
        bail!(
            "one order fulfilled and one poisoned expected: {deliveries:?}\nhandler log:\n{}",
            handler.log()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let spans = runtime
        .block_on(receiver.wait_until(Duration::from_secs(15), |spans| {
            spans.iter().filter(|s| s.name == "create orders").count() >= 2
                && spans
                    .iter()
                    .filter(|s| s.name == "process orders" && s.kind == SpanKind::Consumer)
                    .count()
                    >= deliveries.len()
        }))
        .map_err(|error| anyhow::anyhow!("{error}\nhandler log:\n{}", handler.log()))?;
    crate::demo_signals::stop_gracefully(handler, "azure-function-app")?;
    check(&spans, caller_trace)
}

/// The demo is also a test: the Azure trace must hang together — the caller's trace goes
/// through `order`, its `create orders` span, and `fulfil`'s invocation and `process`
/// spans, linked to the create span.
pub(crate) fn check(spans: &[ReceivedSpan], caller_trace: &str) -> anyhow::Result<()> {
    let in_trace = |s: &&ReceivedSpan| s.trace_id == caller_trace;
    let order = spans
        .iter()
        .filter(in_trace)
        .find(|s| s.attr_str("faas.name") == Some("orders-app/order"))
        .context("no `order` invocation in the caller's trace")?;
    let create = spans
        .iter()
        .filter(in_trace)
        .find(|s| s.name == "create orders" && s.kind == SpanKind::Producer)
        .context("no PRODUCER `create orders` span in the caller's trace")?;
    if create.parent_span_id != order.span_id {
        bail!("`create orders` is not a child of the `order` invocation");
    }
    let fulfil = spans
        .iter()
        .filter(in_trace)
        .find(|s| s.attr_str("faas.name") == Some("orders-app/fulfil"))
        .context("`fulfil` did not continue the caller's trace")?;
    if fulfil.parent_span_id != create.span_id {
        bail!("the `fulfil` invocation is not a child of `create orders`");
    }
    let process = spans
        .iter()
        .filter(in_trace)
        .find(|s| s.name == "process orders" && s.parent_span_id == fulfil.span_id)
        .context("no `process orders` span inside `fulfil`")?;
    if !process
        .links
        .iter()
        .any(|l| l.trace_id == create.trace_id && l.span_id == create.span_id)
    {
        bail!("`process orders` does not link to `create orders`");
    }
    let refused: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| {
            s.attr_str("faas.name") == Some("orders-app/fulfil") && s.status == StatusCode::Error
        })
        .collect();
    if refused.len() != 5
        || refused
            .iter()
            .any(|s| s.attr_str("error.type") != Some("EmptyOrder"))
    {
        bail!(
            "order 45 must fail five times with error.type EmptyOrder; {} failures arrived",
            refused.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use otel_faas_integration_tests::{AttrValue, ReceivedLink};

    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn span(trace: &str, id: &str, parent: &str, name: &str, kind: SpanKind) -> ReceivedSpan {
        ReceivedSpan::new(trace, id, parent, name, kind)
    }

    fn function(mut span: ReceivedSpan, name: &str) -> ReceivedSpan {
        span.attributes.insert(
            "faas.name".into(),
            AttrValue::Str(format!("orders-app/{name}")),
        );
        span
    }

    fn pipeline() -> Vec<ReceivedSpan> {
        let mut process = span(TRACE, "p", "f", "process orders", SpanKind::Consumer);
        process.links.push(ReceivedLink {
            trace_id: TRACE.into(),
            span_id: "c".into(),
            attributes: BTreeMap::new(),
        });
        let mut spans = vec![
            function(
                span(TRACE, "o", "caller", "POST /api/orders", SpanKind::Server),
                "order",
            ),
            span(TRACE, "c", "o", "create orders", SpanKind::Producer),
            function(
                span(TRACE, "f", "c", "process orders", SpanKind::Server),
                "fulfil",
            ),
            process,
        ];
        for n in 0..5 {
            let mut failed = function(
                span(
                    "other",
                    &format!("x{n}"),
                    "",
                    "process orders",
                    SpanKind::Server,
                ),
                "fulfil",
            );
            failed.status = StatusCode::Error;
            failed
                .attributes
                .insert("error.type".into(), AttrValue::Str("EmptyOrder".into()));
            spans.push(failed);
        }
        spans
    }

    #[test]
    fn a_trace_that_hangs_together_passes() {
        check(&pipeline(), TRACE).unwrap();
    }

    #[test]
    fn a_consumer_in_a_trace_of_its_own_fails() {
        let mut spans = pipeline();
        spans[2].trace_id = "other".into();
        assert!(check(&spans, TRACE).is_err());
    }

    #[test]
    fn a_process_span_without_its_link_fails() {
        let mut spans = pipeline();
        spans[3].links.clear();
        assert!(check(&spans, TRACE).is_err());
    }

    #[test]
    fn a_missing_retry_fails() {
        let mut spans = pipeline();
        spans.pop();
        assert!(check(&spans, TRACE).is_err());
    }
}
