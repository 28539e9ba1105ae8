//! The baseline: an SQS batch function on lambda_runtime, without telemetry.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        otel_faas_bench::process_batch(&event.payload);
        Ok::<_, Error>(SqsBatchResponse::default())
    }))
    .await
}
