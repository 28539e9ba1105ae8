//! `LambdaEventAdapter`: a payload adapter inside the runtime's `LambdaEvent` envelope, and
//! the invocation's context and attributes read from the runtime's `Context`. A leaf: the
//! runtime integration and the HTTP adapter use it; `lambda` re-exports it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{
    AWS_LAMBDA_INVOKED_ARN, CLOUD_ACCOUNT_ID, CLOUD_RESOURCE_ID,
};
use otel_faas_core::{
    InvocationSpec, Propagation, TriggerAdapter,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};

use crate::arn::FunctionArn;
use crate::xray::LAMBDA_TRACE_HEADER;

/// Turns an adapter for an event payload (an `SqsEvent`, a `serde_json::Value`, …) into an
/// adapter for the `LambdaEvent` that `lambda_runtime` hands a handler.
///
/// It reads the invocation's own metadata from the runtime context — never from process
/// variables, which concurrent invocations would share:
///
/// * `faas.invocation_id` (the request id) and the deadline, for the engine;
/// * the Lambda trace header (`Lambda-Runtime-Trace-Id`), offered to propagators under
///   [`LAMBDA_TRACE_HEADER`];
/// * the `custom` entries of the client context, where a calling function puts its trace
///   context on a direct `Invoke` (a `traceparent` there is the parent of an event that
///   carries none of its own);
/// * `aws.lambda.invoked_arn`, `cloud.account.id`, and `cloud.resource_id` — the function
///   ARN with any alias replaced by the version that actually runs, as the conventions
///   require, since one execution environment serves every alias of its version.
///
/// ```
/// use lambda_runtime::{Context, LambdaEvent};
/// use otel_faas_aws::SqsTrigger;
/// use otel_faas_aws::lambda::LambdaEventAdapter;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation};
///
/// let adapter = LambdaEventAdapter::new(SqsTrigger::new());
/// let mut context = Context::default();
/// context.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
/// context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders:live".into();
/// let event = LambdaEvent::new(aws_lambda_events::sqs::SqsEvent::default(), context);
///
/// let invocation = TriggerAdapter::<_, ()>::invocation_context(&adapter, &event);
/// assert_eq!(invocation.invocation_id(), Some("8476a536-e9f4-11e8-9739-2dfe598c3fcd"));
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(&adapter, &event, &invocation, &CompositePropagation::w3c());
/// let account = spec.attributes().iter().find(|kv| kv.key.as_str() == "cloud.account.id").unwrap();
/// assert_eq!(account.value.as_str(), "123456789012");
/// ```
#[derive(Debug, Clone, Default)]
pub struct LambdaEventAdapter<A> {
    adapter: A,
}

impl<A> LambdaEventAdapter<A> {
    /// Wraps a payload adapter.
    pub fn new(adapter: A) -> Self {
        Self { adapter }
    }

    /// The wrapped adapter.
    pub fn adapter(&self) -> &A {
        &self.adapter
    }
}

/// The invocation context `lambda_runtime` delivered: id, deadline, Lambda trace header.
pub fn invocation_context(context: &LambdaContext) -> InvocationContext {
    let mut invocation = InvocationContext::new();
    if !context.request_id.is_empty() {
        invocation = invocation.with_invocation_id(context.request_id.clone());
    }
    if let Some(deadline) = plausible_deadline(context.deadline, SystemTime::now()) {
        invocation = invocation.with_deadline_at(deadline);
    }
    if let Some(header) = context.xray_trace_id.as_deref().filter(|h| !h.is_empty()) {
        invocation = invocation.with_carrier_field(LAMBDA_TRACE_HEADER, header);
    }
    // A caller that invoked this function directly puts its context in the client
    // context's `custom` map (otel-faas-messaging's `InvokeTracing` does).
    if let Some(client_context) = &context.client_context {
        for (key, value) in &client_context.custom {
            invocation = invocation.with_carrier_field(key.clone(), value.clone());
        }
    }
    invocation
}

/// The per-invocation attributes of the AWS Lambda conventions.
pub fn invocation_attributes(context: &LambdaContext) -> Vec<KeyValue> {
    let invoked = context.invoked_function_arn.as_str();
    if invoked.is_empty() {
        return Vec::new();
    }
    let mut attributes = vec![KeyValue::new(AWS_LAMBDA_INVOKED_ARN, invoked.to_owned())];
    if let Some(arn) = FunctionArn::parse(invoked) {
        attributes.push(KeyValue::new(CLOUD_ACCOUNT_ID, arn.account_id().to_owned()));
        let version = context.env_config.version.as_str();
        let resource_id = if version.is_empty() {
            arn.unqualified()
        } else {
            arn.with_version(version)
        };
        attributes.push(KeyValue::new(CLOUD_RESOURCE_ID, resource_id));
    }
    attributes
}

impl<P, R, A> TriggerAdapter<LambdaEvent<P>, R> for LambdaEventAdapter<A>
where
    A: TriggerAdapter<P, R>,
{
    fn invocation_context(&self, event: &LambdaEvent<P>) -> InvocationContext {
        invocation_context(&event.context)
    }

    fn invocation_spec(
        &self,
        event: &LambdaEvent<P>,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let spec = self
            .adapter
            .invocation_spec(&event.payload, context, propagation)
            .map_span(|span| span.with_attributes(invocation_attributes(&event.context)));
        // The AWS Lambda conventions name every invocation span after the function, except
        // for HTTP triggers, which follow the HTTP server conventions.
        match function_name(&event.context) {
            Some(function) if spec.trigger() != FaasTrigger::Http => {
                spec.map_span(|span| span.with_name(function.to_owned()))
            }
            _ => spec,
        }
    }

    fn outcome(&self, response: &R) -> Outcome {
        self.adapter.outcome(response)
    }

    fn outcome_for(&self, trigger: FaasTrigger, response: &R) -> Outcome {
        self.adapter.outcome_for(trigger, response)
    }
}

