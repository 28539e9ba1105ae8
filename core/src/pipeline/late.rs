//! Resource attributes that become known after start-up.
//!
//! Detection runs once, at start-up, without network I/O (see
//! [`ResourceDetector`](crate::ResourceDetector)). Some attributes live only behind a
//! metadata service (an instance id, a region, an account): a cloud crate fetches them in
//! the background and hands them to a [`LateResource`]; from then on every span and log
//! record export carries them. Nothing waits for them: exports before they arrive go out
//! without them, and if they never arrive nothing is lost.
//!
//! Metrics are the exception: the SDK gives a metric exporter no way to change its
//! resource after start-up, so metric exports keep the start-up resource.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::sync::RwLock;

/// Attributes to add to the resource once known; cheap to clone, set at most once.
///
/// ```
/// use opentelemetry::KeyValue;
/// use otel_faas_core::{Pipeline, env::MapEnvironment, pipeline::LateResource};
///
/// let late = LateResource::new();
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")]))
///     .with_late_resource(late.clone())
///     .install();
/// // Later, from a background fetch:
/// assert!(late.set(vec![KeyValue::new("cloud.region", "europe-west1")]));
/// assert!(!late.set(vec![]), "set once");
/// assert_eq!(late.get().unwrap().len(), 1);
/// # drop(telemetry);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LateResource {
    attributes: Arc<OnceLock<Vec<KeyValue>>>,
}

impl LateResource {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Provides the attributes; `false` when they were provided already (the first wins).
    pub fn set(&self, attributes: Vec<KeyValue>) -> bool {
        self.attributes.set(attributes).is_ok()
    }

    /// The attributes, once provided.
    pub fn get(&self) -> Option<&[KeyValue]> {
        self.attributes.get().map(Vec::as_slice)
    }
}

/// `base` with the `late` attributes it does not have: start-up values (and what the
/// operator configured) win over late ones.
pub(crate) fn merged(base: &Resource, late: &[KeyValue]) -> Resource {
    Resource::builder_empty()
        .with_attributes(
            base.iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .with_attributes(
            late.iter()
                .filter(|kv| base.get(&kv.key).is_none())
                .cloned(),
        )
        .build()
}

/// An exporter whose resource gains the late attributes on the first export after they
/// are known.
#[derive(Debug)]
pub(crate) struct WithLateResource<E> {
    inner: RwLock<E>,
    late: Option<LateResource>,
    base: Mutex<Option<Resource>>,
    applied: AtomicBool,
}

impl<E> WithLateResource<E> {
    pub(crate) fn new(inner: E, late: Option<LateResource>) -> Self {
        Self {
            inner: RwLock::new(inner),
            late,
            base: Mutex::new(None),
            applied: AtomicBool::new(false),
        }
    }

    /// The merged resource, when the late attributes are known and not applied yet.
    fn pending(&self) -> Option<Resource> {
        if self.applied.load(Ordering::Acquire) {
            return None;
        }
        let late = self.late.as_ref()?.get()?;
        let base = self
            .base
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()?;
        Some(merged(&base, late))
    }

    fn remember(&self, resource: &Resource) {
        *self
            .base
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(resource.clone());
    }

    /// Runs `f` on the inner exporter from a synchronous method; waits (briefly) while the
    /// late resource is being applied.
    fn with_inner<T>(&self, f: impl FnOnce(&E) -> T) -> T {
        loop {
            if let Ok(inner) = self.inner.try_read() {
                return f(&inner);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

macro_rules! apply_late {
    ($self:ident, $set:path) => {
        if let Some(resource) = $self.pending() {
            let mut inner = $self.inner.write().await;
            if !$self.applied.swap(true, Ordering::AcqRel) {
                $set(&mut *inner, &resource);
            }
        }
    };
}

impl<E: SpanExporter> SpanExporter for WithLateResource<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        apply_late!(self, SpanExporter::set_resource);
        self.inner.read().await.export(batch).await
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.with_inner(|inner| inner.shutdown_with_timeout(timeout))
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.with_inner(SpanExporter::force_flush)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.remember(resource);
        self.inner.get_mut().set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for WithLateResource<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        apply_late!(self, LogExporter::set_resource);
        self.inner.read().await.export(batch).await
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.with_inner(|inner| inner.shutdown_with_timeout(timeout))
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.remember(resource);
        self.inner.get_mut().set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor};

    use super::*;

    /// An in-memory exporter that records the resource it was given last.
    #[derive(Debug, Clone, Default)]
    struct Recording {
        spans: InMemorySpanExporter,
        resource: Arc<Mutex<Option<Resource>>>,
    }

    impl SpanExporter for Recording {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.spans.export(batch).await
        }
        fn set_resource(&mut self, resource: &Resource) {
            *self.resource.lock().unwrap() = Some(resource.clone());
        }
    }

    #[test]
    fn late_attributes_join_the_next_export_and_never_override() {
        let recording = Recording::default();
        let late = LateResource::new();
        let exporter = WithLateResource::new(recording.clone(), Some(late.clone()));
        let provider = SdkTracerProvider::builder()
            .with_resource(
                Resource::builder_empty()
                    .with_attributes([
                        KeyValue::new("service.name", "orders"),
                        KeyValue::new("cloud.region", "configured"),
                    ])
                    .build(),
            )
            .with_span_processor(SimpleSpanProcessor::new(exporter))
            .build();
        let tracer = provider.tracer("t");
        tracer.in_span("before", |_| {});
        let resource = || recording.resource.lock().unwrap().clone().unwrap();
        assert!(resource().get(&"faas.instance".into()).is_none());
        late.set(vec![
            KeyValue::new("faas.instance", "instance-1"),
            KeyValue::new("cloud.region", "from-metadata"),
        ]);
        tracer.in_span("after", |_| {});
        assert_eq!(
            resource().get(&"faas.instance".into()),
            Some("instance-1".into())
        );
        assert_eq!(
            resource().get(&"cloud.region".into()),
            Some("configured".into()),
            "start-up values win"
        );
        assert_eq!(
            resource().get(&"service.name".into()),
            Some("orders".into())
        );
        assert_eq!(recording.spans.get_finished_spans().unwrap().len(), 2);
    }
}
