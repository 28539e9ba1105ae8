//! EventBridge events (other than schedules, see
//! [`ScheduledTrigger`](crate::ScheduledTrigger)). The adapter is [`EventBridgeTrigger`];
//! its documentation lists the spans and attributes it produces.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    CLOUDEVENTS_EVENT_ID, CLOUDEVENTS_EVENT_SOURCE, CLOUDEVENTS_EVENT_TYPE, MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};

use otel_faas_messaging::EventDetailContext;

use super::common::{Links, remote_context};
use crate::response::{LambdaResponse, batch_outcome};

/// `messaging.system` for EventBridge: the conventions (v1.44) have no well-known value for
/// it, so this is a custom one, in the style of `aws.sns`.
pub const EVENTBRIDGE_SYSTEM: &str = "aws.eventbridge";

/// Describes invocations by an EventBridge rule.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// EventBridge events (other than schedules, see [`ScheduledTrigger`](crate::ScheduledTrigger)).
///
/// One SERVER span (the event is delivered alone): `faas.trigger=pubsub`,
/// `messaging.system=aws.eventbridge` (a custom value: v1.44 has no well-known one, see
/// [`EVENTBRIDGE_SYSTEM`]), `messaging.operation.type=process`,
/// `messaging.operation.name=process`, `messaging.message.id` = the event `id`, and the
/// event described with the CloudEvents keys
/// EventBridge's envelope maps onto: `cloudevents.event_id`, `cloudevents.event_source`
/// (`source`), `cloudevents.event_type` (`detail-type`). EventBridge itself carries the
/// X-Ray trace header to a Lambda target in the invocation (the Lambda trace header), which
/// `xray-lambda` reads, as the parent. Where the producer opted in to write its context into
/// the event (an `_otel` object in `detail`, `otel-faas-messaging`'s
/// `PutEventsTraceOptions::context_in_detail`), the invocation span also links to that
/// producer — the messaging conventions' link from a consumer to its producer, which holds
/// even when the trace header is missing or names another span.
///
/// Reading `detail` costs one conversion of it to a JSON value per invocation (a clone when
/// the event's detail type is `serde_json::Value`, the default).
///
/// ```
/// use otel_faas_aws::EventBridgeTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let event: aws_lambda_events::eventbridge::EventBridgeEvent = serde_json::from_value(serde_json::json!({
///     "id": "e-1", "detail-type": "OrderPlaced", "source": "shop.orders", "detail": {}
/// })).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &EventBridgeTrigger::new(), &event, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// assert_eq!(spec.name(), "OrderPlaced");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct EventBridgeTrigger;

impl EventBridgeTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

impl<T, R: LambdaResponse> TriggerAdapter<EventBridgeEvent<T>, R> for EventBridgeTrigger
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    fn invocation_spec(
        &self,
        event: &EventBridgeEvent<T>,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let mut attributes = vec![
            KeyValue::new(MESSAGING_SYSTEM, EVENTBRIDGE_SYSTEM),
            KeyValue::new(MESSAGING_OPERATION_TYPE, "process"),
            KeyValue::new(MESSAGING_OPERATION_NAME, "process"),
        ];
        if let Some(id) = event.id.as_deref().filter(|id| !id.is_empty()) {
            attributes.push(KeyValue::new(MESSAGING_MESSAGE_ID, id.to_owned()));
            attributes.push(KeyValue::new(CLOUDEVENTS_EVENT_ID, id.to_owned()));
        }
        if !event.source.is_empty() {
            attributes.push(KeyValue::new(
                CLOUDEVENTS_EVENT_SOURCE,
                event.source.clone(),
            ));
        }
        if !event.detail_type.is_empty() {
            attributes.push(KeyValue::new(
                CLOUDEVENTS_EVENT_TYPE,
                event.detail_type.clone(),
            ));
        }
        let name = if event.detail_type.is_empty() {
            "event".to_owned()
        } else {
            event.detail_type.clone()
        };
        let parent = propagation.extract_from(context.carrier());
        let mut links = Links::new(context.link_limit(), 1);
        if let Some(producer) = serde_json::to_value(&event.detail)
            .ok()
            .as_ref()
            .and_then(EventDetailContext::from_detail)
            .and_then(|detail| remote_context(propagation, &detail))
        {
            links.push(producer, Vec::new);
        }
        InvocationSpec::new(
            FaasTrigger::PubSub,
            SpanSpec::server(name)
                .with_attributes(attributes)
                .with_links(links.into_vec()),
        )
        .with_parent(parent)
    }

    fn outcome(&self, response: &R) -> Outcome {
        batch_outcome(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otel_faas_core::propagation::CompositePropagation;

    fn spec(detail: serde_json::Value) -> InvocationSpec {
        let event: EventBridgeEvent = serde_json::from_value(serde_json::json!({
            "id": "e-1", "detail-type": "OrderPlaced", "source": "shop.orders", "detail": detail
        }))
        .unwrap();
        TriggerAdapter::<_, ()>::invocation_spec(
            &EventBridgeTrigger::new(),
            &event,
            &InvocationContext::new(),
            &CompositePropagation::w3c(),
        )
    }

    #[test]
    fn a_producer_context_in_the_detail_becomes_a_link() {
        let spec = spec(serde_json::json!({"order": 42, "_otel": {
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}));
        let [link] = spec.links() else {
            panic!("one link expected: {:?}", spec.links());
        };
        assert_eq!(
            link.span_context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(link.span_context.span_id().to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn details_without_a_valid_context_give_no_link() {
        for detail in [
            serde_json::json!({"order": 42}),
            serde_json::json!({"_otel": {"traceparent": "00-not-a-context"}}),
            serde_json::json!({"_otel": 7}),
            serde_json::json!("text"),
            serde_json::json!(null),
        ] {
            assert!(spec(detail.clone()).links().is_empty(), "{detail}");
        }
    }
}
