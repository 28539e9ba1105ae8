//! Outgoing HTTP calls (`otel_faas_core::http::client`): the CLIENT span of each request as
//! the conventions describe it, the trace context the called service receives, every way a
//! call fails, credentials kept out of the exported bytes, and the library's own exports
//! never traced. reqwest through reqwest-middleware, hyper-util's client and tonic through
//! the tower layer; a real loopback server answers, and spans are read off the wire.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Request};
use axum::http::{HeaderMap, StatusCode as HttpStatus};
use axum::routing::get;
use opentelemetry::trace::TraceContextExt as _;
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::http::client::{ClientTraceLayer, ResendCount, TracingMiddleware, UrlTemplate};
use otel_faas_core::trigger::{FaasTrigger, InvocationContext};
use otel_faas_core::{InvocationSpec, Pipeline, Propagation, SpanSpec, Telemetry, TriggerAdapter};
use otel_faas_integration_tests::{OtlpReceiver, ReceivedSpan, SpanKind, StatusCode};
use tower::{Layer as _, ServiceExt as _};

const WAIT: Duration = Duration::from_secs(10);

/// A service to call: `/items/{id}` answers 200, `/status/{code}` that code, `/slow` after
/// five seconds; it keeps the headers of every request.
struct Callee {
    base: String,
    received: Arc<Mutex<Vec<(String, HeaderMap)>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Callee {
    async fn start() -> Self {
        let received: Arc<Mutex<Vec<(String, HeaderMap)>>> = Arc::default();
        let keep = Arc::clone(&received);
        let app = axum::Router::new()
            .route("/items/{id}", get(|| async { "an item" }))
            .route(
                "/status/{code}",
                get(|Path(code): Path<u16>| async move {
                    HttpStatus::from_u16(code).unwrap_or(HttpStatus::IM_A_TEAPOT)
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .layer(axum::middleware::from_fn(
                move |request: Request, next: axum::middleware::Next| {
                    let keep = Arc::clone(&keep);
                    async move {
                        keep.lock()
                            .unwrap()
                            .push((request.uri().path().to_owned(), request.headers().clone()));
                        next.run(request).await
                    }
                },
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            received,
            _stop: stop,
        }
    }

    fn port(&self) -> i64 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// The headers of the requests to `path`, in order.
    fn headers_of(&self, path: &str) -> Vec<HeaderMap> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }
}

fn telemetry(receiver: &OtlpReceiver, extra: &[(&str, &str)]) -> Telemetry {
    let mut env: HashMap<String, String> = HashMap::from([
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            receiver.endpoint(),
        ),
        ("OTEL_SERVICE_NAME".to_owned(), "caller".to_owned()),
    ]);
    for (key, value) in extra {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    let mut pipeline = Pipeline::with_environment(MapEnvironment::from_iter(env));
    otel_faas_aws::xray::register_propagators(pipeline.registry_mut());
    pipeline.install()
}

struct Job;
impl<R> TriggerAdapter<(), R> for Job {
    fn invocation_spec(
        &self,
        _: &(),
        _: &InvocationContext,
        _: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
    }
}

/// Runs `call` as the handler of one invocation of `telemetry`'s engine (flushed at its
/// end), and returns what it returned with the invocation's span id.
async fn in_invocation<T, F>(telemetry: &Telemetry, call: F) -> (T, String)
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let engine = telemetry.engine().build();
    engine
        .invocation(&Job, ())
        .run(|_| async move {
            let invocation = opentelemetry::Context::map_current(|cx| {
                cx.span().span_context().span_id().to_string()
            });
            Ok::<_, Infallible>((call.await, invocation))
        })
        .await
        .unwrap()
}

fn client() -> reqwest_middleware::ClientWithMiddleware {
    // reqwest with `rustls-no-provider` (as the workspace builds it) wants one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build()
}

async fn client_span(receiver: &OtlpReceiver, name: &str) -> ReceivedSpan {
    receiver
        .wait_for_span_where(WAIT, |s| s.kind == SpanKind::Client && s.name == name)
        .await
        .unwrap_or_else(|e| panic!("no CLIENT span {name}: {e}; got {:#?}", receiver.spans()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_an_invocation_is_its_client_child_and_the_callee_continues_the_trace() {
    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[]);
    let url = format!("{}/items/7?color=red", callee.base);
    let (status, invocation) = in_invocation(&telemetry, async move {
        client()
            .get(url)
            .with_extension(UrlTemplate::new("/items/{id}"))
            .send()
            .await
            .unwrap()
            .status()
    })
    .await;
    assert_eq!(status, 200);

    let span = client_span(&receiver, "GET /items/{id}").await;
    assert_eq!(span.parent_span_id, invocation, "a child of the invocation");
    assert_eq!(span.attr_str("http.request.method"), Some("GET"));
    assert_eq!(span.attr_str("server.address"), Some("127.0.0.1"));
    assert_eq!(span.attr_int("server.port"), Some(callee.port()));
    assert_eq!(
        span.attr_str("url.full"),
        Some(format!("{}/items/7?color=red", callee.base).as_str())
    );
    assert_eq!(span.attr_str("url.template"), Some("/items/{id}"));
    assert_eq!(span.attr_int("http.response.status_code"), Some(200));
    assert_eq!(span.attr_str("network.protocol.version"), Some("1.1"));
    assert_eq!(
        span.attr("http.request.resend_count"),
        None,
        "the first send"
    );
    assert_eq!(span.attr("error.type"), None);
    assert_eq!(span.status, StatusCode::Unset);

    let headers = callee.headers_of("/items/7");
    assert_eq!(headers.len(), 1);
    assert_eq!(
        headers[0]["traceparent"],
        format!("00-{}-{}-01", span.trace_id, span.span_id).as_str(),
        "the callee's parent is the CLIENT span"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_xray_configured_the_callee_receives_x_amzn_trace_id() {
    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[("OTEL_PROPAGATORS", "xray")]);
    let url = format!("{}/items/8", callee.base);
    in_invocation(&telemetry, async move {
        client().get(url).send().await.unwrap()
    })
    .await;

    let span = client_span(&receiver, "GET").await;
    let headers = &callee.headers_of("/items/8")[0];
    assert!(
        !headers.contains_key("traceparent"),
        "X-Ray only: {headers:?}"
    );
    let xray = headers["x-amzn-trace-id"].to_str().unwrap();
    assert_eq!(
        xray,
        format!(
            "Root=1-{}-{};Parent={};Sampled=1",
            &span.trace_id[..8],
            &span.trace_id[8..],
            span.span_id
        )
    );
}

/// Outside an invocation the span is a child of the current `tracing` span (through
/// tracing-opentelemetry), and the global propagator — the pipeline's, once
/// `set_global_providers` ran — injects.
#[tokio::test(flavor = "current_thread")]
async fn outside_an_invocation_the_current_tracing_span_is_the_parent() {
    use tracing::Instrument as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[]);
    telemetry.set_global_providers();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(telemetry.tracer("outside")));
    let _guard = tracing::subscriber::set_default(subscriber);
    let url = format!("{}/items/9", callee.base);
    client()
        .get(url)
        .send()
        .instrument(tracing::info_span!("refresh cache"))
        .await
        .unwrap();
    telemetry.tracer_provider().force_flush().unwrap();
    telemetry
        .engine()
        .build()
        .flusher()
        .flush(WAIT)
        .await
        .unwrap();

    let span = client_span(&receiver, "GET").await;
    let parent = receiver.wait_for_span("refresh cache", WAIT).await.unwrap();
    assert_eq!(span.parent_span_id, parent.span_id);
    assert_eq!(span.trace_id, parent.trace_id);
    let headers = &callee.headers_of("/items/9")[0];
    assert_eq!(
        headers["traceparent"],
        format!("00-{}-{}-01", span.trace_id, span.span_id).as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_server_error_statuses_are_errors_named_by_the_code() {
    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[]);
    let base = callee.base.clone();
    let (statuses, _) = in_invocation(&telemetry, async move {
        let mut statuses = Vec::new();
        for code in [404, 503, 302] {
            let response = client()
                .get(format!("{base}/status/{code}"))
                .with_extension(UrlTemplate::new(format!("/status/{code}")))
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        statuses
    })
    .await;
    assert_eq!(
        statuses,
        [404, 503, 302],
        "the caller's responses unchanged"
    );

    for (code, error) in [(404, true), (503, true), (302, false)] {
        let span = client_span(&receiver, &format!("GET /status/{code}")).await;
        assert_eq!(span.attr_int("http.response.status_code"), Some(code));
        if error {
            assert_eq!(span.status, StatusCode::Error, "{code}");
            assert_eq!(span.attr_str("error.type"), Some(code.to_string().as_str()));
        } else {
            assert_eq!(span.status, StatusCode::Unset, "{code}");
            assert_eq!(span.attr("error.type"), None);
        }
    }
}

/// A middleware that sends each request twice when the first answer is a 503, as a retry
/// middleware (reqwest-retry) does: through the rest of the chain, with the same
/// extensions.
struct RetryOnce;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for RetryOnce {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = request.try_clone().unwrap();
        let first = next.clone().run(request, extensions).await?;
        if first.status() != 503 {
            return Ok(first);
        }
        next.run(again, extensions).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_is_a_span_per_attempt_with_the_resend_count() {
    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[]);
    let url = format!("{}/status/503", callee.base);
    in_invocation(&telemetry, async move {
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(RetryOnce)
            .with(TracingMiddleware::new())
            .build()
            .get(url)
            .send()
            .await
            .unwrap()
    })
    .await;
    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans.iter().filter(|s| s.kind == SpanKind::Client).count() >= 2
        })
        .await
        .unwrap();
    let mut counts: Vec<Option<i64>> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .map(|s| s.attr_int("http.request.resend_count"))
        .collect();
    counts.sort();
    assert_eq!(counts, [None, Some(1)]);
    let headers = callee.headers_of("/status/503");
    assert_eq!(headers.len(), 2);
    assert_ne!(
        headers[0]["traceparent"], headers[1]["traceparent"],
        "each attempt is its own span"
    );
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_without_a_response_are_named_and_the_callers_error_is_unchanged() {
    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[]);
    let port = closed_port().await;
    let slow = format!("{}/slow", callee.base);
    // A TLS server whose certificate the client does not trust.
    let dir = std::env::temp_dir().join(format!("otel-faas-client-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certificate = otel_faas_integration_tests::TestCertificate::generate(&dir).unwrap();
    let tls_server = OtlpReceiver::start_tls(&certificate).unwrap();
    let untrusted = format!("{}/v1/traces", tls_server.endpoint());
    assert!(untrusted.starts_with("https://"), "{untrusted}");

    let (errors, _) = in_invocation(&telemetry, async move {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let client = reqwest_middleware::ClientBuilder::new(
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .timeout(Duration::from_millis(300))
                .build()
                .unwrap(),
        )
        .with(TracingMiddleware::new())
        .build();
        let mut errors = Vec::new();
        for (template, url) in [
            ("refused", format!("http://127.0.0.1:{port}/x")),
            ("slow", slow),
            ("untrusted", untrusted),
            ("scheme", "ftp://127.0.0.1/file".to_owned()),
        ] {
            let error = client
                .get(url)
                .with_extension(UrlTemplate::new(template))
                .send()
                .await
                .expect_err(template);
            errors.push((template, error));
        }
        errors
    })
    .await;
    let error = |name: &str| &errors.iter().find(|(t, _)| *t == name).unwrap().1;
    let reqwest = |name: &str| match error(name) {
        reqwest_middleware::Error::Reqwest(e) => e,
        other => panic!("{name}: reqwest's own error expected, got {other:?}"),
    };
    assert!(reqwest("refused").is_connect());
    assert!(reqwest("slow").is_timeout());
    assert!(reqwest("untrusted").is_connect());
    assert!(reqwest("scheme").is_builder());

    for (name, error_type) in [
        ("refused", "connect"),
        ("slow", "timeout"),
        ("untrusted", "tls"),
        ("scheme", "builder"),
    ] {
        let span = client_span(&receiver, &format!("GET {name}")).await;
        assert_eq!(span.status, StatusCode::Error, "{name}");
        assert_eq!(span.attr_str("error.type"), Some(error_type), "{name}");
        assert!(
            !span.status_message.is_empty(),
            "{name}: the error's message"
        );
        assert_eq!(span.attr("http.response.status_code"), None, "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A URL that does not parse never becomes a request: reqwest's builder fails before any
/// middleware runs, so the caller gets reqwest's error and nothing was sent, or recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_url_is_the_callers_builder_error_and_nothing_is_sent() {
    let receiver = OtlpReceiver::start().unwrap();
    let telemetry = telemetry(&receiver, &[]);
    let (error, _) = in_invocation(&telemetry, async move {
        client()
            .get("http://exa mple.com/items")
            .send()
            .await
            .unwrap_err()
    })
    .await;
    match error {
        reqwest_middleware::Error::Reqwest(e) => assert!(e.is_builder(), "{e}"),
        other => panic!("reqwest's builder error expected, got {other:?}"),
    }
    receiver.wait_for_span("job", WAIT).await.unwrap();
    assert!(
        receiver.spans().iter().all(|s| s.kind != SpanKind::Client),
        "{:#?}",
        receiver.spans()
    );
}

/// Every key of the default redaction list, named here rather than read from the list, in
/// mixed case, and a user name and password: none of their values reaches the collector,
/// in the attributes or in the message of a failed call (reqwest names the URL there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_never_reach_the_exported_bytes() {
    const KEYS: [&str; 22] = [
        "AWSAccessKeyId",
        "signature",
        "SIG",
        "x-goog-signature",
        "X-AMZ-SIGNATURE",
        "x-Amz-Credential",
        "X-Amz-Security-Token",
        "X-GOOG-CREDENTIAL",
        "x-goog-security-token",
        "Token",
        "ACCESS_TOKEN",
        "Refresh_Token",
        "id_TOKEN",
        "Auth",
        "PassWord",
        "passwd",
        "PWD",
        "Secret",
        "Client_Secret",
        "API_KEY",
        "ApiKey",
        "API-Key",
    ];
    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[]);
    let query: Vec<String> = KEYS
        .iter()
        .enumerate()
        .map(|(i, key)| format!("{key}=s3cr3t{i}x"))
        .collect();
    let query = format!("keep=visible&{}", query.join("&"));
    let answered = format!(
        "http://alice:hunter2@{}/items/1?{query}",
        callee.base.trim_start_matches("http://")
    );
    let refused = format!(
        "http://alice:hunter2@127.0.0.1:{}/x?{query}",
        closed_port().await
    );
    in_invocation(&telemetry, async move {
        let client = client();
        client
            .get(answered)
            .with_extension(UrlTemplate::new("answered"))
            .send()
            .await
            .unwrap();
        client
            .get(refused)
            .with_extension(UrlTemplate::new("refused"))
            .send()
            .await
            .unwrap_err();
    })
    .await;

    let answered = client_span(&receiver, "GET answered").await;
    let refused = client_span(&receiver, "GET refused").await;
    let url = answered.attr_str("url.full").unwrap();
    // reqwest moves a user name and password into `Authorization` (never recorded) before
    // any middleware sees the request; the tower layer's test covers them in the URL.
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        url.contains("keep=visible&AWSAccessKeyId=REDACTED&signature=REDACTED"),
        "{url}"
    );
    assert!(url.ends_with("&API-Key=REDACTED"), "{url}");
    assert!(
        refused.status_message.contains("REDACTED"),
        "the message names the recorded URL: {}",
        refused.status_message
    );
    for span in [&answered, &refused] {
        let everything = format!("{span:?}");
        for (i, key) in KEYS.iter().enumerate() {
            let secret = format!("s3cr3t{i}x");
            assert!(
                !everything.contains(&secret),
                "{key}'s value exported: {everything}"
            );
        }
        assert!(
            !everything.contains("hunter2"),
            "the password exported: {everything}"
        );
        assert!(
            !everything.contains("alice"),
            "the user name exported: {everything}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_url_is_cut_to_the_value_length_limit() {
    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "2048")]);
    let url = format!("{}/items/{}", callee.base, "a".repeat(1 << 20));
    in_invocation(&telemetry, async move {
        // Whatever the server or the client makes of it, the caller sees it unchanged.
        let _ = client().get(url).send().await;
    })
    .await;
    let span = receiver
        .wait_for_span_where(WAIT, |s| s.kind == SpanKind::Client)
        .await
        .unwrap();
    let recorded = span.attr_str("url.full").unwrap();
    assert_eq!(recorded.chars().count(), 2048);
    assert!(recorded.starts_with(&format!("{}/items/aaa", callee.base)));
}

/// A span exporter of the user's that sends each batch with the same instrumented client
/// the handler uses. The export runs at the end of the invocation, on its task: its own
/// request must carry no context and make no span — while the handler's call, through the
/// same client, does both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exporter_sharing_the_instrumented_client_is_never_traced() {
    #[derive(Debug)]
    struct PostingExporter {
        client: reqwest_middleware::ClientWithMiddleware,
        url: String,
    }
    impl opentelemetry_sdk::trace::SpanExporter for PostingExporter {
        async fn export(
            &self,
            batch: Vec<opentelemetry_sdk::trace::SpanData>,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            self.client
                .post(&self.url)
                .body(format!("{} spans", batch.len()))
                .send()
                .await
                .map(drop)
                .map_err(|e| opentelemetry_sdk::error::OTelSdkError::InternalFailure(e.to_string()))
        }
    }

    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let shared = client();
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_SERVICE_NAME", "caller".to_owned()),
    ]))
    .with_span_exporter(PostingExporter {
        client: shared.clone(),
        url: format!("{}/items/exported", callee.base),
    })
    .install();
    // The global tracer real too: outside the invocation's context (where the engine may
    // flush) a traced request would be a root span of it.
    telemetry.set_global_providers();
    let handler_url = format!("{}/items/handler", callee.base);
    in_invocation(&telemetry, async move {
        shared.get(handler_url).send().await.unwrap();
    })
    .await;

