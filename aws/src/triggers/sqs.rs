//! SQS: a batch of messages per invocation. The adapter is [`SqsTrigger`]; its
//! documentation lists the spans and attributes it produces.

use std::collections::BTreeSet;
use std::future::Future;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Link, SpanKind};
use opentelemetry_semantic_conventions::attribute::{
    AWS_SQS_QUEUE_URL, FAAS_TRIGGER, MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    engine::InvocationScope,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};
use otel_faas_messaging::{
    EventDetailContext, SnsEnvelope, SqsMessageAttributes, SqsSystemAttributes,
};

use super::common::{arn_parts, arn_resource, push_link, remote_context};
use crate::response::{LambdaResponse, batch_outcome};
use crate::xray::XrayPropagator;

/// `messaging.system` for SQS.
pub const SQS_SYSTEM: &str = "aws_sqs";

/// Describes invocations by an SQS event source mapping.
///
/// # Spans and attributes
///
/// SQS: a batch of messages per invocation.
///
/// Spans, as the AWS Lambda conventions describe them:
///
/// * the SERVER invocation span (named after the function; `faas.trigger=pubsub`), whose
///   parent is the Lambda trace header when `xray-lambda` is configured;
/// * inside it, the CONSUMER span of the batch, `<queue> process` — `multiple_sources
///   process` when the batch mixes queues — with `faas.trigger=pubsub`,
///   `messaging.system=aws_sqs`, `messaging.operation.type=process`,
///   `messaging.operation.name=process`, `messaging.batch.message_count`, and for a single
///   queue `messaging.destination.name` and `aws.sqs.queue.url`. It carries one link per
///   message to the message's producer, with `messaging.message.id` on the link;
/// * per message, in user code, a CONSUMER span `<queue> process` with
///   `messaging.message.id`, linked to its producer: [`process_message`], or the
///   partial-batch helpers in [`batch`](crate::batch).
///
/// A producer's context is read from the `AWSTraceHeader` system attribute (X-Ray format,
/// which AWS sets from the `SendMessage` call), from the message attributes through the
/// configured propagation (`traceparent`, …), and from the SNS envelope in the body of a
/// notification an SNS topic delivered without raw delivery, and from the `_otel` object in
/// the `detail` of an EventBridge event, where its producer opted in to write one
/// (`otel-faas-messaging`'s `PutEventsTraceOptions::context_in_detail`). The conventions
/// name only `AWSTraceHeader`;
/// W3C producers that put `traceparent` in the message attributes are common enough that
/// ignoring it would cut their traces. When both are in the same trace, the link goes to the
/// span the producer wrote (its PRODUCER span), not to the SDK call the `AWSTraceHeader`
/// names beneath it.
///
/// ```
/// use otel_faas_aws::SqsTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(serde_json::json!({
///     "Records": [{
///         "messageId": "m-1",
///         "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:orders",
///         "attributes": {"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
///         "messageAttributes": {}
///     }]
/// })).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &SqsTrigger::new(), &event, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// let batch = spec.inner_span().unwrap();
/// assert_eq!(batch.name(), "orders process");
/// assert_eq!(batch.links().len(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SqsTrigger;

impl SqsTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

impl<R: LambdaResponse> TriggerAdapter<SqsEvent, R> for SqsTrigger {
    fn invocation_spec(
        &self,
        event: &SqsEvent,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let records = &event.records;
        let queues: BTreeSet<&str> = records
            .iter()
            .filter_map(|record| record.event_source_arn.as_deref())
            .collect();
        let single_queue = match queues.len() {
            1 => queues.first().copied(),
            _ => None,
        };
        let queue_name = single_queue.and_then(arn_resource);
        let name = match (queues.len(), queue_name) {
            (1, Some(queue)) => format!("{queue} process"),
            (0, _) => "process".to_owned(),
            _ => "multiple_sources process".to_owned(),
        };

        let mut attributes = consumer_attributes();
        attributes.push(KeyValue::new(
            MESSAGING_BATCH_MESSAGE_COUNT,
            i64::try_from(records.len()).unwrap_or(i64::MAX),
        ));
        if let Some(queue) = queue_name {
            attributes.push(KeyValue::new(MESSAGING_DESTINATION_NAME, queue.to_owned()));
        }
        if let Some(url) = single_queue.and_then(queue_url) {
            attributes.push(KeyValue::new(AWS_SQS_QUEUE_URL, url));
        }

        let mut links = Vec::with_capacity(records.len());
        for record in records {
            let id = record
                .message_id
                .clone()
                .map(|id| vec![KeyValue::new(MESSAGING_MESSAGE_ID, id)])
                .unwrap_or_default();
            for producer in producer_contexts(record, propagation) {
                push_link(&mut links, producer, id.clone());
            }
        }

        InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server(name.clone()))
            .with_parent(propagation.extract_from(context.carrier()))
            .with_inner_span(
                SpanSpec::new(name, SpanKind::Consumer)
                    .with_attributes(attributes)
                    .with_links(links),
            )
    }

    fn outcome(&self, response: &R) -> Outcome {
        batch_outcome(response)
    }
}

