//! An SQS batch function with otel-faas: the invocation span links each message's producer,
//! and each record is processed in a span of its own.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use otel_faas_aws::SqsTrigger;
use tower::Layer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let otel = otel_faas_bench::otel_faas().await?;
    let handler = otel.layer(SqsTrigger::new()).layer(service_fn(
        |event: LambdaEvent<SqsEvent>| async move {
            let response: SqsBatchResponse =
                otel_faas_aws::batch::process_sqs_batch(&event.payload, async |message| {
                    otel_faas_bench::process_record(message.body.as_deref());
                    Ok::<_, String>(())
                })
                .await;
            Ok::<_, Error>(response)
        },
    ));
    lambda_runtime::run(handler).await
}
