//! EventBridge publishers: `put_events` with a PRODUCER span and the context in each
//! entry's `TraceHeader`.
//!
//! **What is injected, and why.** EventBridge defines its own place for trace context: the
//! `TraceHeader` of each `PutEventsRequestEntry`, in X-Ray format. EventBridge carries it to
//! the rule's targets (a Lambda target receives it as its invocation's trace header, an SQS
//! target as the message's `AWSTraceHeader`), which is where the consumers in this workspace
//! look. Nothing is written into the event itself: the event's `detail` is the user's data,
//! and rules match on it. An entry that already has a `TraceHeader` keeps it.

use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::error::SdkError;
use aws_sdk_eventbridge::operation::put_events::builders::PutEventsFluentBuilder;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_semantic_conventions::attribute::MESSAGING_BATCH_MESSAGE_COUNT;

use super::{end_call, record_batch_failures, record_message_id, send_span, start};

/// `messaging.system` of EventBridge sends. The conventions have no value for EventBridge;
/// this follows their `aws.*` naming (as in `aws.sns`).
pub const EVENTBRIDGE_SYSTEM: &str = "aws.eventbridge";

/// `send_traced()` for `put_events`: a PRODUCER span `send {bus}` (`default` when no bus is
/// named), `messaging.message.id` for a single event (the event id from the response),
/// `messaging.batch.message_count` for several, ERROR when entries fail; and the context in
/// each entry's `TraceHeader`.
///
/// ```no_run
/// # async fn example(client: aws_sdk_eventbridge::Client) -> Result<(), aws_sdk_eventbridge::Error> {
/// use aws_sdk_eventbridge::types::PutEventsRequestEntry;
/// use otel_faas_messaging::aws_sdk::eventbridge::PutEventsTracing as _;
///
/// let entry = PutEventsRequestEntry::builder()
///     .source("shop.orders")
///     .detail_type("OrderPlaced")
///     .detail("{\"order\": 42}")
///     .build();
/// client.put_events().entries(entry).send_traced().await?;
/// # Ok(())
/// # }
/// ```
pub trait PutEventsTracing {
    /// Puts the events inside a PRODUCER span, with the trace context in every entry.
    fn send_traced(
        self,
    ) -> impl Future<Output = Result<PutEventsOutput, SdkError<PutEventsError, HttpResponse>>> + Send;
}

impl PutEventsTracing for PutEventsFluentBuilder {
    async fn send_traced(self) -> Result<PutEventsOutput, SdkError<PutEventsError, HttpResponse>> {
        let mut entries = self.get_entries().clone().unwrap_or_default();
        let bus = entries
            .first()
            .and_then(|e| e.event_bus_name.clone())
            .map(|bus| bus.rsplit('/').next().unwrap_or(&bus).to_owned())
            .unwrap_or_else(|| "default".to_owned());
        let count = entries.len();
        let extra = if count == 1 {
            Vec::new()
        } else {
            vec![KeyValue::new(
                MESSAGING_BATCH_MESSAGE_COUNT,
                i64::try_from(count).unwrap_or(i64::MAX),
            )]
        };
        let cx = start(send_span(EVENTBRIDGE_SYSTEM, &bus, extra));
        let header = opentelemetry_aws::trace::xray_propagator::span_context_to_string(
            cx.span().span_context(),
        );
        for entry in &mut entries {
            if entry.trace_header.is_none() {
                entry.trace_header = header.clone();
            }
        }
        let result = self
            .set_entries(Some(entries))
            .send()
            .with_context(cx.clone())
            .await;
        end_call(&cx, &result, |cx, output| {
            let failed = usize::try_from(output.failed_entry_count()).unwrap_or(usize::MAX);
            record_batch_failures(cx, failed, count, "events were not put");
            if let ([entry], 1, 0) = (output.entries(), count, failed) {
                record_message_id(cx, entry.event_id());
            }
        });
        result
    }
}
