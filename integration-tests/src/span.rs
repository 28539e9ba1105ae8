//! Decoded spans, flattened with their resource, in a shape tests can assert on.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};

/// An attribute value as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// An array.
    Array(Vec<AttrValue>),
    /// Bytes, maps or an empty value, shown as text.
    Other(String),
}

impl AttrValue {
    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{s}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Double(d) => write!(f, "{d}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Array(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Self::Other(s) => write!(f, "{s}"),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(value: &str) -> Self {
        Self::Str(value.to_owned())
    }
}
impl From<i64> for AttrValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}
impl From<bool> for AttrValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

fn decode_value(value: Option<&AnyValue>) -> AttrValue {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => AttrValue::Str(s.clone()),
        Some(any_value::Value::IntValue(i)) => AttrValue::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => AttrValue::Double(*d),
        Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(*b),
        Some(any_value::Value::ArrayValue(array)) => {
            AttrValue::Array(array.values.iter().map(|v| decode_value(Some(v))).collect())
        }
        other => AttrValue::Other(format!("{other:?}")),
    }
}

pub(crate) fn decode_attributes(attributes: &[KeyValue]) -> BTreeMap<String, AttrValue> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), decode_value(kv.value.as_ref())))
        .collect()
}

/// The span kind, as OTLP encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// Unspecified.
    Unspecified,
    /// Internal.
    Internal,
    /// Server.
    Server,
    /// Client.
    Client,
    /// Producer.
    Producer,
    /// Consumer.
    Consumer,
}

/// The span status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    /// Unset.
    Unset,
    /// Ok.
    Ok,
    /// Error.
    Error,
}

/// An event of a span.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    /// The event name.
    pub name: String,
    /// Its attributes.
    pub attributes: BTreeMap<String, AttrValue>,
}

/// A link of a span.
#[derive(Debug, Clone)]
pub struct ReceivedLink {
    /// The linked trace, as hex.
    pub trace_id: String,
    /// The linked span, as hex.
    pub span_id: String,
    /// The link's attributes.
    pub attributes: BTreeMap<String, AttrValue>,
}

/// One span as a collector received it, with its resource and scope.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// Trace id, as hex.
    pub trace_id: String,
    /// Span id, as hex.
    pub span_id: String,
    /// Parent span id as hex; empty for a root.
    pub parent_span_id: String,
    /// The name.
    pub name: String,
    /// The kind.
    pub kind: SpanKind,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// The span's attributes.
    pub attributes: BTreeMap<String, AttrValue>,
    /// The resource's attributes.
    pub resource: BTreeMap<String, AttrValue>,
    /// The instrumentation scope's name.
    pub scope: String,
    /// The status code.
    pub status: StatusCode,
    /// The status message.
    pub status_message: String,
    /// The events.
    pub events: Vec<ReceivedEvent>,
    /// The links.
    pub links: Vec<ReceivedLink>,
    /// When the receiver decoded it.
    pub received_at: Instant,
}

impl ReceivedSpan {
    /// A span with only its identity, for checks that run on spans built by hand (the
    /// demo's checks are tested this way); everything else is empty.
    ///
    /// ```
    /// use otel_faas_integration_tests::{ReceivedSpan, SpanKind};
    ///
    /// let span = ReceivedSpan::new("4bf92f3577b34da6a3ce929d0e0e4736", "a1", "", "job", SpanKind::Server);
    /// assert!(span.attributes.is_empty() && span.links.is_empty());
    /// ```
    pub fn new(
        trace_id: &str,
        span_id: &str,
        parent_span_id: &str,
        name: &str,
        kind: SpanKind,
    ) -> Self {
        Self {
            trace_id: trace_id.to_owned(),
            span_id: span_id.to_owned(),
            parent_span_id: parent_span_id.to_owned(),
            name: name.to_owned(),
            kind,
            start_unix_nanos: 0,
            end_unix_nanos: 0,
            attributes: BTreeMap::new(),
            resource: BTreeMap::new(),
            scope: String::new(),
            status: StatusCode::Unset,
            status_message: String::new(),
            events: Vec::new(),
            links: Vec::new(),
            received_at: Instant::now(),
        }
    }

