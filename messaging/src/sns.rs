//! SNS notifications as Lambda delivers them.

use std::collections::HashMap;

use aws_lambda_events::sns::{MessageAttribute, SnsMessage};
use otel_faas_core::Carrier;

/// The message attributes of an SNS notification, as a carrier. `String` attributes only.
///
/// ```
/// use aws_lambda_events::sns::SnsMessage;
/// use otel_faas_core::Carrier;
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
