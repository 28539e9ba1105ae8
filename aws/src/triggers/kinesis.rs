//! Kinesis data streams. The adapter is [`KinesisTrigger`]; its documentation lists the
//! spans and attributes it produces.

use std::collections::BTreeSet;

use aws_lambda_events::kinesis::{KinesisEvent, KinesisEventRecord};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use opentelemetry_semantic_conventions::attribute::{
    AWS_KINESIS_STREAM_NAME, FAAS_TRIGGER, MESSAGING_BATCH_MESSAGE_COUNT,
    MESSAGING_DESTINATION_NAME, MESSAGING_DESTINATION_PARTITION_ID, MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};

use super::common::arn_parts;
use crate::response::{LambdaResponse, batch_outcome};

/// `messaging.system` for Kinesis: the conventions (v1.44) have no well-known value for it,
/// so this is a custom one, in the style of `aws.sns`.
pub const KINESIS_SYSTEM: &str = "aws.kinesis";

/// Describes invocations by a Kinesis event source mapping.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// Kinesis data streams.
///
/// The SERVER invocation span (`faas.trigger=pubsub`, named after the function) holds a
/// CONSUMER span `<stream> process` (`multiple_sources process` for a batch of several
/// streams) with `faas.trigger=pubsub`, `messaging.system=aws.kinesis` (a custom value:
/// v1.44 has no well-known one for Kinesis, see [`KINESIS_SYSTEM`]),
/// `messaging.operation.type=process`, `messaging.operation.name=process`,
/// `messaging.batch.message_count`, and for a single stream `aws.kinesis.stream_name` and
/// `messaging.destination.name`, for a single shard `messaging.destination.partition.id`. Records carry no trace context of their own (the data
/// is opaque), so there are no links. Per-record spans, with the sequence number as
/// `messaging.message.id`, come from the [`batch`](crate::batch) helpers.
///
/// ```
/// use otel_faas_aws::KinesisTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let event: aws_lambda_events::kinesis::KinesisEvent = serde_json::from_str(
///     &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/aws-lambda-events/example-kinesis-event.json")).unwrap()
/// ).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &KinesisTrigger::new(), &event, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// assert_eq!(spec.inner_span().unwrap().name(), "simple-stream process");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct KinesisTrigger;

impl KinesisTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

/// The stream name of `arn:aws:kinesis:{region}:{account}:stream/{name}`.
pub(crate) fn stream_name(arn: &str) -> Option<&str> {
    let [_, _, service, _, _, resource] = arn_parts(arn)?;
    (service == "kinesis").then_some(())?;
    resource
        .strip_prefix("stream/")
        .filter(|name| !name.is_empty())
}

/// The shard of an `eventID` (`shardId-000000000000:4956…`).
pub(crate) fn shard_id(record: &KinesisEventRecord) -> Option<&str> {
    let id = record.event_id.as_deref()?;
    let (shard, _) = id.split_once(':')?;
    shard.starts_with("shardId-").then_some(shard)
}

/// The attributes of a per-record span: stream, shard and sequence number.
pub(crate) fn record_attributes(record: &KinesisEventRecord) -> (String, Vec<KeyValue>) {
    let stream = record.event_source_arn.as_deref().and_then(stream_name);
    let mut attributes = vec![
        KeyValue::new(FAAS_TRIGGER, FaasTrigger::PubSub.as_str()),
        KeyValue::new(MESSAGING_SYSTEM, KINESIS_SYSTEM),
        KeyValue::new(MESSAGING_OPERATION_TYPE, "process"),
        KeyValue::new(MESSAGING_OPERATION_NAME, "process"),
    ];
    if let Some(stream) = stream {
        attributes.push(KeyValue::new(AWS_KINESIS_STREAM_NAME, stream.to_owned()));
        attributes.push(KeyValue::new(MESSAGING_DESTINATION_NAME, stream.to_owned()));
    }
    if let Some(shard) = shard_id(record) {
        attributes.push(KeyValue::new(
            MESSAGING_DESTINATION_PARTITION_ID,
            shard.to_owned(),
        ));
    }
    if !record.kinesis.sequence_number.is_empty() {
        attributes.push(KeyValue::new(
            MESSAGING_MESSAGE_ID,
            record.kinesis.sequence_number.clone(),
        ));
    }
    let name = stream.map_or_else(|| "process".to_owned(), |s| format!("{s} process"));
    (name, attributes)
}

impl<R: LambdaResponse> TriggerAdapter<KinesisEvent, R> for KinesisTrigger {
    fn invocation_spec(
        &self,
        event: &KinesisEvent,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let records = &event.records;
        let streams: BTreeSet<&str> = records
            .iter()
            .filter_map(|r| r.event_source_arn.as_deref().and_then(stream_name))
            .collect();
        let shards: BTreeSet<&str> = records.iter().filter_map(shard_id).collect();
        let stream = (streams.len() == 1)
            .then(|| streams.first().copied())
            .flatten();
        let name = match (streams.len(), stream) {
            (1, Some(stream)) => format!("{stream} process"),
            (0, _) => "process".to_owned(),
            _ => "multiple_sources process".to_owned(),
        };
        let mut attributes = vec![
            KeyValue::new(FAAS_TRIGGER, FaasTrigger::PubSub.as_str()),
            KeyValue::new(MESSAGING_SYSTEM, KINESIS_SYSTEM),
            KeyValue::new(MESSAGING_OPERATION_TYPE, "process"),
            KeyValue::new(MESSAGING_OPERATION_NAME, "process"),
            KeyValue::new(
                MESSAGING_BATCH_MESSAGE_COUNT,
                i64::try_from(records.len()).unwrap_or(i64::MAX),
            ),
        ];
        if let Some(stream) = stream {
            attributes.push(KeyValue::new(AWS_KINESIS_STREAM_NAME, stream.to_owned()));
            attributes.push(KeyValue::new(MESSAGING_DESTINATION_NAME, stream.to_owned()));
        }
        if let (1, Some(shard)) = (shards.len(), shards.first()) {
            attributes.push(KeyValue::new(
                MESSAGING_DESTINATION_PARTITION_ID,
                (*shard).to_owned(),
            ));
        }
        InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server(name.clone()))
            .with_parent(propagation.extract_from(context.carrier()))
            .with_inner_span(SpanSpec::new(name, SpanKind::Consumer).with_attributes(attributes))
    }

    fn outcome(&self, response: &R) -> Outcome {
        batch_outcome(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_come_only_from_stream_arns() {
        assert_eq!(
            stream_name("arn:aws:kinesis:us-east-1:123456789012:stream/orders"),
            Some("orders")
        );
        assert_eq!(
            stream_name("arn:aws:kinesis:us-east-1:123456789012:stream/"),
            None
        );
        assert_eq!(
            stream_name("arn:aws:sqs:us-east-1:123456789012:stream/orders"),
            None
        );
        assert_eq!(stream_name("stream/orders"), None);
    }
}
