//! One trace across outgoing HTTP calls between functions, on every cloud, over OTLP: the
//! examples call each other with `otel_faas_core::http::client`'s traced reqwest client, and
//! each callee's SERVER span is the child of the caller's CLIENT span. The headers each
//! callee received are asserted beside the spans.
//!
//! * Lambda → Lambda: the orders API (`GET /orders/{id}/quote`) calls the axum example
//!   through a front playing API Gateway's HTTP API (the official payload 2.0 event) — under
//!   our Runtime API, and through cargo-lambda's function URL front — with X-Ray propagation
//!   configured beside W3C.
//! * Azure → Cloud Run: the app's `quote` function, under the mini host, calls the Cloud Run
//!   example's `GET /prices/{id}`.
//! * Cloud Run → Lambda: the Cloud Run example's `GET /track/{id}` calls the axum example
//!   behind a function URL front.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use otel_faas_integration_tests::{
    AzureHttpFront, CargoLambdaWatch, FunctionAppHost, FunctionProcess, HttpApiFront,
    LocalRuntimeApi, MiniHost, OtlpReceiver, ReceivedSpan, SpanKind, build_binary, workspace_root,
};

const WAIT: Duration = Duration::from_secs(30);
/// A web shop's trace, which every hop must continue.
const SHOP_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const SHOP_PARENT: &str = "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01";

/// A Lambda example polling its own Runtime API, behind a front playing API Gateway.
fn lambda(
    package: &str,
    bin: &str,
    service: &str,
    receiver: &OtlpReceiver,
    extra: &[(&str, String)],
) -> (HttpApiFront, FunctionProcess) {
    let binary = build_binary(package, bin).expect("the example builds");
    let front = HttpApiFront::start(
        LocalRuntimeApi::start().expect("a Runtime API"),
        &format!("arn:aws:lambda:us-east-1:123456789012:function:{service}"),
    )
    .expect("the API Gateway front");
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_SERVICE_NAME", service.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", service.to_owned()),
        ("OTEL_PROPAGATORS", "tracecontext,xray".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    let process =
        FunctionProcess::spawn(&binary, &front.runtime_api(), &env).expect("the function starts");
    (front, process)
}

/// The orders API, its quotes asked at `quote_url`.
fn orders_api(receiver: &OtlpReceiver, quote_url: String) -> (HttpApiFront, FunctionProcess) {
    lambda(
        "example-lambda-orders-api",
        "lambda-orders-api",
        "orders-api",
        receiver,
        &[
            ("QUOTE_URL", quote_url),
            (
                "ORDERS_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/orders".to_owned(),
            ),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ],
    )
}

/// The Cloud Run example as Cloud Run runs it; killed on drop.
struct CloudRun {
    child: Child,
    url: String,
    stderr: PathBuf,
}

