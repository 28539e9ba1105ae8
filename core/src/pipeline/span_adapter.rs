//! Changing spans for an OTLP endpoint that reads some attributes its own way (X-Ray's OTLP
//! endpoint indexes the attributes a span lists in `aws.xray.annotations`): a cloud crate
//! registers an adapter for the endpoints it recognises; core applies it to each span just
//! before the span is encoded for that endpoint, and to no other destination.

use std::fmt;
use std::sync::Arc;

use opentelemetry_sdk::trace::SpanData;

use super::config::SignalConfig;
use crate::env::Environment;

/// Changes each span sent to one OTLP endpoint, just before it is encoded.
///
/// Called on the task or thread that exports, once per span: it must be cheap and must not
/// block. Spans sent elsewhere (another exporter of the same pipeline) are not changed.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry_sdk::trace::SpanData;
/// use otel_faas_core::pipeline::OtlpSpanAdapter;
///
/// /// Tells the endpoint which attributes to index.
/// #[derive(Debug)]
/// struct IndexOrderId;
///
/// impl OtlpSpanAdapter for IndexOrderId {
///     fn adapt(&self, span: &mut SpanData) {
///         if span.attributes.iter().any(|kv| kv.key.as_str() == "order_id") {
///             span.attributes.push(KeyValue::new("indexed", "order_id"));
///         }
///     }
/// }
/// # let _ = IndexOrderId;
/// ```
pub trait OtlpSpanAdapter: Send + Sync + fmt::Debug {
    /// Changes `span` for the endpoint.
    fn adapt(&self, span: &mut SpanData);
}

/// Decides, for the spans' OTLP settings, whether their spans are adapted and by what:
/// `None` sends them as they are.
pub type OtlpSpanAdapterFactory = Arc<
    dyn Fn(&Arc<dyn Environment>, &SignalConfig) -> Option<Arc<dyn OtlpSpanAdapter>> + Send + Sync,
>;

/// The adapter the first factory that wants the spans' endpoint gives.
pub(crate) fn adapter_for(
    factories: &[OtlpSpanAdapterFactory],
    env: &Arc<dyn Environment>,
    config: &SignalConfig,
) -> Option<Arc<dyn OtlpSpanAdapter>> {
    factories.iter().find_map(|factory| factory(env, config))
}
