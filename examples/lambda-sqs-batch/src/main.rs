//! An SQS-triggered function that reports partial batch failures.
//!
//! Each message is processed in its own CONSUMER span, linked to the producer of that
//! message; failed messages are returned in `batchItemFailures` so SQS retries only those.
//! To see each path end to end, a message whose body is `fail` fails, `panic` panics (the
//! runtime reports the invocation as failed), and `slow` takes 5 s (longer than a short
//! function timeout, so the timeout span appears).
//!
//! `run_concurrent` runs sequentially on classic Lambda and concurrently on Lambda Managed
//! Instances (`AWS_LAMBDA_MAX_CONCURRENCY`), with the same code.

use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};
use otel_faas_aws::{LambdaTelemetry, SqsTrigger};
use tower::Layer;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The subscriber (OTel layer + log lines), the after-response extension when
    // OTEL_FAAS_FLUSH=after-response, and the SIGTERM flush.
    let otel = LambdaTelemetry::start().await?;

    let handler = otel
        .layer(SqsTrigger::from_env())
        .layer(service_fn(handler));
    // `lambda_runtime::run_concurrent(handler)`, plus the SnapStart hooks: after a restore,
    // fresh ids, fresh exporter connections and a cold invocation with a `restore` span.
    lambda_runtime::Runtime::new(handler)
        .layer(lambda_runtime::layers::TracingLayer::new())
        .register_snapstart_resource(otel.snapstart())
        .run_concurrent()
        .await
}

async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(
        otel_faas_aws::batch::process_sqs_batch(&event.payload, async |message| {
            handle(message).await
        })
        .await,
    )
}

#[tracing::instrument(skip_all, fields(message_id = message.message_id.as_deref().unwrap_or_default()))]
async fn handle(message: &SqsMessage) -> anyhow::Result<()> {
    let body = message.body.as_deref().unwrap_or_default();
    match body {
        "fail" => anyhow::bail!("the message asked to fail"),
        "panic" => panic!("the message asked to panic"),
        "slow" => tokio::time::sleep(Duration::from_secs(5)).await,
        _ => {}
    }
    tracing::info!(len = body.len(), "processed");
    Ok(())
}