    pub(crate) fn decode(
        span: &Span,
        resource: &BTreeMap<String, AttrValue>,
        scope: &str,
        received_at: Instant,
    ) -> Self {
        let kind = match span::SpanKind::try_from(span.kind) {
            Ok(span::SpanKind::Internal) => SpanKind::Internal,
            Ok(span::SpanKind::Server) => SpanKind::Server,
            Ok(span::SpanKind::Client) => SpanKind::Client,
            Ok(span::SpanKind::Producer) => SpanKind::Producer,
            Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        };
        let (status, status_message) = decode_status(span.status.as_ref());
        Self {
            trace_id: hex(&span.trace_id),
            span_id: hex(&span.span_id),
            parent_span_id: hex(&span.parent_span_id),
            name: span.name.clone(),
            kind,
            start_unix_nanos: span.start_time_unix_nano,
            end_unix_nanos: span.end_time_unix_nano,
            attributes: decode_attributes(&span.attributes),
            resource: resource.clone(),
            scope: scope.to_owned(),
            status,
            status_message,
            events: span
                .events
                .iter()
                .map(|event| ReceivedEvent {
                    name: event.name.clone(),
                    attributes: decode_attributes(&event.attributes),
                })
                .collect(),
            links: span
                .links
                .iter()
                .map(|link| ReceivedLink {
                    trace_id: hex(&link.trace_id),
                    span_id: hex(&link.span_id),
                    attributes: decode_attributes(&link.attributes),
                })
                .collect(),
            received_at,
        }
    }

    /// The attribute `key`, if present.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }

    /// The string attribute `key`, if present and a string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(AttrValue::as_str)
    }

    /// The integer attribute `key`, if present and an integer.
    pub fn attr_int(&self, key: &str) -> Option<i64> {
        match self.attr(key) {
            Some(AttrValue::Int(value)) => Some(*value),
            _ => None,
        }
    }

    /// The floating-point attribute `key`, if present and a double.
    pub fn attr_f64(&self, key: &str) -> Option<f64> {
        match self.attr(key) {
            Some(AttrValue::Double(value)) => Some(*value),
            _ => None,
        }
    }

    /// The resource attribute `key`, if present.
    pub fn resource_attr(&self, key: &str) -> Option<&AttrValue> {
        self.resource.get(key)
    }

    /// The first event named `name`.
    pub fn event(&self, name: &str) -> Option<&ReceivedEvent> {
        self.events.iter().find(|event| event.name == name)
    }

    /// Whether `ancestor` is this span's parent, or its parent's, and so on, among `spans`
    /// (of this span's trace).
    ///
    /// ```
    /// use otel_faas_integration_tests::{ReceivedSpan, SpanKind};
    ///
    /// let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    /// let root = ReceivedSpan::new(trace, "a1", "", "job", SpanKind::Server);
    /// let step = ReceivedSpan::new(trace, "b1", "a1", "step", SpanKind::Internal);
    /// let call = ReceivedSpan::new(trace, "c1", "b1", "GET", SpanKind::Client);
    /// let spans = [root.clone(), step.clone(), call.clone()];
    /// assert!(call.descends_from(&root, &spans));
    /// assert!(!root.descends_from(&call, &spans));
    /// ```
    pub fn descends_from(&self, ancestor: &ReceivedSpan, spans: &[ReceivedSpan]) -> bool {
        let mut parent = self.parent_span_id.as_str();
        for _ in 0..=spans.len() {
            if parent == ancestor.span_id {
                return true;
            }
            match spans
                .iter()
                .find(|s| s.span_id == parent && s.trace_id == self.trace_id)
            {
                Some(next) => parent = &next.parent_span_id,
                None => return false,
            }
        }
        false
    }

    /// Duration in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }
}

fn decode_status(status: Option<&Status>) -> (StatusCode, String) {
    match status {
        None => (StatusCode::Unset, String::new()),
        Some(status) => {
            let code = match status::StatusCode::try_from(status.code) {
                Ok(status::StatusCode::Ok) => StatusCode::Ok,
                Ok(status::StatusCode::Error) => StatusCode::Error,
                _ => StatusCode::Unset,
            };
            (code, status.message.clone())
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
