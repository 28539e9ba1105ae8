//! SQS producers: `send_message` and `send_message_batch` with a PRODUCER span, the
//! context in the `AWSTraceHeader` system attribute and in the message attributes.
//!
//! `AWSTraceHeader` is the context a consumer following the AWS Lambda conventions reads
//! (and the only one it reads by default); it is set to the PRODUCER span, in X-Ray format,
//! so that the consumer links to the send rather than to the SDK call beneath it. The
//! message attributes carry the configured propagation's fields too, for consumers that
//! opted in to them.

use std::collections::HashMap;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use aws_sdk_sqs::operation::send_message::{SendMessageError, SendMessageOutput};
use aws_sdk_sqs::operation::send_message_batch::builders::SendMessageBatchFluentBuilder;
use aws_sdk_sqs::operation::send_message_batch::{SendMessageBatchError, SendMessageBatchOutput};
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanBuilder, TraceContextExt};
use opentelemetry_semantic_conventions::attribute::{
    AWS_SQS_QUEUE_URL, MESSAGING_BATCH_MESSAGE_COUNT,
};

use super::producer::{
    end_call, inject, note_skipped, record_batch_failures, record_message_id, send_span,
};
use super::{BoundedAttributes, start};

pub use super::{MAX_MESSAGE_ATTRIBUTES, NOT_INJECTED_EVENT};

/// Outgoing SQS message attributes as a carrier: see [`BoundedAttributes`].
///
/// ```
/// use std::collections::HashMap;
/// use aws_sdk_sqs::types::MessageAttributeValue;
/// use otel_faas_core::propagation::CarrierMut;
/// use otel_faas_messaging::aws_sdk::sqs::sqs_send_attributes;
///
/// let full: HashMap<String, MessageAttributeValue> = (0..10)
///     .map(|i| (format!("a{i}"), MessageAttributeValue::builder().data_type("String").string_value("x").build().unwrap()))
///     .collect();
/// let mut attributes = full.clone();
/// let mut carrier = sqs_send_attributes(&mut attributes);
/// carrier.set("traceparent", "00-…".to_owned());
/// assert_eq!(carrier.skipped(), ["traceparent"]);
/// assert_eq!(attributes, full);
/// ```
pub type SqsSendAttributes<'a> = BoundedAttributes<'a, MessageAttributeValue>;

/// A carrier over outgoing SQS message attributes.
pub fn sqs_send_attributes(
    attributes: &mut HashMap<String, MessageAttributeValue>,
) -> SqsSendAttributes<'_> {
    BoundedAttributes::with(attributes, |value| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .ok()
    })
}

/// The queue name in a queue URL (`https://sqs.{region}.amazonaws.com/{account}/{queue}`).
pub(crate) fn queue_name(queue_url: &str) -> &str {
    queue_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(queue_url)
}

/// The message system attributes of a send from `cx`'s span: `existing`, with
/// `AWSTraceHeader` set to the span in X-Ray format unless the caller set one (or the span
/// is invalid).
///
/// ```
/// use aws_sdk_sqs::types::MessageSystemAttributeNameForSends;
/// use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
/// use otel_faas_messaging::aws_sdk::sqs::with_trace_header;
///
/// let span = SpanContext::new(
///     TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
///     SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
///     TraceFlags::SAMPLED, false, TraceState::default(),
/// );
/// let cx = opentelemetry::Context::new().with_remote_span_context(span);
/// let attributes = with_trace_header(None, &cx).unwrap();
/// let header = attributes[&MessageSystemAttributeNameForSends::AwsTraceHeader].string_value();
/// assert_eq!(header, Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"));
/// ```
pub fn with_trace_header(
    existing: Option<&HashMap<MessageSystemAttributeNameForSends, MessageSystemAttributeValue>>,
    cx: &opentelemetry::Context,
) -> Option<HashMap<MessageSystemAttributeNameForSends, MessageSystemAttributeValue>> {
    let mut attributes = existing.cloned().unwrap_or_default();
    let span = cx.span();
    let span_context = span.span_context();
    if span_context.is_valid()
        && !attributes.contains_key(&MessageSystemAttributeNameForSends::AwsTraceHeader)
    {
        let header =
            opentelemetry_aws::trace::xray_propagator::span_context_to_string(span_context);
        let value = header.and_then(|header| {
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(header)
                .build()
                .ok()
        });
        if let Some(value) = value {
            attributes.insert(MessageSystemAttributeNameForSends::AwsTraceHeader, value);
        }
    }
    (!attributes.is_empty()).then_some(attributes)
}

fn queue_send_span(queue_url: &str, mut extra: Vec<KeyValue>) -> SpanBuilder {
    extra.push(KeyValue::new(AWS_SQS_QUEUE_URL, queue_url.to_owned()));
    send_span("aws_sqs", queue_name(queue_url), extra)
}

