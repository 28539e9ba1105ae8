//! The Azure custom handler (`examples/azure-function-app`) as a real process, driven by
//! the mini host exactly as the Functions host drives it: readiness, envelopes per trigger
//! from real captures (double-encoded strings, numbers as strings, base64, batches, chunked
//! bodies), the reply envelope with `Logs`, and spans asserted after crossing OTLP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use otel_faas_integration_tests::{
    AttrValue, Azurite, FunctionAppHost, FunctionProcess, MiniHost, OtlpReceiver, QueueOutcome,
    ReceivedSpan, SpanKind, StatusCode, build_binary, workspace_root,
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const HOST_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const HOST_SPAN: &str = "b7ad6b7169203331";

fn fixture(path: &str) -> Value {
    let root = workspace_root().join("../shared/fixtures/azure-custom-handler");
    let text = std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn app_root() -> PathBuf {
    workspace_root().join("examples/azure-function-app")
}

struct Handler {
    process: FunctionProcess,
    host: MiniHost,
}

fn start(receiver: &OtlpReceiver, root: &Path) -> Handler {
    let binary = build_binary("example-azure-function-app", "azure-function-app").expect("build");
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
            (
                "WEBSITE_OWNER_NAME",
                "0b3a1f5e-8c1e-4d6a-9f0e-2a7c5d9b1e44+orders-rg-WestEuropewebspace-Linux"
                    .to_owned(),
            ),
            ("WEBSITE_RESOURCE_GROUP", "orders-rg".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("OTEL_METRICS_EXPORTER", "none".to_owned()),
            ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ],
    )
    .expect("the handler starts");
    let host = MiniHost::new(SocketAddr::from(([127, 0, 0, 1], port)));
    if let Err(error) = host.wait_until_ready(WAIT) {
        panic!("{error}\n{}", process.log());
    }
    Handler { process, host }
}

fn traceparent(trace: &str, span: &str) -> String {
    format!("00-{trace}-{span}-01")
}

fn str_attr<'a>(span: &'a ReceivedSpan, key: &str) -> &'a str {
    span.attr_str(key)
        .unwrap_or_else(|| panic!("{} has no {key}: {:?}", span.name, span.attributes))
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

