//! SNS notifications. The adapter is [`SnsTrigger`]; its documentation lists the spans and
//! attributes it produces.

use std::collections::BTreeSet;

use aws_lambda_events::sns::SnsEvent;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use opentelemetry_semantic_conventions::attribute::{
    AWS_SNS_TOPIC_ARN, FAAS_TRIGGER, MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};
use otel_faas_messaging::SnsMessageAttributes;

use super::common::{Links, arn_resource, remote_context};
use crate::response::{LambdaResponse, batch_outcome};

/// `messaging.system` for SNS.
pub const SNS_SYSTEM: &str = "aws.sns";

/// Describes invocations by an SNS subscription.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// SNS notifications.
///
/// The SERVER invocation span (`faas.trigger=pubsub`, named after the function) holds a
/// CONSUMER span `<topic> process` with `messaging.system=aws.sns`,
/// `messaging.operation.type=process`, `messaging.destination.name` (the topic),
/// `aws.sns.topic.arn`, `messaging.message.id` (a single notification) or
/// `messaging.batch.message_count`, and one link per notification to the producer found in
/// its `MessageAttributes` through the configured propagation.
///
/// ```
/// use otel_faas_aws::SnsTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let event: aws_lambda_events::sns::SnsEvent = serde_json::from_str(
///     &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/aws-lambda-events/example-sns-event.json")).unwrap()
/// ).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &SnsTrigger::new(), &event, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// assert_eq!(spec.inner_span().unwrap().name(), "snsNetTest process");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SnsTrigger;

impl SnsTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

impl<R: LambdaResponse> TriggerAdapter<SnsEvent, R> for SnsTrigger {
    fn invocation_spec(
        &self,
        event: &SnsEvent,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let records = &event.records;
        let topics: BTreeSet<&str> = records
            .iter()
            .map(|r| r.sns.topic_arn.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        let topic_arn = (topics.len() == 1)
            .then(|| topics.first().copied())
            .flatten();
        let topic = topic_arn.and_then(arn_resource);
        let name = match (topics.len(), topic) {
            (1, Some(topic)) => format!("{topic} process"),
            (0, _) => "process".to_owned(),
            _ => "multiple_sources process".to_owned(),
        };
        let mut attributes = vec![
            KeyValue::new(FAAS_TRIGGER, FaasTrigger::PubSub.as_str()),
            KeyValue::new(MESSAGING_SYSTEM, SNS_SYSTEM),
            KeyValue::new(MESSAGING_OPERATION_TYPE, "process"),
            KeyValue::new(MESSAGING_OPERATION_NAME, "process"),
        ];
        if let Some(topic) = topic {
            attributes.push(KeyValue::new(MESSAGING_DESTINATION_NAME, topic.to_owned()));
        }
        if let Some(arn) = topic_arn {
            attributes.push(KeyValue::new(AWS_SNS_TOPIC_ARN, arn.to_owned()));
        }
        match records.as_slice() {
            [single] if !single.sns.message_id.is_empty() => {
                attributes.push(KeyValue::new(
                    MESSAGING_MESSAGE_ID,
                    single.sns.message_id.clone(),
                ));
            }
            _ => attributes.push(KeyValue::new(
                MESSAGING_BATCH_MESSAGE_COUNT,
                i64::try_from(records.len()).unwrap_or(i64::MAX),
            )),
        }
        let mut links = Links::new(context.link_limit(), records.len());
        for record in records {
            if links.is_full() {
                break;
            }
            if let Some(producer) =
                remote_context(propagation, &SnsMessageAttributes::of(&record.sns))
            {
                links.push(producer, || {
                    vec![KeyValue::new(
                        MESSAGING_MESSAGE_ID,
                        record.sns.message_id.clone(),
                    )]
                });
            }
        }
        InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server(name.clone()))
            .with_parent(propagation.extract_from(context.carrier()))
            .with_inner_span(
                SpanSpec::new(name, SpanKind::Consumer)
                    .with_attributes(attributes)
                    .with_links(links.into_vec()),
            )
    }

    fn outcome(&self, response: &R) -> Outcome {
        batch_outcome(response)
    }
}
