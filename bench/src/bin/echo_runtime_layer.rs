//! The echo function with lambda_runtime's own `OpenTelemetryLayer` and tracing-opentelemetry,
//! as its documentation sets them up: a batch processor, flushed after each invocation.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::layers::{OpenTelemetryFaasTrigger, OpenTelemetryLayer};
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(otel_faas_bench::CountingExporter)
        .build();
    let tracer = provider.tracer("bench");
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .init();
    let handler = service_fn(|event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
        Ok::<_, Error>(otel_faas_bench::echo(&event.payload))
    });
    let flush = move || {
        let _ = provider.force_flush();
    };
    Runtime::new(handler)
        .layer(OpenTelemetryLayer::new(flush).with_trigger(OpenTelemetryFaasTrigger::Http))
        .run()
        .await
}
