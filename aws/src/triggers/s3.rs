//! S3 event notifications. The adapter is [`S3Trigger`]; its documentation lists the spans
//! and attributes it produces.

use std::borrow::Cow;

use aws_lambda_events::s3::{S3Event, S3EventRecord};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    AWS_S3_BUCKET, AWS_S3_KEY, FAAS_DOCUMENT_COLLECTION, FAAS_DOCUMENT_NAME,
    FAAS_DOCUMENT_OPERATION, FAAS_DOCUMENT_TIME,
};
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};

use super::common::iso_time;
use crate::response::{LambdaResponse, batch_outcome};

/// Describes invocations by an S3 event notification.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// S3 event notifications.
///
/// `faas.trigger=datasource`; `faas.document.collection` = the bucket,
/// `faas.document.name` = the object key URL-decoded (S3 sends keys form-encoded: `+` for
/// a space, `%xx` for the rest), `faas.document.operation`, always (required on a
/// datasource span): `insert` for `ObjectCreated:*`, `delete` for `ObjectRemoved:*`, `edit`
/// for `ObjectTagging:*` and `ObjectAcl:Put`, else the event category lower-cased (a custom
/// value, such as `objectrestore`), `faas.document.time` = `eventTime`; plus `aws.s3.bucket` and
/// `aws.s3.key`. A notification with several records (rare) is described by its first.
///
/// ```
/// use otel_faas_aws::S3Trigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let event: aws_lambda_events::s3::S3Event = serde_json::from_str(
///     &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/aws-lambda-events/example-s3-event.json")).unwrap()
/// ).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &S3Trigger::new(), &event, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// let operation = spec.attributes().iter().find(|kv| kv.key.as_str() == "faas.document.operation").unwrap();
/// assert_eq!(operation.value.as_str(), "insert");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct S3Trigger;

impl S3Trigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

/// An S3 notification key as the object's real name: `+` is a space, then percent-decoding.
/// A key that does not decode to UTF-8 is kept as received.
pub(crate) fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .unwrap_or_else(|_| key.to_owned())
}

/// `faas.document.operation` for an S3 `eventName`, which the conventions require on a
/// datasource span: `insert` for `ObjectCreated:*`, `delete` for `ObjectRemoved:*`, `edit`
/// for a change to an existing object's tags or ACL (`ObjectTagging:*`, `ObjectAcl:Put`),
/// else the event's category, lower-cased (`objectrestore`, `lifecycletransition`, …: custom
/// values the conventions leave room for), or `unknown`.
pub(crate) fn document_operation(event_name: &str) -> Cow<'static, str> {
    let category = event_name.split(':').next().unwrap_or_default();
    match category {
        "ObjectCreated" => Cow::Borrowed("insert"),
        "ObjectRemoved" => Cow::Borrowed("delete"),
        "ObjectTagging" | "ObjectAcl" => Cow::Borrowed("edit"),
        "" => Cow::Borrowed("unknown"),
        other => Cow::Owned(other.to_ascii_lowercase()),
    }
}

/// The attributes of one record.
pub(crate) fn record_attributes(record: &S3EventRecord) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(6);
    if let Some(bucket) = record.s3.bucket.name.as_deref().filter(|b| !b.is_empty()) {
        attributes.push(KeyValue::new(FAAS_DOCUMENT_COLLECTION, bucket.to_owned()));
        attributes.push(KeyValue::new(AWS_S3_BUCKET, bucket.to_owned()));
    }
    if let Some(key) = record.s3.object.key.as_deref().filter(|k| !k.is_empty()) {
        let key = decode_key(key);
        attributes.push(KeyValue::new(FAAS_DOCUMENT_NAME, key.clone()));
        attributes.push(KeyValue::new(AWS_S3_KEY, key));
    }
    attributes.push(KeyValue::new(
        FAAS_DOCUMENT_OPERATION,
        document_operation(record.event_name.as_deref().unwrap_or_default()),
    ));
    attributes.push(KeyValue::new(
        FAAS_DOCUMENT_TIME,
        iso_time(&record.event_time),
    ));
    attributes
}

impl<R: LambdaResponse> TriggerAdapter<S3Event, R> for S3Trigger {
    fn invocation_spec(
        &self,
        event: &S3Event,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let first = event.records.first();
        let attributes = first.map(record_attributes).unwrap_or_default();
        let name = first
            .and_then(|r| r.s3.bucket.name.clone())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "s3".to_owned());
        InvocationSpec::new(
            FaasTrigger::Datasource,
            SpanSpec::server(name).with_attributes(attributes),
        )
        .with_parent(propagation.extract_from(context.carrier()))
    }

    fn outcome(&self, response: &R) -> Outcome {
        batch_outcome(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(
            decode_key("reports/2026+Q3%2Fsummary.pdf"),
            "reports/2026 Q3/summary.pdf"
        );
        assert_eq!(decode_key("caf%C3%A9.txt"), "café.txt");
        assert_eq!(decode_key("plain"), "plain");
        // Invalid UTF-8 after decoding: kept as received rather than mangled.
        assert_eq!(decode_key("bad%FF"), "bad%FF");
        assert_eq!(document_operation("ObjectCreated:Put"), "insert");
        assert_eq!(
            document_operation("ObjectRemoved:DeleteMarkerCreated"),
            "delete"
        );
        assert_eq!(document_operation("ObjectTagging:Put"), "edit");
        assert_eq!(
            document_operation("ObjectRestore:Completed"),
            "objectrestore"
        );
        assert_eq!(document_operation(""), "unknown");
    }
}