    receiver.wait_for_span("job", WAIT).await.unwrap();
    let exports = callee.headers_of("/items/exported");
    assert!(!exports.is_empty(), "the exporter ran");
    for headers in &exports {
        assert!(
            !headers.contains_key("traceparent"),
            "an export carried context: {headers:?}"
        );
    }
    let handler = &callee.headers_of("/items/handler")[0];
    assert!(
        handler.contains_key("traceparent"),
        "the handler's call is traced"
    );
    let clients: Vec<String> = receiver
        .spans()
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .map(|s| s.attr_str("url.full").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(clients, [format!("{}/items/handler", callee.base)]);
}

/// hyper-util's client under the tower layer: the same span and injection, and its
/// transport error named too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hyper_client_under_the_tower_layer_is_traced_alike() {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[]);
    let ok = format!("{}/status/500", callee.base);
    let refused = format!("http://alice:hunter2@127.0.0.1:{}/x", closed_port().await);
    let (results, invocation) = in_invocation(&telemetry, async move {
        let client = Client::builder(TokioExecutor::new())
            .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let client = ClientTraceLayer::new().layer(client);
        let mut request = http::Request::get(ok).body(Default::default()).unwrap();
        request
            .extensions_mut()
            .insert(UrlTemplate::new("/status/{code}"));
        request.extensions_mut().insert(ResendCount(2));
        let answered = client.clone().oneshot(request).await.map(|r| r.status());
        let refused = client
            .oneshot(
                http::Request::get(refused)
                    .body(Default::default())
                    .unwrap(),
            )
            .await
            .map(|r| r.status());
        (answered, refused.map_err(|e| e.is_connect()))
    })
    .await;
    assert_eq!(results.0.unwrap(), 500);
    assert_eq!(
        results.1,
        Err(true),
        "hyper-util's connect error, unchanged"
    );

