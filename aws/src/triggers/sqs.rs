//! SQS: a batch of messages per invocation. The adapter is [`SqsTrigger`]; its
//! documentation lists the spans and attributes it produces.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, Value};
use opentelemetry_semantic_conventions::attribute::{
    AWS_SQS_QUEUE_URL, FAAS_TRIGGER, MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
    SERVER_ADDRESS,
};
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    engine::InvocationScope,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};
use otel_faas_messaging::{
    EventDetailContext, SnsEnvelope, SqsMessageAttributes, SqsSystemAttributes,
};

use super::common::{Links, arn_parts, arn_resource, remote_context};
use crate::response::{LambdaResponse, batch_outcome};
use crate::xray::XrayPropagator;

/// `messaging.system` for SQS.
pub const SQS_SYSTEM: &str = "aws_sqs";

/// The variable that opts in to context the producer wrote into the message itself (see
/// [`SqsTrigger::with_message_context`]): `true` or `false`, `false` when unset.
pub const SQS_MESSAGE_CONTEXT_VARIABLE: &str = "OTEL_FAAS_SQS_MESSAGE_CONTEXT";

/// Describes invocations by an SQS event source mapping.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// * the SERVER invocation span (named after the function; `faas.trigger=pubsub`), whose
///   parent is the Lambda trace header when `xray-lambda` is configured;
/// * inside it, the CONSUMER span of the batch, `<queue> process` — `multiple_sources
///   process` when the batch mixes queues — with `faas.trigger=pubsub`,
///   `messaging.system=aws_sqs`, `messaging.operation.type=process`,
///   `messaging.operation.name=process`, `messaging.batch.message_count`, and for a single
///   queue `messaging.destination.name`, `aws.sqs.queue.url` and `server.address` (the
///   queue's SQS endpoint, `sqs.{region}.amazonaws.com`). It carries one link per producer
///   context of each message, with `messaging.message.id` on the link;
/// * per message, in user code, a CONSUMER span `<queue> process` with the same
///   attributes for its queue and `messaging.message.id`, linked to its producer:
///   [`process_message`](crate::batch::process_message), or the partial-batch helpers in [`batch`](crate::batch).
///
/// # Where the producer's context comes from
///
/// As the AWS Lambda page says, from the `AWSTraceHeader` *system* attribute (X-Ray
/// format), always: AWS sets it from the `X-Amzn-Trace-Id` of the `SendMessage` call (or
/// the producer sets it through `MessageSystemAttributes`, as `otel-faas-messaging`'s
/// producer does), so it works across S3 → SNS → SQS chains and whatever the producer's
/// language.
///
/// Context the producer wrote into the message itself — `traceparent` in the message
/// attributes (through the configured propagation), the attributes of an SNS notification
/// in the body (without raw delivery), the `_otel` object of an EventBridge event's
/// `detail` — is user data the conventions do not support, since it can disagree with
/// `AWSTraceHeader`. It is read only when opted in, with
/// [`with_message_context`](Self::with_message_context) or
/// `OTEL_FAAS_SQS_MESSAGE_CONTEXT=true` ([`SqsTrigger::from_env`]); each context found is
/// then one more link (a context identical to another is linked once).
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
///         "messageAttributes": {"traceparent": {
///             "dataType": "String",
///             "stringValue": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
///         }}
///     }]
/// })).unwrap();
/// let w3c = CompositePropagation::w3c();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(&SqsTrigger::new(), &event, &InvocationContext::new(), &w3c);
/// let batch = spec.inner_span().unwrap();
/// assert_eq!(batch.name(), "orders process");
/// assert_eq!(batch.links().len(), 1, "AWSTraceHeader only");
///
/// let opted_in = SqsTrigger::new().with_message_context(true);
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(&opted_in, &event, &InvocationContext::new(), &w3c);
/// assert_eq!(spec.inner_span().unwrap().links().len(), 2, "and the traceparent attribute");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SqsTrigger {
    message_context: bool,
}