/// Every trigger's envelope as real captures have it — a Storage queue message, a failing
/// handler, HTTP in the default mode (with a 5xx and with a queue output), Service Bus,
/// an Event Hubs batch, a timer, and a body that is no envelope — is decoded, answered as
/// the host expects, and recorded with its trigger's attributes and parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_triggers_envelope_is_answered_and_recorded_as_the_host_expects() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let handler = start(&receiver, &app_root());
    let host = handler.host;
    let parent = traceparent(HOST_TRACE, HOST_SPAN);

    // A Storage queue message as a real capture has it (double-encoded message and ids,
    // the dequeue count as a string), sent chunked like the host's client.
    let capture = fixture("ballerina/queue-string.json");
    let order = json!({"id": 42, "items": ["book"]}).to_string();
    let data = json!({"order": serde_json::to_string(&order).unwrap()});
    let reply = host
        .invoke(
            "fulfil",
            "inv-queue-1",
            &data,
            &capture["Metadata"],
            &[("traceparent", &parent)],
            true,
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let envelope = reply.json();
    let logs = envelope["Logs"].as_array().expect("Logs");
    assert!(
        logs.iter()
            .any(|l| l.as_str().unwrap().contains("fulfilling")
                && l.as_str()
                    .unwrap()
                    .contains(&format!("trace_id={HOST_TRACE}"))),
        "the invocation's log line, with its trace id: {logs:?}"
    );
    let invocation = span_with(&receiver, "queue invocation", |s| {
        s.attr_str("faas.invocation_id") == Some("inv-queue-1")
    })
    .await;
    assert_eq!(invocation.kind, SpanKind::Server);
    assert_eq!(invocation.trace_id, HOST_TRACE);
    assert_eq!(
        invocation.parent_span_id, HOST_SPAN,
        "a child of the host's span"
    );
    assert_eq!(str_attr(&invocation, "faas.trigger"), "pubsub");
    assert_eq!(str_attr(&invocation, "faas.name"), "orders-app/fulfil");
    assert_eq!(
        str_attr(&invocation, "cloud.resource_id"),
        "/subscriptions/0b3a1f5e-8c1e-4d6a-9f0e-2a7c5d9b1e44/resourceGroups/orders-rg/providers/Microsoft.Web/sites/orders-app/functions/fulfil"
    );
    assert_eq!(
        invocation.resource.get("cloud.platform"),
        Some(&AttrValue::Str("azure.functions".into()))
    );
    let process = span_with(&receiver, "process span", |s| {
        s.parent_span_id == invocation.span_id
    })
    .await;
    assert_eq!(process.kind, SpanKind::Consumer);
    assert_eq!(process.name, "process orders");
    assert_eq!(
        str_attr(&process, "messaging.system"),
        "azure.storage.queue"
    );
    assert_eq!(
        str_attr(&process, "messaging.message.id"),
        "a0004923-f050-417a-9742-6d7c7b984134"
    );

    // A failing handler: 500 (the host retries), ERROR with the type inside anyhow.
    let empty = json!({"id": 7, "items": []}).to_string();
    let reply = host
        .invoke(
            "fulfil",
            "inv-queue-2",
            &json!({"order": serde_json::to_string(&empty).unwrap()}),
            &capture["Metadata"],
            &[],
            false,
        )
        .unwrap();
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(
        reply.body.contains("order 7 has no items"),
        "{}",
        reply.body
    );
    let failed = span_with(&receiver, "failed invocation", |s| {
        s.attr_str("faas.invocation_id") == Some("inv-queue-2")
    })
    .await;
    assert_eq!(failed.status, StatusCode::Error);
    assert_eq!(str_attr(&failed, "error.type"), "EmptyOrder");

    // HTTP in the default mode: a real capture's request, answered in Outputs.res.
    let capture = fixture("ballerina/simple.json");
    let mut request = capture["Data"]["httpPayload"].clone();
    request["Url"] =
        json!("https://orders-app.azurewebsites.net/api/hello/ada?X-Goog-Signature=secret");
    request["Params"] = json!({"name": "ada"});
    let reply = host
        .invoke(
            "hello",
            "inv-http-1",
            &json!({"req": request}),
            &capture["Metadata"],
            &[("traceparent", &parent)],
            false,
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let envelope = reply.json();
    assert_eq!(envelope["Outputs"]["res"]["statusCode"], "200");
    assert_eq!(envelope["Outputs"]["res"]["body"], "hello, ada");
    let http = span_with(&receiver, "http invocation", |s| {
        s.attr_str("faas.invocation_id") == Some("inv-http-1")
    })
    .await;
    assert_eq!(http.name, "POST /api/hello/{name?}");
    assert_eq!(http.kind, SpanKind::Server);
    assert_eq!(str_attr(&http, "faas.trigger"), "http");
    assert_eq!(str_attr(&http, "url.path"), "/api/hello/ada");
    assert_eq!(str_attr(&http, "url.query"), "X-Goog-Signature=REDACTED");
    assert_eq!(str_attr(&http, "client.address"), "45.30.94.9");
    assert_eq!(
        http.attr("http.response.status_code"),
        Some(&AttrValue::Int(200))
    );
    assert_eq!(http.parent_span_id, HOST_SPAN);

    // A 5xx response is an ERROR; the reply is still a 200 envelope (the function ran).
    let mut crash = request.clone();
    crash["Params"] = json!({"name": "crash"});
    let reply = host
        .invoke(
            "hello",
            "inv-http-2",
            &json!({"req": crash}),
            &json!({}),
            &[],
            false,
        )
        .unwrap();
    assert_eq!(reply.json()["Outputs"]["res"]["statusCode"], "503");
    let crashed = span_with(&receiver, "5xx invocation", |s| {
        s.attr_str("faas.invocation_id") == Some("inv-http-2")
    })
    .await;
    assert_eq!(crashed.status, StatusCode::Error);
    assert_eq!(str_attr(&crashed, "error.type"), "503");

    // An HTTP function with a queue output: the string output is base64 for the host.
    let body = json!({"id": 9, "items": ["pen"]}).to_string();
    let mut post = request.clone();
    post["Body"] = json!(body);
    let reply = host
        .invoke(
            "order",
            "inv-order-1",
            &json!({"req": post}),
            &json!({}),
            &[],
            false,
        )
        .unwrap();
    let envelope = reply.json();
    assert_eq!(envelope["Outputs"]["res"]["statusCode"], "202");
    let message = envelope["Outputs"]["message"]
        .as_str()
        .expect("a queue output");
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(message)
        .expect("base64");
    assert_eq!(serde_json::from_slice::<Value>(&decoded).unwrap()["id"], 9);

    // Service Bus: the producer's context in ApplicationProperties becomes a link.
    let producer = traceparent("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174");
    let capture = fixture("azfunc-go/requests/servicebus-request.json");
    let mut metadata = capture["Metadata"].clone();
    metadata["ApplicationProperties"] = json!({"Diagnostic-Id": producer});
    let reply = host
        .invoke(
            "payments",
            "inv-sb-1",
            &json!({"payment": capture["Data"]["queue"]}),
            &metadata,
            &[("traceparent", &parent)],
            false,
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let sb = span_with(&receiver, "service bus invocation", |s| {
        s.attr_str("faas.invocation_id") == Some("inv-sb-1")
    })
    .await;
    let sb_process = span_with(&receiver, "service bus process", |s| {
        s.parent_span_id == sb.span_id
    })
    .await;
    assert_eq!(str_attr(&sb_process, "messaging.system"), "servicebus");
    assert_eq!(
        str_attr(&sb_process, "messaging.destination.name"),
        "payments"
    );
    assert_eq!(
        sb_process.attr("messaging.servicebus.message.delivery_count"),
        Some(&AttrValue::Int(1))
    );
    assert_eq!(
        sb_process.attr("messaging.servicebus.message.enqueued_time"),
        Some(&AttrValue::Int(1_697_141_629))
    );
    assert_eq!(sb_process.links.len(), 1);
    assert_eq!(sb_process.links[0].span_id, "eee19b7ec3c1b174");

    // Event Hubs batch: the events as the JSON text of an array, Array-suffixed metadata.
    let metadata = json!({
        "PartitionContext": {"PartitionId": "3"},
        "EnqueuedTimeUtcArray": ["2023-10-12T20:13:49", "2023-10-12T20:13:50"],
        "PropertiesArray": [{"traceparent": traceparent("11111111111111111111111111111111", "2222222222222222")}, {"traceparent": traceparent("33333333333333333333333333333333", "4444444444444444")}],
        "sys": {"MethodName": "ingest", "UtcNow": "2023-10-12T20:13:51Z", "RandGuid": "x"}
    });
    let reply = host
        .invoke(
            "ingest",
            "inv-eh-1",
            &json!({"events": "[\"a\",\"b\"]"}),
            &metadata,
            &[],
            false,
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let eh = span_with(&receiver, "event hubs invocation", |s| {
        s.attr_str("faas.invocation_id") == Some("inv-eh-1")
    })
    .await;
    let eh_process = span_with(&receiver, "event hubs process", |s| {
        s.parent_span_id == eh.span_id
    })
    .await;
    assert_eq!(eh_process.name, "process telemetry");
    assert_eq!(
        str_attr(&eh_process, "messaging.consumer.group.name"),
        "ingest"
    );
    assert_eq!(
        str_attr(&eh_process, "messaging.destination.partition.id"),
        "3"
    );
    assert_eq!(
        eh_process.attr("messaging.batch.message_count"),
        Some(&AttrValue::Int(2))
    );
    assert_eq!(eh_process.links.len(), 2, "one link per event");

    // Timer: faas.cron from function.json, faas.time from sys.UtcNow.
    let capture = fixture("azfunc-go/requests/timer-request.json");
    let reply = host
        .invoke(
            "nightly",
            "inv-timer-1",
            &capture["Data"],
            &capture["Metadata"],
            &[],
            false,
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let timer = span_with(&receiver, "timer invocation", |s| {
        s.attr_str("faas.invocation_id") == Some("inv-timer-1")
    })
    .await;
    assert_eq!(str_attr(&timer, "faas.trigger"), "timer");
    assert_eq!(str_attr(&timer, "faas.cron"), "0 0 3 * * *");
    assert_eq!(str_attr(&timer, "faas.time"), "2023-10-12T20:13:49.640002Z");

    // Not an envelope: 400 with the reason, an ERROR span, and the server keeps serving.
    let reply = host
        .invoke_raw("fulfil", "inv-bad-1", b"{\"Data\": [1]}", &[], false)
        .unwrap();
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("\"Data\" is an array"),
        "{}",
        reply.body
    );
    span_with(&receiver, "refused invocation", |s| {
        s.status == StatusCode::Error && s.attr_str("error.type") == Some("invalid_event")
    })
    .await;
    let unknown = host
        .invoke("nope", "inv-404", &json!({}), &json!({}), &[], false)
        .unwrap();
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("fulfil"), "{}", unknown.body);
    assert_eq!(
        host.wait_until_ready(WAIT).unwrap().status,
        200,
        "still serving"
    );
    drop(handler.process);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_invocations_keep_their_own_context_and_logs() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let handler = start(&receiver, &app_root());
    let host = handler.host;
    let order = json!({"id": 1, "items": ["a"]}).to_string();
    let data = json!({"order": serde_json::to_string(&order).unwrap()});
    let threads: Vec<_> = (0..64)
        .map(|i| {
            let data = data.clone();
            std::thread::spawn(move || {
                let trace = format!("{i:032x}").replace('0', "a");
                let parent = traceparent(&trace, &format!("{:016x}", i + 1));
                let reply = host
                    .invoke(
                        "fulfil",
                        &format!("inv-c-{i}"),
                        &data,
                        &json!({"Id": format!("\"m-{i}\"")}),
                        &[("traceparent", &parent)],
                        false,
                    )
                    .unwrap();
                (i, trace, reply)
            })
        })
        .collect();
    let mut expected = Vec::new();
    for thread in threads {
        let (i, trace, reply) = thread.join().unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        let logs = reply.json()["Logs"].clone();
        let logs = logs.as_array().unwrap();
        assert!(!logs.is_empty(), "invocation {i} has its log lines");
        for line in logs {
            assert!(
                line.as_str()
                    .unwrap()
                    .contains(&format!("trace_id={trace}")),
                "invocation {i} got another's line: {line}"
            );
        }
        expected.push((i, trace));
    }
    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans
                .iter()
                .filter(|s| {
                    s.attr_str("faas.invocation_id")
                        .is_some_and(|id| id.starts_with("inv-c-"))
                })
                .count()
                >= 64
        })
        .await
        .expect("64 invocation spans");
    for (i, trace) in expected {
        let span = spans
            .iter()
            .find(|s| s.attr_str("faas.invocation_id") == Some(format!("inv-c-{i}").as_str()))
            .unwrap();
        assert_eq!(span.trace_id, trace, "invocation {i}");
        assert_eq!(
            span.parent_span_id,
            format!("{:016x}", i + 1),
            "invocation {i}"
        );
    }
    drop(handler.process);
}

