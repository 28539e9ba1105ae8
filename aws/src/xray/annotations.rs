//! X-Ray annotations: indexed key-value pairs that X-Ray filter expressions search
//! (`annotation.order_id = "7"`), set on a span through its attributes.
//!
//! An annotation is the attribute `annotation.{key}`: `opentelemetry-aws`'s segment
//! translator (the `awsxray` daemon destination) makes it an annotation of the span's
//! segment. Spans sent to X-Ray's OTLP endpoint (feature `sigv4`, see
//! [`sigv4`](crate::sigv4)) are adapted there by [`OtlpAnnotations`]: each `annotation.{key}`
//! becomes the attribute `{key}`, listed in `aws.xray.annotations` — the attribute that
//! endpoint reads the annotations from — so the same call indexes the same annotation on
//! both paths. Over plain OTLP the attribute arrives as it is.
//! X-Ray's rules are enforced where they can be known: a key of letters, digits and
//! underscores only (another is refused with a warning, once), a string of at most 1,000
//! characters (a longer one is cut), at most 50 per segment (the translator puts the 51st
//! and later into metadata; the exporter warns once).

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue, Value};

/// The attribute prefix that makes an attribute an annotation.
pub const ANNOTATION_PREFIX: &str = "annotation.";

/// Annotations X-Ray keeps per segment.
pub const MAX_ANNOTATIONS: usize = 50;

/// The longest string value X-Ray takes, in characters.
pub const MAX_STRING: usize = 1000;

/// A value X-Ray can index; strings, `i64`, `f64` and `bool` convert into it.
///
/// ```
/// use otel_faas_aws::xray::annotations::AnnotationValue;
///
/// assert_eq!(AnnotationValue::from(7_i64), AnnotationValue::Int(7));
/// assert_eq!(AnnotationValue::from("daily"), AnnotationValue::String("daily".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum AnnotationValue {
    /// A string, cut at 1,000 characters.
    String(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for AnnotationValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<String> for AnnotationValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<i64> for AnnotationValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<f64> for AnnotationValue {
    fn from(value: f64) -> Self {
        Self::Float(value)
    }
}

impl From<bool> for AnnotationValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

/// Why an annotation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    /// The key holds something besides ASCII letters, digits and underscores, or is empty.
    #[error(
        "the X-Ray annotation key `{0}` is refused: X-Ray takes letters, digits and \
         underscores only (write `order_id`, not `order-id`)"
    )]
    InvalidKey(String),
}

/// The attribute that makes `key` = `value` an annotation, or why it cannot be one.
///
/// ```
/// use otel_faas_aws::xray::annotations::annotation;
///
/// let attribute = annotation("order_id", "7").unwrap();
/// assert_eq!(attribute.key.as_str(), "annotation.order_id");
/// assert!(annotation("order-id", "7").is_err());
/// ```
pub fn annotation(
    key: &str,
    value: impl Into<AnnotationValue>,
) -> Result<KeyValue, AnnotationError> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(AnnotationError::InvalidKey(key.to_owned()));
    }
    let value = match value.into() {
        AnnotationValue::String(text) => Value::from(cut(text)),
        AnnotationValue::Int(number) => Value::from(number),
        AnnotationValue::Float(number) => Value::from(number),
        AnnotationValue::Bool(flag) => Value::from(flag),
    };
    Ok(KeyValue::new(format!("{ANNOTATION_PREFIX}{key}"), value))
}

