//! DynamoDB Streams. The adapter is [`DynamoDbTrigger`]; its documentation lists the spans
//! and attributes it produces.

use std::borrow::Cow;
use std::collections::BTreeSet;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    FAAS_DOCUMENT_COLLECTION, FAAS_DOCUMENT_OPERATION, FAAS_DOCUMENT_TIME,
};
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};

use super::common::{arn_parts, iso_time};
use crate::response::{LambdaResponse, batch_outcome};

/// `faas.document.operation` of a batch whose records change documents in different ways
/// (inserts and deletes, say): the attribute is required on a datasource span and none of
/// the conventions' values (`insert`, `edit`, `delete`) describes such a batch.
pub const MIXED_DOCUMENT_OPERATION: &str = "mixed";

/// Describes invocations by a DynamoDB stream.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// DynamoDB Streams.
///
/// The SERVER invocation span, as the FaaS conventions describe a datasource trigger:
/// `faas.trigger=datasource`; `faas.document.collection` = the table (from the stream ARN
/// `…:table/{table}/stream/{label}`); `faas.document.operation`, always, from `eventName`
/// (INSERT → `insert`, MODIFY → `edit`, REMOVE → `delete`; another name, lower-cased) —
/// for a batch whose records disagree, [`MIXED_DOCUMENT_OPERATION`] (`mixed`, a custom value
/// the conventions leave room for); `faas.document.time` from the
/// `ApproximateCreationDateTime` of the batch's first record. Per-record spans (the
/// [`batch`](crate::batch) helpers) carry each record's own. The span is not a messaging
/// span, so it has no `messaging.*` attribute (no `messaging.batch.message_count`). Keys
/// and images are never recorded: they are data.
///
/// ```
/// use otel_faas_aws::DynamoDbTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let event: aws_lambda_events::dynamodb::Event = serde_json::from_str(
///     &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/aws-lambda-events/example-dynamodb-event.json")).unwrap()
/// ).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &DynamoDbTrigger::new(), &event, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// let table = spec.attributes().iter().find(|kv| kv.key.as_str() == "faas.document.collection").unwrap();
/// assert_eq!(table.value.as_str(), "Example-Table");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamoDbTrigger;

impl DynamoDbTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

/// The table of `arn:aws:dynamodb:{region}:{account}:table/{table}/stream/{label}`.
pub(crate) fn table_name(arn: &str) -> Option<&str> {
    let [_, _, service, _, _, resource] = arn_parts(arn)?;
    (service == "dynamodb").then_some(())?;
    resource
        .strip_prefix("table/")?
        .split('/')
        .next()
        .filter(|table| !table.is_empty())
}

/// The conventions' operation for a stream `eventName`.
pub(crate) fn document_operation(event_name: &str) -> Cow<'static, str> {
    match event_name {
        "INSERT" => Cow::Borrowed("insert"),
        "MODIFY" => Cow::Borrowed("edit"),
        "REMOVE" => Cow::Borrowed("delete"),
        "" => Cow::Borrowed("unknown"),
        other => Cow::Owned(other.to_ascii_lowercase()),
    }
}

/// The `faas.document.*` attributes of one record.
pub(crate) fn record_attributes(record: &EventRecord) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(3);
    if let Some(table) = record
        .event_source_arn
        .as_deref()
        .and_then(table_name)
        .or(record.table_name.as_deref())
    {
        attributes.push(KeyValue::new(FAAS_DOCUMENT_COLLECTION, table.to_owned()));
    }
    attributes.push(KeyValue::new(
        FAAS_DOCUMENT_OPERATION,
        document_operation(&record.event_name),
    ));
    attributes.push(KeyValue::new(
        FAAS_DOCUMENT_TIME,
        iso_time(&record.change.approximate_creation_date_time),
    ));
    attributes
}

impl<R: LambdaResponse> TriggerAdapter<Event, R> for DynamoDbTrigger {
    fn invocation_spec(
        &self,
        event: &Event,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let records = &event.records;
        let mut attributes = Vec::with_capacity(3);
        let tables: BTreeSet<&str> = records
            .iter()
            .filter_map(|r| {
                r.event_source_arn
                    .as_deref()
                    .and_then(table_name)
                    .or(r.table_name.as_deref())
            })
            .collect();
        if let (1, Some(table)) = (tables.len(), tables.first()) {
            attributes.push(KeyValue::new(FAAS_DOCUMENT_COLLECTION, (*table).to_owned()));
        }
        let operations: BTreeSet<Cow<'static, str>> = records
            .iter()
            .map(|r| document_operation(&r.event_name))
            .collect();
        let operation = match operations.len() {
            0 => Cow::Borrowed("unknown"),
            1 => operations.into_iter().next().unwrap_or_default(),
            _ => Cow::Borrowed(MIXED_DOCUMENT_OPERATION),
        };
        attributes.push(KeyValue::new(FAAS_DOCUMENT_OPERATION, operation));
        if let Some(first) = records.first() {
            attributes.push(KeyValue::new(
                FAAS_DOCUMENT_TIME,
                iso_time(&first.change.approximate_creation_date_time),
            ));
        }
        let name = match tables.first() {
            Some(table) if tables.len() == 1 => (*table).to_owned(),
            _ => "dynamodb".to_owned(),
        };
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
    fn table_names_and_operations() {
        assert_eq!(
            table_name(
                "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-11-21T00:00:00.000"
            ),
            Some("Orders")
        );
        assert_eq!(
            table_name("arn:aws:dynamodb:us-east-1:123456789012:table/"),
            None
        );
        assert_eq!(
            table_name("arn:aws:kinesis:us-east-1:123456789012:table/Orders"),
            None
        );
        assert_eq!(document_operation("INSERT"), "insert");
        assert_eq!(document_operation("MODIFY"), "edit");
        assert_eq!(document_operation("REMOVE"), "delete");
        assert_eq!(document_operation("TRUNCATE"), "truncate");
        assert_eq!(document_operation(""), "unknown");
    }
}