impl SqsTrigger {
    /// The adapter, reading the producer's context from `AWSTraceHeader` only.
    pub fn new() -> Self {
        Self::default()
    }

    /// The adapter configured by `OTEL_FAAS_SQS_MESSAGE_CONTEXT` in the process
    /// environment.
    pub fn from_env() -> Self {
        Self::with_environment(&otel_faas_core::env::ProcessEnvironment)
    }

    /// The adapter configured by `OTEL_FAAS_SQS_MESSAGE_CONTEXT` in `env`; an invalid value
    /// is reported once and ignored.
    ///
    /// ```
    /// use otel_faas_aws::SqsTrigger;
    /// use otel_faas_core::env::MapEnvironment;
    ///
    /// let env = MapEnvironment::from([("OTEL_FAAS_SQS_MESSAGE_CONTEXT", "true")]);
    /// assert!(SqsTrigger::with_environment(&env).reads_message_context());
    /// ```
    pub fn with_environment(env: &dyn otel_faas_core::Environment) -> Self {
        let message_context = match env.get_non_empty(SQS_MESSAGE_CONTEXT_VARIABLE) {
            None => false,
            Some(value) if value.trim().eq_ignore_ascii_case("true") => true,
            Some(value) if value.trim().eq_ignore_ascii_case("false") => false,
            Some(value) => {
                otel_faas_core::env::ConfigWarning::new(
                    SQS_MESSAGE_CONTEXT_VARIABLE,
                    value,
                    "true, false",
                    "false",
                )
                .emit();
                false
            }
        };
        Self { message_context }
    }

    /// Whether to link also to the context the producer wrote into the message (its
    /// attributes, an SNS envelope's attributes, an EventBridge `detail._otel`), beside
    /// `AWSTraceHeader`. Off by default, as the conventions ask.
    #[must_use]
    pub fn with_message_context(mut self, read: bool) -> Self {
        self.message_context = read;
        self
    }

    /// Whether context in the message itself is read.
    pub fn reads_message_context(&self) -> bool {
        self.message_context
    }

    /// The adapter the current invocation was described with — so that the per-message
    /// helpers read context the way the batch span did — or the default outside one.
    pub fn current() -> Self {
        opentelemetry::Context::map_current(|cx| cx.get::<Self>().copied()).unwrap_or_default()
    }

    /// The producer contexts of one message: `AWSTraceHeader`, then, when opted in, the
    /// message attributes through `propagation`, the publisher's attributes of an SNS
    /// envelope in the body and the `_otel` context of an EventBridge event in the body.
    /// Invalid ones are left out.
    ///
    /// ```
    /// use otel_faas_aws::SqsTrigger;
    /// use otel_faas_core::propagation::CompositePropagation;
    ///
    /// let message = serde_json::from_value(serde_json::json!({
    ///     "attributes": {"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}
    /// })).unwrap();
    /// let contexts = SqsTrigger::new().producer_contexts(&message, &CompositePropagation::w3c());
    /// assert_eq!(contexts[0].span_id().to_string(), "53995c3f42cd8ad8");
    /// ```
    pub fn producer_contexts(
        &self,
        message: &SqsMessage,
        propagation: &dyn Propagation,
    ) -> Vec<opentelemetry::trace::SpanContext> {
        let from_system = remote_context(&XrayPropagator, &SqsSystemAttributes::of(message));
        if !self.message_context {
            return from_system.into_iter().collect();
        }
        let from_attributes = remote_context(propagation, &SqsMessageAttributes::of(message));
        let body = message.body.as_deref();
        let from_envelope = body
            .and_then(SnsEnvelope::parse)
            .and_then(|envelope| remote_context(propagation, &envelope));
        let from_event_detail = body
            .and_then(EventDetailContext::from_event_json)
            .and_then(|detail| remote_context(propagation, &detail));
        from_system
            .into_iter()
            .chain(from_attributes)
            .chain(from_envelope)
            .chain(from_event_detail)
            .collect()
    }

