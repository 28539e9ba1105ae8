//! Warm-up pings: the scheduled keep-warm invocations that tools send to avoid cold starts.

use opentelemetry::KeyValue;
use otel_faas_core::Environment;
use otel_faas_core::env::ConfigWarning;
use serde_json::Value;

/// The variable adding match rules (`/json/pointer=glob`, comma-separated).
pub const WARM_UP_MATCH_VARIABLE: &str = "OTEL_FAAS_WARMUP_MATCH";
/// The variable saying whether warm-up pings are traced (`true`, the default, or `false`).
pub const WARM_UP_TRACE_VARIABLE: &str = "OTEL_FAAS_WARMUP_TRACE";
/// The attribute marking a warm-up ping's invocation span.
pub const WARM_UP_ATTRIBUTE: &str = "otel_faas.warm_up";

/// Recognises warm-up pings, marks their invocation span with `otel_faas.warm_up=true`
/// and — when asked — leaves them untraced, so that keep-warm traffic neither crowds the
/// traces nor costs an export.
///
/// A ping matches when any rule matches its JSON: a [JSON pointer](https://www.rfc-editor.org/rfc/rfc6901)
/// and a glob (`*` any run, `?` one character) on the value found there (a string as it
/// is, anything else as its JSON text). The default rules recognise the common warmers:
///
/// | warmer | payload | rule |
/// |---|---|---|
/// | serverless-plugin-warmup | `{"source": "serverless-plugin-warmup"}` | `/source=serverless-plugin-warmup` |
/// | lambda-warmer (and most hand-written ones) | `{"warmer": true, …}` | `/warmer=true` |
///
/// `OTEL_FAAS_WARMUP_MATCH` adds rules — for an EventBridge schedule that keeps a function
/// warm, its rule's ARN: `/resources/0=*:rule/keep-warm` — and `OTEL_FAAS_WARMUP_TRACE=false`
/// stops tracing them. They are read by [`WarmUp::from_env`], which
/// [`AnyEventTrigger::from_env`](crate::AnyEventTrigger::from_env) and
/// [`ScheduledTrigger::from_env`](crate::ScheduledTrigger::from_env) use. Only adapters
/// that see the raw event can recognise a ping: [`AnyEventTrigger`](crate::AnyEventTrigger)
/// (a direct invocation with any payload) and [`ScheduledTrigger`](crate::ScheduledTrigger)
/// (a schedule); a typed trigger (SQS, API Gateway) never receives one, since the runtime
/// cannot read a ping as its event.
///
/// ```
/// use otel_faas_aws::warm_up::WarmUp;
///
/// let warm_up = WarmUp::default().with_rule("/detail-type", "Keep*");
/// assert!(warm_up.matches(&serde_json::json!({"source": "serverless-plugin-warmup"})));
/// assert!(warm_up.matches(&serde_json::json!({"warmer": true, "concurrency": 3})));
/// assert!(warm_up.matches(&serde_json::json!({"detail-type": "KeepWarm"})));
/// assert!(!warm_up.matches(&serde_json::json!({"orderId": 42})));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WarmUp {
    rules: Vec<(String, String)>,
    traced: bool,
}

impl Default for WarmUp {
    /// The common warmers' payloads; pings traced (and marked).
    fn default() -> Self {
        Self {
            rules: vec![
                ("/source".to_owned(), "serverless-plugin-warmup".to_owned()),
                ("/warmer".to_owned(), "true".to_owned()),
            ],
            traced: true,
        }
    }
}

impl WarmUp {
    /// No rules: nothing is a warm-up ping.
    pub fn none() -> Self {
        Self {
            rules: Vec::new(),
            traced: true,
        }
    }

