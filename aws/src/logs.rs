//! Log lines in Lambda's formats, joined to the invocation's trace.

use std::fmt::Write as _;

use otel_faas_core::Environment;
use otel_faas_core::engine::CurrentInvocation;
use otel_faas_core::env::ConfigWarning;
use otel_faas_core::subscriber::{LineContext, LineFormat, LogLineLayer};
use serde_json::{Map, Value};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context as LayerContext, Layer};

/// The variable naming the log format.
pub const LOG_FORMAT_VARIABLE: &str = "AWS_LAMBDA_LOG_FORMAT";
/// The variable naming the most verbose level written.
pub const LOG_LEVEL_VARIABLE: &str = "AWS_LAMBDA_LOG_LEVEL";

/// The format of the lines (`AWS_LAMBDA_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LambdaLogFormat {
    /// Tab-separated text, Lambda's default.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Lambda sends a function's standard output and error to CloudWatch Logs, a line per
/// event. This layer writes each `tracing` event as one line on standard error in
/// the format the function is configured with (`AWS_LAMBDA_LOG_FORMAT`, which Lambda sets
/// from the function's logging configuration):
///
/// * **`JSON`** — the fields of Lambda's JSON log format for application logs,
///   `timestamp`, `level` and `message`, with `requestId`, and beside them `traceId` and
///   `spanId` (the *OpenTelemetry* ids of the span the line was written in, so that a line
///   leads to a trace that exists — Lambda's own `xrayTraceId` differs from it whenever
///   propagation is W3C), `coldStart`, `target` and the event's fields as JSON values:
///
///   ```json
///   {"timestamp":"2026-11-29T10:00:00.000Z","level":"INFO","message":"order placed","requestId":"8f5a…","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","coldStart":true,"target":"orders","order":42}
///   ```
/// * **`Text`** (the default) — tab-separated `timestamp`, `requestId` (`-` outside an
///   invocation), level and message as the managed runtimes write them, then the fields
///   and `trace_id=… span_id=…`.
///
/// `AWS_LAMBDA_LOG_LEVEL` (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`) sets the
/// most verbose level written — for these lines, and through the one-line set-up
/// ([`LambdaTelemetryBuilder::start`](crate::LambdaTelemetryBuilder::start)) for the spans
/// and OTLP log records of `tracing` too. Lambda applies it to JSON logs only; here it
/// applies to both formats. An invalid value of either variable is reported once and the
/// default used.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use otel_faas_aws::logs::LambdaLogLayer;
/// use otel_faas_core::env::MapEnvironment;
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
/// let layer = LambdaLogLayer::from_env(&MapEnvironment::from([("AWS_LAMBDA_LOG_FORMAT", "JSON")]))
///     .with_writer(move || writer.clone());
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::warn!(order = 42, "low stock");
/// });
/// let line: serde_json::Value = serde_json::from_slice(&captured.0.lock().unwrap()).unwrap();
/// assert_eq!(line["level"], "WARN");
/// assert_eq!(line["message"], "low stock");
/// assert_eq!(line["order"], 42);
/// ```
#[derive(Debug, Clone)]
pub struct LambdaLogLayer<W = fn() -> std::io::Stderr> {
    lines: LogLineLayer<LambdaLineFormat, W>,
}

/// Lambda's two line formats, as core's [`LineFormat`].
#[derive(Debug, Clone, Copy)]
struct LambdaLineFormat(LambdaLogFormat);

impl LambdaLogLayer {
    /// Lines on standard error, in the format and at the level of `AWS_LAMBDA_LOG_FORMAT`
    /// and `AWS_LAMBDA_LOG_LEVEL` (text and `INFO` when unset).
    pub fn from_env(env: &dyn Environment) -> Self {
        Self {
            lines: LogLineLayer::new(LambdaLineFormat(read_format(env)), std::io::stderr as _)
                .with_level(read_level(env).unwrap_or(LevelFilter::INFO)),
        }
    }
}

impl<W> LambdaLogLayer<W> {
    /// The format in force.
    pub fn format(&self) -> LambdaLogFormat {
        self.lines.format().0
    }

    /// The most verbose level written.
    pub fn level(&self) -> LevelFilter {
        self.lines.level()
    }

