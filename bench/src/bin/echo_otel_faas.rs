//! The echo function with otel-faas, set up as a user does (`start()`), spans to the counting
//! exporter (the driver sets `OTEL_*_EXPORTER=none`).

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use otel_faas_aws::ApiGatewayHttpTrigger;
use tower::Layer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let otel = otel_faas_bench::otel_faas().await?;
    let handler = otel.layer(ApiGatewayHttpTrigger::new()).layer(service_fn(
        |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(otel_faas_bench::echo(&event.payload))
        },
    ));
    lambda_runtime::run(handler).await
}
