//! The echo function with opentelemetry-lambda-tower, as its README sets it up: its layer with
//! the API Gateway v2 extractor, flushing the provider after each invocation.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use opentelemetry_lambda_tower::{ApiGatewayV2Extractor, OtelTracingLayerBuilder};
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
    let layer = OtelTracingLayerBuilder::new(ApiGatewayV2Extractor::new())
        .tracer_provider(provider)
        .flush_on_end(true)
        .build();
    let handler = ServiceBuilder::new().layer(layer).service(service_fn(
        |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(otel_faas_bench::echo(&event.payload))
        },
    ));
    lambda_runtime::run(handler).await
}
