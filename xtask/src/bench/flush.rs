//! P3 of `cargo xtask bench`: one flush of 10 ended spans to a loopback OTLP/HTTP receiver,
//! as an invocation's end-of-invocation flush does, in process: the pipeline from the
//! `OTEL_*` variables, the spans ended through the SDK's tracer, the flush through the
//! pipeline's `Flusher` (the same path the engine takes).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::{Pipeline, Telemetry};
use otel_faas_integration_tests::OtlpReceiver;

/// The pipeline from the `OTEL_*` variables, spans only, exported over OTLP/HTTP to
/// `endpoint` (P3 and P7).
pub(crate) fn traces_to(endpoint: String) -> Telemetry {
    Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_SERVICE_NAME", "bench".to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ]))
    .install()
}

pub(crate) async fn measure(quick: bool) -> anyhow::Result<String> {
    let flushes = if quick { 100 } else { 1000 };
    let receiver = OtlpReceiver::start()?;
    let telemetry = traces_to(receiver.endpoint());
    let tracer = telemetry.tracer_provider().tracer("bench");
    let flusher = telemetry.engine().build().flusher().clone();
    let mut samples = Vec::with_capacity(flushes);
    for round in 0..flushes + 10 {
        for span in 0..10 {
            let _span = tracer.start(format!("span-{span}"));
        }
        let started = Instant::now();
        flusher
            .flush(Duration::from_secs(2))
            .await
            .map_err(|e| anyhow::anyhow!("flush failed: {e}"))?;
        // The first flushes open the connection: not what a warm function pays.
        if round >= 10 {
            samples.push(started.elapsed().as_secs_f64());
        }
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[index] * 1e3
    };
    let received = receiver.spans().len();
    println!(
        "    p50 {:.3} ms p99 {:.3} ms max {:.3} ms ({received} spans received)",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    let mut out = String::new();
    writeln!(
        out,
        "## P3 — flush of 10 spans to a loopback OTLP/HTTP receiver\n\nTarget: p50 ≤ 0.3 ms, \
         p99 ≤ 1 ms. In process: 10 spans ended, then the pipeline's flush (the engine's \
         end-of-invocation path), {flushes} times after 10 of warm-up; the receiver is this \
         process's, on its own thread.\n\n| p50 | p99 | max |\n|---:|---:|---:|\n| {:.3} ms | {:.3} ms | {:.3} ms |\n",
        at(0.5),
        at(0.99),
        at(1.0)
    )?;
    Ok(out)
}
