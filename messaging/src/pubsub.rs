//! Google Pub/Sub message attributes.

use std::collections::HashMap;

use otel_faas_core::propagation::{Carrier, CarrierMut};

/// The prefix the Google Cloud client libraries put before propagation keys in Pub/Sub
/// message attributes (`googclient_traceparent`, `googclient_tracestate`), so that they
/// never collide with the user's own attributes.
pub const PUBSUB_PREFIX: &str = "googclient_";

/// Pub/Sub message attributes as a carrier: `traceparent` is read from and written to
/// `googclient_traceparent`, and so on, as the Google client libraries do.
///
/// ```
/// use std::collections::HashMap;
/// use otel_faas_core::propagation::Carrier;
/// use otel_faas_messaging::PubSubAttributes;
///
/// let attributes = HashMap::from([(
///     "googclient_traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )]);
/// assert!(PubSubAttributes(&attributes).get("traceparent").is_some());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PubSubAttributes<'a>(pub &'a HashMap<String, String>);

impl Carrier for PubSubAttributes<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(&format!("{PUBSUB_PREFIX}{key}"))
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| key.strip_prefix(PUBSUB_PREFIX))
            .collect()
    }
}

/// Writable Pub/Sub message attributes, for a publisher.
///
/// ```
/// use std::collections::HashMap;
/// use otel_faas_core::propagation::CarrierMut;
/// use otel_faas_messaging::PubSubAttributesMut;
///
/// let mut attributes = HashMap::new();
/// PubSubAttributesMut(&mut attributes).set("traceparent", "00-…".to_owned());
/// assert!(attributes.contains_key("googclient_traceparent"));
/// ```
#[derive(Debug)]
pub struct PubSubAttributesMut<'a>(pub &'a mut HashMap<String, String>);

impl CarrierMut for PubSubAttributesMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(format!("{PUBSUB_PREFIX}{key}"), value);
    }
}
