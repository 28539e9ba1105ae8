//! Span exporters given in code ([`Pipeline::with_span_exporter`](super::Pipeline::with_span_exporter)).
//!
//! The SDK's `SpanExporter` returns `impl Future`, so it cannot be a trait object; the
//! pipeline keeps each one boxed behind [`DynSpanExporter`], whose export returns a boxed
//! future, and hands the SDK a [`BoxedSpanExporter`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::SignalConfig;

type ExportFuture<'a> = Pin<Box<dyn Future<Output = OTelSdkResult> + Send + 'a>>;

/// A span exporter as a trait object.
trait DynSpanExporter: Send + Sync + fmt::Debug {
    fn export(&self, batch: Vec<SpanData>) -> ExportFuture<'_>;
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult;
    fn force_flush(&self) -> OTelSdkResult;
    fn set_resource(&mut self, resource: &Resource);
}

impl<E: SpanExporter + 'static> DynSpanExporter for E {
    fn export(&self, batch: Vec<SpanData>) -> ExportFuture<'_> {
        Box::pin(SpanExporter::export(self, batch))
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        SpanExporter::shutdown_with_timeout(self, timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        SpanExporter::force_flush(self)
    }
    fn set_resource(&mut self, resource: &Resource) {
        SpanExporter::set_resource(self, resource);
    }
}

/// A span exporter given in code, for the SDK's builders.
#[derive(Debug)]
pub(crate) struct BoxedSpanExporter(Box<dyn DynSpanExporter>);

impl BoxedSpanExporter {
    pub(crate) fn new(exporter: impl SpanExporter + 'static) -> Self {
        Self(Box::new(exporter))
    }
}

impl SpanExporter for BoxedSpanExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.0.export(batch)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// Builds a named destination's exporter from the pipeline's environment and the signal's
/// settings; the `String` of an error says why it could not be built.
type BuildSpanExporter = Box<
    dyn FnOnce(&dyn crate::env::Environment, &SignalConfig) -> Result<BoxedSpanExporter, String>
        + Send,
>;

/// A span destination that `OTEL_TRACES_EXPORTER` may select by name, beside `otlp` and
/// `console`: a platform crate's back end (the AWS crate's `xray`, for instance). Its
/// exporter is built only when the variable names it, from the pipeline's environment and
/// the traces' settings (their timeout and TLS files, for an HTTP destination), and
/// runs on the pipeline's export path like any other (flushed with the invocation, every
/// drop counted in [`ExportStats`](crate::pipeline::ExportStats)).
///
/// ```
/// use opentelemetry_sdk::trace::InMemorySpanExporter;
/// use otel_faas_core::{Pipeline, env::MapEnvironment, pipeline::SpanDestination};
///
/// let spans = InMemorySpanExporter::default();
/// let given = spans.clone();
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_TRACES_EXPORTER", "memory"),
///     ("OTEL_METRICS_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .with_span_destination(SpanDestination::new("memory", move |_env, _settings| Ok(given)))
/// .install();
/// assert!(telemetry.warnings().is_empty());
/// ```
pub struct SpanDestination {
    pub(crate) name: &'static str,
    pub(crate) build: BuildSpanExporter,
    pub(crate) id_generator: Option<Box<dyn opentelemetry_sdk::trace::IdGenerator>>,
}

