//! X-Ray annotations: indexed key-value pairs that X-Ray filter expressions search
//! (`annotation.order_id = "7"`), set on a span through its attributes.
//!
//! An annotation is the attribute `annotation.{key}`: `opentelemetry-aws`'s segment
//! translator (the `awsxray` daemon destination) makes it an annotation of the span's
//! segment. (An export to X-Ray's OTLP endpoint, which reads `aws.xray.annotations`
//! instead, is not built yet; over plain OTLP the attribute arrives as it is.)
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
