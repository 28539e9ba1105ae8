//! Log lines for Cloud Logging: one JSON object per line on standard output, in the
//! structured format Cloud Run's logging agent reads.
//!
//! `severity` (`DEBUG`, `INFO`, `WARNING`, `ERROR`), `message`, `time`, the event's fields
//! as JSON values, `logging.googleapis.com/sourceLocation`, and — inside an invocation —
//! `logging.googleapis.com/trace` (`projects/<project>/traces/<trace id>`, when the
//! project is known), `logging.googleapis.com/spanId` and
//! `logging.googleapis.com/trace_sampled`, so that Cloud Logging shows each line under its
//! trace. The project comes from `GOOGLE_CLOUD_PROJECT` (or `GCLOUD_PROJECT`,
//! `GCP_PROJECT`), else from the metadata server once it has answered (`cloud.account.id`
//! of the late resource).

use otel_faas_core::Environment;
use otel_faas_core::pipeline::LateResource;
use otel_faas_core::subscriber::{LineContext, LineFormat, LogLineLayer};
use serde_json::{Map, Value};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context as LayerContext, Layer};

/// Where the project id comes from.
#[derive(Debug, Clone, Default)]
enum Project {
    #[default]
    Unknown,
    Known(String),
    Late(LateResource),
}

/// The `tracing` layer writing Cloud Logging's structured lines.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_gcp::CloudLoggingLayer;
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// #[derive(Clone, Default)]
/// struct Captured(Arc<Mutex<Vec<u8>>>);
/// impl std::io::Write for Captured {
///     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(bytes) }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// let captured = Captured::default();
/// let writer = captured.clone();
/// let layer = CloudLoggingLayer::from_env(&MapEnvironment::from([("GOOGLE_CLOUD_PROJECT", "demo")]))
///     .with_writer(move || writer.clone());
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::warn!(order = 42, "low stock");
/// });
/// let line: serde_json::Value = serde_json::from_slice(&captured.0.lock().unwrap()).unwrap();
/// assert_eq!(line["severity"], "WARNING");
/// assert_eq!(line["message"], "low stock");
/// assert_eq!(line["order"], 42);
/// ```
#[derive(Debug, Clone)]
pub struct CloudLoggingLayer<W = fn() -> std::io::Stdout> {
    lines: LogLineLayer<CloudLoggingFormat, W>,
}

/// Cloud Logging's structured line, as core's [`LineFormat`]; the project names the trace.
#[derive(Debug, Clone)]
struct CloudLoggingFormat {
    project: Project,
}

impl CloudLoggingLayer {
    /// Lines on standard output; the project from `GOOGLE_CLOUD_PROJECT`, `GCLOUD_PROJECT`
    /// or `GCP_PROJECT`.
    pub fn from_env(env: &dyn Environment) -> Self {
        let project = ["GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT"]
            .into_iter()
            .find_map(|name| env.get_non_empty(name))
            .map_or(Project::Unknown, Project::Known);
        Self {
            lines: LogLineLayer::new(CloudLoggingFormat { project }, std::io::stdout as _),
        }
    }
}

impl<W> CloudLoggingLayer<W> {
    /// Takes the project from the metadata server's answer when no variable named it.
    #[must_use]
    pub fn with_late_project(mut self, late: Option<&LateResource>) -> Self {
        let format = self.lines.format_mut();
        if let (Project::Unknown, Some(late)) = (&format.project, late) {
            format.project = Project::Late(late.clone());
        }
        self
    }

    /// Writes the lines elsewhere (tests).
    #[must_use]
    pub fn with_writer<W2>(self, writer: W2) -> CloudLoggingLayer<W2>
    where
        W2: for<'a> MakeWriter<'a> + 'static,
    {
        CloudLoggingLayer {
            lines: self.lines.with_writer(writer),
        }
    }
}

impl CloudLoggingFormat {
    fn project(&self) -> Option<String> {
        match &self.project {
            Project::Unknown => None,
            Project::Known(project) => Some(project.clone()),
            Project::Late(late) => late.get().and_then(|attributes| {
                attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == "cloud.account.id")
                    .map(|kv| kv.value.to_string())
            }),
        }
    }
}

