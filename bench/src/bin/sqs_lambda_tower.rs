//! An SQS batch function with opentelemetry-lambda-tower: its SQS extractor links each
//! message's producer; the records are processed without spans of their own.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use opentelemetry_lambda_tower::{OtelTracingLayerBuilder, SqsEventExtractor};
use peer_opentelemetry::trace::TracerProvider as _;
use peer_opentelemetry_sdk::trace::SdkTracerProvider;
use tower::ServiceBuilder;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let provider = Arc::new(
        SdkTracerProvider::builder()
            .with_batch_exporter(otel_faas_bench::PeerCountingExporter)
            .build(),
    );
    peer_opentelemetry::global::set_tracer_provider((*provider).clone());
    tracing_subscriber::registry()
        .with(peer_tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
        .init();
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
