//! The engine end to end: handlers wrapped by the engine export over real OTLP/HTTP on
//! loopback, and the assertions read what the receiver decoded off the wire.

use std::collections::HashMap;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, Tracer as _};
use otel_faas_core::{
    InvocationLayer, InvocationSpec, Pipeline, Propagation, SpanSpec, Telemetry, TriggerAdapter,
    engine::FlushPolicy,
    env::MapEnvironment,
    http::{HttpRoute, HttpTrigger},
    trigger::{FaasTrigger, InvocationContext},
};
use otel_faas_integration_tests::{AttrValue, OtlpReceiver, SpanKind, StatusCode};
use tower::{Layer, ServiceExt, service_fn};

const WAIT: Duration = Duration::from_secs(10);

fn telemetry(receiver: &OtlpReceiver, extra: &[(&str, &str)]) -> Telemetry {
    let mut env = MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_SERVICE_NAME", "e2e".to_owned()),
    ]);
    for (key, value) in extra {
        env.insert(*key, *value);
    }
    Pipeline::with_environment(env).install()
}

fn traceparent(trace_id: &str, span_id: &str) -> String {
    format!("00-{trace_id}-{span_id}-01")
}

/// A trigger for a plain string event that carries its context in a header map.
struct JobTrigger;

struct Job {
    headers: HashMap<String, String>,
}

impl<R> TriggerAdapter<Job, R> for JobTrigger {
    fn invocation_spec(
        &self,
        job: &Job,
        _: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
            .with_parent(propagation.extract_from(&job.headers))
    }
}

fn job(parent: Option<String>) -> Job {
    Job {
        headers: parent
            .map(|p| HashMap::from([("traceparent".to_owned(), p)]))
            .unwrap_or_default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_is_taken_from_the_incoming_traceparent() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[]);
    let engine = telemetry.engine().build();
    let handler = service_fn(|_request: http::Request<String>| async {
        Ok::<_, Infallible>(
            http::Response::builder()
                .status(201)
                .body(String::new())
                .unwrap(),
        )
    });
    let service = InvocationLayer::new(engine, HttpTrigger::new()).layer(handler);

    let mut request = http::Request::post("/orders/42?expand=items")
        .header("host", "orders.internal:8080")
        .header(
            "traceparent",
            traceparent("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
        )
        .header("authorization", "Bearer do-not-record")
        .body(String::new())
        .unwrap();
    request
        .extensions_mut()
        .insert(HttpRoute("/orders/{id}".into()));
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);

    let span = receiver
        .wait_for_span("POST /orders/{id}", WAIT)
        .await
        .unwrap();
    assert_eq!(span.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(span.parent_span_id, "b7ad6b7169203331");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.scope, "otel-faas-core");
    assert_eq!(span.attr_str("faas.trigger"), Some("http"));
    assert_eq!(span.attr("faas.coldstart"), Some(&AttrValue::Bool(true)));
    assert_eq!(span.attr_str("http.request.method"), Some("POST"));
    assert_eq!(span.attr_str("http.route"), Some("/orders/{id}"));
    assert_eq!(span.attr_str("url.path"), Some("/orders/42"));
    assert_eq!(span.attr_str("url.query"), Some("expand=items"));
    assert_eq!(span.attr_str("server.address"), Some("orders.internal"));
    assert_eq!(span.attr("server.port"), Some(&AttrValue::Int(8080)));
    assert_eq!(
        span.attr("http.response.status_code"),
        Some(&AttrValue::Int(201))
    );
    assert_eq!(span.status, StatusCode::Unset);
    assert_eq!(
        span.resource_attr("service.name"),
        Some(&AttrValue::from("e2e"))
    );
    let everything = format!("{span:?}");
    assert!(
        !everything.contains("do-not-record"),
        "a credential was exported"
    );
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tracing::instrument]
async fn load_order(order_id: u32) -> u32 {
    tokio::task::yield_now().await;
    order_id * 2
}

