//! What every bench binary shares: the handlers, and an exporter that counts spans and drops
//! them (for each OpenTelemetry version in use), so that every variant pays the same for
//! export and the measure is the instrumentation's.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::sqs::SqsEvent;

/// The echo function: answers 200 with the request's path.
pub fn echo(request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = 200;
    response.body = request.raw_path.clone().map(Into::into);
    response
}

/// The work done per SQS record: the length of its body, kept from being optimised away.
pub fn process_record(body: Option<&str>) -> usize {
    std::hint::black_box(body.map_or(0, str::len))
}

/// Processes a whole batch without telemetry (the bare baseline).
pub fn process_batch(event: &SqsEvent) -> usize {
    event
        .records
        .iter()
        .map(|record| process_record(record.body.as_deref()))
        .sum()
}

/// Spans exported, over all exporters of the process.
pub static EXPORTED: AtomicU64 = AtomicU64::new(0);

/// Counts and drops spans (the SDK otel-faas uses).
#[derive(Debug, Default)]
pub struct CountingExporter;

impl opentelemetry_sdk::trace::SpanExporter for CountingExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        EXPORTED.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Counts and drops spans (the SDK opentelemetry-lambda-tower is built on).
#[derive(Debug, Default)]
pub struct PeerCountingExporter;

impl peer_opentelemetry_sdk::trace::SpanExporter for PeerCountingExporter {
    async fn export(
        &self,
        batch: Vec<peer_opentelemetry_sdk::trace::SpanData>,
    ) -> peer_opentelemetry_sdk::error::OTelSdkResult {
        EXPORTED.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// opentelemetry-lambda-tower's set-up, as its README gives it: a provider with a batch
/// processor to the counting exporter, made global, and tracing-opentelemetry on it.
pub fn lambda_tower_provider() -> std::sync::Arc<peer_opentelemetry_sdk::trace::SdkTracerProvider> {
    use peer_opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let provider = std::sync::Arc::new(
        peer_opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(PeerCountingExporter)
            .build(),
    );
    peer_opentelemetry::global::set_tracer_provider((*provider).clone());
    tracing_subscriber::registry()
        .with(peer_tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
        .init();
    provider
}

/// otel-faas's one-line set-up, spans to the counting exporter (the driver sets
/// `OTEL_*_EXPORTER=none`).
pub async fn otel_faas() -> Result<otel_faas_aws::LambdaTelemetry, lambda_runtime::Error> {
    let builder = otel_faas_aws::LambdaTelemetry::builder().with_span_exporter(CountingExporter);
    // P4, P5: a destination of another platform's crate, selected by the environment.
    #[cfg(feature = "app-insights")]
    let builder = builder.map_pipeline(otel_faas_azure::app_insights::register);
    #[cfg(feature = "telemetry-api")]
    let builder = builder.map_pipeline(|pipeline| {
        let env = otel_faas_core::env::ProcessEnvironment;
        pipeline.with_request_signer(otel_faas_gcp::telemetry_api::signer_factory(
            otel_faas_gcp::metadata::MetadataServer::from_env(&env),
        ))
    });
    builder.start().await
}
