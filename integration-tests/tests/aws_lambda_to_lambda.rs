//! Lambda → Lambda: the caller's CLIENT span travels in the invocation's ClientContext and
//! is the parent of the callee's invocation span — through the real aws-sdk-lambda on the
//! caller side and the real lambda_runtime in a real function binary on the callee side.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine as _;
use otel_faas_core::{
    InvocationSpec, Pipeline, Propagation, SpanSpec, TriggerAdapter,
    env::MapEnvironment,
    trigger::{FaasTrigger, InvocationContext},
};
use otel_faas_integration_tests::{
    FunctionProcess, Invoke, LocalRuntimeApi, OtlpReceiver, SpanKind, build_binary,
};
use otel_faas_messaging::aws_sdk::lambda::InvokeTracing as _;

const WAIT: Duration = Duration::from_secs(20);

struct Caller;

impl<R> TriggerAdapter<(), R> for Caller {
    fn invocation_spec(
        &self,
        _: &(),
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(FaasTrigger::Http, SpanSpec::server("caller"))
    }
}

/// The Lambda Invoke API, as far as the caller needs it: records the client context.
async fn invoke_endpoint(
    State(seen): State<Arc<Mutex<Option<String>>>>,
    headers: HeaderMap,
) -> ([(&'static str, &'static str); 1], &'static str) {
    let client_context = headers
        .get("x-amz-client-context")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    *seen.lock().unwrap() = client_context;
    ([("x-amz-executed-version", "7")], "{}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_invoke_makes_the_callee_a_child_of_the_callers_client_span() {
    // The caller: an invocation that calls `invoke` through the SDK.
    let seen = Arc::new(Mutex::new(None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(invoke_endpoint),
        )
        .with_state(Arc::clone(&seen));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        receiver.endpoint(),
    )]))
    .install();
    let engine = telemetry.engine().build();
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    let lambda = aws_sdk_lambda::Client::from_conf(config);
    let schedule = std::fs::read_to_string(format!(
        "{}/../../shared/fixtures/aws-lambda-events/example-eventbridge-schedule.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    engine
        .invocation(&Caller, ())
        .run(|_| {
            let payload = schedule.clone();
            async move {
                Ok::<_, Infallible>(
                    lambda
                        .invoke()
                        .function_name(
                            "arn:aws:lambda:us-east-1:123456789012:function:otel-faas-test",
                        )
                        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
                        .send_traced()
                        .await,
                )
            }
        })
        .await
        .unwrap()
        .expect("invoke");
    server.abort();
    let encoded = seen
        .lock()
        .unwrap()
        .clone()
        .expect("the invoke carried a client context");
    let client_context = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();

    // The callee: a real function binary, handed that client context as Lambda does.
    let binary = build_binary("example-lambda-scheduled", "lambda-scheduled").expect("binary");
    let api = LocalRuntimeApi::start().expect("runtime api");
    let callee = FunctionProcess::spawn(
        &binary,
        &api.address(),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())],
    )
    .expect("function");
    api.invoke(
        Invoke::new(serde_json::from_str(&schedule).unwrap()).client_context(client_context),
        WAIT,
    )
    .await
    .unwrap_or_else(|error| panic!("{error}\n{}", callee.log()));
    drop(callee);

    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans.iter().any(|s| s.name == "otel-faas-test")
        })
        .await
        .expect("spans");
    let client = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client)
        .expect("the invoke's CLIENT span");
    assert_eq!(client.name, "otel-faas-test");
    assert_eq!(client.attr_str("faas.invoked_name"), Some("otel-faas-test"));
    assert_eq!(client.attr_str("faas.invoked_provider"), Some("aws"));
    assert_eq!(client.attr_str("faas.invoked_region"), Some("us-east-1"));
    let callee = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server && s.name == "otel-faas-test")
        .unwrap();
    assert_eq!(
        callee.trace_id, client.trace_id,
        "one trace across the invoke"
    );
    assert_eq!(callee.parent_span_id, client.span_id);
    telemetry.shutdown(WAIT).await.unwrap();
}