#[tokio::test(flavor = "current_thread")]
async fn instrumented_functions_nest_under_the_invocation_span() {
    use tracing_subscriber::layer::SubscriberExt as _;

    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[]);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(telemetry.tracer("app")));
    // A current-thread runtime runs every task on this thread, so a thread-local default
    // subscriber covers the whole test.
    let _subscriber = tracing::subscriber::set_default(subscriber);
    let engine = telemetry.engine().build();

    let parent = traceparent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let doubled = engine
        .invocation(&JobTrigger, job(Some(parent)))
        .run(|_job| async { Ok::<_, Infallible>(load_order(21).await) })
        .await
        .unwrap();
    assert_eq!(doubled, 42);

    let spans = receiver.wait_for_spans(2, WAIT).await.unwrap();
    let invocation = spans
        .iter()
        .find(|s| s.name == "job")
        .expect("invocation span");
    let child = spans
        .iter()
        .find(|s| s.name == "load_order")
        .expect("instrumented span");
    assert_eq!(invocation.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(child.trace_id, invocation.trace_id);
    assert_eq!(child.parent_span_id, invocation.span_id);
    // #[instrument] records arguments with their Debug form.
    assert_eq!(child.attr_str("order_id"), Some("21"));
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_exports_an_error_span_and_the_panic_resumes() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[]);
    let engine = telemetry.engine().build();

    let result = AssertUnwindSafe(engine.invocation(&JobTrigger, job(None)).run(|_job| async {
        if std::hint::black_box(true) {
            panic!("inventory service returned garbage");
        }
        Ok::<(), Infallible>(())
    }))
    .catch_unwind()
    .await;
    let payload = result.expect_err("the panic must reach the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"inventory service returned garbage")
    );

    // EndOfInvocation: the span was exported before the panic was resumed, no waiting.
    let spans = receiver.spans();
    let span = spans
        .iter()
        .find(|s| s.name == "job")
        .expect("exported before the panic resumed");
    assert_eq!(span.status, StatusCode::Error);
    assert_eq!(span.attr_str("error.type"), Some("panic"));
    let exception = span.event("exception").expect("exception event");
    assert_eq!(
        exception.attributes.get("exception.message"),
        Some(&AttrValue::from("inventory service returned garbage"))
    );
    telemetry.shutdown(WAIT).await.unwrap();
}

#[derive(Debug, thiserror::Error)]
#[error("payment declined for order {0}")]
struct PaymentDeclined(u32);

