//! Trace context inside an EventBridge event's `detail` — an opt-in.
//!
//! EventBridge's own carrier is the `TraceHeader` of each `PutEvents` entry (X-Ray format),
//! which AWS hands to the rule's targets. Two cases lose it: a target that is not X-Ray
//! aware, and every emulator (neither moto nor LocalStack forwards it). For those, a producer
//! can opt in to write the context into the event itself, as one object under
//! [`DETAIL_CONTEXT_KEY`] in `detail`:
//!
//! ```json
//! {"order": 42, "_otel": {"traceparent": "00-…-01", "tracestate": "…"}}
//! ```
//!
//! It is an opt-in because `detail` is the user's data: every target and every consumer
//! sees the extra key, and a schema registry or strict consumer may refuse it. Rule
//! patterns only match the fields they name, so routing is unaffected. The keys inside the
//! object are the configured propagation's (`traceparent`, `tracestate`, `baggage`, …),
//! with string values only.
//!
//! Consumers read it wherever the event arrives: [`EventDetailContext::from_detail`] for an
//! event a rule delivers to Lambda, [`EventDetailContext::from_event_json`] for the body of
//! an SQS message an EventBridge rule sent.

use std::collections::HashMap;

use otel_faas_core::propagation::{Carrier, CarrierMut};
use serde_json::{Map, Value};

/// The key in `detail` under which the context is written: a leading underscore, as for
/// other tracers' keys in the same place, so that it does not look like business data.
pub const DETAIL_CONTEXT_KEY: &str = "_otel";

/// The context a producer wrote into an event's `detail` under [`DETAIL_CONTEXT_KEY`], as a
/// carrier. Values that are not strings are not context.
///
/// ```
/// use otel_faas_core::propagation::Carrier;
/// use otel_faas_messaging::EventDetailContext;
///
/// let body = r#"{"id": "e-1", "detail-type": "OrderPlaced", "source": "shop.orders",
///     "detail": {"order": 42, "_otel": {
///         "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}}"#;
/// let context = EventDetailContext::from_event_json(body).unwrap();
/// assert!(context.get("traceparent").is_some());
/// assert!(EventDetailContext::from_event_json(r#"{"detail": {"order": 42}}"#).is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventDetailContext {
    fields: HashMap<String, String>,
}

impl EventDetailContext {
    /// The context in an event's `detail`; `None` when there is none (or `detail` is not an
    /// object).
    pub fn from_detail(detail: &Value) -> Option<Self> {
        let fields: HashMap<String, String> = detail
            .get(DETAIL_CONTEXT_KEY)?
            .as_object()?
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .filter(|(_, value)| !value.is_empty())
            .collect();
        (!fields.is_empty()).then_some(Self { fields })
    }

    /// The context in a whole EventBridge event given as JSON text — the body of an SQS
    /// message an EventBridge rule delivered. `None` for any other body.
    pub fn from_event_json(body: &str) -> Option<Self> {
        // A cheap look first: most bodies carry no such context, and some are large.
        if !body.trim_start().starts_with('{') || !body.contains(DETAIL_CONTEXT_KEY) {
            return None;
        }
        let event: Value = serde_json::from_str(body).ok()?;
        Self::from_detail(event.get("detail")?)
    }
}

impl Carrier for EventDetailContext {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.fields.keys().map(String::as_str).collect()
    }
}

/// Why the context was not written into a `detail`. The event is sent unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DetailNotInjected {
    /// `detail` is not a JSON object (EventBridge requires one, but the SDK does not check).
    #[error("the event's detail is not a JSON object")]
    NotAnObject,
    /// `detail` already has a [`DETAIL_CONTEXT_KEY`]: the caller's context is kept.
    #[error("the event's detail already has an _otel key")]
    AlreadyPresent,
}

/// Writes context into a `detail` given as JSON text, returning the new text. The user's
/// text is kept byte for byte: the context object is added just before the closing brace.
///
/// `write` receives a [`CarrierMut`] to inject through (usually the configured propagation).
///
/// ```
/// use otel_faas_core::propagation::CarrierMut;
/// use otel_faas_messaging::{inject_into_detail, DetailNotInjected};
///
/// let detail = inject_into_detail(r#"{"order": 42}"#, |carrier| {
///     carrier.set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
/// })
/// .unwrap();
/// assert!(detail.starts_with(r#"{"order": 42,"_otel":{"traceparent":"00-4bf9"#));
/// assert_eq!(inject_into_detail("[1]", |_| {}), Err(DetailNotInjected::NotAnObject));
/// ```
pub fn inject_into_detail(
    detail: &str,
    write: impl FnOnce(&mut dyn CarrierMut),
) -> Result<String, DetailNotInjected> {
    let object: Map<String, Value> = match serde_json::from_str(detail) {
        Ok(Value::Object(object)) => object,
        _ => return Err(DetailNotInjected::NotAnObject),
    };
    if object.contains_key(DETAIL_CONTEXT_KEY) {
        return Err(DetailNotInjected::AlreadyPresent);
    }
    let mut context = DetailContextMut(Map::new());
    write(&mut context);
    if context.0.is_empty() {
        // Nothing to carry (no current span): the detail stays byte for byte the same.
        return Ok(detail.to_owned());
    }
    // A valid object ends with `}` (then only whitespace): insert before it.
    let Some(end) = detail.rfind('}') else {
        return Err(DetailNotInjected::NotAnObject);
    };
    let separator = if object.is_empty() { "" } else { "," };
    let context = Value::Object(context.0);
    Ok(format!(
        "{}{separator}\"{DETAIL_CONTEXT_KEY}\":{context}{}",
        &detail[..end],
        &detail[end..]
    ))
}

