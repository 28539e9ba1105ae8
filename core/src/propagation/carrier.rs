//! Carriers: the places where trace context travels.
//!
//! A [`Carrier`] is anything context can be read from (HTTP headers, message attributes, a
//! CloudEvent's extensions, a JSON object); a [`CarrierMut`] is anything it can be written
//! to. Cloud and messaging crates implement these two small traits for their own types and
//! never deal with OpenTelemetry's propagation traits directly.

use std::collections::{BTreeMap, HashMap};

use opentelemetry::propagation::{Extractor, Injector};

/// A read-only view of key/value pairs that may hold trace context.
///
/// ```
/// use std::collections::HashMap;
/// use otel_faas_core::propagation::Carrier;
///
/// let attributes = HashMap::from([("traceparent".to_owned(), "00-…".to_owned())]);
/// assert_eq!(Carrier::get(&attributes, "traceparent"), Some("00-…"));
/// ```
pub trait Carrier {
    /// The value stored under `key`, if any. HTTP-style carriers compare keys without case.
    fn get(&self, key: &str) -> Option<&str>;
    /// Every key present, for formats that scan keys by prefix (baggage, jaeger).
    fn keys(&self) -> Vec<&str>;
}

/// A writable carrier.
///
/// `set` cannot fail: a carrier that cannot take a value (a full SQS attribute set, a header
/// value with bytes HTTP forbids) drops it and keeps the message, because telemetry must
/// never fail the user's send. Such carriers record what they dropped in their own way.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState, TraceContextExt};
/// use opentelemetry::Context;
/// use otel_faas_core::{Propagation, propagation::{CarrierMut, CompositePropagation}};
///
/// /// Message attributes with a limit, as queues have.
/// struct Attributes { values: HashMap<String, String>, dropped: Vec<String> }
///
/// impl CarrierMut for Attributes {
///     fn set(&mut self, key: &str, value: String) {
///         if self.values.len() < 10 {
///             self.values.insert(key.to_owned(), value);
///         } else {
///             self.dropped.push(key.to_owned()); // keep the message, remember why
///         }
///     }
/// }
///
/// let span = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED,
///     false,
///     TraceState::default(),
/// );
/// let cx = Context::new().with_remote_span_context(span);
/// let mut attributes = Attributes { values: HashMap::new(), dropped: Vec::new() };
/// CompositePropagation::w3c().inject_into(&cx, &mut attributes);
/// assert!(attributes.values.contains_key("traceparent"));
/// ```
pub trait CarrierMut {
    /// Stores `value` under `key`, replacing an earlier value.
    fn set(&mut self, key: &str, value: String);
}

impl Carrier for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        http::HeaderMap::get(self, key).and_then(|value| value.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        http::HeaderMap::keys(self)
            .map(http::HeaderName::as_str)
            .collect()
    }
}

/// `key` as a header name: the propagators' usual keys without parsing or copying (a name
/// http does not know is otherwise copied into a buffer of its own on every insert).
fn header_name(key: &str) -> Option<http::HeaderName> {
    use http::HeaderName;
    Some(match key {
        "traceparent" => HeaderName::from_static("traceparent"),
        "tracestate" => HeaderName::from_static("tracestate"),
        "baggage" => HeaderName::from_static("baggage"),
        "x-amzn-trace-id" => HeaderName::from_static("x-amzn-trace-id"),
        "x-cloud-trace-context" => HeaderName::from_static("x-cloud-trace-context"),
        "b3" => HeaderName::from_static("b3"),
        _ => HeaderName::from_bytes(key.as_bytes()).ok()?,
    })
}

impl CarrierMut for http::HeaderMap {
    fn set(&mut self, key: &str, value: String) {
        // `try_from(String)` takes the string's buffer rather than copying it.
        if let (Some(name), Ok(value)) = (header_name(key), http::HeaderValue::try_from(value)) {
            self.insert(name, value);
        }
    }
}

impl<S: std::hash::BuildHasher> Carrier for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

impl<S: std::hash::BuildHasher> CarrierMut for HashMap<String, String, S> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl Carrier for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        BTreeMap::keys(self).map(String::as_str).collect()
    }
}

impl CarrierMut for BTreeMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl<C: Carrier + ?Sized> Carrier for &C {
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }
    fn keys(&self) -> Vec<&str> {
        (**self).keys()
    }
}