/// `text` cut at [`MAX_STRING`] characters.
fn cut(text: String) -> String {
    match text.char_indices().nth(MAX_STRING) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

/// Annotates the current span (the invocation's, or the one your code is in) with
/// `key` = `value`. A refused key is not recorded and is warned about once per process.
///
/// ```
/// use otel_faas_aws::xray::annotations::annotate;
///
/// // Inside a handler:
/// annotate("order_id", "7");
/// annotate("retries", 2_i64);
/// annotate("order-id", "7"); // refused: `-` is not allowed (one warning)
/// ```
pub fn annotate(key: &str, value: impl Into<AnnotationValue>) {
    match annotation(key, value) {
        Ok(attribute) => Context::map_current(|cx| cx.span().set_attribute(attribute)),
        Err(error) => otel_faas_core::env::report_once("xray-annotation-key", &error.to_string()),
    }
}

/// The attribute X-Ray's OTLP endpoint reads: the keys of the span's attributes it indexes
/// as annotations.
pub const XRAY_ANNOTATIONS_ATTRIBUTE: &str = "aws.xray.annotations";

/// Adapts spans for X-Ray's OTLP endpoint: `annotation.{key}` becomes `{key}`, listed in
/// [`XRAY_ANNOTATIONS_ATTRIBUTE`] (at most [`MAX_ANNOTATIONS`]; the rest stay plain
/// attributes, as the daemon path puts them into metadata). When the span has an attribute
/// `{key}` of its own already, the annotation keeps its prefixed name and is not indexed
/// (the span's own value is not overwritten).
///
/// ```
/// use opentelemetry::{KeyValue, Value};
/// use otel_faas_aws::xray::annotations::{OtlpAnnotations, annotation};
/// use otel_faas_core::pipeline::OtlpSpanAdapter;
/// # fn span(attributes: Vec<KeyValue>) -> opentelemetry_sdk::trace::SpanData {
/// #     use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
/// #     opentelemetry_sdk::trace::SpanData {
/// #         span_context: SpanContext::empty_context(), parent_span_id: SpanId::INVALID,
/// #         parent_span_is_remote: false, span_kind: SpanKind::Internal, name: "job".into(),
/// #         start_time: std::time::SystemTime::UNIX_EPOCH, end_time: std::time::SystemTime::UNIX_EPOCH,
/// #         attributes, dropped_attributes_count: 0, events: Default::default(),
/// #         links: Default::default(), status: Status::Unset, instrumentation_scope: Default::default(),
/// #     }
/// # }
///
/// let mut job = span(vec![annotation("report_kind", "daily").unwrap()]);
/// OtlpAnnotations.adapt(&mut job);
/// assert_eq!(job.attributes[0], KeyValue::new("report_kind", "daily"));
/// assert_eq!(
///     job.attributes[1].value,
///     Value::Array(vec![opentelemetry::StringValue::from("report_kind")].into())
/// );
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OtlpAnnotations;

impl otel_faas_core::pipeline::OtlpSpanAdapter for OtlpAnnotations {
    fn adapt(&self, span: &mut opentelemetry_sdk::trace::SpanData) {
        if annotation_count(&span.attributes) == 0 {
            return;
        }
        let mut indexed: Vec<opentelemetry::StringValue> = Vec::new();
        for index in 0..span.attributes.len() {
            let Some(name) = span.attributes[index]
                .key
                .as_str()
                .strip_prefix(ANNOTATION_PREFIX)
            else {
                continue;
            };
            let name = name.to_owned();
            let taken = span.attributes.iter().any(|kv| kv.key.as_str() == name);
            if taken || indexed.len() == MAX_ANNOTATIONS {
                continue;
            }
            span.attributes[index].key = opentelemetry::Key::from(name.clone());
            indexed.push(name.into());
        }
        if !indexed.is_empty() {
            span.attributes.push(KeyValue::new(
                XRAY_ANNOTATIONS_ATTRIBUTE,
                Value::Array(indexed.into()),
            ));
        }
    }
}

/// How many annotations `attributes` hold (X-Ray keeps [`MAX_ANNOTATIONS`] per segment).
///
/// ```
/// use opentelemetry::KeyValue;
/// use otel_faas_aws::xray::annotations::{annotation, annotation_count};
///
/// let attributes = [annotation("order_id", "7").unwrap(), KeyValue::new("url.path", "/")];
/// assert_eq!(annotation_count(&attributes), 1);
/// ```
pub fn annotation_count(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .filter(|kv| kv.key.as_str().starts_with(ANNOTATION_PREFIX))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use otel_faas_core::pipeline::OtlpSpanAdapter as _;

    fn span(attributes: Vec<KeyValue>) -> opentelemetry_sdk::trace::SpanData {
        use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
        opentelemetry_sdk::trace::SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "job".into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes,
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        }
    }

    fn listed(span: &opentelemetry_sdk::trace::SpanData) -> Vec<String> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == XRAY_ANNOTATIONS_ATTRIBUTE)
            .map(|kv| match &kv.value {
                Value::Array(opentelemetry::Array::String(keys)) => {
                    keys.iter().map(|k| k.as_str().to_owned()).collect()
                }
                other => panic!("{other:?}"),
            })
            .unwrap_or_default()
    }

    /// For X-Ray's OTLP endpoint: annotations renamed and listed, a span's own attribute
    /// of the same name kept (that annotation not indexed), at most 50 listed, a span
    /// without annotations untouched.
    #[test]
    fn otlp_annotations_are_listed_for_xrays_endpoint() {
        let mut job = span(vec![
            annotation("order_id", "7").unwrap(),
            KeyValue::new("retries", 9_i64),
            annotation("retries", 2_i64).unwrap(),
            annotation("express", true).unwrap(),
        ]);
        OtlpAnnotations.adapt(&mut job);
        assert_eq!(listed(&job), ["order_id", "express"]);
        let value = |key: &str| {
            job.attributes
                .iter()
                .filter(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(value("order_id"), [Value::from("7")]);
        assert_eq!(
            value("retries"),
            [Value::from(9_i64)],
            "the span's own value"
        );
        assert_eq!(value("annotation.retries"), [Value::from(2_i64)]);

        let mut many = span(
            (0..60)
                .map(|n| annotation(&format!("k{n:02}"), n as i64).unwrap())
                .collect(),
        );
        OtlpAnnotations.adapt(&mut many);
        assert_eq!(listed(&many).len(), 50);
        assert_eq!(listed(&many)[49], "k49");

        let mut plain = span(vec![KeyValue::new("url.path", "/")]);
        OtlpAnnotations.adapt(&mut plain);
        assert_eq!(plain.attributes, [KeyValue::new("url.path", "/")]);
    }

    #[test]
    fn keys_x_ray_takes_and_keys_it_refuses() {
        for good in ["order_id", "A1", "_", "x9_Y"] {
            assert!(annotation(good, true).is_ok(), "{good}");
        }
        for bad in ["", "order-id", "order.id", "ordér", "a b"] {
            assert_eq!(
                annotation(bad, true),
                Err(AnnotationError::InvalidKey(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn values_keep_their_type_and_long_strings_are_cut_at_1000_characters() {
        assert_eq!(annotation("n", 3_i64).unwrap().value, Value::I64(3));
        assert_eq!(annotation("f", 1.5).unwrap().value, Value::F64(1.5));
        assert_eq!(annotation("b", false).unwrap().value, Value::Bool(false));
        let long = "é".repeat(1500);
        let value = annotation("s", long).unwrap().value.as_str().into_owned();
        assert_eq!(value.chars().count(), 1000);
        let exact = "a".repeat(1000);
        assert_eq!(
            annotation("s", exact.clone()).unwrap().value.as_str(),
            exact.as_str()
        );
    }

    #[test]
    fn annotations_are_counted_by_their_prefix() {
        let attributes = [
            annotation("a", 1_i64).unwrap(),
            KeyValue::new("http.request.method", "GET"),
            annotation("b", 2_i64).unwrap(),
        ];
        assert_eq!(annotation_count(&attributes), 2);
    }
}
