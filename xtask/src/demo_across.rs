//! Part five of the demo, one request across three clouds: a web shop's request to the
//! orders API on Lambda (`GET /orders/{id}/quote`, through a front playing API Gateway)
//! asks the Azure function `quote` (under the mini host, behind the host's HTTP front),
//! which asks the Cloud Run function for the price (`GET /prices/{id}`). Each call goes
//! through `otel_faas_core::http::client`'s traced reqwest client, so the three functions
//! write one trace: the shop's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use otel_faas_integration_tests::{
    AzureHttpFront, FunctionAppHost, FunctionProcess, HttpApiFront, LocalRuntimeApi, MiniHost,
    OtlpReceiver, ReceivedSpan, SpanKind, build_binary,
};

/// The order the shop asks a quote for.
const ORDER: u64 = 48;

/// Runs part five and checks its trace.
pub(crate) fn run(receiver: &OtlpReceiver, shop_trace: &str) -> anyhow::Result<()> {
    println!(
        "\nbuilding one request across three clouds (lambda-orders-api → azure-function-app → \
         gcp-function)…"
    );
    let gcp_binary = build_binary("example-gcp-function", "gcp-function")
        .context("building example-gcp-function")?;
    let azure_binary = build_binary("example-azure-function-app", "azure-function-app")
        .context("building example-azure-function-app")?;
    let api_binary = build_binary("example-lambda-orders-api", "lambda-orders-api")
        .context("building example-lambda-orders-api")?;

    // Cloud Run: the prices.
    let gcp_port = crate::process::free_port()?;
    let gcp = FunctionProcess::spawn(
        &gcp_binary,
        "127.0.0.1:9",
        &[
            ("PORT", gcp_port.to_string()),
            ("HOST", "127.0.0.1".to_owned()),
            ("K_SERVICE", "prices".to_owned()),
            ("GOOGLE_CLOUD_PROJECT", "demo".to_owned()),
            // No metadata server and no Pub/Sub here: this part asks prices only.
            ("GCE_METADATA_HOST", "127.0.0.1:9".to_owned()),
            ("PUBSUB_EMULATOR_HOST", "127.0.0.1:9".to_owned()),
            ("OTEL_SERVICE_NAME", "prices-gcp".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ],
    )
    .context("starting gcp-function")?;
    let gcp_address = SocketAddr::from(([127, 0, 0, 1], gcp_port));
    crate::process::wait_until_ready(gcp_address, "/hello", Duration::from_secs(30))
        .map_err(|error| anyhow::anyhow!("{error}\ngcp-function log:\n{}", gcp.log()))?;

    // Azure: the quotes, asking Cloud Run.
    let root = crate::workspace_root().join("examples/azure-function-app");
    let handler_port = crate::process::free_port()?;
    let azure = FunctionProcess::spawn(
        &azure_binary,
        "127.0.0.1:9",
        &[
            ("FUNCTIONS_CUSTOMHANDLER_PORT", handler_port.to_string()),
            ("HOST", "127.0.0.1".to_owned()),
            ("FUNCTIONS_APP_ROOT_PATH", root.display().to_string()),
            ("WEBSITE_SITE_NAME", "orders-app".to_owned()),
            ("OTEL_SERVICE_NAME", "quotes-azure".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("PRICES_URL", format!("http://{gcp_address}")),
        ],
    )
    .context("starting azure-function-app")?;
    let host = MiniHost::new(SocketAddr::from(([127, 0, 0, 1], handler_port)));
    host.wait_until_ready(Duration::from_secs(30))
        .map_err(|error| anyhow::anyhow!("{error}\nazure-function-app log:\n{}", azure.log()))?;
    let app = FunctionAppHost::load(&root, host, None)
        .map_err(|error| anyhow::anyhow!("loading the app: {error}"))?;
    let azure_front =
        AzureHttpFront::start(Arc::new(app)).context("starting the Functions host's front")?;

    // Lambda: the orders API, asking Azure.
    let lambda_front = HttpApiFront::start(
        LocalRuntimeApi::start().context("starting a local Lambda Runtime API")?,
        "arn:aws:lambda:us-east-1:123456789012:function:orders-api",
    )
    .context("starting the API Gateway front")?;
    let api = FunctionProcess::spawn(
        &api_binary,
        &lambda_front.runtime_api(),
        &[
            ("OTEL_SERVICE_NAME", "orders-api".to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders-api".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            (
                "ORDERS_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/orders".to_owned(),
            ),
            ("AWS_ACCESS_KEY_ID", "demo".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "demo".to_owned()),
            ("QUOTE_URL", format!("{}/api/quote", azure_front.url())),
        ],
    )
    .context("starting lambda-orders-api")?;

    // The web shop's request.
    let lambda_address: SocketAddr = lambda_front
        .url()
        .trim_start_matches("http://")
        .parse()
        .context("the front's address")?;
    let path = format!("/orders/{ORDER}/quote");
    let traceparent = format!("00-{shop_trace}-c0ffee00c0ffee00-01");
    let answer = MiniHost::new(lambda_address)
        .send("GET", &path, &[("traceparent", &traceparent)], None, false)
        .map_err(|error| {
            anyhow::anyhow!(
                "{error}\norders-api log:\n{}\nazure log:\n{}\ngcp log:\n{}",
                api.log(),
                azure.log(),
                gcp.log()
            )
        })?;
    let (status, body) = (answer.status, answer.body);
    println!("  GET {path} → {status}   {body}");
    if status != 200 {
        bail!(
            "the quote failed ({status}: {body})\norders-api log:\n{}\nazure log:\n{}\ngcp log:\n{}",
            api.log(),
            azure.log(),
            gcp.log()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let spans = runtime
        .block_on(receiver.wait_until(Duration::from_secs(30), |spans| {
            ["orders-api", "quotes-azure", "prices-gcp"]
                .iter()
                .all(|name| {
                    spans.iter().any(|s| {
                        s.trace_id == shop_trace
                            && s.kind == SpanKind::Server
                            && service(s) == *name
                    })
                })
                && spans
                    .iter()
                    .filter(|s| s.trace_id == shop_trace && s.kind == SpanKind::Client)
                    .count()
                    >= 2
        }))
        .map_err(|error| {
            anyhow::anyhow!(
                "{error}\norders-api log:\n{}\nazure log:\n{}\ngcp log:\n{}",
                api.log(),
                azure.log(),
                gcp.log()
            )
        })?;
    crate::demo_signals::stop_gracefully(gcp, "gcp-function")?;
    crate::demo_signals::stop_gracefully(azure, "azure-function-app")?;
    drop(api);
    check(&spans, shop_trace)
}

fn service(span: &ReceivedSpan) -> &str {
    span.resource_attr("service.name")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

/// The demo is also a test: in the shop's trace, each function's SERVER span is the child
/// of the previous function's CLIENT span, and each CLIENT span is inside its function's
/// SERVER span — orders-api, then quotes-azure, then prices-gcp.
pub(crate) fn check(spans: &[ReceivedSpan], shop_trace: &str) -> anyhow::Result<()> {
    let in_trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == shop_trace).collect();
    let server_of = |name: &str| {
        in_trace
            .iter()
            .copied()
            .find(|s| s.kind == SpanKind::Server && service(s) == name)
            .with_context(|| format!("no SERVER span of {name} in the shop's trace {shop_trace}"))
    };
    let client_in = |server: &ReceivedSpan| {
        in_trace
            .iter()
            .copied()
            .find(|s| {
                s.kind == SpanKind::Client
                    && service(s) == service(server)
                    && s.descends_from(server, spans)
            })
            .with_context(|| {
                format!(
                    "{} made no CLIENT span inside its invocation {}",
                    service(server),
                    server.name
                )
            })
    };
    let lambda = server_of("orders-api")?;
    let azure = server_of("quotes-azure")?;
    let gcp = server_of("prices-gcp")?;
    for (caller, callee) in [(lambda, azure), (azure, gcp)] {
        let client = client_in(caller)?;
        if callee.parent_span_id != client.span_id {
            bail!(
                "{}'s span {} is not the child of {}'s CLIENT span {} (its parent is {:?})",
                service(callee),
                callee.name,
                service(caller),
                client.span_id,
                callee.parent_span_id
            );
        }
    }
    if gcp.name != "GET /prices/{id}" {
        bail!(
            "the Cloud Run span is {:?}, not GET /prices/{{id}}",
            gcp.name
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use otel_faas_integration_tests::AttrValue;

    use super::*;

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

    fn span(id: &str, parent: &str, name: &str, kind: SpanKind, service: &str) -> ReceivedSpan {
        let mut span = ReceivedSpan::new(TRACE, id, parent, name, kind);
        span.resource
            .insert("service.name".into(), AttrValue::from(service));
        span
    }

    /// What the demo produces: three invocations, each calling the next.
    fn across() -> Vec<ReceivedSpan> {
        vec![
            span(
                "a1",
                "shop",
                "GET /orders/{id}/quote",
                SpanKind::Server,
                "orders-api",
            ),
            span("a2", "a1", "GET", SpanKind::Client, "orders-api"),
            span(
                "b1",
                "a2",
                "GET /api/quote/{id}",
                SpanKind::Server,
                "quotes-azure",
            ),
            span("b2", "b1", "GET", SpanKind::Client, "quotes-azure"),
            span(
                "c1",
                "b2",
                "GET /prices/{id}",
                SpanKind::Server,
                "prices-gcp",
            ),
        ]
    }

    #[test]
    fn a_trace_across_the_three_clouds_passes() {
        check(&across(), TRACE).unwrap();
    }

    #[test]
    fn a_callee_that_started_a_trace_of_its_own_fails() {
        let mut spans = across();
        spans[4].trace_id = "f".repeat(32);
        let error = check(&spans, TRACE).unwrap_err().to_string();
        assert!(error.contains("no SERVER span of prices-gcp"), "{error}");
    }

    #[test]
    fn a_callee_not_under_the_client_span_fails() {
        let mut spans = across();
        spans[2].parent_span_id = "a1".into();
        let error = check(&spans, TRACE).unwrap_err().to_string();
        assert!(error.contains("quotes-azure's span"), "{error}");
    }

    #[test]
    fn a_missing_client_span_fails() {
        let mut spans = across();
        spans.remove(3);
        let error = check(&spans, TRACE).unwrap_err().to_string();
        assert!(
            error.contains("quotes-azure made no CLIENT span"),
            "{error}"
        );
    }
}