/// Cloud Logging's name for a level.
fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

impl LineFormat for CloudLoggingFormat {
    fn line(&self, line: LineContext) -> String {
        let LineContext {
            metadata,
            fields,
            span,
            ..
        } = line;
        let mut line = Map::new();
        line.insert("severity".into(), severity(metadata.level()).into());
        line.insert("message".into(), Value::String(fields.message));
        line.insert(
            "time".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("target".into(), metadata.target().into());
        if let (Some(file), Some(number)) = (metadata.file(), metadata.line()) {
            line.insert(
                "logging.googleapis.com/sourceLocation".into(),
                serde_json::json!({"file": file, "line": number.to_string(), "function": metadata.target()}),
            );
        }
        if span.is_valid() {
            if let Some(project) = self.project() {
                line.insert(
                    "logging.googleapis.com/trace".into(),
                    format!("projects/{project}/traces/{}", span.trace_id()).into(),
                );
            }
            line.insert(
                "logging.googleapis.com/spanId".into(),
                span.span_id().to_string().into(),
            );
            line.insert(
                "logging.googleapis.com/trace_sampled".into(),
                span.is_sampled().into(),
            );
        }
        for (key, value) in fields.values {
            line.entry(key).or_insert(value);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        text
    }
}

impl<S, W> Layer<S> for CloudLoggingLayer<W>
where
    S: Subscriber,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        self.lines.on_event(event, ctx);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry_sdk::trace::SdkTracerProvider;
    use otel_faas_core::env::MapEnvironment;
    use otel_faas_core::trigger::{FaasTrigger, InvocationContext};
    use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, SpanSpec, TriggerAdapter};
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Job;
    impl TriggerAdapter<(), ()> for Job {
        fn invocation_spec(
            &self,
            _: &(),
            _: &InvocationContext,
            _: &dyn Propagation,
        ) -> InvocationSpec {
            InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("job"))
        }
    }

    fn lines(captured: &Captured) -> Vec<Value> {
        String::from_utf8(captured.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn lines_inside_an_invocation_carry_its_trace() {
        let captured = Captured::default();
        let writer = captured.clone();
        let late = LateResource::new();
        let layer = CloudLoggingLayer::from_env(&MapEnvironment::default())
            .with_late_project(Some(&late))
            .with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        let _guard = tracing::subscriber::set_default(subscriber);
        let engine = InvocationEngine::builder(&SdkTracerProvider::builder().build()).build();
        let run = |message: &'static str| {
            engine.invocation(&Job, ()).run(move |_| async move {
                tracing::error!(attempt = 2, done = false, "{message}");
                Ok::<_, std::convert::Infallible>(())
            })
        };
        run("before the project is known").await.unwrap();
        late.set(vec![opentelemetry::KeyValue::new(
            "cloud.account.id",
            "demo",
        )]);
        run("after").await.unwrap();
        tracing::info!("outside");

        let lines = lines(&captured);
        assert_eq!(lines.len(), 3, "{lines:?}");
        let (before, after, outside) = (&lines[0], &lines[1], &lines[2]);
        assert_eq!(before["severity"], "ERROR");
        assert_eq!(before["attempt"], 2);
        assert_eq!(before["done"], false);
        assert!(
            before.get("logging.googleapis.com/trace").is_none(),
            "no project yet"
        );
        assert_eq!(
            before["logging.googleapis.com/spanId"]
                .as_str()
                .unwrap()
                .len(),
            16
        );
        assert_eq!(before["logging.googleapis.com/trace_sampled"], true);
        let trace = after["logging.googleapis.com/trace"].as_str().unwrap();
        assert!(
            trace.starts_with("projects/demo/traces/") && trace.len() == 21 + 32,
            "{trace}"
        );
        assert_eq!(outside["severity"], "INFO");
        assert!(outside.get("logging.googleapis.com/spanId").is_none());
        assert!(outside["logging.googleapis.com/sourceLocation"]["file"].is_string());
    }
}