    let answered = client_span(&receiver, "GET /status/{code}").await;
    assert_eq!(answered.parent_span_id, invocation);
    assert_eq!(answered.attr_int("http.response.status_code"), Some(500));
    assert_eq!(answered.attr_str("error.type"), Some("500"));
    assert_eq!(answered.attr_int("http.request.resend_count"), Some(2));
    assert_eq!(
        answered.attr_str("url.full"),
        Some(format!("{}/status/500", callee.base).as_str())
    );
    let headers = &callee.headers_of("/status/500")[0];
    assert_eq!(
        headers["traceparent"],
        format!("00-{}-{}-01", answered.trace_id, answered.span_id).as_str()
    );
    let refused = client_span(&receiver, "GET").await;
    assert_eq!(refused.attr_str("error.type"), Some("connect"));
    let url = refused.attr_str("url.full").unwrap();
    assert!(
        url.starts_with("http://REDACTED:REDACTED@127.0.0.1:"),
        "{url}"
    );
    assert!(!format!("{refused:?}").contains("hunter2"));
    assert_eq!(refused.status, StatusCode::Error);
}

/// tonic's channel under the tower layer: a gRPC call follows the RPC conventions, its
/// status read from the trailers; a method the server does not have is UNIMPLEMENTED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_channel_under_the_tower_layer_follows_the_rpc_conventions() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

    let receiver = OtlpReceiver::start().unwrap();
    let server = OtlpReceiver::start().unwrap();
    let telemetry = telemetry(&receiver, &[]);
    let endpoint = server.grpc_endpoint();
    let (results, invocation) = in_invocation(&telemetry, async move {
        let origin: http::Uri = endpoint.parse().unwrap();
        let channel = tonic::transport::Channel::from_shared(endpoint)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let channel = ClientTraceLayer::new().with_origin(&origin).layer(channel);
        let exported = TraceServiceClient::new(channel.clone())
            .export(ExportTraceServiceRequest::default())
            .await
            .map(drop)
            .map_err(|s| s.code());
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let missing: Result<tonic::Response<ExportTraceServiceRequest>, tonic::Status> = grpc
            .unary(
                tonic::Request::new(ExportTraceServiceRequest::default()),
                http::uri::PathAndQuery::from_static("/orders.v1.Orders/Place"),
                tonic_prost::ProstCodec::default(),
            )
            .await;
        (exported, missing.map(drop).map_err(|s| s.code()))
    })
    .await;
    assert_eq!(results.0, Ok(()));
    assert_eq!(results.1, Err(tonic::Code::Unimplemented));

    let exported = client_span(
        &receiver,
        "opentelemetry.proto.collector.trace.v1.TraceService/Export",
    )
    .await;
    assert_eq!(exported.parent_span_id, invocation);
    assert_eq!(exported.attr_str("rpc.system.name"), Some("grpc"));
    assert_eq!(
        exported.attr_str("rpc.method"),
        Some("opentelemetry.proto.collector.trace.v1.TraceService/Export")
    );
    assert_eq!(exported.attr_str("rpc.response.status_code"), Some("OK"));
    assert_eq!(exported.attr_str("server.address"), Some("127.0.0.1"));
    assert_eq!(
        exported.attr("http.request.method"),
        None,
        "RPC, not HTTP, conventions"
    );
    assert_eq!(exported.status, StatusCode::Unset);
    let server_requests = server.requests();
    assert!(
        server_requests.iter().any(|r| r
            .headers
            .get("traceparent")
            .is_some_and(|t| t.contains(&exported.span_id))),
        "the server received the CLIENT span's context: {server_requests:?}"
    );

    let missing = client_span(&receiver, "orders.v1.Orders/Place").await;
    assert_eq!(
        missing.attr_str("rpc.response.status_code"),
        Some("UNIMPLEMENTED")
    );
    assert_eq!(missing.attr_str("error.type"), Some("UNIMPLEMENTED"));
    assert_eq!(missing.status, StatusCode::Error);
}

