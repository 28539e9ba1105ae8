//! Scheduled events (EventBridge rules and EventBridge Scheduler). The adapter is
//! [`ScheduledTrigger`]; its documentation lists the spans and attributes it produces.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{FAAS_CRON, FAAS_TIME};
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};

use super::common::iso_time;
use crate::response::{LambdaResponse, batch_outcome};
use crate::warm_up::WarmUp;

/// Describes invocations by a schedule.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// Scheduled events (EventBridge rules and EventBridge Scheduler).
///
/// `faas.trigger=timer`; `faas.time` = the event's `time` (ISO 8601, UTC); `faas.cron` =
/// the schedule expression, when the adapter is told it — the event does not carry it, so
/// [`ScheduledTrigger::with_cron`] takes it from the deployment (for instance from an
/// environment variable the template sets). The rule ARN (`resources`) has no key in the
/// conventions and is left out.
///
/// ```
/// use otel_faas_aws::ScheduledTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let event: aws_lambda_events::eventbridge::EventBridgeEvent = serde_json::from_value(serde_json::json!({
///     "id": "s-1", "detail-type": "Scheduled Event", "source": "aws.events",
///     "time": "2026-11-21T03:00:00Z", "detail": {}
/// })).unwrap();
/// let trigger = ScheduledTrigger::new().with_cron("cron(0 3 * * ? *)");
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &trigger, &event, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// let time = spec.attributes().iter().find(|kv| kv.key.as_str() == "faas.time").unwrap();
/// assert_eq!(time.value.as_str(), "2026-11-21T03:00:00.000Z");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScheduledTrigger {
    cron: Option<String>,
    warm_up: WarmUp,
}

impl ScheduledTrigger {
    /// The adapter, without a known schedule expression, recognising the common warmers'
    /// pings ([`WarmUp::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The adapter with the warm-up rules of the environment ([`WarmUp::from_env`]): set
    /// `OTEL_FAAS_WARMUP_MATCH=/resources/0=*:rule/keep-warm` for the schedule that keeps
    /// the function warm, and `OTEL_FAAS_WARMUP_TRACE=false` to leave its invocations
    /// untraced.
    pub fn from_env() -> Self {
        Self::new().with_warm_up(WarmUp::from_env(&otel_faas_core::env::ProcessEnvironment))
    }

    /// How warm-up pings are recognised and treated (see [`WarmUp`]).
    #[must_use]
    pub fn with_warm_up(mut self, warm_up: WarmUp) -> Self {
        self.warm_up = warm_up;
        self
    }

    /// Records `expression` (`cron(…)` or `rate(…)`) as `faas.cron`.
    #[must_use]
    pub fn with_cron(mut self, expression: impl Into<String>) -> Self {
        let expression = expression.into();
        self.cron = (!expression.trim().is_empty()).then_some(expression);
        self
    }
}

impl<T, R: LambdaResponse> TriggerAdapter<EventBridgeEvent<T>, R> for ScheduledTrigger
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    fn invocation_spec(
        &self,
        event: &EventBridgeEvent<T>,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let mut attributes = Vec::new();
        if let Some(time) = &event.time {
            attributes.push(KeyValue::new(FAAS_TIME, iso_time(time)));
        }
        if let Some(cron) = &self.cron {
            attributes.push(KeyValue::new(FAAS_CRON, cron.clone()));
        }
        let spec = InvocationSpec::new(
            FaasTrigger::Timer,
            SpanSpec::server("schedule").with_attributes(attributes),
        )
        .with_parent(propagation.extract_from(context.carrier()));
        if self.warm_up.is_empty() {
            return spec;
        }
        // Scheduled events are few and small: the JSON view the rules read costs little.
        match serde_json::to_value(event) {
            Ok(json) => self.warm_up.apply(&json, spec),
            Err(_) => spec,
        }
    }

    fn outcome(&self, response: &R) -> Outcome {
        batch_outcome(response)
    }
}