/// `send_traced()` for `send_message`: a PRODUCER span `send {queue}` with
/// `messaging.message.id` from the response, and the context in `AWSTraceHeader` (see
/// [`with_trace_header`]) and the message attributes.
///
/// ```no_run
/// # async fn example(client: aws_sdk_sqs::Client) -> Result<(), aws_sdk_sqs::Error> {
/// use otel_faas_messaging::aws_sdk::sqs::SendMessageTracing as _;
///
/// client
///     .send_message()
///     .queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/orders")
///     .message_body("{\"order\": 42}")
///     .send_traced()
///     .await?;
/// # Ok(())
/// # }
/// ```
pub trait SendMessageTracing {
    /// Sends the message inside a PRODUCER span, with the trace context in its attributes.
    fn send_traced(
        self,
    ) -> impl Future<Output = Result<SendMessageOutput, SdkError<SendMessageError, HttpResponse>>> + Send;
}

impl SendMessageTracing for SendMessageFluentBuilder {
    async fn send_traced(
        self,
    ) -> Result<SendMessageOutput, SdkError<SendMessageError, HttpResponse>> {
        let queue_url = self.get_queue_url().clone().unwrap_or_default();
        let cx = start(queue_send_span(&queue_url, Vec::new()));
        let mut attributes = self.get_message_attributes().clone().unwrap_or_default();
        let mut carrier = sqs_send_attributes(&mut attributes);
        inject(&cx, &mut carrier);
        note_skipped(&cx, carrier.skipped());
        let system_attributes =
            with_trace_header(self.get_message_system_attributes().as_ref(), &cx);
        let result = self
            .set_message_attributes(Some(attributes))
            .set_message_system_attributes(system_attributes)
            .send()
            .with_context(cx.clone())
            .await;
        end_call(&cx, &result, |cx, output| {
            record_message_id(cx, output.message_id());
        });
        result
    }
}

/// `send_traced()` for `send_message_batch`: one PRODUCER span `send {queue}` with
/// `messaging.batch.message_count`, the context in every entry's `AWSTraceHeader` and
/// attributes, and ERROR
/// status when entries fail.
pub trait SendMessageBatchTracing {
    /// Sends the batch inside a PRODUCER span, with the trace context in every entry.
    fn send_traced(
        self,
    ) -> impl Future<
        Output = Result<SendMessageBatchOutput, SdkError<SendMessageBatchError, HttpResponse>>,
    > + Send;
}

impl SendMessageBatchTracing for SendMessageBatchFluentBuilder {
    async fn send_traced(
        self,
    ) -> Result<SendMessageBatchOutput, SdkError<SendMessageBatchError, HttpResponse>> {
        let queue_url = self.get_queue_url().clone().unwrap_or_default();
        let mut entries = self.get_entries().clone().unwrap_or_default();
        let count = i64::try_from(entries.len()).unwrap_or(i64::MAX);
        let cx = start(queue_send_span(
            &queue_url,
            vec![KeyValue::new(MESSAGING_BATCH_MESSAGE_COUNT, count)],
        ));
        let mut skipped = Vec::new();
        for entry in &mut entries {
            let mut attributes = entry.message_attributes().cloned().unwrap_or_default();
            let mut carrier = sqs_send_attributes(&mut attributes);
            inject(&cx, &mut carrier);
            skipped.extend(carrier.skipped().iter().cloned());
            entry.message_attributes = Some(attributes);
            entry.message_system_attributes =
                with_trace_header(entry.message_system_attributes.as_ref(), &cx);
        }
        note_skipped(&cx, &skipped);
        let result = self
            .set_entries(Some(entries))
            .send()
            .with_context(cx.clone())
            .await;
        end_call(&cx, &result, |cx, output| {
            record_batch_failures(cx, output.failed().len(), count, "messages were not sent");
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_never_written() {
        use otel_faas_core::propagation::CarrierMut as _;
        let mut attributes = HashMap::new();
        let mut carrier = sqs_send_attributes(&mut attributes);
        carrier.set("tracestate", String::new());
        carrier.set(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        );
        assert!(carrier.skipped().is_empty());
        assert_eq!(attributes.len(), 1);
        assert!(attributes.contains_key("traceparent"));
    }

    #[test]
    fn queue_names_come_from_the_url() {
        assert_eq!(
            queue_name("https://sqs.us-east-1.amazonaws.com/123456789012/orders"),
            "orders"
        );
        assert_eq!(
            queue_name("http://127.0.0.1:5000/123456789012/orders.fifo/"),
            "orders.fifo"
        );
        assert_eq!(queue_name(""), "");
    }
}