/// The ready-made client: traced, and HTTPS with the webpki roots (a self-signed server
/// is refused as a TLS failure, not as a scheme reqwest cannot speak).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ready_made_client_is_traced_and_speaks_https() {
    let receiver = OtlpReceiver::start().unwrap();
    let callee = Callee::start().await;
    let telemetry = telemetry(&receiver, &[]);
    let dir = std::env::temp_dir().join(format!("otel-faas-ready-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certificate = otel_faas_integration_tests::TestCertificate::generate(&dir).unwrap();
    let tls_server = OtlpReceiver::start_tls(&certificate).unwrap();
    let untrusted = format!("{}/v1/traces", tls_server.endpoint());
    let plain = format!("{}/items/3", callee.base);
    let (results, _) = in_invocation(&telemetry, async move {
        let client = otel_faas_core::http::client::traced_reqwest_client().unwrap();
        let plain = client.get(plain).send().await.map(|r| r.status().as_u16());
        let secure = client
            .get(untrusted)
            .with_extension(UrlTemplate::new("untrusted"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        (plain, secure.map_err(|e| e.to_string()))
    })
    .await;
    assert_eq!(results.0.unwrap(), 200);
    assert!(results.1.is_err());
    assert!(callee.headers_of("/items/3")[0].contains_key("traceparent"));
    let refused = client_span(&receiver, "GET untrusted").await;
    assert_eq!(refused.attr_str("error.type"), Some("tls"));
    let _ = std::fs::remove_dir_all(&dir);
}