impl CloudRun {
    fn start(receiver: &OtlpReceiver, extra: &[(&str, String)]) -> Self {
        let binary = build_binary("example-gcp-function", "gcp-function").expect("build");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("otel-faas-cloud-run-{port}"));
        std::fs::create_dir_all(&dir).expect("a log directory");
        let stderr = dir.join("stderr");
        let child = Command::new(&binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs([
                ("PORT", port.to_string()),
                ("HOST", "127.0.0.1".to_owned()),
                ("K_SERVICE", "prices".to_owned()),
                ("K_REVISION", "prices-00001-abc".to_owned()),
                ("GOOGLE_CLOUD_PROJECT", "demo".to_owned()),
                ("GCE_METADATA_HOST", "127.0.0.1:9".to_owned()),
                ("PUBSUB_EMULATOR_HOST", "127.0.0.1:9".to_owned()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
                ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
                ("OTEL_PROPAGATORS", "tracecontext".to_owned()),
            ])
            .envs(extra.iter().map(|(k, v)| (*k, v.clone())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("the log file"))
            .spawn()
            .expect("the Cloud Run example starts");
        let cloud_run = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            stderr,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < WAIT,
                "the Cloud Run example did not listen: {}",
                cloud_run.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cloud_run
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for CloudRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Azure example under the mini host, behind the host's HTTP front.
struct Azure {
    _process: FunctionProcess,
    front: AzureHttpFront,
}

fn azure(receiver: &OtlpReceiver, prices_url: String) -> Azure {
    let binary = build_binary("example-azure-function-app", "azure-function-app").expect("build");
    let root = workspace_root().join("examples/azure-function-app");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let process = FunctionProcess::spawn(
        &binary,
        "127.0.0.1:9",
        &[
            ("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string()),
            ("HOST", "127.0.0.1".to_owned()),
            ("FUNCTIONS_APP_ROOT_PATH", root.display().to_string()),
            ("WEBSITE_SITE_NAME", "orders-app".to_owned()),
            ("OTEL_SERVICE_NAME", "quotes".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("PRICES_URL", prices_url),
        ],
    )
    .expect("the function app starts");
    let host = MiniHost::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    host.wait_until_ready(WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", process.log()));
    let app = FunctionAppHost::load(&root, host, None).expect("the app");
    let front = AzureHttpFront::start(Arc::new(app)).expect("the host's front");
    Azure {
        _process: process,
        front,
    }
}

/// GET `url` with the web shop's `traceparent`; the status and body.
async fn shop_get(url: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(url)
        .header("traceparent", SHOP_PARENT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn install_crypto() {
    // reqwest with `rustls-no-provider`, as the workspace builds it, wants one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn service(span: &ReceivedSpan) -> Option<&str> {
    span.resource_attr("service.name").and_then(|v| v.as_str())
}

/// The answered call: a CLIENT span of `service` with a 2xx status. A caller that retried
/// while the callee was starting (cargo-lambda builds the function on the first request)
/// also has CLIENT spans of the attempts that failed, and those have no callee span.
fn is_client(span: &ReceivedSpan, service_name: &str) -> bool {
    span.kind == SpanKind::Client
        && service(span) == Some(service_name)
        && span
            .attr_int("http.response.status_code")
            .is_some_and(|status| (200..300).contains(&status))
}

/// The callee's span of the answered call (2xx, as for [`is_client`]).
fn is_server(span: &ReceivedSpan, callee: &str, name: &str) -> bool {
    span.kind == SpanKind::Server
        && service(span) == Some(callee)
        && span.name == name
        && span
            .attr_int("http.response.status_code")
            .is_some_and(|status| (200..300).contains(&status))
}

/// The answered CLIENT span `service` made, and the SERVER span of the callee `callee`
/// under it.
async fn hop(
    receiver: &OtlpReceiver,
    service_name: &str,
    callee: &str,
    callee_span: &str,
    logs: &dyn Fn() -> String,
) -> (ReceivedSpan, ReceivedSpan) {
    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans.iter().any(|s| is_client(s, service_name))
                && spans.iter().any(|s| is_server(s, callee, callee_span))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    let client = spans
        .iter()
        .find(|s| is_client(s, service_name))
        .cloned()
        .expect("the CLIENT span");
    let server = spans
        .iter()
        .find(|s| is_server(s, callee, callee_span))
        .cloned()
        .expect("the callee's span");
    assert_eq!(
        client.trace_id, SHOP_TRACE,
        "the caller continues the shop's trace"
    );
    assert_eq!(server.trace_id, SHOP_TRACE, "the callee continues it too");
    assert_eq!(
        server.parent_span_id, client.span_id,
        "the callee's span is the child of the caller's CLIENT span"
    );
    (client, server)
}

fn assert_w3c_and_xray(
    headers: &std::collections::BTreeMap<String, String>,
    client: &ReceivedSpan,
) {
    assert_eq!(
        headers.get("traceparent").map(String::as_str),
        Some(format!("00-{}-{}-01", client.trace_id, client.span_id).as_str()),
        "{headers:?}"
    );
    assert_eq!(
        headers.get("x-amzn-trace-id").map(String::as_str),
        Some(
            format!(
                "Root=1-{}-{};Parent={};Sampled=1",
                &client.trace_id[..8],
                &client.trace_id[8..],
                client.span_id
            )
            .as_str()
        ),
        "{headers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_calls_another_through_api_gateway_and_the_callee_is_its_client_spans_child() {
    install_crypto();
    let receiver = OtlpReceiver::start().expect("receiver");
    let (callee_front, callee) = lambda(
        "example-lambda-http-axum",
        "lambda-http-axum",
        "orders-read",
        &receiver,
        &[],
    );
    let (front, api) = orders_api(&receiver, format!("{}/orders", callee_front.url()));
    let (status, body) = shop_get(&format!("{}/orders/42/quote", front.url())).await;
    assert_eq!((status, body.as_str()), (200, "order 42"), "{}", api.log());

    let logs = || format!("orders-api:\n{}\norders-read:\n{}", api.log(), callee.log());
    let (client, server) = hop(
        &receiver,
        "orders-api",
        "orders-read",
        "GET /orders/{id}",
        &logs,
    )
    .await;
    assert_eq!(client.name, "GET");
    assert_eq!(
        client.attr_str("url.full"),
        Some(format!("{}/orders/42", callee_front.url()).as_str())
    );
    assert_eq!(client.attr_int("http.response.status_code"), Some(200));
    assert_eq!(server.attr_str("faas.trigger"), Some("http"));
    let caller = receiver
        .spans()
        .into_iter()
        .find(|s| s.span_id == client.parent_span_id)
        .expect("the CLIENT span's parent");
    assert_eq!(
        caller.name, "GET /orders/{id}/quote",
        "under the caller's invocation"
    );
    let received = callee_front.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].line, "GET /orders/42");
    assert_w3c_and_xray(&received[0].headers, &client);
}

/// The same call, the callee run by cargo-lambda and reached through its function URL
/// front (`/lambda-url/<function>/…`), which builds the event itself; the callee reads W3C
/// only (see below), the X-Ray header is checked in the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_calls_one_run_by_cargo_lambda_through_its_function_url() {
    install_crypto();
    let receiver = OtlpReceiver::start().expect("receiver");
    let endpoint = receiver.endpoint();
    let watch = CargoLambdaWatch::start(
        "lambda-http-axum",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "orders-read"),
            // W3C only here: cargo-lambda gives each invocation a fresh X-Ray trace header
            // of its own (where Lambda carries the caller's), which `xray` would follow.
            ("OTEL_PROPAGATORS", "tracecontext"),
        ],
    );
    let (front, api) = orders_api(
        &receiver,
        format!("{}/orders", watch.function_url("lambda-http-axum")),
    );
    // cargo-lambda builds and starts the function on the first request: retried until up.
    let started = Instant::now();
    let (status, body) = loop {
        let answer = shop_get(&format!("{}/orders/42/quote", front.url())).await;
        if answer.0 == 200 || started.elapsed() > Duration::from_secs(300) {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        (status, body.as_str()),
        (200, "order 42"),
        "{}\ncargo-lambda:\n{}",
        api.log(),
        watch.log()
    );
    let logs = || format!("orders-api:\n{}\ncargo-lambda:\n{}", api.log(), watch.log());
    let (client, server) = hop(
        &receiver,
        "orders-api",
        "orders-read",
        "GET /orders/{id}",
        &logs,
    )
    .await;
    assert_eq!(client.attr_int("http.response.status_code"), Some(200));
    assert_eq!(server.attr_str("url.path"), Some("/orders/42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_azure_function_calls_a_cloud_run_function() {
    install_crypto();
    let receiver = OtlpReceiver::start().expect("receiver");
    let cloud_run = CloudRun::start(&receiver, &[]);
    let azure = tokio::task::block_in_place(|| azure(&receiver, cloud_run.url.clone()));
    let (status, body) = shop_get(&format!("{}/api/quote/44", azure.front.url())).await;
    assert_eq!(status, 200, "{body}\n{}", cloud_run.log());
    let quote: serde_json::Value = serde_json::from_str(&body).expect("a JSON quote");
    assert_eq!(quote["price"]["order"], 44, "{quote}");

    let logs = || cloud_run.log();
    let (client, server) = hop(&receiver, "quotes", "prices", "GET /prices/{id}", &logs).await;
    assert_eq!(
        client.attr_str("url.full"),
        Some(format!("{}/prices/44", cloud_run.url).as_str())
    );
    let invocation = receiver
        .spans()
        .into_iter()
        .find(|s| s.span_id == client.parent_span_id)
        .expect("the CLIENT span's parent");
    assert!(
        invocation.attr_str("faas.invocation_id").is_some(),
        "under the Azure invocation: {invocation:?}"
    );
    assert_eq!(server.attr_str("http.route"), Some("/prices/{id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_run_function_calls_back_into_a_lambda_function_url() {
    install_crypto();
    let receiver = OtlpReceiver::start().expect("receiver");
    let (url_front, lambda_fn) = lambda(
        "example-lambda-http-axum",
        "lambda-http-axum",
        "orders-read",
        &receiver,
        &[],
    );
    let cloud_run = CloudRun::start(&receiver, &[("TRACKING_URL", url_front.url())]);
    let (status, body) = shop_get(&format!("{}/track/45", cloud_run.url)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "order 45"),
        "{}",
        cloud_run.log()
    );

    let logs = || {
        format!(
            "cloud run:\n{}\nlambda:\n{}",
            cloud_run.log(),
            lambda_fn.log()
        )
    };
    let (client, _server) = hop(
        &receiver,
        "prices",
        "orders-read",
        "GET /orders/{id}",
        &logs,
    )
    .await;
    let received = url_front.received();
    assert_eq!(received[0].line, "GET /orders/45");
    assert_eq!(
        received[0].headers.get("traceparent").map(String::as_str),
        Some(format!("00-{}-{}-01", client.trace_id, client.span_id).as_str())
    );
    assert!(
        !received[0].headers.contains_key("x-amzn-trace-id"),
        "Cloud Run is configured for W3C only"
    );
}