/// A copy of the example app whose host.json sets `setting` in `customHandler`.
fn app_root_with(setting: &str) -> PathBuf {
    let host = json!({"version": "2.0", "customHandler": {"description": {"defaultExecutablePath": "azure-function-app"}, setting: true}});
    app_root_custom(setting, &host, |_| {})
}

/// A copy of the example's function.json files under a `host.json` of the test's, changed
/// by `edit`.
fn app_root_custom(tag: &str, host: &Value, edit: impl Fn(&Path)) -> PathBuf {
    let root = std::env::temp_dir().join(format!("otel-faas-azure-{tag}-{}", std::process::id()));
    let source = app_root();
    for entry in std::fs::read_dir(&source).expect("the example app") {
        let entry = entry.unwrap();
        let function_json = entry.path().join("function.json");
        if function_json.is_file() {
            let target = root.join(entry.file_name());
            std::fs::create_dir_all(&target).unwrap();
            std::fs::copy(&function_json, target.join("function.json")).unwrap();
        }
    }
    std::fs::write(root.join("host.json"), host.to_string()).unwrap();
    edit(&root);
    root
}

/// The forwarding and proxying modes: HTTP-in-and-out functions get the request itself at
/// its own path and answer it plainly; other functions still get envelopes.
async fn http_mode(setting: &str, invocation_header: &str) {
    let receiver = OtlpReceiver::start().expect("receiver");
    let root = app_root_with(setting);
    let handler = start(&receiver, &root);
    let host = handler.host;
    let parent = traceparent(HOST_TRACE, HOST_SPAN);
    let id = format!("inv-{setting}");
    let reply = host
        .send(
            "GET",
            "/api/hello/ada?sig=secret",
            &[
                (invocation_header, &id),
                ("traceparent", &parent),
                ("user-agent", "curl/8.5.0"),
            ],
            None,
            false,
        )
        .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello, ada"));
    // The optional route parameter left out.
    let reply = host
        .send(
            "GET",
            "/api/hello",
            &[(invocation_header, "inv-bare")],
            None,
            false,
        )
        .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello, world"));
    // A method function.json does not allow.
    let reply = host
        .send("DELETE", "/api/hello/ada", &[], None, false)
        .unwrap();
    assert_eq!(reply.status, 405);
    let span = span_with(&receiver, "forwarded invocation", |s| {
        s.attr_str("faas.invocation_id") == Some(id.as_str())
    })
    .await;
    assert_eq!(span.name, "GET /api/hello/{name?}");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.parent_span_id, HOST_SPAN);
    assert_eq!(str_attr(&span, "url.path"), "/api/hello/ada");
    assert_eq!(str_attr(&span, "url.query"), "sig=REDACTED");
    assert_eq!(str_attr(&span, "user_agent.original"), "curl/8.5.0");
    assert_eq!(
        span.attr("http.response.status_code"),
        Some(&AttrValue::Int(200))
    );
    // `order` has a queue output besides HTTP: the host still sends it an envelope.
    let mut request = fixture("ballerina/simple.json")["Data"]["httpPayload"].clone();
    request["Body"] = json!(json!({"id": 3, "items": ["x"]}).to_string());
    let reply = host
        .invoke(
            "order",
            "inv-order-env",
            &json!({"req": request}),
            &json!({}),
            &[],
            false,
        )
        .unwrap();
    assert_eq!(
        reply.json()["Outputs"]["res"]["statusCode"],
        "202",
        "{}",
        reply.body
    );
    drop(handler.process);
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_mode_serves_http_functions_at_their_routes() {
    http_mode(
        "enableForwardingHttpRequest",
        "X-Azure-Functions-InvocationId",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxying_mode_reads_the_proxy_invocation_id() {
    http_mode("enableProxyingHttpRequest", "x-ms-invocation-id").await;
}

/// Real messages from an Azurite queue, taken and settled by the mini host as the host's
/// queue listener does: an order placed over HTTP is enqueued by the host's output binding
/// with the trace context `order` put in it, delivered to `fulfil`, which continues the
/// trace, and deleted; an order that always fails is released and retried until its fifth
/// dequeue, then moved to `orders-poison`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_messages_from_azurite_continue_the_producers_trace() {
    let azurite = Azurite::start().unwrap_or_else(|e| panic!("Azurite is needed: {e}"));
    let orders = azurite.queue("orders");
    let poison = azurite.queue("orders-poison");
    for queue in [&orders, &poison] {
        queue.create().unwrap();
        // The shared Azurite may hold messages from an earlier run: start empty.
        while let Ok(left) = queue.receive(32, Duration::from_secs(60)) {
            if left.is_empty() {
                break;
            }
            for message in &left {
                queue.delete(message).unwrap();
            }
        }
    }
    let receiver = OtlpReceiver::start().expect("receiver");
    let handler = start(&receiver, &app_root());
    let app = FunctionAppHost::load(&app_root(), handler.host, Some(azurite)).expect("the app");

    // A caller with a trace of its own places an order over HTTP.
    let caller = traceparent(HOST_TRACE, HOST_SPAN);
    let body = json!({"id": 77, "items": ["lamp"]}).to_string();
    let response = app
        .http(
            "POST",
            "/api/orders",
            &[
                ("Host", "orders-app.azurewebsites.net"),
                ("Content-Type", "application/json"),
                ("traceparent", &caller),
            ],
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(response.status, 202, "{}", response.body);
    // What the output binding stored: the order, base64-encoded, with its context.
    let stored = orders.peek(32).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD
        .decode(&stored[0].text)
        .expect("the host stores base64");
    let stored_order: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(stored_order["id"], 77);
    assert!(
        stored_order["_otel"]["traceparent"]
            .as_str()
            .is_some_and(|t| t.contains(HOST_TRACE)),
        "{stored_order}"
    );
    // An order that can never be fulfilled, put by another producer (no context).
    orders
        .put_base64(json!({"id": 78, "items": []}).to_string().as_bytes())
        .unwrap();

    let mut deliveries = Vec::new();
    for _ in 0..8 {
        deliveries.extend(app.poll_queues().unwrap());
        if deliveries
            .iter()
            .any(|d| d.outcome == QueueOutcome::Poisoned)
        {
            break;
        }
    }
    let fulfilled: Vec<_> = deliveries
        .iter()
        .filter(|d| d.outcome == QueueOutcome::Completed)
        .collect();
    assert_eq!(fulfilled.len(), 1, "{deliveries:?}");
    assert_eq!(fulfilled[0].message_id, stored[0].id);
    let failed: Vec<u32> = deliveries
        .iter()
        .filter(|d| d.outcome != QueueOutcome::Completed)
        .map(|d| d.dequeue_count)
        .collect();
    assert_eq!(failed, [1, 2, 3, 4, 5], "retried until the fifth dequeue");
    assert_eq!(
        deliveries.last().map(|d| d.outcome),
        Some(QueueOutcome::Poisoned)
    );
    assert!(orders.peek(32).unwrap().is_empty(), "the queue is drained");
    let poisoned = poison.peek(32).unwrap();
    assert_eq!(poisoned.len(), 1);
    assert!(
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(&poisoned[0].text)
                .unwrap()
        )
        .unwrap()
        .contains("\"id\":78"),
        "the poison queue has the message as stored"
    );

    // The trace: caller → order (SERVER) → create orders (PRODUCER) → fulfil (SERVER) →
    // process orders (CONSUMER), linked to the create span.
    let order = span_with(&receiver, "order invocation", |s| {
        s.attr_str("faas.name") == Some("orders-app/order")
    })
    .await;
    assert_eq!(order.trace_id, HOST_TRACE);
    let create = span_with(&receiver, "create span", |s| s.name == "create orders").await;
    assert_eq!(create.kind, SpanKind::Producer);
    assert_eq!(create.parent_span_id, order.span_id);
    assert_eq!(str_attr(&create, "messaging.operation.type"), "create");
    let fulfil_id = fulfilled[0].message_id.clone();
    let process = span_with(&receiver, "process of the fulfilled order", |s| {
        s.name == "process orders" && s.attr_str("messaging.message.id") == Some(&fulfil_id)
    })
    .await;
    assert_eq!(
        process.trace_id, HOST_TRACE,
        "fulfil continues the order's trace"
    );
    assert!(
        process
            .links
            .iter()
            .any(|l| l.trace_id == create.trace_id && l.span_id == create.span_id),
        "linked to the create span: {:?}",
        process.links
    );
    let fulfil = span_with(&receiver, "fulfil invocation", |s| {
        s.span_id == process.parent_span_id
    })
    .await;
    assert_eq!(
        fulfil.parent_span_id, create.span_id,
        "without a host traceparent, the producer is the parent"
    );
    // The failing order: five ERROR invocations, each its own trace (no context).
    let spans = receiver
        .wait_until(WAIT, |spans| {
            spans
                .iter()
                .filter(|s| {
                    s.attr_str("faas.name") == Some("orders-app/fulfil")
                        && s.status == StatusCode::Error
                })
                .count()
                >= 5
        })
        .await
        .expect("five failed invocations");
    let failures: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| {
            s.attr_str("faas.name") == Some("orders-app/fulfil") && s.status == StatusCode::Error
        })
        .collect();
    assert!(
        failures
            .iter()
            .all(|s| s.attr_str("error.type") == Some("EmptyOrder") && s.trace_id != HOST_TRACE)
    );
    drop(handler);
}

