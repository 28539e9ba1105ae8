//! The Functions Framework server of otel-faas-gcp over real HTTP (a bound port, requests
//! on the wire): every conformance vector delivered in binary and structured mode and as
//! background events, raw Pub/Sub pushes, HTTP functions, the contract's 404s, malformed
//! events, and the spans each produces after crossing OTLP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use otel_faas_core::env::MapEnvironment;
use otel_faas_core::{Pipeline, Telemetry};
use otel_faas_gcp::events::Data;
use otel_faas_gcp::{CloudEventRequest, FunctionsFramework, PubSubMessage};
use otel_faas_integration_tests::{
    AttrValue, MiniHost, OtlpReceiver, ReceivedSpan, SpanKind, StatusCode, workspace_root,
};
use serde_json::{Map, Value, json};

const WAIT: Duration = Duration::from_secs(20);
const TRANSPORT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const TRANSPORT_SPAN: &str = "b7ad6b7169203331";
const PUBLISHER_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const PUBLISHER_SPAN: &str = "eee19b7ec3c1b174";

fn fixtures() -> PathBuf {
    workspace_root().join("../shared/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

type Seen = Arc<Mutex<Vec<CloudEventRequest>>>;

struct Running {
    client: MiniHost,
    seen: Seen,
    telemetry: Telemetry,
}

/// The server with a recording CloudEvent function `sink` as the target, a Pub/Sub
/// function `orders` (fails on the message "fail") and an HTTP function `hello`.
fn environment(receiver: &OtlpReceiver, extra: &[(&str, &str)]) -> MapEnvironment {
    let mut env = MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]);
    for (key, value) in extra {
        env.insert(*key, *value);
    }
    env
}

async fn start(receiver: &OtlpReceiver, target: &str) -> Running {
    let telemetry = Pipeline::with_environment(environment(receiver, &[])).install();
    start_with(telemetry, target).await
}

async fn start_with(telemetry: Telemetry, target: &str) -> Running {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let bound = FunctionsFramework::with_environment(
        &telemetry,
        MapEnvironment::from([("FUNCTION_TARGET", target)]),
    )
    .cloud_event("sink", move |request: CloudEventRequest| {
        let sink = Arc::clone(&sink);
        async move {
            sink.lock().unwrap().push(request);
            Ok::<_, std::convert::Infallible>(())
        }
    })
    .cloud_event("orders", |message: PubSubMessage| async move {
        if message.data() == b"fail" {
            return Err("the order cannot be fulfilled");
        }
        Ok(())
    })
    .http("hello", |request: axum::extract::Request| async move {
        format!("hello from {}", request.uri().path())
    })
    .map_server(|server| server.address("127.0.0.1", 0))
    .bind()
    .await
    .expect("bind");
    let address: SocketAddr = bound.local_addr().unwrap();
    tokio::spawn(bound.serve());
    Running {
        client: MiniHost::new(address),
        seen,
        telemetry,
    }
}

/// Sends on a blocking thread (the client is synchronous).
async fn send(
    client: MiniHost,
    path: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> otel_faas_integration_tests::HostResponse {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        client
            .send("POST", &path, &headers, Some(&body), false)
            .expect("the server answers")
    })
    .await
    .unwrap()
}

fn event_json(request: &CloudEventRequest) -> Map<String, Value> {
    let event = request.event();
    let mut json = match serde_json::to_value(event).unwrap() {
        Value::Object(json) => json,
        _ => unreachable!(),
    };
    json.remove("data_base64");
    if let Some(data) = event.data() {
        let value = match data {
            Data::Json(value) => value.clone(),
            Data::String(text) => serde_json::from_str(text).unwrap_or(json!(text)),
            Data::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        };
        json.insert("data".into(), value);
    }
    json
}

