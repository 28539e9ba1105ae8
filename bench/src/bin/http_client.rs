//! P8 of `cargo xtask bench`: what the CLIENT span and the context injection cost an
//! outgoing call. `http_client <bare|traced> <calls>` makes `calls` GETs to a loopback
//! server in this process — with a plain reqwest client, or through reqwest-middleware with
//! otel-faas's `TracingMiddleware` inside a span of the pipeline (spans to the counting
//! exporter, flushed every 100 calls as invocations would) — after 20 of warm-up, and prints
//! the median wall time of one call in nanoseconds.

use std::time::{Duration, Instant};

use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::http::client::TracingMiddleware;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Answers every request on a connection with a fixed `200 ok`, keeping it open.
async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buffer = Vec::with_capacity(4096);
            let mut chunk = [0_u8; 4096];
            loop {
                let Ok(read) = stream.read(&mut chunk).await else {
                    return;
                };
                if read == 0 {
                    return;
                }
                buffer.extend_from_slice(&chunk[..read]);
                while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    buffer.drain(..end + 4);
                    if stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let traced = match args.next().as_deref() {
        Some("bare") => false,
        Some("traced") => true,
        other => panic!("bare or traced, not {other:?}"),
    };
    let calls: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!(
        "http://{}/items/7?color=red",
        listener.local_addr().expect("its address")
    );
    tokio::spawn(serve(listener));

    let telemetry = otel_faas_core::Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ]))
    .with_span_exporter(otel_faas_bench::CountingExporter)
    .install();
    telemetry.set_global_providers();
    let flusher = telemetry.engine().build().flusher().clone();
    let bare = reqwest::Client::new();
    let client = reqwest_middleware::ClientBuilder::new(bare.clone())
        .with(TracingMiddleware::new())
        .build();

    // The calls run inside a span, as a handler's would.
    let tracer = opentelemetry::global::tracer("bench");
    let handler = opentelemetry::Context::current_with_span(tracer.start("handler"));
    let _attached = handler.attach();

    let mut samples = Vec::with_capacity(calls);
    for call in 0..calls + 20 {
        let started = Instant::now();
        let status = if traced {
            client.get(&url).send().await.expect("the call").status()
        } else {
            bare.get(&url).send().await.expect("the call").status()
        };
        let elapsed = started.elapsed();
        assert_eq!(status, 200);
        if call >= 20 {
            samples.push(elapsed);
        }
        if call % 100 == 99 {
            flusher
                .flush(Duration::from_secs(2))
                .await
                .expect("the flush");
        }
    }
    samples.sort();
    let median = samples.get(samples.len() / 2).copied().unwrap_or_default();
    println!("median_ns={}", median.as_nanos());
    println!(
        "exported={}",
        otel_faas_bench::EXPORTED.load(std::sync::atomic::Ordering::Relaxed)
    );
}