impl SpanDestination {
    /// A destination called `name` (case insensitive) whose exporter `build` makes from
    /// the environment and the traces' settings, or says why it cannot (the reason becomes
    /// the pipeline's warning, and spans then go to the other listed exporters).
    pub fn new<E, F>(name: &'static str, build: F) -> Self
    where
        E: SpanExporter + 'static,
        F: FnOnce(&dyn crate::env::Environment, &SignalConfig) -> Result<E, String>
            + Send
            + 'static,
    {
        Self {
            name,
            build: Box::new(move |env, settings| build(env, settings).map(BoxedSpanExporter::new)),
            id_generator: None,
        }
    }

    /// The trace and span ids the back end needs (X-Ray's trace ids start with the epoch
    /// seconds, for instance), used when this destination is selected and no generator was
    /// given to the pipeline in code.
    #[must_use]
    pub fn with_id_generator(
        mut self,
        generator: impl opentelemetry_sdk::trace::IdGenerator + 'static,
    ) -> Self {
        self.id_generator = Some(Box::new(generator));
        self
    }

    /// The name `OTEL_TRACES_EXPORTER` selects it by.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for SpanDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanDestination")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use opentelemetry::trace::{SpanId, TraceId, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{IdGenerator, InMemorySpanExporter};

    use super::*;
    use crate::Pipeline;
    use crate::env::MapEnvironment;

    fn env(traces: &'static str) -> MapEnvironment {
        MapEnvironment::from([
            ("OTEL_TRACES_EXPORTER", traces),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("DAEMON", "here"),
        ])
    }

    /// Trace ids that say they came from here.
    #[derive(Debug)]
    struct Marked;

    impl IdGenerator for Marked {
        fn new_trace_id(&self) -> TraceId {
            TraceId::from(0x5eed_u128)
        }
        fn new_span_id(&self) -> SpanId {
            SpanId::from(7_u64)
        }
    }

    #[tokio::test]
    async fn a_named_destination_is_built_from_the_environment_and_receives_the_spans() {
        let spans = InMemorySpanExporter::default();
        let given = spans.clone();
        let telemetry = Pipeline::with_environment(env("Memory"))
            .with_span_destination(
                SpanDestination::new("memory", move |env, _| {
                    assert_eq!(env.get("DAEMON").as_deref(), Some("here"));
                    Ok(given)
                })
                .with_id_generator(Marked),
            )
            .install();
        assert!(
            telemetry.warnings().is_empty(),
            "{:?}",
            telemetry.warnings()
        );
        drop(telemetry.tracer_provider().tracer("test").start("work"));
        telemetry
            .flusher()
            .flush(std::time::Duration::from_secs(1))
            .await
            .unwrap();
        let finished = spans.get_finished_spans().unwrap();
        assert_eq!(finished.len(), 1);
        assert_eq!(
            finished[0].span_context.trace_id(),
            TraceId::from(0x5eed_u128),
            "the destination's ids"
        );
    }

    #[test]
    fn a_destination_not_named_is_never_built_and_ids_given_in_code_win() {
        let built = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&built);
        let telemetry = Pipeline::with_environment(env("none"))
            .with_span_destination(SpanDestination::new("memory", move |_, _| {
                seen.store(true, Ordering::SeqCst);
                Ok(InMemorySpanExporter::default())
            }))
            .install();
        assert!(!built.load(Ordering::SeqCst));
        assert!(telemetry.warnings().is_empty());

        let telemetry = Pipeline::with_environment(env("memory"))
            .with_id_generator(opentelemetry_sdk::trace::RandomIdGenerator::default())
            .with_span_destination(
                SpanDestination::new("memory", |_, _| Ok(InMemorySpanExporter::default()))
                    .with_id_generator(Marked),
            )
            .install();
        let span = telemetry.tracer_provider().tracer("test").start("work");
        use opentelemetry::trace::Span as _;
        assert_ne!(span.span_context().trace_id(), TraceId::from(0x5eed_u128));
    }

    /// Fails every export.
    #[derive(Debug)]
    struct Refusing;

    impl SpanExporter for Refusing {
        async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
            Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                "the daemon is gone".to_owned(),
            ))
        }
    }

    #[tokio::test]
    async fn a_failing_destination_is_reported_by_its_name_not_the_otlp_endpoint() {
        let telemetry = Pipeline::with_environment(env("memory"))
            .with_span_destination(SpanDestination::new("memory", |_, _| Ok(Refusing)))
            .install();
        drop(telemetry.tracer_provider().tracer("test").start("work"));
        let _ = telemetry
            .flusher()
            .flush(std::time::Duration::from_secs(1))
            .await;
        let (failures, last) = telemetry.health.summary().expect("a failure");
        assert_eq!(failures, 1);
        assert_eq!(
            last,
            "exporting traces to memory failed: Operation failed: the daemon is gone"
        );
    }

    #[test]
    fn a_destination_that_cannot_be_built_is_a_warning_naming_it_and_why() {
        let telemetry = Pipeline::with_environment(env("memory"))
            .with_span_destination(SpanDestination::new("memory", |_, _| {
                Err::<InMemorySpanExporter, _>("the daemon address `x:y` does not parse".to_owned())
            }))
            .install();
        let warnings = telemetry.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].variable, "OTEL_TRACES_EXPORTER");
        assert_eq!(warnings[0].value, "memory");
        assert_eq!(
            warnings[0].accepted,
            "the daemon address `x:y` does not parse"
        );
    }
}
