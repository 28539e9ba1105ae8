//! Keeping `lambda_runtime`'s own invocation span out of the traces.

/// The name of the `tracing` span `lambda_runtime` wraps every invocation in.
pub const RUNTIME_SPAN_NAME: &str = "Lambda runtime invoke";

/// A per-layer filter for the `tracing-opentelemetry` layer that keeps `lambda_runtime`'s
/// own invocation span out of the traces. That span starts before the invocation span and
/// outside its context, so exported it would be a second, orphan trace per invocation; the
/// invocation span already carries everything it records.
///
/// ```
/// use tracing_subscriber::Layer as _;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let _subscriber = tracing_subscriber::registry().with(
///     tracing_opentelemetry::layer()
///         .with_tracer(opentelemetry::trace::TracerProvider::tracer(&provider, "my-function"))
///         .with_filter(otel_faas_aws::lambda::without_runtime_spans()),
/// );
/// ```
pub fn without_runtime_spans()
-> tracing_subscriber::filter::FilterFn<fn(&tracing::Metadata<'_>) -> bool> {
    fn keep(metadata: &tracing::Metadata<'_>) -> bool {
        metadata.name() != RUNTIME_SPAN_NAME
    }
    tracing_subscriber::filter::FilterFn::new(keep as fn(&tracing::Metadata<'_>) -> bool)
}
