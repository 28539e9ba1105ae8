//! An S3-notification function.
//!
//! The handler takes the raw JSON and parses it leniently, so notifications from
//! S3-compatible stores and emulators that leave out fields AWS always sends still work;
//! the auto-detecting adapter describes the invocation as `faas.trigger=datasource` with the
//! bucket, the decoded object key, the operation and the time.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use otel_faas_aws::{AnyEventTrigger, LambdaTelemetry, triggers::lenient_s3_event};
use serde_json::{Value, json};
use tower::Layer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The subscriber (OTel layer + log lines), the after-response extension when
    // OTEL_FAAS_FLUSH=after-response, and the SIGTERM flush.
    let otel = LambdaTelemetry::start().await?;

    let handler = otel
        .layer(AnyEventTrigger::new())
        .layer(service_fn(handler));
    lambda_runtime::run(handler).await
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let notification = lenient_s3_event(&event.payload).ok_or("not an S3 notification")?;
    let mut objects = Vec::new();
    for record in &notification.records {
        objects.push(index_object(
            record.s3.bucket.name.as_deref().unwrap_or_default(),
            record.s3.object.key.as_deref().unwrap_or_default(),
        ));
    }
    Ok(json!({ "indexed": objects }))
}

#[tracing::instrument]
fn index_object(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}