    /// Writes lines up to `level` instead of the level of `AWS_LAMBDA_LOG_LEVEL`.
    ///
    /// ```
    /// use otel_faas_aws::logs::LambdaLogLayer;
    /// use otel_faas_core::env::MapEnvironment;
    /// use tracing_subscriber::filter::LevelFilter;
    ///
    /// let layer = LambdaLogLayer::from_env(&MapEnvironment::default()).with_level(LevelFilter::DEBUG);
    /// assert_eq!(layer.level(), LevelFilter::DEBUG);
    /// ```
    #[must_use]
    pub fn with_level(self, level: LevelFilter) -> Self {
        Self {
            lines: self.lines.with_level(level),
        }
    }

    /// Writes the lines elsewhere (tests, or standard error).
    #[must_use]
    pub fn with_writer<W2>(self, writer: W2) -> LambdaLogLayer<W2>
    where
        W2: for<'a> MakeWriter<'a> + 'static,
    {
        LambdaLogLayer {
            lines: self.lines.with_writer(writer),
        }
    }
}

impl LineFormat for LambdaLineFormat {
    fn line(&self, line: LineContext) -> String {
        match self.0 {
            LambdaLogFormat::Json => json_line(line),
            LambdaLogFormat::Text => text_line(line),
        }
    }
}

fn json_line(line: LineContext) -> String {
    let LineContext {
        metadata,
        fields,
        span,
        invocation,
        ..
    } = line;
    let mut line = Map::new();
    line.insert("timestamp".into(), timestamp().into());
    line.insert("level".into(), level_name(metadata.level()).into());
    line.insert("message".into(), Value::String(fields.message));
    if let Some(id) = invocation
        .as_ref()
        .and_then(CurrentInvocation::invocation_id)
    {
        line.insert("requestId".into(), id.into());
    }
    if span.is_valid() {
        line.insert("traceId".into(), span.trace_id().to_string().into());
        line.insert("spanId".into(), span.span_id().to_string().into());
    }
    if let Some(invocation) = &invocation {
        line.insert("coldStart".into(), invocation.cold_start().into());
    }
    line.insert("target".into(), metadata.target().into());
    for (key, value) in fields.values {
        line.entry(key).or_insert(value);
    }
    let mut text = Value::Object(line).to_string();
    text.push('\n');
    text
}

fn text_line(line: LineContext) -> String {
    let LineContext {
        metadata,
        fields,
        span,
        invocation,
        ..
    } = line;
    let request_id = invocation
        .as_ref()
        .and_then(|i| i.invocation_id().map(str::to_owned))
        .unwrap_or_else(|| "-".to_owned());
    let mut text = format!(
        "{}\t{request_id}\t{}\t{}",
        timestamp(),
        level_name(metadata.level()),
        fields.message
    );
    fields.write_key_values(&mut text);
    if span.is_valid() {
        let _ = write!(
            text,
            " trace_id={} span_id={}",
            span.trace_id(),
            span.span_id()
        );
    }
    text.push('\n');
    text
}

impl<S, W> Layer<S> for LambdaLogLayer<W>
where
    S: Subscriber,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        self.lines.on_event(event, ctx);
    }
}

fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Lambda's level names.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

fn read_format(env: &dyn Environment) -> LambdaLogFormat {
    match env.get_non_empty(LOG_FORMAT_VARIABLE) {
        None => LambdaLogFormat::Text,
        Some(raw) if raw.eq_ignore_ascii_case("json") => LambdaLogFormat::Json,
        Some(raw) if raw.eq_ignore_ascii_case("text") => LambdaLogFormat::Text,
        Some(raw) => {
            ConfigWarning::new(LOG_FORMAT_VARIABLE, raw, "JSON, Text", "Text").emit();
            LambdaLogFormat::Text
        }
    }
}

