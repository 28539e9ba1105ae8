//! The echo function with opentelemetry-lambda-tower, as its README sets it up: its layer with
//! the API Gateway v2 extractor, flushing the provider after each invocation.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use opentelemetry_lambda_tower::{ApiGatewayV2Extractor, OtelTracingLayerBuilder};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let provider = otel_faas_bench::lambda_tower_provider();
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