    /// The CONSUMER span of one message: `<queue> process`, the queue's attributes,
    /// `messaging.message.id`, linked to the message's producers.
    ///
    /// ```
    /// use otel_faas_aws::SqsTrigger;
    /// use otel_faas_core::propagation::CompositePropagation;
    ///
    /// let message = serde_json::from_value(serde_json::json!({
    ///     "messageId": "m-1",
    ///     "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:orders",
    ///     "attributes": {"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}
    /// })).unwrap();
    /// let span = SqsTrigger::new().message_span(&message, &CompositePropagation::w3c());
    /// assert_eq!(span.name(), "orders process");
    /// assert_eq!(span.links()[0].span_context.trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
    /// ```
    pub fn message_span(&self, message: &SqsMessage, propagation: &dyn Propagation) -> SpanSpec {
        let arn = message.event_source_arn.as_deref().unwrap_or_default();
        let mut attributes = consumer_attributes();
        attributes.extend(queue_attributes(arn));
        if let Some(id) = &message.message_id {
            attributes.push(KeyValue::new(MESSAGING_MESSAGE_ID, id.clone()));
        }
        let mut links = Links::new(usize::MAX, 2);
        for producer in self.producer_contexts(message, propagation) {
            links.push(producer, Vec::new);
        }
        let name = match arn_resource(arn) {
            Some(queue) => format!("{queue} process"),
            None => "process".to_owned(),
        };
        SpanSpec::new(name, SpanKind::Consumer)
            .with_attributes(attributes)
            .with_links(links.into_vec())
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
        let name = match (queues.len(), single_queue.and_then(arn_resource)) {
            (1, Some(queue)) => format!("{queue} process"),
            (0, _) => "process".to_owned(),
            _ => "multiple_sources process".to_owned(),
        };

        let mut attributes = consumer_attributes();
        attributes.push(KeyValue::new(
            MESSAGING_BATCH_MESSAGE_COUNT,
            i64::try_from(records.len()).unwrap_or(i64::MAX),
        ));
        if let Some(arn) = single_queue {
            attributes.extend(queue_attributes(arn));
        }

        let mut links = Links::new(context.link_limit(), records.len());
        for record in records {
            if links.is_full() {
                break;
            }
            for producer in self.producer_contexts(record, propagation) {
                links.push(producer, || {
                    record
                        .message_id
                        .clone()
                        .map(|id| vec![KeyValue::new(MESSAGING_MESSAGE_ID, id)])
                        .unwrap_or_default()
                });
            }
        }

        // The adapter travels in the handler's context, so that the per-message helpers
        // read context as the batch span did.
        let parent = propagation
            .extract_from(context.carrier())
            .with_value(*self);
        InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server(name.clone()))
            .with_parent(parent)
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

/// The attributes every SQS processing span has.
fn consumer_attributes() -> Vec<KeyValue> {
    vec![
        KeyValue::new(FAAS_TRIGGER, FaasTrigger::PubSub.as_str()),
        KeyValue::new(MESSAGING_SYSTEM, SQS_SYSTEM),
        KeyValue::new(MESSAGING_OPERATION_TYPE, "process"),
        KeyValue::new(MESSAGING_OPERATION_NAME, "process"),
    ]
}

/// `messaging.destination.name`, `aws.sqs.queue.url` and `server.address` of the queue
/// `arn` names.
///
/// The attributes of the last queue are kept per thread, their strings shared: a batch
/// comes from one queue, and building them anew for each of its messages' spans (two
/// formatted URLs, three strings) cost ≈ 5 k instructions per message in `cargo xtask
/// bench`.
fn queue_attributes(arn: &str) -> Vec<KeyValue> {
    thread_local! {
        static LAST: RefCell<Option<(Box<str>, Vec<KeyValue>)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((cached, attributes)) = last.as_ref()
            && **cached == *arn
        {
            return attributes.clone();
        }
        let attributes = build_queue_attributes(arn);
        *last = Some((arn.into(), attributes.clone()));
        attributes
    })
}

