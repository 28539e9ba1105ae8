//! A scheduled job whose spans go straight to AWS X-Ray: `OTEL_TRACES_EXPORTER=awsxray`
//! sends segment documents over UDP to the X-Ray daemon Lambda runs when active tracing is
//! on (`Tracing: Active` in the template) — no collector, no layer, no credentials.
//!
//! The invocation's span is a subsegment of Lambda's own `AWS::Lambda::Function` segment
//! (with `awsxray`, nothing else to set), so X-Ray shows one trace: Lambda's segments, then
//! this function's spans. An invocation Lambda did not sample sends nothing. The job
//! annotates its span (`report_kind`), which X-Ray filter expressions can search.

use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use otel_faas_aws::xray::annotations::annotate;
use otel_faas_aws::{LambdaTelemetry, ScheduledTrigger};
use tower::Layer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let otel = LambdaTelemetry::start().await?;
    let handler = otel
        .layer(ScheduledTrigger::from_env())
        .layer(service_fn(handler));
    lambda_runtime::run(handler).await
}

async fn handler(_event: LambdaEvent<EventBridgeEvent>) -> Result<(), Error> {
    // On the invocation's span: `annotation.report_kind`, indexed by X-Ray.
    annotate("report_kind", "daily");
    compact_reports().await;
    Ok(())
}

/// A subsegment of the invocation.
#[tracing::instrument]
async fn compact_reports() {
    tokio::time::sleep(Duration::from_millis(5)).await;
    tracing::info!(reports = 3, "compacted the reports");
}
