//! EventBridge events (other than schedules, see [`ScheduledTrigger`](crate::ScheduledTrigger)).
//!
//! `faas.trigger=pubsub`; `messaging.message.id` = the event `id`,
//! `messaging.operation.type=process`, and the event described with the CloudEvents keys
//! EventBridge's envelope maps onto: `cloudevents.event_id`, `cloudevents.event_source`
//! (`source`), `cloudevents.event_type` (`detail-type`). EventBridge itself carries the
//! X-Ray trace header to a Lambda target in the invocation (the Lambda trace header), which
//! `xray-lambda` reads; the event body carries no context.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    CLOUDEVENTS_EVENT_ID, CLOUDEVENTS_EVENT_SOURCE, CLOUDEVENTS_EVENT_TYPE, MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_TYPE,
};
use otel_faas_core::{
    FaasTrigger, InvocationContext, InvocationSpec, Outcome, Propagation, TriggerAdapter,
};

use crate::response::{LambdaResponse, batch_outcome};

/// Describes invocations by an EventBridge rule.
///
/// ```
/// use otel_faas_aws::EventBridgeTrigger;
/// use otel_faas_core::{CompositePropagation, InvocationContext, TriggerAdapter};
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
        let mut attributes = vec![KeyValue::new(MESSAGING_OPERATION_TYPE, "process")];
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
        InvocationSpec::new(name, FaasTrigger::PubSub)
            .with_attributes(attributes)
            .with_parent(propagation.extract_from(context.carrier()))
    }

    fn outcome(&self, response: &R) -> Outcome {
        batch_outcome(response)
    }
}