/// `lambda_runtime::Error`, `anyhow::Error` and the like hide the error's type: the span
/// names the type behind them, and a bare message is `_OTHER` — never
/// `Box<dyn Error + Send + Sync>` or `String`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boxed_error_is_named_by_the_type_it_holds() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[]);
    let engine = telemetry.engine().build();
    type Boxed = Box<dyn std::error::Error + Send + Sync>;
    type Case = (&'static str, fn() -> Boxed, &'static str);
    let cases: [Case; 3] = [
        ("typed", || Box::new(PaymentDeclined(7)), "PaymentDeclined"),
        (
            "io",
            || Box::new(std::io::Error::other("disk full")),
            "std::io::Error",
        ),
        ("message", || "no items".into(), "_OTHER"),
    ];
    for (name, error, _) in cases {
        let _ = engine
            .invocation(&JobTrigger, job(None))
            .context(InvocationContext::new().with_invocation_id(name))
            .run(|_job| async move { Err::<(), Boxed>(error()) })
            .await;
    }
    let anyhow_error = engine
        .invocation(&JobTrigger, job(None))
        .context(InvocationContext::new().with_invocation_id("anyhow"))
        .run(|_job| async { Err::<(), _>(anyhow::Error::new(PaymentDeclined(8))) })
        .await;
    assert!(anyhow_error.is_err());
    let spans = receiver.wait_for_spans(4, WAIT).await.unwrap();
    let error_type = |id: &str| {
        spans
            .iter()
            .find(|s| s.attr_str("faas.invocation_id") == Some(id))
            .and_then(|s| s.attr_str("error.type"))
            .map(str::to_owned)
    };
    for (name, _, expected) in cases {
        assert_eq!(error_type(name).as_deref(), Some(expected), "{name}");
    }
    assert_eq!(error_type("anyhow").as_deref(), Some("PaymentDeclined"));
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_records_error_type_and_exception() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[]);
    let engine = telemetry.engine().build();

    let result = engine
        .invocation(&JobTrigger, job(None))
        .run(|_job| async { Err::<(), _>(PaymentDeclined(7)) })
        .await;
    assert!(result.is_err());
    let span = receiver.wait_for_span("job", WAIT).await.unwrap();
    assert_eq!(span.status, StatusCode::Error);
    assert_eq!(span.status_message, "payment declined for order 7");
    assert_eq!(
        span.attr_str("error.type"),
        Some("core_engine::PaymentDeclined")
    );
    assert_eq!(
        span.event("exception")
            .and_then(|e| e.attributes.get("exception.type")),
        Some(&AttrValue::from("core_engine::PaymentDeclined"))
    );
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_outlives_its_deadline_exports_a_timeout_span_before_the_deadline() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[]);
    let engine = telemetry
        .engine()
        .deadline_margin(Duration::from_millis(400))
        .build();

    let deadline = Instant::now() + Duration::from_millis(1200);
    let context = InvocationContext::new()
        .with_invocation_id("inv-timeout")
        .with_deadline(deadline);
    let running = tokio::spawn({
        let engine = engine.clone();
        async move {
            engine
                .invocation(&JobTrigger, job(None))
                .context(context)
                .run(|_job| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    Ok::<_, Infallible>(())
                })
                .await
        }
    });

    let span = receiver.wait_for_span("job", WAIT).await.unwrap();
    assert!(
        span.received_at < deadline,
        "the timeout span arrived {:?} after the deadline",
        span.received_at - deadline
    );
    assert_eq!(span.status, StatusCode::Error);
    assert_eq!(span.attr_str("error.type"), Some("timeout"));
    assert_eq!(span.attr_str("faas.invocation_id"), Some("inv-timeout"));
    assert!(span.event("exception").is_some());
    assert!(
        !running.is_finished(),
        "the handler itself is left to the platform"
    );

    // The late return neither panics nor exports the span a second time.
    running.await.unwrap().unwrap();
    telemetry.shutdown(WAIT).await.unwrap();
    assert_eq!(
        receiver.spans().iter().filter(|s| s.name == "job").count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_invocations_each_keep_their_own_parent() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Arc::new(telemetry(&receiver, &[]));
    let engine = telemetry.engine().build();
    let tracer = telemetry.tracer("app");
    let handler = service_fn(move |request: http::Request<String>| {
        let tracer = tracer.clone();
        async move {
            // Interleave: invocations sleep different times and yield in between.
            let pause = request.uri().path().len() as u64 % 7;
            tokio::time::sleep(Duration::from_millis(3 * pause)).await;
            tokio::task::yield_now().await;
            let cx = Context::current();
            let seen = cx.span().span_context().trace_id().to_string();
            let _work = tracer.start_with_context("work", &cx);
            Ok::<_, Infallible>(http::Response::new(seen))
        }
    });
    let service = InvocationLayer::new(engine, HttpTrigger::new()).layer(handler);

    let mut tasks = Vec::new();
    for i in 0..50_u32 {
        let trace_id = format!("{:032x}", 0xabc0_0000_u64 + u64::from(i));
        let parent_id = format!("{:016x}", 0x1000 + u64::from(i));
        let request = http::Request::get(format!("/item/{}", "x".repeat(i as usize)))
            .header("traceparent", traceparent(&trace_id, &parent_id))
            .body(String::new())
            .unwrap();
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let response = service.oneshot(request).await.unwrap();
            (trace_id, parent_id, response.into_body())
        }));
    }
    let mut expected = HashMap::new();
    for task in tasks {
        let (trace_id, parent_id, seen) = task.await.unwrap();
        assert_eq!(
            seen, trace_id,
            "the handler saw another invocation's context"
        );
        expected.insert(trace_id, parent_id);
    }

    let spans = receiver.wait_for_spans(100, WAIT).await.unwrap();
    let invocations: Vec<_> = spans.iter().filter(|s| s.name == "GET").collect();
    assert_eq!(invocations.len(), 50);
    for invocation in &invocations {
        assert_eq!(
            Some(&invocation.parent_span_id),
            expected.get(&invocation.trace_id)
        );
        let work = spans
            .iter()
            .find(|s| s.name == "work" && s.parent_span_id == invocation.span_id)
            .expect("each invocation's own child");
        assert_eq!(work.trace_id, invocation.trace_id);
    }
    let cold: Vec<_> = invocations
        .iter()
        .filter(|s| s.attr("faas.coldstart") == Some(&AttrValue::Bool(true)))
        .collect();
    assert_eq!(
        cold.len(),
        1,
        "exactly one invocation of the process is cold"
    );
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_otel_values_warn_and_the_defaults_still_export() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(
        &receiver,
        &[
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_PROPAGATORS", "tracecontext,bogus"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team"),
            ("OTEL_SDK_DISABLED", "perhaps"),
        ],
    );
    let mut variables: Vec<&str> = telemetry
        .warnings()
        .iter()
        .map(|w| w.variable.as_str())
        .collect();
    variables.sort_unstable();
    assert_eq!(
        variables,
        [
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_PROPAGATORS",
            "OTEL_RESOURCE_ATTRIBUTES",
            "OTEL_SDK_DISABLED",
            "OTEL_TRACES_SAMPLER",
        ]
    );
    for warning in telemetry.warnings() {
        assert!(
            !warning.accepted.is_empty() && !warning.fallback.is_empty(),
            "{warning}"
        );
    }
    assert_eq!(telemetry.config().traces.timeout, Duration::from_secs(10));
    assert_eq!(telemetry.propagation().names(), ["tracecontext"]);

    // The defaults are in force: sampled, exported, resource intact.
    let engine = telemetry.engine().build();
    engine
        .invocation(&JobTrigger, job(None))
        .run(|_job| async { Ok::<_, Infallible>(()) })
        .await
        .unwrap();
    let span = receiver.wait_for_span("job", WAIT).await.unwrap();
    assert_eq!(
        span.resource_attr("service.name"),
        Some(&AttrValue::from("e2e"))
    );
    assert_eq!(span.resource_attr("team"), None);
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_protocol_is_understood_by_the_receiver() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
    let engine = telemetry.engine().build();
    let parent = traceparent("11111111111111111111111111111111", "2222222222222222");
    engine
        .invocation(&JobTrigger, job(Some(parent)))
        .run(|_job| async { Ok::<_, Infallible>(()) })
        .await
        .unwrap();
    let span = receiver.wait_for_span("job", WAIT).await.unwrap();
    assert_eq!(span.trace_id, "11111111111111111111111111111111");
    assert_eq!(span.parent_span_id, "2222222222222222");
    assert!(
        receiver
            .request_content_types()
            .iter()
            .all(|t| t.starts_with("application/json"))
    );
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn flushing_never_blocks_a_current_thread_executor() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let export_delay = Duration::from_millis(800);
    receiver.set_response_delay(export_delay);
    let telemetry = telemetry(&receiver, &[]);
    let engine = telemetry
        .engine()
        .flush_policy(FlushPolicy::EndOfInvocation {
            budget: Duration::from_secs(5),
        })
        .build();

    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });

    let started = Instant::now();
    engine
        .invocation(&JobTrigger, job(None))
        .run(|_job| async { Ok::<_, Infallible>(()) })
        .await
        .unwrap();
    let waited = started.elapsed();
    let ticked = ticks.load(Ordering::Relaxed);
    ticker.abort();

    // The invocation really waited for the slow export...
    assert!(
        waited >= export_delay,
        "the flush returned after {waited:?}, before the export finished"
    );
    assert_eq!(
        receiver.spans().len(),
        1,
        "the span was exported before the invocation returned"
    );
    // ...and meanwhile the only executor thread kept running the other task. A blocking
    // flush would leave the ticker at zero; allow for a noisy 2-core machine.
    assert!(
        ticked >= 20,
        "the ticker ran only {ticked} times in {waited:?}: the executor was blocked"
    );
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_can_be_turned_into_an_error_after_the_span_is_exported() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[]);
    let engine = telemetry.engine().build();

    let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = engine
        .invocation(&JobTrigger, job(None))
        .catch_panics()
        .run(|_job| async {
            if std::hint::black_box(true) {
                panic!("index out of bounds");
            }
            Ok(())
        })
        .await;
    let error = result.expect_err("the panic comes back as an error");
    assert_eq!(
        error.to_string(),
        "the handler panicked: index out of bounds"
    );
    assert!(
        error
            .downcast_ref::<otel_faas_core::engine::HandlerPanic>()
            .is_some()
    );

    let spans = receiver.spans();
    let span = spans
        .iter()
        .find(|s| s.name == "job")
        .expect("exported before returning");
    assert_eq!(span.status, StatusCode::Error);
    assert_eq!(span.attr_str("error.type"), Some("panic"));
    telemetry.shutdown(WAIT).await.unwrap();
}