    /// The default rules plus `OTEL_FAAS_WARMUP_MATCH`'s, traced unless
    /// `OTEL_FAAS_WARMUP_TRACE=false`; a malformed entry is reported once and skipped.
    pub fn from_env(env: &dyn Environment) -> Self {
        let mut warm_up = Self::default();
        if let Some(raw) = env.get_non_empty(WARM_UP_MATCH_VARIABLE) {
            for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                match entry.split_once('=') {
                    Some((pointer, glob)) if pointer.starts_with('/') => {
                        warm_up = warm_up.with_rule(pointer.trim(), glob.trim());
                    }
                    _ => ConfigWarning::new(
                        WARM_UP_MATCH_VARIABLE,
                        entry,
                        "/json/pointer=glob, comma-separated",
                        "the entry is skipped",
                    )
                    .emit(),
                }
            }
        }
        if let Some(raw) = env.get_non_empty(WARM_UP_TRACE_VARIABLE) {
            match raw.to_ascii_lowercase().as_str() {
                "true" => warm_up.traced = true,
                "false" => warm_up.traced = false,
                _ => ConfigWarning::new(WARM_UP_TRACE_VARIABLE, raw, "true, false", "true").emit(),
            }
        }
        warm_up
    }

    /// Adds a rule: the value at `pointer` matches `glob`.
    #[must_use]
    pub fn with_rule(mut self, pointer: impl Into<String>, glob: impl Into<String>) -> Self {
        self.rules.push((pointer.into(), glob.into()));
        self
    }

    /// Whether pings are traced (marked) or left untraced.
    #[must_use]
    pub fn traced(mut self, traced: bool) -> Self {
        self.traced = traced;
        self
    }

    /// Whether there are no rules (nothing is a ping).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `event` is a warm-up ping.
    pub fn matches(&self, event: &Value) -> bool {
        self.rules.iter().any(|(pointer, glob)| {
            event.pointer(pointer).is_some_and(|value| {
                let text = match value {
                    Value::String(text) => std::borrow::Cow::Borrowed(text.as_str()),
                    other => std::borrow::Cow::Owned(other.to_string()),
                };
                otel_faas_core::sampling::glob_matches(glob, &text)
            })
        })
    }

    /// Marks `spec` as a warm-up ping's (and leaves it untraced when so configured) if
    /// `event` is one.
    pub(crate) fn apply(
        &self,
        event: &Value,
        spec: otel_faas_core::InvocationSpec,
    ) -> otel_faas_core::InvocationSpec {
        if !self.matches(event) {
            return spec;
        }
        let spec =
            spec.map_span(|span| span.with_attribute(KeyValue::new(WARM_UP_ATTRIBUTE, true)));
        if self.traced { spec } else { spec.not_traced() }
    }
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::eventbridge::EventBridgeEvent;
    use opentelemetry::trace::Tracer as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use otel_faas_core::InvocationEngine;
    use otel_faas_core::env::MapEnvironment;
    use serde_json::json;

    use super::*;
    use crate::{AnyEventTrigger, ScheduledTrigger};

    /// Runs `event` through `adapter` with a child span; returns the exported spans' names
    /// and whether the invocation span was marked.
    async fn run<E, A>(adapter: &A, event: E) -> (Vec<String>, bool)
    where
        E: Send + 'static,
        A: otel_faas_core::TriggerAdapter<E, ()> + Sync,
    {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let engine = InvocationEngine::builder(&provider).build();
        engine
            .invocation(adapter, event)
            .run(|_| async {
                let scope = otel_faas_core::engine::InvocationScope::current().unwrap();
                scope.tracer().in_span("work", |_| {});
                Ok::<_, std::convert::Infallible>(())
            })
            .await
            .unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        let marked = spans.iter().any(|s| {
            s.attributes
                .iter()
                .any(|kv| kv.key.as_str() == WARM_UP_ATTRIBUTE && kv.value == true.into())
        });
        (spans.iter().map(|s| s.name.to_string()).collect(), marked)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn pings_are_marked_and_ordinary_events_are_not() {
        let adapter = AnyEventTrigger::new();
        let (spans, marked) = run(&adapter, json!({"source": "serverless-plugin-warmup"})).await;
        assert!(marked);
        assert_eq!(spans.len(), 2, "traced by default: {spans:?}");
        let (_, marked) = run(&adapter, json!({"warmer": true, "concurrency": 2})).await;
        assert!(marked);
        let (spans, marked) = run(&adapter, json!({"orderId": 42})).await;
        assert!(!marked);
        assert_eq!(spans.len(), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn untraced_pings_export_nothing_not_even_their_children() {
        let adapter = AnyEventTrigger::new().with_warm_up(WarmUp::default().traced(false));
        let (spans, _) = run(&adapter, json!({"source": "serverless-plugin-warmup"})).await;
        assert!(spans.is_empty(), "{spans:?}");
        let (spans, _) = run(&adapter, json!({"orderId": 42})).await;
        assert_eq!(spans.len(), 2, "other events are traced");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_keep_warm_schedule_is_recognised_by_its_rule() {
        let env = MapEnvironment::from([
            (
                "OTEL_FAAS_WARMUP_MATCH",
                "/resources/0=*:rule/keep-warm, not-a-pointer",
            ),
            ("OTEL_FAAS_WARMUP_TRACE", "false"),
        ]);
        let trigger = ScheduledTrigger::new().with_warm_up(WarmUp::from_env(&env));
        let event = |rule: &str| -> EventBridgeEvent<serde_json::Value> {
            serde_json::from_value(json!({
                "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events",
                "time": "2026-11-21T03:00:00Z", "detail": {},
                "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{rule}")]
            }))
            .unwrap()
        };
        let (spans, _) = run(&trigger, event("keep-warm")).await;
        assert!(
            spans.is_empty(),
            "the keep-warm schedule is not traced: {spans:?}"
        );
        let (spans, _) = run(&trigger, event("nightly-report")).await;
        assert_eq!(spans.len(), 2);
    }

    #[test]
    fn the_variables_add_rules_and_bad_entries_are_skipped() {
        let env = MapEnvironment::from([
            ("OTEL_FAAS_WARMUP_MATCH", "/detail-type=Keep*,oops"),
            ("OTEL_FAAS_WARMUP_TRACE", "sometimes"),
        ]);
        let warm_up = WarmUp::from_env(&env);
        assert_eq!(
            warm_up,
            WarmUp::default().with_rule("/detail-type", "Keep*")
        );
        assert!(warm_up.matches(&json!({"detail-type": "KeepWarm"})));
        assert!(!warm_up.matches(&json!({"detail-type": ["KeepWarm"]})));
        assert!(!WarmUp::none().matches(&json!({"warmer": true})));
    }
}