/// The attributes every SQS processing span has.
fn consumer_attributes() -> Vec<KeyValue> {
    vec![
        KeyValue::new(FAAS_TRIGGER, FaasTrigger::PubSub.as_str()),
        KeyValue::new(MESSAGING_SYSTEM, SQS_SYSTEM),
        KeyValue::new(MESSAGING_OPERATION_TYPE, "process"),
        KeyValue::new(MESSAGING_OPERATION_NAME, "process"),
    ]
}

/// The producer contexts of one message: `AWSTraceHeader` first, then the message
/// attributes through `propagation`, then — for an SNS notification delivered without raw
/// delivery — the publisher's attributes inside the envelope in the body, and — for an
/// EventBridge event whose producer opted in — the `_otel` context in its `detail`. Invalid
/// ones are left out, and so is `AWSTraceHeader` when a context the producer wrote is in
/// the same trace (it then names the SDK call under the producer span).
pub fn producer_contexts(
    message: &SqsMessage,
    propagation: &dyn Propagation,
) -> Vec<opentelemetry::trace::SpanContext> {
    let from_system = remote_context(&XrayPropagator, &SqsSystemAttributes::of(message));
    let from_attributes = remote_context(propagation, &SqsMessageAttributes::of(message));
    let from_envelope = message
        .body
        .as_deref()
        .and_then(SnsEnvelope::parse)
        .and_then(|envelope| remote_context(propagation, &envelope));
    let from_event_detail = message
        .body
        .as_deref()
        .and_then(EventDetailContext::from_event_json)
        .and_then(|detail| remote_context(propagation, &detail));
    let from_producer: Vec<_> = from_attributes
        .into_iter()
        .chain(from_envelope)
        .chain(from_event_detail)
        .collect();
    // `AWSTraceHeader` comes from the X-Ray header of the `SendMessage` request: when the
    // producer also wrote its context, in the same trace, that header names the SDK call
    // beneath the producer span (or Lambda's segment), not the producer — one link to the
    // producer span is what the conventions ask for.
    let system_is_redundant = from_system.as_ref().is_some_and(|system| {
        from_producer
            .iter()
            .any(|producer| producer.trace_id() == system.trace_id())
    });
    from_system
        .filter(|_| !system_is_redundant)
        .into_iter()
        .chain(from_producer)
        .collect()
}

/// `https://sqs.{region}.{domain}/{account}/{queue}` from a queue ARN.
fn queue_url(arn: &str) -> Option<String> {
    let [_, partition, service, region, account, queue] = arn_parts(arn)?;
    if service != "sqs" {
        return None;
    }
    let domain = match partition {
        "aws-cn" => "amazonaws.com.cn",
        _ => "amazonaws.com",
    };
    Some(format!("https://sqs.{region}.{domain}/{account}/{queue}"))
}

/// The CONSUMER span of one message: `<queue> process`, `messaging.message.id`, linked to
/// the message's producer.
///
/// ```
/// use otel_faas_aws::sqs_message_span;
/// use otel_faas_core::propagation::CompositePropagation;
///
/// let message = serde_json::from_value(serde_json::json!({
///     "messageId": "m-1",
///     "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:orders",
///     "messageAttributes": {"traceparent": {
///         "dataType": "String",
///         "stringValue": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
///     }}
/// })).unwrap();
/// let span = sqs_message_span(&message, &CompositePropagation::w3c());
/// assert_eq!(span.name(), "orders process");
/// assert_eq!(span.links()[0].span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
pub fn sqs_message_span(message: &SqsMessage, propagation: &dyn Propagation) -> SpanSpec {
    let arn = message.event_source_arn.as_deref().unwrap_or_default();
    let queue = arn_resource(arn);
    let mut attributes = consumer_attributes();
    if let Some(queue) = queue {
        attributes.push(KeyValue::new(MESSAGING_DESTINATION_NAME, queue.to_owned()));
    }
    if let Some(url) = queue_url(arn) {
        attributes.push(KeyValue::new(AWS_SQS_QUEUE_URL, url));
    }
    if let Some(id) = &message.message_id {
        attributes.push(KeyValue::new(MESSAGING_MESSAGE_ID, id.clone()));
    }
    let mut links: Vec<Link> = Vec::new();
    for producer in producer_contexts(message, propagation) {
        push_link(&mut links, producer, Vec::new());
    }
    let name = match queue {
        Some(queue) => format!("{queue} process"),
        None => "process".to_owned(),
    };
    SpanSpec::new(name, SpanKind::Consumer)
        .with_attributes(attributes)
        .with_links(links)
}