fn assert_same_event(case: &str, got: &Map<String, Value>, want: &Value) {
    for field in ["id", "source", "type", "subject", "datacontenttype"] {
        assert_eq!(got.get(field), want.get(field), "{case}: {field}");
    }
    let mut data = got.get("data").cloned().unwrap_or(Value::Null);
    if want["data"].get("subscription").is_none()
        && let Some(object) = data.as_object_mut()
    {
        object.remove("subscription");
    }
    assert_eq!(data, want["data"], "{case}: data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_vectors_over_http_reach_the_function() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let running = start(&receiver, "sink").await;
    let dir = fixtures().join("gcp-functions-conformance");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix("-cloudevent-output.json")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    let mut sent = 0;
    for name in &names {
        let want = read_json(&dir.join(format!("{name}-cloudevent-output.json")));
        let legacy = dir.join(format!("{name}-legacy-input.json"));
        if legacy.exists() {
            let reply = send(
                running.client,
                "/",
                vec![("content-type".into(), "application/json".into())],
                std::fs::read(&legacy).unwrap(),
            )
            .await;
            assert_eq!(reply.status, 204, "{name} legacy: {}", reply.body);
            sent += 1;
            let got = event_json(running.seen.lock().unwrap().last().unwrap());
            assert_same_event(&format!("{name} legacy"), &got, &want);
        }
        let ce = dir.join(format!("{name}-cloudevent-input.json"));
        if ce.exists() {
            let input = read_json(&ce);
            let reply = send(
                running.client,
                "/any/path",
                vec![("content-type".into(), "application/cloudevents+json".into())],
                serde_json::to_vec(&input).unwrap(),
            )
            .await;
            assert_eq!(reply.status, 204, "{name} structured: {}", reply.body);
            let got = event_json(running.seen.lock().unwrap().last().unwrap());
            assert_same_event(&format!("{name} structured"), &got, &want);
            let mut headers: Vec<(String, String)> = Vec::new();
            for (key, value) in input.as_object().unwrap() {
                match key.as_str() {
                    "data" => {}
                    "datacontenttype" => {
                        headers.push(("content-type".into(), value.as_str().unwrap().into()))
                    }
                    _ => headers.push((format!("ce-{key}"), value.as_str().unwrap().into())),
                }
            }
            let reply = send(
                running.client,
                "/",
                headers,
                serde_json::to_vec(&input["data"]).unwrap(),
            )
            .await;
            assert_eq!(reply.status, 204, "{name} binary: {}", reply.body);
            let got = event_json(running.seen.lock().unwrap().last().unwrap());
            assert_same_event(&format!("{name} binary"), &got, &want);
            sent += 2;
        }
    }
    assert_eq!(running.seen.lock().unwrap().len(), sent);
    assert!(sent >= 10, "{sent}");

    // The Pub/Sub spans of those deliveries.
    running.telemetry.flusher().flush(WAIT).await.unwrap();
    let spans = consumer_spans(&receiver, 4).await;
    let consumer = spans
        .iter()
        .find(|s| s.kind == SpanKind::Consumer && s.name == "subscribe sample-subscription")
        .expect("a subscribe span");
    assert_eq!(consumer.attr_str("messaging.system"), Some("gcp_pubsub"));
    assert_eq!(
        consumer.attr_str("messaging.operation.type"),
        Some("process")
    );
    assert_eq!(
        consumer.attr_str("messaging.operation.name"),
        Some("subscribe")
    );
    assert_eq!(
        consumer.attr_str("messaging.destination.name"),
        Some("gcf-test")
    );
    assert_eq!(
        consumer.attr_str("messaging.destination.subscription.name"),
        Some("sample-subscription")
    );
    let storage = spans
        .iter()
        .find(|s| s.attr_str("faas.trigger") == Some("datasource"))
        .expect("a storage span");
    assert_eq!(storage.name, "insert some-bucket");
    assert_eq!(
        storage.attr_str("faas.document.collection"),
        Some("some-bucket")
    );
    assert_eq!(
        storage.attr_str("faas.document.name"),
        Some("folder/Test.cs")
    );
    assert_eq!(storage.attr_str("faas.document.operation"), Some("insert"));
    assert_eq!(
        storage.attr_str("cloudevents.event_type"),
        Some("google.cloud.storage.object.v1.finalized")
    );
}

fn pubsub_push(data: &str, with_publisher: bool) -> Vec<u8> {
    use base64::Engine as _;
    let mut attributes = json!({"order": "42"});
    if with_publisher {
        attributes["googclient_traceparent"] =
            json!(format!("00-{PUBLISHER_TRACE}-{PUBLISHER_SPAN}-01"));
    }
    serde_json::to_vec(&json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "messageId": "m-1",
            "publishTime": "2026-11-29T10:00:00.000Z",
            "attributes": attributes,
            "orderingKey": "customer-7",
        },
        "subscription": "projects/demo/subscriptions/orders-push",
        "deliveryAttempt": 2,
    }))
    .unwrap()
}

/// The spans received once at least `count` CONSUMER spans are in.
async fn consumer_spans(receiver: &OtlpReceiver, count: usize) -> Vec<ReceivedSpan> {
    receiver
        .wait_until(WAIT, |spans| {
            spans
                .iter()
                .filter(|s| s.kind == SpanKind::Consumer)
                .count()
                >= count
        })
        .await
        .unwrap_or_else(|e| panic!("fewer than {count} CONSUMER spans: {e}"))
}