/// `"telemetryMode": "OpenTelemetry"`: the host records the request, so the HTTP invocation
/// span is INTERNAL (one SERVER span per request). A malformed and a missing function.json:
/// one warning each, naming the file, and those functions traced as `other`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_recorded_requests_make_http_spans_internal_and_a_broken_function_json_warns() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let host_json = json!({
        "version": "2.0",
        "telemetryMode": "OpenTelemetry",
        "customHandler": {"description": {"defaultExecutablePath": "azure-function-app"}},
    });
    let root = app_root_custom("otel-mode", &host_json, |root| {
        std::fs::write(root.join("nightly/function.json"), "{ \"bindings\": [").unwrap();
        std::fs::remove_file(root.join("payments/function.json")).unwrap();
    });
    let handler = start(&receiver, &root);
    let app = FunctionAppHost::load(&root, handler.host, None);
    // The mini host itself refuses the broken file, as the real host would not load it:
    // drive the functions directly.
    assert!(app.is_err(), "the malformed function.json is not JSON");

    let caller = traceparent(HOST_TRACE, HOST_SPAN);
    let request = json!({
        "Url": "https://orders-app.azurewebsites.net/api/hello/ada",
        "Method": "GET",
        "Query": {},
        "Headers": {"Host": ["orders-app.azurewebsites.net"], "traceparent": [caller]},
        "Params": {"name": "ada"},
        "Identities": [],
        "Body": "",
    });
    let reply = handler
        .host
        .invoke(
            "hello",
            "inv-otel-mode",
            &json!({"req": request}),
            &json!({"name": "\"ada\"", "sys": {"MethodName": "hello"}}),
            &[("traceparent", &caller)],
            false,
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let hello = span_with(&receiver, "hello invocation", |s| {
        s.attr_str("faas.invocation_id") == Some("inv-otel-mode")
    })
    .await;
    assert_eq!(
        hello.kind,
        SpanKind::Internal,
        "the host's span is the request's SERVER span"
    );
    assert_eq!(hello.parent_span_id, HOST_SPAN);
    assert_eq!(str_attr(&hello, "faas.trigger"), "http");
    assert_eq!(str_attr(&hello, "http.route"), "/api/hello/{name?}");

    for (function, id) in [("nightly", "inv-broken-1"), ("payments", "inv-broken-2")] {
        let reply = handler
            .host
            .invoke(function, id, &json!({"x": "\"y\""}), &json!({}), &[], false)
            .unwrap();
        assert_eq!(reply.status, 200, "{function}: {}", reply.body);
        let span = span_with(&receiver, function, |s| {
            s.attr_str("faas.invocation_id") == Some(id)
        })
        .await;
        assert_eq!(str_attr(&span, "faas.trigger"), "other", "{function}");
        assert_eq!(span.kind, SpanKind::Server);
    }
    let log = handler.process.log();
    for file in ["nightly/function.json", "payments/function.json"] {
        let warnings = log
            .lines()
            // A warning line: through `tracing` once the subscriber is installed, else
            // on standard error before it.
            .filter(|line| {
                (line.contains(" WARN ") || line.contains("otel-faas warning:"))
                    && line.contains(file)
            })
            .count();
        assert_eq!(warnings, 1, "one warning naming {file}:\n{log}");
    }
    let _ = std::fs::remove_dir_all(root);
}

