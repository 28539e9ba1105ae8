//! Core's server harness, run as a real process: readiness, a body that is not an event
//! (400, an ERROR span, and the server keeps serving), and SIGTERM → drain → flush → exit.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use otel_faas_core::engine::INVALID_EVENT_ERROR_TYPE;
use otel_faas_integration_tests::{AttrValue, FunctionProcess, OtlpReceiver, StatusCode};

const WAIT: Duration = Duration::from_secs(10);

/// One HTTP/1.1 request with `Connection: close`: status and body.
fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_answers_readiness_refuses_bad_events_keeps_serving_and_flushes_on_sigterm() {
    let receiver = OtlpReceiver::start().expect("receiver");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut process = FunctionProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_server-probe")),
        "127.0.0.1:9",
        &[
            ("PORT", port.to_string()),
            ("HOST", "127.0.0.1".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_SERVICE_NAME", "server-probe".to_owned()),
            // Nothing is exported on a schedule: what arrives was flushed.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000".to_owned()),
            ("OTEL_METRICS_EXPORTER", "none".to_owned()),
            ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ],
    )
    .expect("the probe starts");

    // Readiness: answered as soon as the port is bound, before any route.
    let started = Instant::now();
    let ready = loop {
        match request(address, "GET", "/healthz", "") {
            Ok(answer) => break answer,
            Err(_) if started.elapsed() < WAIT => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => panic!("the server never answered: {error}\n{}", process.log()),
        }
    };
    assert_eq!(ready, (200, "ready".to_owned()));

    // A body that holds no event: 400 with the reason, and an ERROR span.
    let (status, body) = request(address, "POST", "/orders", "soon").unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("the body must be an order number"), "{body}");
    let refused = receiver
        .wait_until(WAIT, |spans| {
            spans.iter().any(|s| s.attr_str("error.type").is_some())
        })
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.attr_str("error.type").is_some())
        .unwrap();
    assert_eq!(refused.status, StatusCode::Error);
    assert_eq!(
        refused.attr_str("error.type"),
        Some(INVALID_EVENT_ERROR_TYPE)
    );
    assert!(
        refused.status_message.contains("order number"),
        "{refused:?}"
    );
    assert_eq!(refused.attr_str("http.request.method"), Some("POST"));
    assert_eq!(refused.attr_str("url.path"), Some("/orders"));
    assert_eq!(
        refused.attr("http.response.status_code"),
        Some(&AttrValue::Int(400))
    );

    // ... and the server keeps serving.
    assert_eq!(
        request(address, "POST", "/orders", "42").unwrap(),
        (200, "order 42 accepted".to_owned())
    );
    let accepted = receiver.wait_for_span("order 42", WAIT).await.unwrap();
    assert_eq!(accepted.status, StatusCode::Unset);

    // A span nothing flushes: it must wait for the shutdown.
    assert_eq!(request(address, "GET", "/record", "").unwrap().0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !receiver.spans().iter().any(|s| s.name == "recorded"),
        "exported before shutdown"
    );
    process.terminate().expect("SIGTERM");
    receiver
        .wait_for_span("recorded", WAIT)
        .await
        .unwrap_or_else(|error| panic!("SIGTERM did not flush: {error}\n{}", process.log()));
    assert_eq!(process.wait_for_exit(WAIT), Some(true), "{}", process.log());
}
