//! SNS notifications as Lambda delivers them.

use std::collections::HashMap;

use aws_lambda_events::sns::{MessageAttribute, SnsMessage};
use otel_faas_core::propagation::Carrier;

/// The message attributes of an SNS notification, as a carrier. `String` attributes only.
///
/// ```
/// use aws_lambda_events::sns::SnsMessage;
/// use otel_faas_core::propagation::Carrier;
/// use otel_faas_messaging::SnsMessageAttributes;
///
/// let attributes = serde_json::from_value(serde_json::json!({
///     "traceparent": {"Type": "String", "Value": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
///     "blob": {"Type": "Binary", "Value": "AAEC"}
/// })).unwrap();
/// let carrier = SnsMessageAttributes(&attributes);
/// assert!(carrier.get("traceparent").is_some());
/// assert_eq!(carrier.get("blob"), None);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SnsMessageAttributes<'a>(pub &'a HashMap<String, MessageAttribute>);

impl<'a> SnsMessageAttributes<'a> {
    /// The message attributes of `message`.
    pub fn of(message: &'a SnsMessage) -> Self {
        Self(&message.message_attributes)
    }
}

impl Carrier for SnsMessageAttributes<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .filter(|attribute| attribute.data_type == "String")
            .map(|attribute| attribute.value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, attribute)| attribute.data_type == "String")
            .map(|(key, _)| key.as_str())
            .collect()
    }
}

/// An SNS notification as an SQS subscriber receives it without raw message delivery: a
/// JSON envelope in the message body, carrying the publisher's message attributes.
///
/// ```
/// use otel_faas_core::propagation::Carrier;
/// use otel_faas_messaging::SnsEnvelope;
///
/// let body = r#"{"Type": "Notification", "MessageId": "n-1",
///     "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders", "Message": "hi",
///     "MessageAttributes": {"traceparent": {"Type": "String",
///         "Value": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}}"#;
/// let envelope = SnsEnvelope::parse(body).unwrap();
/// assert_eq!(envelope.topic_arn(), "arn:aws:sns:us-east-1:123456789012:orders");
/// assert!(envelope.get("traceparent").is_some());
/// assert!(SnsEnvelope::parse("plain text body").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsEnvelope {
    message_id: String,
    topic_arn: String,
    attributes: HashMap<String, String>,
}

impl SnsEnvelope {
    /// Parses an SQS message body as an SNS notification envelope; `None` for any body that
    /// is not one (including every body of a raw delivery).
    pub fn parse(body: &str) -> Option<Self> {
        // A cheap look first: most bodies are not envelopes, and some are large.
        let trimmed = body.trim_start();
        if !trimmed.starts_with('{') || !body.contains("\"TopicArn\"") {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        if value.get("Type")?.as_str()? != "Notification" {
            return None;
        }
        let attributes = value
            .get("MessageAttributes")
            .and_then(serde_json::Value::as_object)
            .map(|attributes| {
                attributes
                    .iter()
                    .filter(|(_, a)| {
                        a.get("Type").and_then(serde_json::Value::as_str) == Some("String")
                    })
                    .filter_map(|(k, a)| Some((k.clone(), a.get("Value")?.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            message_id: value.get("MessageId")?.as_str()?.to_owned(),
            topic_arn: value.get("TopicArn")?.as_str()?.to_owned(),
            attributes,
        })
    }

    /// The SNS message id.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The topic the notification was published to.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

impl Carrier for SnsEnvelope {
    fn get(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.attributes.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_that_are_not_envelopes_are_none_and_never_panic() {
        for body in [
            "",
            "{",
            "{\"TopicArn\": 1}",
            "{\"Type\": \"Notification\", \"TopicArn\": \"t\"}",
            "{\"Type\": \"SubscriptionConfirmation\", \"MessageId\": \"m\", \"TopicArn\": \"t\"}",
            "[\"TopicArn\"]",
            "\u{0}{\"TopicArn\"",
        ] {
            assert_eq!(SnsEnvelope::parse(body), None, "{body:?}");
        }
        let odd = r#"{"Type": "Notification", "MessageId": "m", "TopicArn": "t",
            "MessageAttributes": {"traceparent": {"Type": "Binary", "Value": "AAE="}, "n": 5}}"#;
        let envelope = SnsEnvelope::parse(odd).expect("an envelope with unusable attributes");
        assert_eq!(envelope.get("traceparent"), None);
    }
}