/// `AWS_LAMBDA_LOG_LEVEL`, when set and valid (`FATAL` is `tracing`'s `ERROR`).
pub(crate) fn read_level(env: &dyn Environment) -> Option<LevelFilter> {
    let raw = env.get_non_empty(LOG_LEVEL_VARIABLE)?;
    let level = match raw.to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" => LevelFilter::WARN,
        "ERROR" | "FATAL" => LevelFilter::ERROR,
        _ => {
            ConfigWarning::new(
                LOG_LEVEL_VARIABLE,
                raw,
                "TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
                "INFO",
            )
            .emit();
            return None;
        }
    };
    Some(level)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use otel_faas_core::env::MapEnvironment;
    use otel_faas_core::trigger::{FaasTrigger, InvocationContext};
    use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, SpanSpec, TriggerAdapter};
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    struct Job;
    impl TriggerAdapter<(), ()> for Job {
        fn invocation_context(&self, _: &()) -> InvocationContext {
            InvocationContext::new().with_invocation_id("8f5a-req")
        }
        fn invocation_spec(
            &self,
            _: &(),
            _: &InvocationContext,
            _: &dyn Propagation,
        ) -> InvocationSpec {
            InvocationSpec::new(FaasTrigger::Timer, SpanSpec::server("job"))
        }
    }

    /// Runs two invocations (cold, warm) that log, and a line outside, with the layer made
    /// from `env`; returns the lines and the two invocation spans' trace ids.
    async fn run(env: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
        let captured = Captured::default();
        let writer = captured.clone();
        let env: MapEnvironment = env.iter().copied().collect();
        let layer = LambdaLogLayer::from_env(&env).with_writer(move || writer.clone());
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let engine = InvocationEngine::builder(&provider).build();
        let subscriber = tracing_subscriber::registry().with(layer);
        let _guard = tracing::subscriber::set_default(subscriber);
        tracing::info!("outside");
        for _ in 0..2 {
            engine
                .invocation(&Job, ())
                .run(|_| async {
                    tracing::info!(order = 42, sku = "A-1", "order placed");
                    tracing::debug!("details");
                    Ok::<_, std::convert::Infallible>(())
                })
                .await
                .unwrap();
        }
        let traces = exporter
            .get_finished_spans()
            .unwrap()
            .iter()
            .map(|s| s.span_context.trace_id().to_string())
            .collect();
        (captured.lines(), traces)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn json_lines_carry_the_request_id_the_otel_trace_id_and_the_cold_start() {
        let (lines, traces) = run(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).await;
        let lines: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 3, "INFO by default: no DEBUG line");
        let outside = &lines[0];
        assert_eq!(outside["message"], "outside");
        assert!(outside.get("requestId").is_none() && outside.get("traceId").is_none());
        for (line, (trace, cold)) in lines[1..].iter().zip(traces.iter().zip([true, false])) {
            assert_eq!(line["level"], "INFO");
            assert_eq!(line["message"], "order placed");
            assert_eq!(line["requestId"], "8f5a-req");
            assert_eq!(line["traceId"], trace.as_str());
            assert_eq!(line["spanId"].as_str().unwrap().len(), 16);
            assert_eq!(line["coldStart"], cold);
            assert_eq!(line["order"], 42);
            assert_eq!(line["sku"], "A-1");
            let timestamp = line["timestamp"].as_str().unwrap();
            assert!(
                chrono::DateTime::parse_from_rfc3339(timestamp).is_ok() && timestamp.ends_with('Z'),
                "{timestamp}"
            );
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn text_lines_are_tab_separated_with_the_ids_at_the_end() {
        let (lines, traces) = run(&[("AWS_LAMBDA_LOG_LEVEL", "debug")]).await;
        assert_eq!(lines.len(), 5, "DEBUG lines too: {lines:#?}");
        let columns: Vec<&str> = lines[0].split('\t').collect();
        assert_eq!(columns[1..], ["-", "INFO", "outside"]);
        let columns: Vec<&str> = lines[1].split('\t').collect();
        assert_eq!(columns[1], "8f5a-req");
        assert_eq!(columns[2], "INFO");
        assert!(
            columns[3].starts_with(r#"order placed order=42 sku="A-1" trace_id="#),
            "{}",
            columns[3]
        );
        assert!(columns[3].contains(&format!("trace_id={}", traces[0])));
        assert!(lines[2].contains("\tDEBUG\tdetails"));
    }

    #[test]
    fn the_variables_are_read_and_bad_values_fall_back() {
        let layer = |pairs: &[(&str, &str)]| {
            LambdaLogLayer::from_env(&pairs.iter().copied().collect::<MapEnvironment>())
        };
        assert_eq!(layer(&[]).format(), LambdaLogFormat::Text);
        assert_eq!(layer(&[]).level(), LevelFilter::INFO);
        assert_eq!(
            layer(&[("AWS_LAMBDA_LOG_FORMAT", "json")]).format(),
            LambdaLogFormat::Json
        );
        assert_eq!(
            layer(&[("AWS_LAMBDA_LOG_FORMAT", "yaml")]).format(),
            LambdaLogFormat::Text
        );
        assert_eq!(
            layer(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]).level(),
            LevelFilter::ERROR
        );
        assert_eq!(
            layer(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")]).level(),
            LevelFilter::WARN
        );
        assert_eq!(
            layer(&[("AWS_LAMBDA_LOG_LEVEL", "loud")]).level(),
            LevelFilter::INFO
        );
    }
}
