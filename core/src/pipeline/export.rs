//! Exporters per signal, and the two wrappers every exporter goes through: failures are
//! reported (once per signal on stderr, all of them counted for `shutdown`), and string
//! attribute values are cut to `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

#[cfg(feature = "otlp-sdk-http")]
use super::config::OtlpProtocol;
use super::config::Signal;
#[cfg(any(feature = "otlp-sdk-http", feature = "otlp-grpc"))]
use super::config::{Compression, SignalConfig};
use crate::warning::report_once;

/// Export failures since start-up, per pipeline: reported as they happen (once per signal)
/// and summed up by `Telemetry::shutdown`.
#[derive(Debug, Default)]
pub(crate) struct ExportHealth {
    failures: AtomicU64,
    last: Mutex<Option<String>>,
}

impl ExportHealth {
    pub(crate) fn failed(&self, signal: Signal, endpoint: &str, error: &dyn std::fmt::Display) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let message = format!("exporting {signal} to {endpoint} failed: {error}");
        report_once(
            match signal {
                Signal::Traces => "export-traces",
                Signal::Metrics => "export-metrics",
                Signal::Logs => "export-logs",
            },
            &format!(
                "{message} (further failures are counted and reported by Telemetry::shutdown)"
            ),
        );
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(message);
    }

    /// The failures so far, with the last one's message.
    pub(crate) fn summary(&self) -> Option<(u64, String)> {
        let failures = self.failures.load(Ordering::Relaxed);
        let last = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (failures > 0).then(|| (failures, last.unwrap_or_default()))
    }
}

/// An exporter whose failures are reported to an [`ExportHealth`].
#[derive(Debug)]
pub(crate) struct Observed<E> {
    pub(crate) inner: E,
    pub(crate) signal: Signal,
    /// The endpoint, without user information or query (never a credential).
    pub(crate) endpoint: String,
    pub(crate) health: Arc<ExportHealth>,
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, applied to spans.
    pub(crate) value_length: Option<usize>,
}

impl<E> Observed<E> {
    fn check(&self, result: OTelSdkResult) -> OTelSdkResult {
        if let Err(error) = &result {
            self.health.failed(self.signal, &self.endpoint, error);
        }
        result
    }
}

impl<E: SpanExporter> SpanExporter for Observed<E> {
    async fn export(&self, mut batch: Vec<SpanData>) -> OTelSdkResult {
        if let Some(limit) = self.value_length {
            for span in &mut batch {
                truncate_span(span, limit);
            }
        }
        let result = self.inner.export(batch).await;
        self.check(result)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Observed<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.check(result)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Observed<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.check(result)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// Cuts every string value of the span, its events and its links to `limit` characters.
pub(crate) fn truncate_span(span: &mut SpanData, limit: usize) {
    truncate_all(&mut span.attributes, limit);
    for event in &mut span.events.events {
        truncate_all(&mut event.attributes, limit);
    }
    for link in &mut span.links.links {
        truncate_all(&mut link.attributes, limit);
    }
}

fn truncate_all(attributes: &mut [KeyValue], limit: usize) {
    for attribute in attributes {
        match &mut attribute.value {
            Value::String(value) => truncate(value, limit),
            Value::Array(Array::String(values)) => {
                for value in values {
                    truncate(value, limit);
                }
            }
            _ => {}
        }
    }
}

/// Cuts `value` to `limit` characters (not bytes: a cut never splits a character).
fn truncate(value: &mut StringValue, limit: usize) {
    if let Some((index, _)) = value.as_str().char_indices().nth(limit) {
        *value = StringValue::from(value.as_str()[..index].to_owned());
    }
}

/// The endpoint as diagnostics may print it: scheme, host, port and path, without user
/// information or query, where credentials sometimes hide.
pub(crate) fn printable_endpoint(endpoint: &str) -> String {
    match endpoint.parse::<http::Uri>() {
        Ok(uri) => format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("http"),
            uri.host().unwrap_or_default(),
            uri.port()
                .map(|port| format!(":{port}"))
                .unwrap_or_default()
                + uri.path()
        ),
        Err(_) => "<the configured endpoint>".to_owned(),
    }
}

#[cfg(any(feature = "otlp-sdk-http", feature = "otlp-grpc"))]
use super::error::BuildError;

/// The OTLP/HTTP settings every signal's exporter builder takes.
#[cfg(feature = "otlp-sdk-http")]
pub(crate) fn http_settings<B>(
    builder: B,
    config: &SignalConfig,
    signer: Option<std::sync::Arc<dyn super::RequestSigner>>,
) -> Result<B, BuildError>
where
    B: opentelemetry_otlp::WithHttpConfig + opentelemetry_otlp::WithExportConfig,
{
    use opentelemetry_otlp::Protocol;
    let protocol = if config.protocol == OtlpProtocol::HttpJson {
        Protocol::HttpJson
    } else {
        Protocol::HttpBinary
    };
    let mut builder = builder
        .with_protocol(protocol)
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(config.headers.pairs().iter().cloned().collect());
    if config.compression == Some(Compression::Gzip) {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    // Our own client, so that a snapshot restore can replace it (see `client.rs`).
    builder = builder.with_http_client(super::client::ReconnectingClient::new(config, signer)?);
    Ok(builder)
}

/// The OTLP/gRPC settings every signal's exporter builder takes.
#[cfg(feature = "otlp-grpc")]
pub(crate) fn grpc_settings<B>(builder: B, config: &SignalConfig) -> Result<B, BuildError>
where
    B: opentelemetry_otlp::WithTonicConfig + opentelemetry_otlp::WithExportConfig,
{
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (key, value) in config.headers.pairs() {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes()),
            value.parse(),
        ) {
            metadata.insert(key, value);
        }
    }
    let mut builder = builder
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_metadata(metadata);
    if config.compression == Some(Compression::Gzip) {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    #[cfg(feature = "otlp-grpc-tls")]
    if config.endpoint.starts_with("https://") {
        builder = builder.with_tls_config(super::tls::grpc_tls_config(config)?);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_never_splits_one() {
        let mut value = StringValue::from("ééééé".to_owned());
        truncate(&mut value, 3);
        assert_eq!(value.as_str(), "ééé");
        let mut short = StringValue::from("ab");
        truncate(&mut short, 3);
        assert_eq!(short.as_str(), "ab");
        let mut empty = StringValue::from("abc");
        truncate(&mut empty, 0);
        assert_eq!(empty.as_str(), "");
    }

    #[test]
    fn printable_endpoints_drop_user_information_and_query() {
        assert_eq!(
            printable_endpoint("https://user:secret@collector.example:4318/v1/traces?token=abc"),
            "https://collector.example:4318/v1/traces"
        );
        assert_eq!(printable_endpoint("not a url"), "<the configured endpoint>");
    }
}
