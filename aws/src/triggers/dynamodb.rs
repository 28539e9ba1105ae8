//! DynamoDB Streams. The adapter is [`DynamoDbTrigger`]; its documentation lists the spans
//! and attributes it produces.

use std::collections::BTreeSet;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    FAAS_DOCUMENT_COLLECTION, FAAS_DOCUMENT_OPERATION, FAAS_DOCUMENT_TIME,
    MESSAGING_BATCH_MESSAGE_COUNT,
};
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};

use super::common::{arn_parts, iso_time};
use crate::response::{LambdaResponse, batch_outcome};

/// Describes invocations by a DynamoDB stream.
///
/// # Spans and attributes
///
/// DynamoDB Streams.
///
/// `faas.trigger=datasource`; `faas.document.collection` = the table (from the stream ARN
/// `…:table/{table}/stream/{label}`); `faas.document.operation` from `eventName` (INSERT →
/// `insert`, MODIFY → `edit`, REMOVE → `delete`) and `faas.document.time` from the record's
/// `ApproximateCreationDateTime`. A batch gets the operation only when all its records
/// agree, and the time of its first record; per-record spans (the [`batch`](crate::batch)
/// helpers) carry each record's own. Keys and images are never recorded: they are data.
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
pub(crate) fn document_operation(event_name: &str) -> Option<&'static str> {
    match event_name {
        "INSERT" => Some("insert"),
        "MODIFY" => Some("edit"),
        "REMOVE" => Some("delete"),
        _ => None,
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
    if let Some(operation) = document_operation(&record.event_name) {
        attributes.push(KeyValue::new(FAAS_DOCUMENT_OPERATION, operation));
    }
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
        let mut attributes = vec![KeyValue::new(
            MESSAGING_BATCH_MESSAGE_COUNT,
            i64::try_from(records.len()).unwrap_or(i64::MAX),
        )];
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
        let operations: BTreeSet<&str> = records
            .iter()
            .filter_map(|r| document_operation(&r.event_name))
            .collect();
        if let (1, Some(operation)) = (operations.len(), operations.first()) {
            attributes.push(KeyValue::new(FAAS_DOCUMENT_OPERATION, *operation));
        }
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
        assert_eq!(document_operation("INSERT"), Some("insert"));
        assert_eq!(document_operation("MODIFY"), Some("edit"));
        assert_eq!(document_operation("REMOVE"), Some("delete"));
        assert_eq!(document_operation("insert"), None);
    }
}
