//! Cloud Trace without a collector: spans over OTLP/HTTP to a stand-in of Google's
//! Telemetry API (HTTPS, refusing any request without the expected bearer token, decoding
//! OTLP), the token fetched from a stand-in metadata server that answers, answers late,
//! refuses, or hands out a token that expires.

use std::time::{Duration, Instant};

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use otel_faas_core::Telemetry;
use otel_faas_core::env::MapEnvironment;
use otel_faas_integration_tests::{
    AttrValue, FakeMetadataServer, OtlpReceiver, TEST_PROJECT, TestCertificate,
};

const WAIT: Duration = Duration::from_secs(20);
const BUDGET: Duration = Duration::from_millis(500);

fn certificate(test: &str) -> TestCertificate {
    TestCertificate::in_temp_dir(&format!("telemetry-api-{test}")).expect("a certificate")
}

/// A Cloud Run service's environment exporting spans to `receiver` (the stand-in's
/// `https://localhost`, so the token is asked for explicitly) with tokens from `metadata`.
fn cloud_run(
    receiver: &OtlpReceiver,
    certificate: &TestCertificate,
    metadata: &FakeMetadataServer,
) -> Telemetry {
    let env = MapEnvironment::from([
        ("K_SERVICE", "orders".to_owned()),
        ("K_CONFIGURATION", "orders".to_owned()),
        ("K_REVISION", "orders-00007-xid".to_owned()),
        ("GCE_METADATA_HOST", metadata.host()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            certificate.ca_file().display().to_string(),
        ),
        ("OTEL_FAAS_GCP_ACCESS_TOKEN", "always".to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]);
    let telemetry = otel_faas_gcp::pipeline_with_environment(env).install();
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    telemetry
}

/// Flushes until `name` arrives (the circuit's probe sends what was kept once the token
/// is there), failing after `WAIT`.
async fn deliver(telemetry: &Telemetry, receiver: &OtlpReceiver, name: &str) {
    let deadline = Instant::now() + WAIT;
    while !receiver.spans().iter().any(|span| span.name == name) {
        assert!(
            Instant::now() < deadline,
            "{name} never arrived: {:?}",
            receiver.spans().iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        let _ = telemetry.flusher().flush(BUDGET).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every request the stand-in took carried `token`.
fn all_carried(receiver: &OtlpReceiver, token: &str) {
    let requests = receiver.requests();
    assert!(!requests.is_empty());
    for request in requests {
        assert_eq!(
            request.headers.get("authorization").map(String::as_str),
            Some(format!("Bearer {token}").as_str()),
            "{request:?}"
        );
    }
}

/// With the token from the metadata server, spans reach the Telemetry API stand-in (which
/// refuses any other credential), carrying the project as `gcp.project_id`; nothing is
/// dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_telemetry_api_with_the_service_account_s_token_and_project() {
    let certificate = certificate("answers");
    let receiver = OtlpReceiver::start_tls(&certificate).expect("receiver");
    receiver.require_authorization(Some("Bearer ya29.first"));
    let metadata = FakeMetadataServer::start("ya29.first", 3600).expect("metadata");
    let telemetry = cloud_run(&receiver, &certificate, &metadata);
    let tracer = telemetry.tracer_provider().tracer("orders");
    drop(tracer.start("first"));
    deliver(&telemetry, &receiver, "first").await;
    // The project joins the exports once the metadata server has answered.
    let deadline = Instant::now() + WAIT;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let name = format!("later {attempt}");
        drop(tracer.start(name.clone()));
        deliver(&telemetry, &receiver, &name).await;
        let spans = receiver.spans();
        let span = spans.iter().find(|s| s.name == name).unwrap();
        if let Some(project) = span.resource.get("gcp.project_id") {
            assert_eq!(project, &AttrValue::Str(TEST_PROJECT.into()));
            assert_eq!(
                span.resource.get("cloud.account.id"),
                Some(&AttrValue::Str(TEST_PROJECT.into()))
            );
            break;
        }
        assert!(Instant::now() < deadline, "no gcp.project_id: {span:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    all_carried(&receiver, "ya29.first");
    assert_eq!(metadata.token_requests(), 1, "one token, cached");
    assert_eq!(telemetry.export_stats().dropped(), 0);
}

/// A metadata server that does not answer in time, then refuses, then answers: the spans
/// ended meanwhile are kept (the send fails as pending, never with a wrong credential) and
/// all arrive with the token once it is there. A token that expired without renewal (the
/// server refuses again) is not used; the renewed one is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_refused_and_expired_tokens_keep_the_spans_until_a_valid_one_arrives() {
    let first = certificate("late");
    let receiver = OtlpReceiver::start_tls(&first).expect("receiver");
    receiver.require_authorization(Some("Bearer ya29.late"));
    let metadata = FakeMetadataServer::start("ya29.late", 3600).expect("metadata");
    // Longer than the client's 2 s timeout: the first fetch fails.
    metadata.set_delay(Duration::from_secs(3));
    let started = Instant::now();
    let telemetry = cloud_run(&receiver, &first, &metadata);
    let tracer = telemetry.tracer_provider().tracer("orders");
    drop(tracer.start("while the server is silent"));
    let error = telemetry
        .flusher()
        .flush(BUDGET)
        .await
        .expect_err("no token yet");
    assert!(
        error
            .to_string()
            .contains("no access token from the metadata server yet"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "start-up and the flush waited for the metadata server: {:?}",
        started.elapsed()
    );
    let stats = telemetry.export_stats();
    assert_eq!((stats.held, stats.dropped()), (1, 0), "{stats:?}");
    assert!(receiver.requests().is_empty(), "sent without a token");

    metadata.set_delay(Duration::ZERO);
    metadata.refuse_with(Some(500));
    drop(tracer.start("while the server refuses"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = telemetry.flusher().flush(BUDGET).await;
    assert!(receiver.requests().is_empty(), "sent without a token");
    assert_eq!(telemetry.export_stats().dropped(), 0);

    metadata.refuse_with(None);
    deliver(&telemetry, &receiver, "while the server is silent").await;
    deliver(&telemetry, &receiver, "while the server refuses").await;
    all_carried(&receiver, "ya29.late");
    assert_eq!(telemetry.export_stats().dropped(), 0);

    // A token that lives 2 s, renewed at 1.5 s — when the server refuses again.
    let second = certificate("expired");
    let receiver = OtlpReceiver::start_tls(&second).expect("receiver");
    receiver.require_authorization(Some("Bearer ya29.short"));
    let metadata = FakeMetadataServer::start("ya29.short", 2).expect("metadata");
    let telemetry = cloud_run(&receiver, &second, &metadata);
    let tracer = telemetry.tracer_provider().tracer("orders");
    drop(tracer.start("with the short token"));
    deliver(&telemetry, &receiver, "with the short token").await;
    metadata.refuse_with(Some(500));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let sent = receiver.requests().len();
    drop(tracer.start("after it expired"));
    let error = telemetry
        .flusher()
        .flush(BUDGET)
        .await
        .expect_err("the token expired");
    assert!(error.to_string().contains("no access token"), "{error}");
    assert_eq!(
        receiver.requests().len(),
        sent,
        "sent with an expired token"
    );
    receiver.require_authorization(Some("Bearer ya29.renewed"));
    metadata.set_token("ya29.renewed", 3600);
    metadata.refuse_with(None);
    deliver(&telemetry, &receiver, "after it expired").await;
    let last = receiver.requests().pop().expect("a request");
    assert_eq!(
        last.headers.get("authorization").map(String::as_str),
        Some("Bearer ya29.renewed")
    );
    assert_eq!(telemetry.export_stats().dropped(), 0);
}

/// Endpoints that are not Google's get no token (it would go to a third party), and
/// `never` keeps it from Google's own (a collector adds its credentials).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_leaves_for_an_endpoint_that_is_not_google_s() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let metadata = FakeMetadataServer::start("ya29.secret", 3600).expect("metadata");
    let env = MapEnvironment::from([
        ("GCE_METADATA_HOST", metadata.host()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]);
    let telemetry = otel_faas_gcp::pipeline_with_environment(env).install();
    drop(
        telemetry
            .tracer_provider()
            .tracer("orders")
            .start("elsewhere"),
    );
    telemetry.flusher().flush(BUDGET).await.expect("sent");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].headers.get("authorization"), None);
    assert_eq!(metadata.token_requests(), 0, "no token was even asked for");
}