/// The choice `host.json` implies is overridable in code: with the host in OpenTelemetry
/// mode, `with_host_records_requests(false)` (called after the function is registered)
/// makes the handler's span the SERVER span again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_span_kind_is_configurable_in_code() {
    use otel_faas_azure::{FunctionApp, HttpRequest, HttpResponse};
    use otel_faas_core::{Pipeline, env::MapEnvironment};
    use tower::ServiceExt as _;

    let receiver = OtlpReceiver::start().expect("receiver");
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]))
    .install();
    let host_json = json!({
        "version": "2.0",
        "telemetryMode": "OpenTelemetry",
        "customHandler": {"description": {"defaultExecutablePath": "azure-function-app"}},
    });
    let root = app_root_custom("override", &host_json, |_| {});
    for (override_to, id, kind) in [
        (None, "inv-from-host-json", SpanKind::Internal),
        (Some(false), "inv-overridden", SpanKind::Server),
    ] {
        let app = FunctionApp::with_environment(&telemetry, MapEnvironment::default(), &root)
            .function("hello", |_: HttpRequest| async {
                Ok::<_, std::convert::Infallible>(HttpResponse::ok("hi"))
            });
        let app = match override_to {
            Some(value) => app.with_host_records_requests(value),
            None => app,
        };
        let body = json!({
            "Data": {"req": {"Url": "http://localhost/api/hello", "Method": "GET", "Query": {},
                "Headers": {}, "Params": {}, "Identities": [], "Body": ""}},
            "Metadata": {"sys": {"MethodName": "hello"}},
        });
        let response = app
            .into_router()
            .oneshot(
                http::Request::post("/hello")
                    .header("X-Azure-Functions-InvocationId", id)
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        telemetry.flusher().flush(WAIT).await.expect("flush");
        let span = span_with(&receiver, id, |s| {
            s.attr_str("faas.invocation_id") == Some(id)
        })
        .await;
        assert_eq!(span.kind, kind, "{id}");
    }
    let _ = std::fs::remove_dir_all(root);
}
