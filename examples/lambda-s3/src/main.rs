//! An S3-notification function.
//!
//! The handler takes the raw JSON and parses it leniently, so notifications from
//! S3-compatible stores and emulators that leave out fields AWS always sends still work;
//! the auto-detecting adapter describes the invocation as `faas.trigger=datasource` with the
//! bucket, the decoded object key, the operation and the time.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use otel_faas_aws::{AnyEventTrigger, LambdaTelemetry, lenient_s3_event};
use serde_json::{Value, json};
use tower::Layer;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let otel = LambdaTelemetry::from_env();
    tracing_subscriber::registry()
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(otel.telemetry().tracer("lambda-s3"))
                .with_filter(otel_faas_aws::without_runtime_spans()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .without_time(),
        )
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .init();
    otel.register_extension().await?;
    otel.spawn_shutdown_flush(Duration::from_millis(300));

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
