//! SQS messages as Lambda delivers them.

use std::collections::HashMap;

use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use otel_faas_core::propagation::Carrier;

/// The system attribute in which AWS carries the X-Ray trace header of the `SendMessage`
/// call that produced a message.
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";

/// The user-defined message attributes of an SQS message, as a carrier. String-typed
/// attributes only.
///
/// ```
/// use std::collections::HashMap;
/// use aws_lambda_events::sqs::SqsMessage;
/// use otel_faas_core::propagation::Carrier;
/// use otel_faas_messaging::SqsMessageAttributes;
///
/// let message: SqsMessage = serde_json::from_value(serde_json::json!({
///     "messageAttributes": {
///         "traceparent": {"stringValue": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "dataType": "String"},
///         "count": {"stringValue": "3", "dataType": "Number"}
///     }
/// })).unwrap();
/// let carrier = SqsMessageAttributes::of(&message);
/// assert!(carrier.get("traceparent").is_some());
/// assert_eq!(carrier.get("count"), None);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SqsMessageAttributes<'a>(pub &'a HashMap<String, SqsMessageAttribute>);

impl<'a> SqsMessageAttributes<'a> {
    /// The message attributes of `message`.
    pub fn of(message: &'a SqsMessage) -> Self {
        Self(&message.message_attributes)
    }
}

fn is_string_type(data_type: Option<&str>) -> bool {
    // "String" or a custom type such as "String.json"; SQS spells the type case-sensitively.
    data_type.is_some_and(|t| t == "String" || t.starts_with("String."))
}

impl Carrier for SqsMessageAttributes<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let attribute = self.0.get(key)?;
        if !is_string_type(attribute.data_type.as_deref()) {
            return None;
        }
        attribute.string_value.as_deref()
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, attribute)| is_string_type(attribute.data_type.as_deref()))
            .map(|(key, _)| key.as_str())
            .collect()
    }
}

/// The system attributes of an SQS message (`AWSTraceHeader`, `SentTimestamp`, …) as a
/// carrier, with `AWSTraceHeader` also readable under the X-Ray header name
/// `x-amzn-trace-id`, so that an X-Ray propagator can read it as it is.
///
/// ```
/// use aws_lambda_events::sqs::SqsMessage;
/// use otel_faas_core::propagation::Carrier;
/// use otel_faas_messaging::SqsSystemAttributes;
///
/// let message: SqsMessage = serde_json::from_value(serde_json::json!({
///     "attributes": {"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}
/// })).unwrap();
/// let carrier = SqsSystemAttributes::of(&message);
/// assert_eq!(carrier.get("x-amzn-trace-id"), carrier.get("AWSTraceHeader"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SqsSystemAttributes<'a>(pub &'a HashMap<String, String>);

impl<'a> SqsSystemAttributes<'a> {
    /// The system attributes of `message`.
    pub fn of(message: &'a SqsMessage) -> Self {
        Self(&message.attributes)
    }
}

impl Carrier for SqsSystemAttributes<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let key = if key.eq_ignore_ascii_case("x-amzn-trace-id") {
            AWS_TRACE_HEADER
        } else {
            key
        };
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(data_type: Option<&str>, value: Option<&str>) -> SqsMessageAttribute {
        serde_json::from_value(serde_json::json!({
            "dataType": data_type,
            "stringValue": value,
        }))
        .unwrap()
    }

    #[test]
    fn only_string_typed_values_are_context() {
        let attributes = HashMap::from([
            ("a".to_owned(), attribute(Some("String"), Some("1"))),
            ("b".to_owned(), attribute(Some("String.custom"), Some("2"))),
            ("c".to_owned(), attribute(Some("Binary"), Some("3"))),
            ("d".to_owned(), attribute(None, Some("4"))),
            ("e".to_owned(), attribute(Some("Number"), Some("5"))),
            ("f".to_owned(), attribute(Some("Stringy"), Some("6"))),
        ]);
        let carrier = SqsMessageAttributes(&attributes);
        let mut keys = carrier.keys();
        keys.sort_unstable();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(carrier.get("a"), Some("1"));
        assert_eq!(carrier.get("b"), Some("2"));
        for key in ["c", "d", "e", "f", "missing"] {
            assert_eq!(carrier.get(key), None, "{key}");
        }
    }
}