async fn span_with(
    receiver: &OtlpReceiver,
    what: &str,
    found: impl Fn(&ReceivedSpan) -> bool,
) -> ReceivedSpan {
    receiver
        .wait_for_span_where(WAIT, found)
        .await
        .unwrap_or_else(|e| panic!("no {what}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_pushes_are_children_of_the_push_and_link_to_the_publisher() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let running = start(&receiver, "orders").await;
    let transport = format!("00-{TRANSPORT_TRACE}-{TRANSPORT_SPAN}-01");

    // With the push request's traceparent: its child, linked to the publisher.
    let reply = send(
        running.client,
        "/projects/demo/topics/orders",
        vec![
            ("content-type".into(), "application/json".into()),
            ("traceparent".into(), transport.clone()),
            ("function-execution-id".into(), "exec-1".into()),
        ],
        pubsub_push("ok", true),
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let server = span_with(&receiver, "push invocation", |s| {
        s.attr_str("faas.invocation_id") == Some("exec-1")
    })
    .await;
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.trace_id, TRANSPORT_TRACE);
    assert_eq!(server.parent_span_id, TRANSPORT_SPAN);
    assert_eq!(server.attr_str("faas.trigger"), Some("pubsub"));
    assert_eq!(server.attr_str("cloudevents.event_id"), Some("m-1"));
    let consumer = span_with(&receiver, "subscribe span", |s| {
        s.parent_span_id == server.span_id
    })
    .await;
    assert_eq!(consumer.name, "subscribe orders-push");
    assert_eq!(
        consumer.attr_str("messaging.destination.name"),
        Some("orders")
    );
    assert_eq!(consumer.attr_str("messaging.message.id"), Some("m-1"));
    assert_eq!(
        consumer.attr_str("messaging.gcp_pubsub.message.ordering_key"),
        Some("customer-7")
    );
    assert_eq!(
        consumer.attr("messaging.gcp_pubsub.message.delivery_attempt"),
        Some(&AttrValue::Int(2))
    );
    assert_eq!(
        consumer.attr("messaging.message.body.size"),
        Some(&AttrValue::Int(2))
    );
    assert!(
        consumer
            .links
            .iter()
            .any(|l| l.trace_id == PUBLISHER_TRACE && l.span_id == PUBLISHER_SPAN),
        "a link to the publisher: {:?}",
        consumer.links
    );

    // Without a transport context (the emulator's push): the publisher is the parent.
    let reply = send(
        running.client,
        "/",
        vec![
            ("content-type".into(), "application/json".into()),
            ("function-execution-id".into(), "exec-2".into()),
        ],
        pubsub_push("ok", true),
    )
    .await;
    assert_eq!(reply.status, 204);
    let server = span_with(&receiver, "push without context", |s| {
        s.attr_str("faas.invocation_id") == Some("exec-2")
    })
    .await;
    assert_eq!(server.trace_id, PUBLISHER_TRACE);
    assert_eq!(server.parent_span_id, PUBLISHER_SPAN);

    // A failing function: 500 with its message, an ERROR span; Pub/Sub will redeliver.
    let reply = send(
        running.client,
        "/",
        vec![
            ("content-type".into(), "application/json".into()),
            ("function-execution-id".into(), "exec-3".into()),
        ],
        pubsub_push("fail", false),
    )
    .await;
    assert_eq!(reply.status, 500);
    assert!(reply.body.contains("cannot be fulfilled"), "{}", reply.body);
    let failed = span_with(&receiver, "failed push", |s| {
        s.attr_str("faas.invocation_id") == Some("exec-3")
    })
    .await;
    assert_eq!(failed.status, StatusCode::Error);

    // A malformed CloudEvent: 400 with the reason, an ERROR span, and still serving.
    let reply = send(
        running.client,
        "/",
        vec![
            ("ce-specversion".into(), "1.0".into()),
            ("ce-type".into(), "t".into()),
            ("function-execution-id".into(), "exec-4".into()),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("malformed CloudEvent"),
        "{}",
        reply.body
    );
    let refused = span_with(&receiver, "refused event", |s| {
        s.status == StatusCode::Error && s.attr_str("error.type") == Some("invalid_event")
    })
    .await;
    assert_eq!(refused.kind, SpanKind::Server);
    let reply = send(
        running.client,
        "/",
        vec![("content-type".into(), "application/json".into())],
        pubsub_push("ok", false),
    )
    .await;
    assert_eq!(reply.status, 204, "still serving");

    // The contract's 404s, and the other functions under their names.
    let client = running.client;
    let (robots, favicon, hello) = tokio::task::spawn_blocking(move || {
        (
            client.send("GET", "/robots.txt", &[], None, false).unwrap(),
            client
                .send("GET", "/favicon.ico", &[], None, false)
                .unwrap(),
            client
                .send("GET", "/hello/world?token=secret", &[], None, false)
                .unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!((robots.status, favicon.status), (404, 404));
    assert_eq!(hello.status, 200, "{}", hello.body);
    assert_eq!(hello.body, "hello from /world");
    let http = span_with(&receiver, "HTTP span", |s| {
        s.attr_str("url.path") == Some("/hello/world")
    })
    .await;
    assert_eq!(http.attr_str("faas.trigger"), Some("http"));
    assert_eq!(http.name, "GET");
    assert_eq!(http.attr_str("url.scheme"), Some("https"));
    assert_eq!(http.attr_str("url.query"), Some("token=REDACTED"));
}

/// On Cloud Run (`K_SERVICE`), a caller's `sampled=0` does not drop the function's spans:
/// the trace and parent are kept, the decision is local. Elsewhere, or with
/// `OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS=honor`, the caller's decision stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_runs_unsampled_parents_are_sampled_locally() {
    for (extra, recorded) in [
        (
            &[
                ("K_SERVICE", "orders"),
                ("GCE_METADATA_HOST", "127.0.0.1:9"),
            ][..],
            true,
        ),
        (
            &[
                ("K_SERVICE", "orders"),
                ("GCE_METADATA_HOST", "127.0.0.1:9"),
                ("OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS", "honor"),
            ][..],
            false,
        ),
        (&[][..], false),
    ] {
        let receiver = OtlpReceiver::start().expect("receiver");
        let telemetry =
            otel_faas_gcp::pipeline_with_environment(environment(&receiver, extra)).install();
        let running = start_with(telemetry, "hello").await;
        let client = running.client;
        let unsampled = format!("00-{TRANSPORT_TRACE}-{TRANSPORT_SPAN}-00");
        let sampled = format!("00-{PUBLISHER_TRACE}-{PUBLISHER_SPAN}-01");
        tokio::task::spawn_blocking(move || {
            for (path, traceparent) in [("/unsampled", &unsampled), ("/sampled", &sampled)] {
                let reply = client
                    .send("GET", path, &[("traceparent", traceparent)], None, false)
                    .unwrap();
                assert_eq!(reply.status, 200);
            }
        })
        .await
        .unwrap();
        // The sampled request is the control: once it is in, the other would be too.
        span_with(&receiver, "the sampled request", |s| {
            s.attr_str("url.path") == Some("/sampled")
        })
        .await;
        running.telemetry.flusher().flush(WAIT).await.unwrap();
        let unsampled_span = receiver
            .spans()
            .into_iter()
            .find(|s| s.attr_str("url.path") == Some("/unsampled"));
        match (recorded, unsampled_span) {
            (true, Some(span)) => {
                assert_eq!(
                    span.trace_id, TRANSPORT_TRACE,
                    "{extra:?}: the caller's trace"
                );
                assert_eq!(
                    span.parent_span_id, TRANSPORT_SPAN,
                    "{extra:?}: the caller's span"
                );
            }
            (false, None) => {}
            (expected, got) => panic!("{extra:?}: recorded {expected} expected, got {got:?}"),
        }
    }
}

/// How the fake metadata server behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metadata {
    Answers,
    Hangs,
    Fails,
    Absent,
}

/// A fake metadata server on 127.0.0.1; its address (`Absent`: a port nothing listens on).
/// `Answers` holds every answer until `release` is raised.
fn fake_metadata(mode: Metadata, release: Arc<std::sync::atomic::AtomicBool>) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    if mode == Metadata::Absent {
        return address; // dropped: refused from now on
    }
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let release = Arc::clone(&release);
            std::thread::spawn(move || {
                let mut request = [0_u8; 2048];
                let read = stream.read(&mut request).unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..read]).into_owned();
                let flavored = request
                    .to_ascii_lowercase()
                    .contains("metadata-flavor: google");
                let answer = |status: &str, body: &str| {
                    format!(
                        "HTTP/1.1 {status}\r\nMetadata-Flavor: Google\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                if mode == Metadata::Answers {
                    for _ in 0..1000 {
                        if release.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                let response = match mode {
                    Metadata::Hangs => {
                        std::thread::sleep(Duration::from_secs(60));
                        return;
                    }
                    Metadata::Fails => answer("500 Internal Server Error", "down"),
                    _ if !flavored => answer("403 Forbidden", "missing Metadata-Flavor"),
                    _ if request.contains("/instance/id ") => answer("200 OK", "instance-0042"),
                    _ if request.contains("/instance/region ") => {
                        answer("200 OK", "projects/123456789/regions/europe-west1")
                    }
                    _ if request.contains("/project/project-id ") => {
                        answer("200 OK", "demo-project")
                    }
                    _ => answer("404 Not Found", ""),
                };
                let _ = stream.write_all(response.as_bytes());
            });
        }
    });
    address
}

/// The metadata server is asked in the background: whether it answers, hangs, fails or is
/// absent, requests are served at once and their spans exported; when it answers (here
/// only once the first request has been served and exported, which a fetch on the
/// request's path could not wait for), the instance, region and project join the resource
/// of later exports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_server_never_stands_in_a_requests_way() {
    for mode in [
        Metadata::Hangs,
        Metadata::Fails,
        Metadata::Absent,
        Metadata::Answers,
    ] {
        let receiver = OtlpReceiver::start().expect("receiver");
        let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let metadata = fake_metadata(mode, Arc::clone(&release));
        let env = environment(
            &receiver,
            &[
                ("K_SERVICE", "orders"),
                ("K_REVISION", "orders-00007-xid"),
                ("K_CONFIGURATION", "orders"),
                ("GCE_METADATA_HOST", &metadata),
            ],
        );
        let telemetry = otel_faas_gcp::pipeline_with_environment(env).install();
        let running = start_with(telemetry, "hello").await;
        let client = running.client;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let path = format!("/{mode:?}/{attempt}");
            let request_path = path.clone();
            let reply = tokio::task::spawn_blocking(move || {
                client.send("GET", &request_path, &[], None, false).unwrap()
            })
            .await
            .unwrap();
            assert_eq!(reply.status, 200, "{mode:?}");
            let span = span_with(&receiver, &path, |s| s.attr_str("url.path") == Some(&path)).await;
            assert_eq!(
                span.resource.get("faas.version"),
                Some(&AttrValue::Str("orders-00007-xid".into())),
                "{mode:?}: the environment's attributes from the start"
            );
            assert_eq!(
                span.resource.get("cloud.platform"),
                Some(&AttrValue::Str("gcp_cloud_run".into()))
            );
            let instance = span.resource.get("faas.instance").cloned();
            if attempt == 1 {
                // Served and exported while the metadata server still holds its answers.
                assert_eq!(instance, None, "{mode:?}: nothing known yet");
                release.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            if mode != Metadata::Answers {
                assert_eq!(instance, None, "{mode:?}");
                break;
            }
            if instance.is_some() {
                assert_eq!(instance, Some(AttrValue::Str("instance-0042".into())));
                assert_eq!(
                    span.resource.get("cloud.region"),
                    Some(&AttrValue::Str("europe-west1".into()))
                );
                assert_eq!(
                    span.resource.get("cloud.account.id"),
                    Some(&AttrValue::Str("demo-project".into()))
                );
                break;
            }
            assert!(attempt < 100, "the metadata never joined the resource");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The Pub/Sub emulator pushes a message published with a `googclient_traceparent`
/// attribute to the running server: the function gets the decoded message, the span
/// continues the publisher's trace (the emulator's push carries no traceparent of its
/// own) with a link to it, and the subscription and topic are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pubsub_emulator_pushes_to_the_server() {
    let emulator = tokio::task::spawn_blocking(|| {
        otel_faas_integration_tests::PubSubEmulator::start()
            .unwrap_or_else(|e| panic!("the Pub/Sub emulator is needed: {e}"))
    })
    .await
    .unwrap();
    let receiver = OtlpReceiver::start().expect("receiver");
    let running = start(&receiver, "sink").await;
    let endpoint = format!(
        "http://{}/projects/emulated/topics/orders",
        running.client.address()
    );
    let publisher = format!("00-{PUBLISHER_TRACE}-{PUBLISHER_SPAN}-01");
    let emulator = std::sync::Arc::new(emulator);
    let for_setup = std::sync::Arc::clone(&emulator);
    let attribute = publisher.clone();
    let message_id = tokio::task::spawn_blocking(move || {
        let emulator = for_setup;
        emulator.create_topic("emulated", "orders").unwrap();
        emulator
            .create_push_subscription("emulated", "orders-push", "orders", &endpoint)
            .unwrap();
        emulator
            .create_unwrapped_push_subscription("emulated", "orders-raw", "orders", &endpoint)
            .unwrap();
        emulator
            .publish(
                "emulated",
                "orders",
                br#"{"id": 7}"#,
                &[("googclient_traceparent", &attribute), ("kind", "order")],
            )
            .unwrap()
    })
    .await
    .unwrap();
    // One push per subscription: wrapped (JSON) and unwrapped (data as the body,
    // metadata and attributes as headers); both reach the function as the same message.
    let started = std::time::Instant::now();
    let requests = loop {
        let seen = running.seen.lock().unwrap().clone();
        if seen.len() >= 2 {
            break seen;
        }
        assert!(
            started.elapsed() < WAIT,
            "the emulator pushed {} of 2",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut subscriptions = Vec::new();
    for request in &requests {
        let message = PubSubMessage::from_request(request).unwrap();
        assert_eq!(message.id(), message_id);
        assert_eq!(message.data(), br#"{"id": 7}"#);
        assert_eq!(message.attributes()["kind"], "order");
        assert_eq!(message.attributes()["googclient_traceparent"], publisher);
        assert_eq!(message.attributes().len(), 2, "{:?}", message.attributes());
        assert!(message.publish_time().is_some());
        assert_eq!(message.topic(), Some("projects/emulated/topics/orders"));
        subscriptions.push(message.subscription().unwrap_or_default().to_owned());
    }
    subscriptions.sort();
    assert_eq!(
        subscriptions,
        [
            "projects/emulated/subscriptions/orders-push",
            "projects/emulated/subscriptions/orders-raw"
        ]
    );

    let consumer = span_with(&receiver, "the pushed message's span", |s| {
        s.kind == SpanKind::Consumer
            && s.attr_str("messaging.message.id") == Some(&message_id)
            && s.name == "subscribe orders-push"
    })
    .await;
    assert_eq!(consumer.name, "subscribe orders-push");
    assert_eq!(
        consumer.trace_id, PUBLISHER_TRACE,
        "continues the publisher's trace"
    );
    assert_eq!(
        consumer.attr_str("messaging.destination.name"),
        Some("orders")
    );
    assert!(
        consumer
            .links
            .iter()
            .any(|l| l.trace_id == PUBLISHER_TRACE && l.span_id == PUBLISHER_SPAN)
    );
    let server = span_with(&receiver, "the push's SERVER span", |s| {
        s.span_id == consumer.parent_span_id
    })
    .await;
    assert_eq!(server.parent_span_id, PUBLISHER_SPAN);
    let unwrapped = span_with(&receiver, "the unwrapped push's span", |s| {
        s.kind == SpanKind::Consumer && s.name == "subscribe orders-raw"
    })
    .await;
    assert_eq!(
        unwrapped.trace_id, PUBLISHER_TRACE,
        "unwrapped: the publisher's trace too"
    );
    assert!(
        unwrapped
            .links
            .iter()
            .any(|l| l.trace_id == PUBLISHER_TRACE && l.span_id == PUBLISHER_SPAN)
    );
    drop(emulator);
}

/// 64 pushes at once, each with its own transport parent and publisher: every span is
/// the child of its own request and links to its own publisher (no context bleeds).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_pushes_keep_their_own_context() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let running = start(&receiver, "orders").await;
    let ids = |n: usize| {
        (
            format!("{:032x}", 0x1000 + n),
            format!("{:016x}", 0x2000 + n),
            format!("{:032x}", 0x3000 + n),
            format!("{:016x}", 0x4000 + n),
        )
    };
    let mut sends = Vec::new();
    for n in 0..64 {
        let (trace, span, publisher_trace, publisher_span) = ids(n);
        let body = serde_json::to_vec(&json!({
            "message": {
                "data": "b2s=",
                "messageId": format!("m-{n}"),
                "attributes": {"googclient_traceparent": format!("00-{publisher_trace}-{publisher_span}-01")},
            },
            "subscription": "projects/demo/subscriptions/orders-push",
        }))
        .unwrap();
        sends.push(send(
            running.client,
            "/",
            vec![
                ("content-type".into(), "application/json".into()),
                ("traceparent".into(), format!("00-{trace}-{span}-01")),
            ],
            body,
        ));
    }
    for reply in futures_util::future::join_all(sends).await {
        assert_eq!(reply.status, 204, "{}", reply.body);
    }
    let spans = consumer_spans(&receiver, 64).await;
    for n in 0..64 {
        let (trace, span, publisher_trace, publisher_span) = ids(n);
        let id = format!("m-{n}");
        let consumer = spans
            .iter()
            .find(|s| {
                s.kind == SpanKind::Consumer && s.attr_str("messaging.message.id") == Some(&id)
            })
            .unwrap_or_else(|| panic!("no span for {id}"));
        assert_eq!(consumer.trace_id, trace, "{id}");
        let server = spans
            .iter()
            .find(|s| s.span_id == consumer.parent_span_id)
            .unwrap();
        assert_eq!(server.parent_span_id, span, "{id}");
        assert_eq!(consumer.links.len(), 1, "{id}");
        assert_eq!(consumer.links[0].trace_id, publisher_trace, "{id}");
        assert_eq!(consumer.links[0].span_id, publisher_span, "{id}");
    }
}

/// One request of the oracle comparison: a name, headers, a body.
type Delivery = (String, Vec<(String, String)>, Vec<u8>);

/// The Node Functions Framework's `node_modules` (`cargo xtask test` installs it and says
/// where in `OTEL_FAAS_FUNCTIONS_FRAMEWORK`).
fn functions_framework() -> PathBuf {
    let modules = std::env::var_os("OTEL_FAAS_FUNCTIONS_FRAMEWORK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace_root().join("target/emulators/functions-framework/node_modules")
        });
    assert!(
        modules.join(".bin/functions-framework").exists(),
        "the Node Functions Framework is not installed at {}: run `cargo xtask test --suite gcp`, \
         which installs it with npm",
        modules.display()
    );
    modules
}

/// The reference framework serving `integration-tests/oracle/index.js`.
struct NodeFramework {
    child: std::process::Child,
    address: SocketAddr,
    log: PathBuf,
}

impl NodeFramework {
    fn start(target: &str, signature: &str) -> Self {
        let modules = functions_framework();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("otel-faas-oracle-{port}.log"));
        let child = std::process::Command::new(modules.join(".bin/functions-framework"))
            .args([
                &format!("--target={target}"),
                &format!("--signature-type={signature}"),
                &format!("--port={port}"),
            ])
            .arg(format!(
                "--source={}",
                workspace_root().join("integration-tests/oracle").display()
            ))
            // The function module requires the framework from where xtask installed it.
            .env("NODE_PATH", &modules)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("node starts the framework");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(address).is_err() {
            assert!(started.elapsed() < WAIT, "the Node framework did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            address,
            log,
        }
    }

    /// The events the function printed, in order.
    fn seen(&self) -> Vec<Map<String, Value>> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|line| line.get("seen")?.as_object().cloned())
            .collect()
    }
}

impl Drop for NodeFramework {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The same requests to the Node Functions Framework (the reference implementation) and
/// to ours: the HTTP contract and the events CloudEvent functions see must agree. Where
/// ours deliberately differs, the test says so and checks both sides, so a change in
/// either is noticed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_functions_framework_agrees() {
    let receiver = OtlpReceiver::start().expect("receiver");
    // HTTP functions.
    let node = tokio::task::spawn_blocking(|| NodeFramework::start("hello", "http"))
        .await
        .unwrap();
    let ours = start(&receiver, "hello").await;
    let node_client = MiniHost::new(node.address);
    let ours_client = ours.client;
    tokio::task::spawn_blocking(move || {
        for (method, path) in [
            ("GET", "/robots.txt"),
            ("GET", "/favicon.ico"),
            ("PUT", "/robots.txt"),
            ("GET", "/any/path?x=1"),
            ("POST", "/"),
            ("DELETE", "/x"),
        ] {
            let a = node_client
                .send(method, path, &[], Some(b""), false)
                .unwrap();
            let b = ours_client
                .send(method, path, &[], Some(b""), false)
                .unwrap();
            assert_eq!(a.status, b.status, "{method} {path}");
            if a.status == 200 {
                assert_eq!(a.body, b.body, "{method} {path}");
            }
        }
    })
    .await
    .unwrap();
    drop(node);

    // CloudEvent functions: every conformance input, the emulator's raw push, the Node
    // framework's own vectors.
    let node = tokio::task::spawn_blocking(|| NodeFramework::start("sink", "cloudevent"))
        .await
        .unwrap();
    let ours = start(&receiver, "sink").await;
    let mut requests: Vec<Delivery> = Vec::new();
    let mut inputs: Vec<(PathBuf, String)> = Vec::new();
    for dir in [
        fixtures().join("gcp-functions-conformance"),
        fixtures().join("gcp-events/conformance-extra"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            if let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|f| f.strip_suffix("-input.json"))
            {
                inputs.push((dir.clone(), name.to_owned()));
            }
        }
    }
    inputs.sort();
    for (dir, name) in &inputs {
        let body = std::fs::read(dir.join(format!("{name}-input.json"))).unwrap();
        let content_type = if name.ends_with("-cloudevent") {
            "application/cloudevents+json"
        } else {
            "application/json"
        };
        requests.push((
            name.clone(),
            vec![("content-type".into(), content_type.into())],
            body,
        ));
    }
    let node_vectors = fixtures().join("gcp-events/functions-framework-nodejs");
    for file in [
        "cloudevent-binary.json",
        "cloudevent-structured.json",
        "cloudevent-binary-traceparent.json",
        "cloudevent-structured-traceparent.json",
    ] {
        let case = read_json(&node_vectors.join(file));
        let headers = case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        requests.push((
            file.into(),
            headers,
            serde_json::to_vec(&case["body"]).unwrap(),
        ));
    }
    let push = read_json(&node_vectors.join("pubsub-emulator-raw-push.json"));
    requests.push((
        "emulator push".into(),
        vec![("content-type".into(), "application/json".into())],
        serde_json::to_vec(&push["body"]).unwrap(),
    ));
    assert!(requests.len() >= 35, "{}", requests.len());
    for (case, headers, body) in &requests {
        let a = send(
            MiniHost::new(node.address),
            "/",
            headers.clone(),
            body.clone(),
        )
        .await;
        let b = send(ours.client, "/", headers.clone(), body.clone()).await;
        assert_eq!(
            (a.status, b.status),
            (204, 204),
            "{case}: {} / {}",
            a.body,
            b.body
        );
    }
    // The Node framework prints asynchronously: wait for every line.
    let started = std::time::Instant::now();
    while node.seen().len() < requests.len() {
        assert!(
            started.elapsed() < WAIT,
            "the Node function saw {} events",
            node.seen().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let node_seen = node.seen();
    let ours_seen: Vec<Map<String, Value>> =
        ours.seen.lock().unwrap().iter().map(event_json).collect();
    assert_eq!(ours_seen.len(), requests.len());
    for ((case, _, _), (theirs, mine)) in requests.iter().zip(node_seen.iter().zip(&ours_seen)) {
        // Known, deliberate difference: the Node framework drops a push's subscription.
        let mut theirs = Value::Object(theirs.clone());
        if case == "emulator push" {
            assert!(theirs["data"].get("subscription").is_none());
            assert!(mine["data"].get("subscription").is_some());
            theirs["time"] = mine["time"].clone();
            theirs["data"]["message"]["publishTime"] =
                mine["data"]["message"]["publishTime"].clone();
        }
        assert_same_event(case, mine, &theirs);
        let instant = |v: &Value| {
            v.as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        };
        assert_eq!(
            instant(&theirs["time"]),
            mine.get("time").and_then(instant),
            "{case}: time"
        );
        assert_eq!(
            theirs.get("traceparent"),
            mine.get("traceparent"),
            "{case}: traceparent"
        );
    }

    // Where ours is stricter, on purpose: a binary event without ce-id is malformed (the
    // Node framework hands the function the bare body); a GET or a robots.txt on a
    // CloudEvent function is refused cleanly (the Node framework crashes with a 500).
    let malformed = vec![
        ("ce-specversion".to_owned(), "1.0".to_owned()),
        ("ce-type".to_owned(), "t".to_owned()),
        ("ce-source".to_owned(), "/s".to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    let a = send(
        MiniHost::new(node.address),
        "/",
        malformed.clone(),
        b"{}".to_vec(),
    )
    .await;
    let b = send(ours.client, "/", malformed, b"{}".to_vec()).await;
    assert_eq!((a.status, b.status), (204, 400));
    let (node_address, ours_client) = (node.address, ours.client);
    tokio::task::spawn_blocking(move || {
        let node_client = MiniHost::new(node_address);
        for path in ["/robots.txt", "/anything"] {
            let a = node_client.send("GET", path, &[], None, false).unwrap();
            let b = ours_client.send("GET", path, &[], None, false).unwrap();
            assert_eq!(a.status, 500, "{path}: the Node framework");
            assert!(
                b.status == 404 || b.status == 405,
                "{path}: ours {}",
                b.status
            );
        }
    })
    .await
    .unwrap();
}

/// The CloudEvents distributed-tracing extension: a `ce-traceparent` that differs from the
/// transport's `traceparent` is the event's creation context — a link, not the parent; one
/// equal to it adds no link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudevents_traceparent_is_a_link_not_the_parent() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let running = start(&receiver, "sink").await;
    let transport = format!("00-{TRANSPORT_TRACE}-{TRANSPORT_SPAN}-01");
    let creation = format!("00-{PUBLISHER_TRACE}-{PUBLISHER_SPAN}-01");
    for (id, ce_traceparent) in [("ev-differs", &creation), ("ev-same", &transport)] {
        let reply = send(
            running.client,
            "/",
            vec![
                ("ce-specversion".into(), "1.0".into()),
                ("ce-id".into(), id.into()),
                ("ce-source".into(), "/orders".into()),
                ("ce-type".into(), "com.example.order.placed".into()),
                ("ce-traceparent".into(), ce_traceparent.clone()),
                ("traceparent".into(), transport.clone()),
                ("content-type".into(), "application/json".into()),
            ],
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(reply.status, 204, "{}", reply.body);
        let span = span_with(&receiver, id, |s| {
            s.attr_str("cloudevents.event_id") == Some(id)
        })
        .await;
        assert_eq!(span.name, "com.example.order.placed");
        assert_eq!(span.attr_str("faas.trigger"), Some("other"));
        assert_eq!(
            span.trace_id, TRANSPORT_TRACE,
            "{id}: the transport is the parent"
        );
        assert_eq!(span.parent_span_id, TRANSPORT_SPAN, "{id}");
        let linked = span
            .links
            .iter()
            .any(|l| l.trace_id == PUBLISHER_TRACE && l.span_id == PUBLISHER_SPAN);
        assert_eq!(linked, id == "ev-differs", "{id}: {:?}", span.links);
        if id == "ev-same" {
            assert!(span.links.is_empty(), "{:?}", span.links);
        }
    }
    // The function sees the event's own traceparent, not the transport's.
    let seen = running.seen.lock().unwrap();
    assert_eq!(seen[0].event_traceparent(), Some(creation.as_str()));
}

/// A fake Pub/Sub REST endpoint and metadata server for the publisher's credentials: the
/// token is fetched once and sent as a bearer token; the message carries the context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publisher_authenticates_with_the_metadata_token_and_carries_the_context() {
    use std::io::{Read as _, Write as _};
    let requests: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let recorded = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            // The whole request: headers, then Content-Length bytes of body.
            let mut raw = Vec::new();
            let mut chunk = [0_u8; 4096];
            loop {
                let read = stream.read(&mut chunk).unwrap_or(0);
                raw.extend_from_slice(&chunk[..read]);
                let text = String::from_utf8_lossy(&raw).into_owned();
                let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    body.len() >= length
                });
                if complete || read == 0 {
                    break;
                }
            }
            let request = String::from_utf8_lossy(&raw).into_owned();
            recorded.lock().unwrap().push(request.clone());
            let body = if request.contains("/service-accounts/default/token") {
                r#"{"access_token": "tok-1", "expires_in": 3599, "token_type": "Bearer"}"#
            } else if request
                .to_ascii_lowercase()
                .contains("authorization: bearer tok-1")
            {
                r#"{"messageIds": ["msg-9"]}"#
            } else {
                let _ = stream.write_all(
                    b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                continue;
            };
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nmetadata-flavor: Google\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(environment(&receiver, &[])).install();
    let publisher = otel_faas_gcp::PubSubPublisher::from_environment(&MapEnvironment::from([
        ("GOOGLE_CLOUD_PROJECT", "demo".to_owned()),
        ("GCE_METADATA_HOST", address.to_string()),
    ]))
    .unwrap()
    .with_endpoint(format!("http://{address}"));
    // Inside an invocation, as a function publishes.
    struct Job;
    impl otel_faas_core::TriggerAdapter<(), ()> for Job {
        fn invocation_spec(
            &self,
            _: &(),
            _: &otel_faas_core::trigger::InvocationContext,
            _: &dyn otel_faas_core::Propagation,
        ) -> otel_faas_core::InvocationSpec {
            otel_faas_core::InvocationSpec::new(
                otel_faas_core::trigger::FaasTrigger::Other,
                otel_faas_core::SpanSpec::server("job"),
            )
        }
    }
    let engine = telemetry.engine().build();
    engine
        .invocation(&Job, ())
        .run(|_| async {
            for _ in 0..2 {
                let id = publisher
                    .publish("orders", b"{}".to_vec(), Default::default())
                    .await
                    .unwrap();
                assert_eq!(id, "msg-9");
            }
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .unwrap();
    telemetry.flusher().flush(WAIT).await.unwrap();
    let requests = requests.lock().unwrap().clone();
    let tokens = requests
        .iter()
        .filter(|r| r.contains("/service-accounts/default/token"))
        .count();
    assert_eq!(tokens, 1, "the token is cached: {requests:#?}");
    let token_request = requests.iter().find(|r| r.contains("/token")).unwrap();
    assert!(
        token_request
            .to_ascii_lowercase()
            .contains("metadata-flavor: google")
    );
    let publish = requests
        .iter()
        .find(|r| r.starts_with("POST /v1/projects/demo/topics/orders:publish"))
        .expect("a publish request");
    let body: Value =
        serde_json::from_str(publish.split_once("\r\n\r\n").unwrap().1).expect("a JSON body");
    let traceparent = body["messages"][0]["attributes"]["googclient_traceparent"]
        .as_str()
        .expect("the context in the attributes");
    let send = span_with(&receiver, "send span", |s| s.name == "send orders").await;
    assert_eq!(send.kind, SpanKind::Producer);
    assert_eq!(send.attr_str("messaging.system"), Some("gcp_pubsub"));
    assert_eq!(send.attr_str("messaging.message.id"), Some("msg-9"));
    assert!(
        traceparent.contains(&send.span_id),
        "{traceparent} names the send span"
    );
}

/// The example as Cloud Run runs it (`K_SERVICE` set): its log lines are Cloud Logging's
/// structured JSON on standard output, each under the trace of the request that wrote it,
/// and not repeated as plain text on standard error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cloud_run_log_lines_are_structured_and_under_their_trace() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let binary = otel_faas_integration_tests::build_binary("example-gcp-function", "gcp-function")
        .expect("build");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("otel-faas-gcp-logs-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = std::process::Command::new(&binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs([
            ("PORT", port.to_string()),
            ("HOST", "127.0.0.1".to_owned()),
            ("K_SERVICE", "orders".to_owned()),
            ("K_REVISION", "orders-00001-abc".to_owned()),
            ("K_CONFIGURATION", "orders".to_owned()),
            ("GOOGLE_CLOUD_PROJECT", "demo".to_owned()),
            // Nothing listens there: no metadata, and publishing fails.
            ("GCE_METADATA_HOST", "127.0.0.1:9".to_owned()),
            ("PUBSUB_EMULATOR_HOST", "127.0.0.1:9".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ])
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .expect("the example starts");
    let child = KillOnDrop(child);
    let client = MiniHost::new(SocketAddr::from(([127, 0, 0, 1], port)));
    let caller = format!("00-{TRANSPORT_TRACE}-{TRANSPORT_SPAN}-01");
    let reply = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        while client.send("GET", "/hello", &[], None, false).is_err() {
            assert!(started.elapsed() < WAIT, "the example did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        client
            .send(
                "POST",
                "/orders",
                &[
                    ("content-type", "application/json"),
                    ("traceparent", &caller),
                ],
                Some(br#"{"id": 5, "items": ["pen"]}"#),
                false,
            )
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        reply.status, 503,
        "publishing cannot work here: {}",
        reply.body
    );
    let started = std::time::Instant::now();
    let lines: Vec<Value> = loop {
        let text = std::fs::read_to_string(dir.join("stdout")).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
            .collect();
        if lines.iter().any(|l| l["severity"] == "ERROR") {
            break lines;
        }
        assert!(started.elapsed() < WAIT, "no error line on stdout: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let accepted = lines
        .iter()
        .find(|l| l["message"] == "order accepted")
        .expect("the handler's line");
    assert_eq!(accepted["severity"], "INFO");
    assert_eq!(accepted["order"], 5);
    assert_eq!(
        accepted["logging.googleapis.com/trace"],
        format!("projects/demo/traces/{TRANSPORT_TRACE}")
    );
    assert_eq!(accepted["logging.googleapis.com/trace_sampled"], true);
    let span_id = accepted["logging.googleapis.com/spanId"].as_str().unwrap();
    let failed = lines
        .iter()
        .find(|l| l["severity"] == "ERROR")
        .expect("the failure's line");
    assert_eq!(
        failed["logging.googleapis.com/spanId"], span_id,
        "the same invocation"
    );
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    assert!(
        !stderr.contains("order accepted"),
        "not repeated as plain text: {stderr}"
    );
    // The line's span is the invocation's, as exported.
    let invocation = span_with(&receiver, "the invocation", |s| s.span_id == span_id).await;
    assert_eq!(invocation.trace_id, TRANSPORT_TRACE);
    drop(child);
    let _ = std::fs::remove_dir_all(dir);
}