/// The function's name: from the runtime's configuration, else from the invoked ARN (which
/// every invocation carries).
fn function_name(context: &LambdaContext) -> Option<&str> {
    Some(context.env_config.function_name.as_str())
        .filter(|name| !name.is_empty())
        .or_else(|| {
            FunctionArn::parse(&context.invoked_function_arn).map(|arn| arn.function_name())
        })
}

/// The longest a Lambda invocation may run (the 900 s maximum timeout), with a minute of
/// slack for clock skew between the runtime API and this process.
const LONGEST_PLAUSIBLE_DEADLINE: Duration = Duration::from_secs(900 + 60);

/// The invocation's deadline, if it is one Lambda could have sent: in the future and at
/// most the maximum timeout away. Local emulators sometimes send a duration (`600000`) or a
/// stale time where epoch milliseconds belong; taken at face value, the watchdog would fire
/// at once and record a 0.1 ms invocation as a `timeout`, and the flush budget would be
/// zero. Such a deadline is ignored, with one warning per process.
pub(crate) fn plausible_deadline(deadline_ms: u64, now: SystemTime) -> Option<SystemTime> {
    let deadline = deadline_time(deadline_ms)?;
    let plausible = deadline > now
        && deadline
            .duration_since(now)
            .is_ok_and(|left| left <= LONGEST_PLAUSIBLE_DEADLINE);
    if plausible {
        return Some(deadline);
    }
    otel_faas_core::env::report_once(
        "lambda-implausible-deadline",
        &format!(
            "the runtime sent a deadline of {deadline_ms} ms since the epoch, which is {}; \
             invocations run without a deadline watchdog (a local emulator that sends a \
             duration instead of a time does this)",
            if deadline <= now {
                "already past"
            } else {
                "further away than Lambda's longest timeout"
            }
        ),
    );
    None
}

/// The Runtime API's deadline (milliseconds since the epoch) as a wall-clock time; `None`
/// for 0 (no deadline) or a value out of range.
pub(crate) fn deadline_time(deadline_ms: u64) -> Option<SystemTime> {
    (deadline_ms > 0)
        .then(|| UNIX_EPOCH.checked_add(Duration::from_millis(deadline_ms)))
        .flatten()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn context(arn: &str, version: &str) -> LambdaContext {
        let config = lambda_runtime::Config {
            version: version.to_owned(),
            ..Default::default()
        };
        let mut context = LambdaContext::default();
        context.invoked_function_arn = arn.to_owned();
        context.env_config = Arc::new(config);
        context
    }

    fn value(attributes: &[KeyValue], key: &str) -> Option<String> {
        attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    }

    #[test]
    fn an_alias_in_the_invoked_arn_becomes_the_resolved_version() {
        let attributes = invocation_attributes(&context(
            "arn:aws:lambda:us-east-1:123456789012:function:orders:live",
            "12",
        ));
        assert_eq!(
            value(&attributes, "cloud.resource_id").as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:orders:12")
        );
        assert_eq!(
            value(&attributes, "aws.lambda.invoked_arn").as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:orders:live")
        );
        assert_eq!(
            value(&attributes, "cloud.account.id").as_deref(),
            Some("123456789012")
        );
    }

    #[test]
    fn an_unqualified_invocation_is_qualified_by_the_running_version() {
        let attributes = invocation_attributes(&context(
            "arn:aws:lambda:us-east-1:123456789012:function:orders",
            "$LATEST",
        ));
        assert_eq!(
            value(&attributes, "cloud.resource_id").as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST")
        );
    }

    #[test]
    fn a_malformed_arn_is_recorded_as_received_and_nothing_derived() {
        let attributes = invocation_attributes(&context("not-an-arn", "1"));
        assert_eq!(
            value(&attributes, "aws.lambda.invoked_arn").as_deref(),
            Some("not-an-arn")
        );
        assert_eq!(value(&attributes, "cloud.account.id"), None);
        assert_eq!(value(&attributes, "cloud.resource_id"), None);
        assert!(invocation_attributes(&LambdaContext::default()).is_empty());
    }

    #[test]
    fn deadlines_and_trace_headers_come_from_the_invocation() {
        let mut lambda = LambdaContext::default();
        lambda.request_id = "req-1".into();
        lambda.deadline = u64::MAX;
        lambda.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into());
        let invocation = invocation_context(&lambda);
        assert_eq!(invocation.invocation_id(), Some("req-1"));
        assert!(invocation.carrier().contains_key(LAMBDA_TRACE_HEADER));
        lambda.deadline = 0;
        assert_eq!(invocation_context(&lambda).deadline(), None);
        assert_eq!(deadline_time(0), None);
    }

    #[test]
    fn implausible_deadlines_are_ignored() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let now_ms = 1_800_000_000_000_u64;
        // What Lambda sends: a few seconds to 15 minutes ahead.
        assert!(plausible_deadline(now_ms + 3_000, now).is_some());
        assert!(plausible_deadline(now_ms + 900_000, now).is_some());
        // A duration where a time belongs (an emulator): January 1970.
        assert_eq!(plausible_deadline(600_000, now), None);
        // Already past, or a day away.
        assert_eq!(plausible_deadline(now_ms - 1, now), None);
        assert_eq!(plausible_deadline(now_ms + 86_400_000, now), None);
        assert_eq!(plausible_deadline(0, now), None);
    }
}
