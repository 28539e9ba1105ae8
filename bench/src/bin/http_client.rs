//! P8 of `cargo xtask bench`: what the CLIENT span and the context injection cost an
//! outgoing call. `http_client <mode> <calls>` makes `calls` GETs to a loopback server in
//! this process after 20 of warm-up, and prints the median wall time of one call in
//! nanoseconds. The modes:
//!
//! - `bare`, `traced`: each call inside an invocation of the engine, as a function's handler
//!   makes it (one invocation per call, flushed at its end as the engine's default policy
//!   says) — with a plain reqwest client, or through reqwest-middleware with otel-faas's
//!   `TracingMiddleware`. The difference is what the middleware costs a function.
//! - `bare-outside`, `traced-outside`: the same calls outside any invocation, inside a span
//!   of the global tracer (code run at start-up, or a program that is not a function),
//!   flushed every 100 calls: the CLIENT span then comes from the global tracer.
//!
//! Spans go to the counting exporter.

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

/// The invocation each call runs in.
struct Job;

impl otel_faas_core::TriggerAdapter<(), reqwest::StatusCode> for Job {
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (traced, inside) = match args.next().as_deref() {
        Some("bare") => (false, true),
        Some("traced") => (true, true),
        Some("bare-outside") => (false, false),
        Some("traced-outside") => (true, false),
        other => panic!("bare, traced, bare-outside or traced-outside, not {other:?}"),
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
    let engine = telemetry.engine().build();
    let flusher = engine.flusher().clone();
    let bare = reqwest::Client::new();
    let client = reqwest_middleware::ClientBuilder::new(bare.clone())
        .with(TracingMiddleware::new())
        .build();
    let call = || async {
        if traced {
            client.get(&url).send().await.expect("the call").status()
        } else {
            bare.get(&url).send().await.expect("the call").status()
        }
    };

    // Outside an invocation, the calls run inside a span of the global tracer.
    let _handler = (!inside).then(|| {
        let tracer = opentelemetry::global::tracer("bench");
        opentelemetry::Context::current_with_span(tracer.start("handler")).attach()
    });

    let mut samples = Vec::with_capacity(calls);
    for n in 0..calls + 20 {
        let started = Instant::now();
        let status = if inside {
            engine
                .invocation(&Job, ())
                .run(|()| async { Ok::<_, std::convert::Infallible>(call().await) })
                .await
                .unwrap_or_else(|never| match never {})
        } else {
            call().await
        };
        let elapsed = started.elapsed();
        assert_eq!(status, 200);
        if n >= 20 {
            samples.push(elapsed);
        }
        if !inside && n % 100 == 99 {
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
