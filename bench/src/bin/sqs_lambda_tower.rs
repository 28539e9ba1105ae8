//! An SQS batch function with opentelemetry-lambda-tower: its SQS extractor links each
//! message's producer; the records are processed without spans of their own.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use opentelemetry_lambda_tower::{OtelTracingLayerBuilder, SqsEventExtractor};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let provider = otel_faas_bench::lambda_tower_provider();
    let layer = OtelTracingLayerBuilder::new(SqsEventExtractor::new())
        .tracer_provider(provider)
        .flush_on_end(true)
        .build();
    let handler = ServiceBuilder::new().layer(layer).service(service_fn(
        |event: LambdaEvent<SqsEvent>| async move {
            otel_faas_bench::process_batch(&event.payload);
            Ok::<_, Error>(SqsBatchResponse::default())
        },
    ));
    lambda_runtime::run(handler).await
}
