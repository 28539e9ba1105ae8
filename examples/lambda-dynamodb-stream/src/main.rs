//! A DynamoDB Streams-triggered function.
//!
//! The invocation span is a `datasource` span (`faas.document.collection` = the table,
//! `faas.document.operation`, `faas.document.time`); each record is processed in its own span
//! and the first failure is reported as the batch item failure, as AWS requires for streams.
//! A `REMOVE` record fails here, so the behaviour can be seen end to end.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{LambdaEvent, service_fn};
use otel_faas_aws::{DynamoDbTrigger, LambdaTelemetry};
use tower::Layer;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The subscriber (OTel layer + log lines), the after-response extension when
    // OTEL_FAAS_FLUSH=after-response, and the SIGTERM flush.
    let otel = LambdaTelemetry::start().await?;

    let handler = otel
        .layer(DynamoDbTrigger::new())
        .layer(service_fn(handler));
    lambda_runtime::run(handler).await
}

async fn handler(
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    Ok(
        otel_faas_aws::batch::process_dynamodb_batch(&event.payload, async |record| handle(record))
            .await,
    )
}

fn handle(record: &EventRecord) -> Result<(), String> {
    match record.event_name.as_str() {
        "INSERT" | "MODIFY" => Ok(()),
        other => Err(format!("{other} records are not handled here")),
    }
}
