//! Azure Service Bus and Event Hubs application properties.

use std::collections::HashMap;

use otel_faas_core::propagation::{Carrier, CarrierMut};

/// The property older Azure SDKs put a W3C `traceparent` value in.
pub const DIAGNOSTIC_ID: &str = "Diagnostic-Id";

/// Service Bus or Event Hubs application properties as a carrier.
///
/// `traceparent` and `tracestate` are read as they are; when a message has no
/// `traceparent`, its `Diagnostic-Id` (which Azure SDKs set to a `traceparent`-formatted
/// value) is read in its place. Writing sets `traceparent`/`tracestate` and, for consumers
/// on older SDKs, `Diagnostic-Id` to the same value.
///
/// ```
/// use std::collections::HashMap;
/// use otel_faas_core::propagation::Carrier;
/// use otel_faas_messaging::AzureApplicationProperties;
///
/// let properties = HashMap::from([(
///     "Diagnostic-Id".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )]);
/// assert_eq!(
///     AzureApplicationProperties(&properties).get("traceparent"),
///     Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AzureApplicationProperties<'a>(pub &'a HashMap<String, String>);

impl Carrier for AzureApplicationProperties<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let direct = self
            .0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty());
        if direct.is_some() || !key.eq_ignore_ascii_case("traceparent") {
            return direct;
        }
        self.0
            .get(DIAGNOSTIC_ID)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Writable application properties, for a sender.
#[derive(Debug)]
pub struct AzureApplicationPropertiesMut<'a>(pub &'a mut HashMap<String, String>);

impl CarrierMut for AzureApplicationPropertiesMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if key.eq_ignore_ascii_case("traceparent") {
            self.0.insert(DIAGNOSTIC_ID.to_owned(), value.clone());
        }
        self.0.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TraceContextExt;
    use otel_faas_core::{Propagation, propagation::CompositePropagation};

    use super::*;

    #[test]
    fn traceparent_wins_over_diagnostic_id_and_writing_sets_both() {
        let properties = HashMap::from([
            (
                "traceparent".to_owned(),
                "00-11111111111111111111111111111111-2222222222222222-01".to_owned(),
            ),
            (
                "Diagnostic-Id".to_owned(),
                "00-33333333333333333333333333333333-4444444444444444-01".to_owned(),
            ),
        ]);
        let cx = CompositePropagation::w3c().extract_from(&AzureApplicationProperties(&properties));
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "11111111111111111111111111111111"
        );

        let mut out = HashMap::new();
        CompositePropagation::w3c().inject_into(&cx, &mut AzureApplicationPropertiesMut(&mut out));
        assert_eq!(out.get("traceparent"), out.get("Diagnostic-Id"));
    }

    #[test]
    fn an_invalid_diagnostic_id_is_ignored() {
        let properties = HashMap::from([("Diagnostic-Id".to_owned(), "|abc.1.".to_owned())]);
        let cx = CompositePropagation::w3c().extract_from(&AzureApplicationProperties(&properties));
        assert!(!cx.span().span_context().is_valid());
    }
}
