//! SQS producers: `send_message` and `send_message_batch` with a PRODUCER span and the
//! context in the message attributes.

use std::collections::HashMap;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use aws_sdk_sqs::operation::send_message::{SendMessageError, SendMessageOutput};
use aws_sdk_sqs::operation::send_message_batch::builders::SendMessageBatchFluentBuilder;
use aws_sdk_sqs::operation::send_message_batch::{SendMessageBatchError, SendMessageBatchOutput};
use aws_sdk_sqs::types::MessageAttributeValue;
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt};
use opentelemetry_semantic_conventions::attribute::{
    AWS_SQS_QUEUE_URL, MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use otel_faas_core::CarrierMut;

use super::{inject, record_failure, sdk_error_type, start};

/// SQS accepts at most this many message attributes per message.
pub const SQS_MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// The name of the span event recorded when the context could not be injected.
pub const NOT_INJECTED_EVENT: &str = "trace context not injected";

/// Outgoing SQS message attributes as a carrier. It keeps to SQS's limit of
/// [`SQS_MAX_MESSAGE_ATTRIBUTES`]: a key that would exceed it is skipped — the message is
/// sent as the user built it — and remembered, so the send span can say why.
///
/// ```
/// use std::collections::HashMap;
/// use aws_sdk_sqs::types::MessageAttributeValue;
/// use otel_faas_core::CarrierMut;
/// use otel_faas_messaging::aws_sdk::sqs::SqsSendAttributes;
///
/// let full: HashMap<String, MessageAttributeValue> = (0..10)
///     .map(|i| (format!("a{i}"), MessageAttributeValue::builder().data_type("String").string_value("x").build().unwrap()))
///     .collect();
/// let mut attributes = full.clone();
/// let mut carrier = SqsSendAttributes::new(&mut attributes);
/// carrier.set("traceparent", "00-…".to_owned());
/// assert_eq!(carrier.skipped(), ["traceparent"]);
/// assert_eq!(attributes, full);
/// ```
#[derive(Debug)]
pub struct SqsSendAttributes<'a> {
    attributes: &'a mut HashMap<String, MessageAttributeValue>,
    skipped: Vec<String>,
}

impl<'a> SqsSendAttributes<'a> {
    /// A carrier writing into `attributes`.
    pub fn new(attributes: &'a mut HashMap<String, MessageAttributeValue>) -> Self {
        Self {
            attributes,
            skipped: Vec::new(),
        }
    }

    /// The keys that were not written because the message was full.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

impl CarrierMut for SqsSendAttributes<'_> {
    fn set(&mut self, key: &str, value: String) {
        if !self.attributes.contains_key(key) && self.attributes.len() >= SQS_MAX_MESSAGE_ATTRIBUTES
        {
            self.skipped.push(key.to_owned());
            return;
        }
        match MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
        {
            Ok(attribute) => {
                self.attributes.insert(key.to_owned(), attribute);
            }
            Err(_) => self.skipped.push(key.to_owned()),
        }
    }
}

/// The queue name in a queue URL (`https://sqs.{region}.amazonaws.com/{account}/{queue}`).
pub(crate) fn queue_name(queue_url: &str) -> &str {
    queue_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(queue_url)
}

fn send_span(queue_url: &str) -> SpanBuilder {
    let queue = queue_name(queue_url);
    SpanBuilder::from_name(format!("send {queue}"))
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new(MESSAGING_SYSTEM, "aws_sqs"),
            KeyValue::new(MESSAGING_OPERATION_TYPE, "send"),
            KeyValue::new(MESSAGING_OPERATION_NAME, "send"),
            KeyValue::new(MESSAGING_DESTINATION_NAME, queue.to_owned()),
            KeyValue::new(AWS_SQS_QUEUE_URL, queue_url.to_owned()),
        ])
}

fn note_skipped(cx: &opentelemetry::Context, skipped: &[String]) {
    if !skipped.is_empty() {
        cx.span().add_event(
            NOT_INJECTED_EVENT,
            vec![
                KeyValue::new(
                    "reason",
                    "the message already has the 10 attributes SQS allows",
                ),
                KeyValue::new("keys", skipped.join(",")),
            ],
        );
    }
}

/// `send_traced()` for `send_message`: a PRODUCER span `send {queue}` with
/// `messaging.message.id` from the response, and the context in the message attributes.
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
        let cx = start(send_span(&queue_url));
        let mut attributes = self.get_message_attributes().clone().unwrap_or_default();
        let mut carrier = SqsSendAttributes::new(&mut attributes);
        inject(&cx, &mut carrier);
        note_skipped(&cx, carrier.skipped());
        let result = self
            .set_message_attributes(Some(attributes))
            .send()
            .with_context(cx.clone())
            .await;
        match &result {
            Ok(output) => {
                if let Some(id) = output.message_id() {
                    cx.span()
                        .set_attribute(KeyValue::new(MESSAGING_MESSAGE_ID, id.to_owned()));
                }
            }
            Err(error) => record_failure(&cx, sdk_error_type(error), error.to_string()),
        }
        cx.span().end();
        result
    }
}

/// `send_traced()` for `send_message_batch`: one PRODUCER span `send {queue}` with
/// `messaging.batch.message_count`, the context in every entry's attributes, and ERROR
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
        let cx = start(
            send_span(&queue_url)
                .with_attributes([KeyValue::new(MESSAGING_BATCH_MESSAGE_COUNT, count)]),
        );
        let mut skipped = Vec::new();
        for entry in &mut entries {
            let mut attributes = entry.message_attributes().cloned().unwrap_or_default();
            let mut carrier = SqsSendAttributes::new(&mut attributes);
            inject(&cx, &mut carrier);
            skipped.extend(carrier.skipped().iter().cloned());
            entry.message_attributes = Some(attributes);
        }
        skipped.dedup();
        note_skipped(&cx, &skipped);
        let result = self
            .set_entries(Some(entries))
            .send()
            .with_context(cx.clone())
            .await;
        match &result {
            Ok(output) if !output.failed().is_empty() => record_failure(
                &cx,
                "partial_batch_failure".to_owned(),
                format!(
                    "{} of {count} messages were not sent",
                    output.failed().len()
                ),
            ),
            Ok(_) => {}
            Err(error) => record_failure(&cx, sdk_error_type(error), error.to_string()),
        }
        cx.span().end();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