/// Reads a string map whose keys arrive in any case, as HTTP headers do once an event
/// source has turned them into JSON (`Traceparent`, `X-Amzn-Trace-Id`, …).
///
/// ```
/// use std::collections::HashMap;
/// use otel_faas_core::propagation::{Carrier, IgnoreCase};
///
/// let headers = HashMap::from([("TraceParent".to_owned(), "value".to_owned())]);
/// assert_eq!(IgnoreCase(&headers).get("traceparent"), Some("value"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IgnoreCase<'a, C: ?Sized>(pub &'a C);

impl<C: Carrier + ?Sized> Carrier for IgnoreCase<'_, C> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).or_else(|| {
            let found = self
                .0
                .keys()
                .into_iter()
                .find(|candidate| candidate.eq_ignore_ascii_case(key))?;
            self.0.get(found)
        })
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys()
    }
}

/// Several carriers read as one: the first that holds a key answers.
///
/// Platforms hand context over in more than one place; Lambda, for instance, puts one trace
/// header in the invocation's metadata and the caller's headers in the event. A chain lets a
/// propagator see both without knowing where each came from.
///
/// ```
/// use std::collections::HashMap;
/// use otel_faas_core::propagation::{Carrier, Chained};
///
/// let event = HashMap::from([("traceparent".to_owned(), "from-event".to_owned())]);
/// let platform = HashMap::from([
///     ("traceparent".to_owned(), "ignored".to_owned()),
///     ("x-platform-trace".to_owned(), "from-platform".to_owned()),
/// ]);
/// let both = Chained::new([&event as &dyn Carrier, &platform]);
/// assert_eq!(both.get("traceparent"), Some("from-event"));
/// assert_eq!(both.get("x-platform-trace"), Some("from-platform"));
/// ```
pub struct Chained<'a, const N: usize> {
    carriers: [&'a dyn Carrier; N],
}

impl<'a, const N: usize> Chained<'a, N> {
    /// Chains `carriers`, earliest first.
    pub fn new(carriers: [&'a dyn Carrier; N]) -> Self {
        Self { carriers }
    }
}

impl<const N: usize> Carrier for Chained<'_, N> {
    fn get(&self, key: &str) -> Option<&str> {
        self.carriers.iter().find_map(|carrier| carrier.get(key))
    }
    fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.carriers.iter().flat_map(|c| c.keys()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// Lets an OpenTelemetry propagator read a [`Carrier`].
pub(crate) struct AsExtractor<'a>(pub(crate) &'a dyn Carrier);

impl Extractor for AsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys()
    }
}

/// Lets an OpenTelemetry propagator write a [`CarrierMut`].
pub(crate) struct AsInjector<'a>(pub(crate) &'a mut dyn CarrierMut);

impl Injector for AsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_map_drops_values_http_forbids() {
        let mut headers = http::HeaderMap::new();
        CarrierMut::set(&mut headers, "traceparent", "ok".into());
        CarrierMut::set(&mut headers, "bad header", "x".into());
        CarrierMut::set(&mut headers, "x-bad-value", "line\nbreak".into());
        assert_eq!(Carrier::get(&headers, "TraceParent"), Some("ok"));
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn known_header_names_are_the_names_parsed() {
        for key in [
            "traceparent",
            "tracestate",
            "baggage",
            "x-amzn-trace-id",
            "x-cloud-trace-context",
            "b3",
            "x-b3-traceid",
            "X-Amzn-Trace-Id",
        ] {
            assert_eq!(
                header_name(key),
                http::HeaderName::from_bytes(key.as_bytes()).ok(),
                "{key}"
            );
        }
        assert_eq!(header_name("bad header"), None);
    }

    #[test]
    fn ignore_case_prefers_exact_match() {
        let map = HashMap::from([
            ("Key".to_owned(), "upper".to_owned()),
            ("key".to_owned(), "exact".to_owned()),
        ]);
        assert_eq!(IgnoreCase(&map).get("key"), Some("exact"));
        assert_eq!(IgnoreCase(&map).get("KEY"), IgnoreCase(&map).get("KEY"));
        assert!(IgnoreCase(&map).get("absent").is_none());
    }
}