/// The object under [`DETAIL_CONTEXT_KEY`], being written. Empty values are not written (a
/// propagator with nothing to say writes an empty `tracestate`).
struct DetailContextMut(Map<String, Value>);

impl CarrierMut for DetailContextMut {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.insert(key.to_owned(), Value::String(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn write_traceparent(carrier: &mut dyn CarrierMut) {
        carrier.set("traceparent", TRACEPARENT.to_owned());
        carrier.set("tracestate", String::new());
    }

    #[test]
    fn a_written_context_is_read_back_and_the_user_data_is_kept() {
        let detail = inject_into_detail(r#"{"order": 42, "items": [1, 2]}"#, write_traceparent)
            .expect("an object takes the context");
        let value: Value = serde_json::from_str(&detail).unwrap();
        assert_eq!(value["order"], 42);
        assert_eq!(value["items"], serde_json::json!([1, 2]));
        assert_eq!(
            value[DETAIL_CONTEXT_KEY],
            serde_json::json!({"traceparent": TRACEPARENT}),
            "empty values are not written"
        );
        let context = EventDetailContext::from_detail(&value).unwrap();
        assert_eq!(context.get("traceparent"), Some(TRACEPARENT));
        assert_eq!(context.keys(), ["traceparent"]);
    }

    #[test]
    fn details_that_cannot_take_context_are_left_alone() {
        for detail in ["", "not json", "[]", "42", "\"text\"", "null", "{\"a\":"] {
            assert_eq!(
                inject_into_detail(detail, write_traceparent),
                Err(DetailNotInjected::NotAnObject),
                "{detail:?}"
            );
        }
        assert_eq!(
            inject_into_detail(r#"{"_otel": {"traceparent": "mine"}}"#, write_traceparent),
            Err(DetailNotInjected::AlreadyPresent)
        );
    }

    #[test]
    fn the_user_text_is_kept_byte_for_byte() {
        let detail = "{ \"z\": 1,\n  \"a\": {\"b\": \"}\"} }\n";
        let written = inject_into_detail(detail, write_traceparent).unwrap();
        assert_eq!(
            written,
            format!(
                "{{ \"z\": 1,\n  \"a\": {{\"b\": \"}}\"}} ,\"_otel\":{{\"traceparent\":\"{TRACEPARENT}\"}}}}\n"
            )
        );
        assert_eq!(
            inject_into_detail(" {} ", write_traceparent).unwrap(),
            format!(" {{\"_otel\":{{\"traceparent\":\"{TRACEPARENT}\"}}}} ")
        );
    }

    #[test]
    fn nothing_to_carry_keeps_the_detail_byte_for_byte() {
        let detail = r#"{ "order" : 42 }"#;
        assert_eq!(inject_into_detail(detail, |_| {}).as_deref(), Ok(detail));
    }

    #[test]
    fn only_string_values_in_an_object_are_context() {
        let detail =
            serde_json::json!({"_otel": {"traceparent": 7, "tracestate": "", "baggage": "k=v"}});
        let context = EventDetailContext::from_detail(&detail).unwrap();
        assert_eq!(context.get("traceparent"), None);
        assert_eq!(context.get("tracestate"), None);
        assert_eq!(context.get("baggage"), Some("k=v"));
        for detail in [
            serde_json::json!({"_otel": "00-…"}),
            serde_json::json!({"_otel": []}),
            serde_json::json!({"_otel": {"traceparent": null}}),
            serde_json::json!([{"_otel": {}}]),
            serde_json::json!("_otel"),
        ] {
            assert_eq!(EventDetailContext::from_detail(&detail), None, "{detail}");
        }
    }

    #[test]
    fn event_bodies_without_context_are_none_and_never_panic() {
        for body in [
            "",
            "plain text mentioning _otel",
            "{\"_otel\"",
            r#"{"detail": "_otel"}"#,
            r#"{"_otel": {"traceparent": "x"}}"#,
            r#"{"detail": {"order": 1}, "note": "_otel"}"#,
        ] {
            assert_eq!(EventDetailContext::from_event_json(body), None, "{body:?}");
        }
    }
}