/// Processes one message inside its own CONSUMER span (see [`sqs_message_span`]), a child
/// of the batch span, recording an error or panic on it. Outside an invocation it just runs
/// `future`.
///
/// ```no_run
/// use aws_lambda_events::sqs::SqsEvent;
/// use lambda_runtime::LambdaEvent;
///
/// async fn handler(event: LambdaEvent<SqsEvent>) -> Result<(), lambda_runtime::Error> {
///     for message in &event.payload.records {
///         otel_faas_aws::process_message(message, async {
///             // ... handle one message ...
///             Ok::<_, lambda_runtime::Error>(())
///         })
///         .await?;
///     }
///     Ok(())
/// }
/// ```
pub async fn process_message<F, T, E>(message: &SqsMessage, future: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    match InvocationScope::current() {
        Some(scope) => {
            let span = sqs_message_span(message, scope.propagation().as_ref());
            scope.in_span(span, future).await
        }
        None => future.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_follow_the_partition() {
        assert_eq!(
            queue_url("arn:aws:sqs:us-east-2:123456789012:my-queue").as_deref(),
            Some("https://sqs.us-east-2.amazonaws.com/123456789012/my-queue")
        );
        assert_eq!(
            queue_url("arn:aws-cn:sqs:cn-north-1:123456789012:q.fifo").as_deref(),
            Some("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo")
        );
        assert_eq!(queue_url("arn:aws:sns:us-east-2:123456789012:topic"), None);
        assert_eq!(queue_url("garbage"), None);
    }

    #[test]
    fn the_producer_span_wins_over_the_sdk_call_of_the_same_trace() {
        let message = |trace_header: &str| -> SqsMessage {
            serde_json::from_value(serde_json::json!({
                "messageId": "m-1",
                "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:orders",
                "attributes": {"AWSTraceHeader": trace_header},
                "messageAttributes": {"traceparent": {
                    "dataType": "String",
                    "stringValue": "00-5759e988bd862e3fe1be46a994272793-00f067aa0ba902b7-01"
                }}
            }))
            .unwrap()
        };
        let propagation = otel_faas_core::propagation::CompositePropagation::w3c();
        let same_trace = producer_contexts(
            &message("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
            &propagation,
        );
        assert_eq!(same_trace.len(), 1);
        assert_eq!(same_trace[0].span_id().to_string(), "00f067aa0ba902b7");
        let other_trace = producer_contexts(
            &message("Root=1-11111111-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
            &propagation,
        );
        assert_eq!(other_trace.len(), 2, "two traces: both are kept");
    }

    #[test]
    fn an_eventbridge_event_in_the_body_links_through_its_detail_context() {
        let message = |body: &str| -> SqsMessage {
            serde_json::from_value(serde_json::json!({
                "messageId": "m-1",
                "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:events",
                "body": body,
            }))
            .unwrap()
        };
        let propagation = otel_faas_core::propagation::CompositePropagation::w3c();
        let event = r#"{"version": "0", "id": "e-1", "detail-type": "OrderPlaced",
            "source": "shop.orders", "detail": {"order": 42, "_otel": {
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}}"#;
        let contexts = producer_contexts(&message(event), &propagation);
        assert_eq!(contexts.len(), 1);
        assert_eq!(
            contexts[0].trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(contexts[0].span_id().to_string(), "00f067aa0ba902b7");
        for body in [
            r#"{"detail": {"_otel": {"traceparent": "00-garbage"}}}"#,
            r#"{"detail": {"order": 42}}"#,
            "_otel",
        ] {
            assert!(
                producer_contexts(&message(body), &propagation).is_empty(),
                "{body}"
            );
        }
    }
}