/// Collects the warn-level events emitted while it is the current subscriber.
#[derive(Clone, Default)]
struct WarningLog(Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarningLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    *self.0 = format!("{value:?}");
                }
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut message = String::new();
            event.record(&mut Message(&mut message));
            self.0.lock().unwrap().push(message);
        }
    }
}

#[test]
fn each_invalid_value_is_logged_once_with_variable_and_accepted_values() {
    use tracing_subscriber::layer::SubscriberExt as _;

    let log = WarningLog::default();
    let subscriber = tracing_subscriber::registry().with(log.clone());
    let telemetry = tracing::subscriber::with_default(subscriber, || {
        Pipeline::with_environment(MapEnvironment::from([
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "smoke-signals"),
        ]))
        .install()
    });
    let logged = log.0.lock().unwrap().clone();
    assert_eq!(logged.len(), 2, "{logged:#?}");
    assert!(
        logged
            .iter()
            .any(|m| m.contains("OTEL_TRACES_SAMPLER=\"sometimes\"")
                && m.contains("parentbased_always_on")
                && m.contains("traceidratio"))
    );
    assert!(
        logged
            .iter()
            .any(|m| m.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && m.contains("http/protobuf"))
    );
    assert_eq!(telemetry.warnings().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_protocol_exports_through_the_otlp_grpc_feature() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_SERVICE_NAME", "e2e-grpc".to_owned()),
    ]))
    .install();
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    let engine = telemetry.engine().build();
    let parent = traceparent("33333333333333333333333333333333", "4444444444444444");
    engine
        .invocation(&JobTrigger, job(Some(parent)))
        .run(|_job| async { Ok::<_, Infallible>(()) })
        .await
        .unwrap();
    let span = receiver.wait_for_span("job", WAIT).await.unwrap();
    assert_eq!(span.parent_span_id, "4444444444444444");
    assert_eq!(
        span.resource_attr("service.name"),
        Some(&AttrValue::from("e2e-grpc"))
    );
    telemetry.shutdown(WAIT).await.unwrap();
    // Spans, and the FaaS metrics the engine records, all over gRPC.
    let types = receiver.request_content_types();
    assert!(
        types.len() >= 2 && types.iter().all(|t| t == "application/grpc"),
        "{types:?}"
    );
    assert!(
        receiver
            .metrics()
            .iter()
            .any(|m| m.name == "faas.invocations"),
        "{:?}",
        receiver.metrics()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_invocation_flush_never_waits_past_the_deadline() {
    let receiver = OtlpReceiver::start().expect("receiver");
    // A collector far slower than the time the invocation has left.
    receiver.set_response_delay(Duration::from_secs(3));
    let telemetry = telemetry(&receiver, &[]);
    let engine = telemetry
        .engine()
        .flush_policy(FlushPolicy::EndOfInvocation {
            budget: Duration::from_secs(10),
        })
        .deadline_margin(Duration::from_millis(100))
        .build();
    let deadline = Instant::now() + Duration::from_millis(600);
    let context = InvocationContext::new().with_deadline(deadline);

    engine
        .invocation(&JobTrigger, job(None))
        .context(context)
        .run(|_job| async { Ok::<_, Infallible>(()) })
        .await
        .unwrap();
    let returned = Instant::now();
    // The 10 s budget was cut to the time left; the 3 s export did not hold the response.
    assert!(
        returned <= deadline + Duration::from_millis(250),
        "returned {:?} after the deadline",
        returned - deadline
    );
    // The span was not lost: the export completes after the response.
    let span = receiver.wait_for_span("job", WAIT).await.unwrap();
    assert_eq!(span.status, StatusCode::Unset);
    telemetry.shutdown(WAIT).await.unwrap();
}

/// A batch trigger: the handler runs in a CONSUMER span linked to each message's producer.
struct BatchTrigger;

impl<R> TriggerAdapter<Vec<String>, R> for BatchTrigger {
    fn invocation_spec(
        &self,
        batch: &Vec<String>,
        _: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let links = batch.iter().filter_map(|traceparent| {
            let carrier = HashMap::from([("traceparent".to_owned(), traceparent.clone())]);
            let cx = propagation.extract_from(&carrier);
            let span_context = cx.span().span_context().clone();
            span_context
                .is_valid()
                .then(|| opentelemetry::trace::Link::with_context(span_context))
        });
        InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server("batch")).with_inner_span(
            otel_faas_core::SpanSpec::new(
                "queue process",
                opentelemetry::trace::SpanKind::Consumer,
            )
            .with_links(links.collect::<Vec<_>>()),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inner_span_sits_between_the_invocation_and_the_handler_and_shares_its_failure() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[]);
    let engine = telemetry.engine().build();
    let tracer = telemetry.tracer("app");
    let batch = vec![
        traceparent("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1111111111111111"),
        "garbage".to_owned(),
        traceparent("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "2222222222222222"),
    ];
    let result = engine
        .invocation(&BatchTrigger, batch)
        .run(|_batch| async move {
            let _work = tracer.start_with_context("handle", &Context::current());
            Err::<(), _>(PaymentDeclined(1))
        })
        .await;
    assert!(result.is_err());

    let spans = receiver.wait_for_spans(3, WAIT).await.unwrap();
    let invocation = spans.iter().find(|s| s.name == "batch").unwrap();
    let inner = spans.iter().find(|s| s.name == "queue process").unwrap();
    let handler = spans.iter().find(|s| s.name == "handle").unwrap();
    assert_eq!(invocation.kind, SpanKind::Server);
    assert_eq!(inner.kind, SpanKind::Consumer);
    assert_eq!(inner.parent_span_id, invocation.span_id);
    assert_eq!(handler.parent_span_id, inner.span_id);
    let linked: Vec<(&str, &str)> = inner
        .links
        .iter()
        .map(|l| (l.trace_id.as_str(), l.span_id.as_str()))
        .collect();
    assert_eq!(
        linked,
        [
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1111111111111111"),
            ("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "2222222222222222"),
        ]
    );
    for span in [invocation, inner] {
        assert_eq!(span.status, StatusCode::Error, "{}", span.name);
        assert_eq!(
            span.attr_str("error.type"),
            Some("core_engine::PaymentDeclined")
        );
    }
    assert!(invocation.event("exception").is_some());
    assert!(inner.end_unix_nanos <= invocation.end_unix_nanos);
    telemetry.shutdown(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cold_invocation_carries_an_init_span_and_warm_ones_do_not() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = telemetry(&receiver, &[]);
    let init_started = std::time::SystemTime::now() - Duration::from_millis(120);
    let engine = telemetry.engine().init_started(init_started).build();
    for _ in 0..2 {
        engine
            .invocation(&JobTrigger, job(None))
            .run(|_job| async { Ok::<_, Infallible>(()) })
            .await
            .unwrap();
    }
    let spans = receiver.wait_for_spans(3, WAIT).await.unwrap();
    let invocations: Vec<_> = spans.iter().filter(|s| s.name == "job").collect();
    let inits: Vec<_> = spans.iter().filter(|s| s.name == "init").collect();
    assert_eq!((invocations.len(), inits.len()), (2, 1));
    let cold = invocations
        .iter()
        .find(|s| s.attr("faas.coldstart") == Some(&AttrValue::Bool(true)))
        .unwrap();
    let init = inits[0];
    assert_eq!(init.parent_span_id, cold.span_id);
    assert!(
        init.duration_nanos() >= 120_000_000,
        "init lasted {} ns",
        init.duration_nanos()
    );
    assert!(init.end_unix_nanos <= cold.start_unix_nanos + 1_000_000);

    // A pre-initialised process has no cold invocation and so no init span.
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = self::telemetry(&receiver, &[]);
    let engine = telemetry
        .engine()
        .init_started(init_started)
        .cold_start(otel_faas_core::engine::ColdStart::pre_initialized())
        .build();
    engine
        .invocation(&JobTrigger, job(None))
        .run(|_job| async { Ok::<_, Infallible>(()) })
        .await
        .unwrap();
    let spans = receiver.wait_for_spans(1, WAIT).await.unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].attr("faas.coldstart"),
        Some(&AttrValue::Bool(false))
    );
}
