//! A scheduled function (an EventBridge rule or EventBridge Scheduler).
//!
//! The invocation is a `timer` span with `faas.time`; `faas.cron` comes from the
//! `SCHEDULE_EXPRESSION` variable the template sets, since the event does not carry it.
//!
//! It counts what it compacted with the standard `opentelemetry` meter API
//! (`reports.compacted`); with `OTEL_METRICS_EXPORTER=awsemf` that count, like the FaaS
//! metrics, becomes an Embedded Metric Format line on standard output.

use std::sync::LazyLock;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use otel_faas_aws::{LambdaTelemetry, ScheduledTrigger};
use tower::Layer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The subscriber (OTel layer + log lines), the after-response extension when
    // OTEL_FAAS_FLUSH=after-response, and the SIGTERM flush.
    let otel = LambdaTelemetry::start().await?;

    // OTEL_FAAS_WARMUP_MATCH and OTEL_FAAS_WARMUP_TRACE: a keep-warm schedule's pings.
    let mut trigger = ScheduledTrigger::from_env();
    if let Ok(expression) = std::env::var("SCHEDULE_EXPRESSION") {
        trigger = trigger.with_cron(expression);
    }
    let handler = otel.layer(trigger).layer(service_fn(handler));
    lambda_runtime::run(handler).await
}

async fn handler(event: LambdaEvent<EventBridgeEvent>) -> Result<(), Error> {
    compact_reports(
        event
            .payload
            .time
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
    )
    .await;
    Ok(())
}

#[tracing::instrument]
async fn compact_reports(scheduled_for: String) {
    tokio::time::sleep(Duration::from_millis(5)).await;
    // A log line in Lambda's format (AWS_LAMBDA_LOG_FORMAT), with this span's trace and span
    // ids, and an OTLP log record when OTEL_LOGS_EXPORTER exports them.
    tracing::info!(reports = 3, "compacted the reports");
    COMPACTED.add(3, &[KeyValue::new("report.kind", "daily")]);
}

/// Created on first use, after `LambdaTelemetry::start` made its meter provider global.
static COMPACTED: LazyLock<Counter<u64>> = LazyLock::new(|| {
    opentelemetry::global::meter("reports")
        .u64_counter("reports.compacted")
        .with_unit("{report}")
        .build()
});
