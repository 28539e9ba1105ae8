//! A process with no `tracing` subscriber that installs the pipeline from its environment,
//! ends one span, flushes and shuts down, then prints the shutdown result on stdout: the
//! tests read its stderr to see what a user without a subscriber sees.

use std::time::Duration;

use otel_faas_core::Pipeline;
use otel_faas_core::otel::opentelemetry::trace::{Span as _, Tracer as _};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let telemetry = Pipeline::from_env().install();
    for _ in 0..3 {
        telemetry.tracer("probe").start("probe").end();
        let _ = telemetry.flusher().flush(Duration::from_secs(5)).await;
    }
    match telemetry.shutdown(Duration::from_secs(5)).await {
        Ok(()) => println!("shutdown: ok"),
        Err(error) => println!("shutdown: {error}"),
    }
}