fn build_queue_attributes(arn: &str) -> Vec<KeyValue> {
    let shared = |text: String| Value::from(Arc::<str>::from(text));
    let mut attributes = Vec::with_capacity(3);
    if let Some(queue) = arn_resource(arn) {
        attributes.push(KeyValue::new(
            MESSAGING_DESTINATION_NAME,
            shared(queue.to_owned()),
        ));
    }
    if let Some((host, url)) = queue_url(arn) {
        attributes.push(KeyValue::new(AWS_SQS_QUEUE_URL, shared(url)));
        attributes.push(KeyValue::new(SERVER_ADDRESS, shared(host)));
    }
    attributes
}

/// The SQS endpoint host and `https://{host}/{account}/{queue}` from a queue ARN.
fn queue_url(arn: &str) -> Option<(String, String)> {
    let [_, partition, service, region, account, queue] = arn_parts(arn)?;
    if service != "sqs" {
        return None;
    }
    let domain = match partition {
        "aws-cn" => "amazonaws.com.cn",
        _ => "amazonaws.com",
    };
    let host = format!("sqs.{region}.{domain}");
    let url = format!("https://{host}/{account}/{queue}");
    Some((host, url))
}

/// Processes one message inside its own CONSUMER span (see [`SqsTrigger::message_span`]),
/// a child of the batch span, reading the producer's context as the invocation's
/// [`SqsTrigger`] was configured to, recording an error or panic on it. Outside an invocation it just runs
/// `future`.
///
/// ```no_run
/// use aws_lambda_events::sqs::SqsEvent;
/// use lambda_runtime::LambdaEvent;
///
/// async fn handler(event: LambdaEvent<SqsEvent>) -> Result<(), lambda_runtime::Error> {
///     for message in &event.payload.records {
///         otel_faas_aws::batch::process_message(message, async {
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
    E: std::fmt::Display + std::fmt::Debug + 'static,
{
    match InvocationScope::current() {
        Some(scope) => {
            let span = SqsTrigger::current().message_span(message, scope.propagation().as_ref());
            scope.in_span(span, future).await
        }
        None => future.await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn queue_attributes_follow_each_message_s_queue() {
        let name = |arn: &str| {
            queue_attributes(arn)
                .into_iter()
                .find(|kv| kv.key.as_str() == MESSAGING_DESTINATION_NAME)
                .map(|kv| kv.value.to_string())
        };
        let orders = "arn:aws:sqs:us-east-2:123456789012:orders";
        let refunds = "arn:aws:sqs:eu-west-1:123456789012:refunds";
        for _ in 0..2 {
            assert_eq!(name(orders).as_deref(), Some("orders"));
            assert_eq!(name(refunds).as_deref(), Some("refunds"));
        }
        assert_eq!(name("not an arn"), None);
        let url = queue_attributes(refunds)
            .into_iter()
            .find(|kv| kv.key.as_str() == AWS_SQS_QUEUE_URL)
            .map(|kv| kv.value.to_string());
        assert_eq!(
            url.as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/123456789012/refunds")
        );
    }

    use super::*;
    use otel_faas_core::propagation::CompositePropagation;

    #[test]
    fn queue_urls_follow_the_partition() {
        let url = |arn| queue_url(arn).map(|(_, url)| url);
        assert_eq!(
            url("arn:aws:sqs:us-east-2:123456789012:my-queue").as_deref(),
            Some("https://sqs.us-east-2.amazonaws.com/123456789012/my-queue")
        );
        assert_eq!(
            queue_url("arn:aws-cn:sqs:cn-north-1:123456789012:q.fifo"),
            Some((
                "sqs.cn-north-1.amazonaws.com.cn".to_owned(),
                "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo".to_owned()
            ))
        );
        assert_eq!(url("arn:aws:sns:us-east-2:123456789012:topic"), None);
        assert_eq!(url("garbage"), None);
    }

    fn message_with_both(trace_header: &str) -> SqsMessage {
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
    }

    const SAME_TRACE: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn aws_trace_header_is_always_linked_and_message_attributes_only_when_opted_in() {
        let message = message_with_both(SAME_TRACE);
        let w3c = CompositePropagation::w3c();
        let default = SqsTrigger::new().producer_contexts(&message, &w3c);
        assert_eq!(default.len(), 1);
        assert_eq!(default[0].span_id().to_string(), "53995c3f42cd8ad8");

        let opted_in = SqsTrigger::new()
            .with_message_context(true)
            .producer_contexts(&message, &w3c);
        let spans: Vec<String> = opted_in.iter().map(|c| c.span_id().to_string()).collect();
        assert_eq!(
            spans,
            ["53995c3f42cd8ad8", "00f067aa0ba902b7"],
            "the same trace: both"
        );
    }

    #[test]
    fn the_environment_opts_in() {
        use otel_faas_core::env::MapEnvironment;
        let trigger = |value: &str| {
            SqsTrigger::with_environment(&MapEnvironment::from([(
                SQS_MESSAGE_CONTEXT_VARIABLE,
                value,
            )]))
            .reads_message_context()
        };
        assert!(trigger("true"));
        assert!(trigger(" TRUE "));
        assert!(!trigger("false"));
        assert!(!trigger("yes"), "invalid: the default");
        assert!(!SqsTrigger::with_environment(&MapEnvironment::default()).reads_message_context());
    }

    #[test]
    fn the_batch_span_names_the_queue_endpoint() {
        let mut event = SqsEvent::default();
        event.records.push(message_with_both(SAME_TRACE));
        let spec = TriggerAdapter::<_, ()>::invocation_spec(
            &SqsTrigger::new(),
            &event,
            &InvocationContext::new(),
            &CompositePropagation::w3c(),
        );
        let batch = spec.inner_span().unwrap();
        let server = batch
            .attributes()
            .iter()
            .find(|kv| kv.key.as_str() == SERVER_ADDRESS)
            .map(|kv| kv.value.to_string());
        assert_eq!(server.as_deref(), Some("sqs.us-east-2.amazonaws.com"));
        assert_eq!(batch.links().len(), 1);
    }

    #[test]
    fn the_adapter_travels_to_the_per_message_helpers() {
        let mut event = SqsEvent::default();
        event.records.push(message_with_both(SAME_TRACE));
        let opted_in = SqsTrigger::new().with_message_context(true);
        let spec = TriggerAdapter::<_, ()>::invocation_spec(
            &opted_in,
            &event,
            &InvocationContext::new(),
            &CompositePropagation::w3c(),
        );
        let _guard = spec.parent().clone().attach();
        assert_eq!(SqsTrigger::current(), opted_in);
        drop(_guard);
        assert_eq!(SqsTrigger::current(), SqsTrigger::new());
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
        let propagation = CompositePropagation::w3c();
        let trigger = SqsTrigger::new().with_message_context(true);
        let event = r#"{"version": "0", "id": "e-1", "detail-type": "OrderPlaced",
            "source": "shop.orders", "detail": {"order": 42, "_otel": {
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}}"#;
        let contexts = trigger.producer_contexts(&message(event), &propagation);
        assert_eq!(contexts.len(), 1);
        assert_eq!(
            contexts[0].trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(contexts[0].span_id().to_string(), "00f067aa0ba902b7");
        assert!(
            SqsTrigger::new()
                .producer_contexts(&message(event), &propagation)
                .is_empty(),
            "not without the opt-in"
        );
        for body in [
            r#"{"detail": {"_otel": {"traceparent": "00-garbage"}}}"#,
            r#"{"detail": {"order": 42}}"#,
            "_otel",
        ] {
            assert!(
                trigger
                    .producer_contexts(&message(body), &propagation)
                    .is_empty(),
                "{body}"
            );
        }
    }
}
