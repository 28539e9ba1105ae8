//! SNS publishers: `publish` and `publish_batch` with a PRODUCER span and the context in
//! the message attributes (which SNS hands to every subscriber: in a Lambda SNS event, as
//! SQS message attributes with raw delivery, or inside the envelope without it).

use std::collections::HashMap;

use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::error::SdkError;
use aws_sdk_sns::operation::publish::builders::PublishFluentBuilder;
use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
use aws_sdk_sns::operation::publish_batch::builders::PublishBatchFluentBuilder;
use aws_sdk_sns::operation::publish_batch::{PublishBatchError, PublishBatchOutput};
use aws_sdk_sns::types::MessageAttributeValue;
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::SpanBuilder;
use opentelemetry_semantic_conventions::attribute::{
    AWS_SNS_TOPIC_ARN, MESSAGING_BATCH_MESSAGE_COUNT,
};

use super::producer::{
    end_call, inject, note_skipped, record_batch_failures, record_message_id, send_span,
};
use super::{BoundedAttributes, start};

/// Outgoing SNS message attributes as a carrier: see [`BoundedAttributes`].
pub type SnsPublishAttributes<'a> = BoundedAttributes<'a, MessageAttributeValue>;

/// A carrier over outgoing SNS message attributes.
///
/// ```
/// use std::collections::HashMap;
/// use otel_faas_core::propagation::CarrierMut;
/// use otel_faas_messaging::aws_sdk::sns::sns_publish_attributes;
///
/// let mut attributes = HashMap::new();
/// sns_publish_attributes(&mut attributes).set("traceparent", "00-…".to_owned());
/// assert_eq!(attributes["traceparent"].string_value(), Some("00-…"));
/// ```
pub fn sns_publish_attributes(
    attributes: &mut HashMap<String, MessageAttributeValue>,
) -> SnsPublishAttributes<'_> {
    BoundedAttributes::with(attributes, |value| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .ok()
    })
}

fn topic_send_span(topic_arn: &str, mut extra: Vec<KeyValue>) -> SpanBuilder {
    let topic = topic_arn.rsplit(':').next().unwrap_or(topic_arn);
    extra.push(KeyValue::new(AWS_SNS_TOPIC_ARN, topic_arn.to_owned()));
    send_span("aws.sns", topic, extra)
}

/// `send_traced()` for `publish`: a PRODUCER span `send {topic}` with
/// `messaging.message.id` from the response, and the context in the message attributes.
///
/// ```no_run
/// # async fn example(client: aws_sdk_sns::Client) -> Result<(), aws_sdk_sns::Error> {
/// use otel_faas_messaging::aws_sdk::sns::PublishTracing as _;
///
/// client
///     .publish()
///     .topic_arn("arn:aws:sns:eu-west-1:123456789012:orders")
///     .message("{\"order\": 42}")
///     .send_traced()
///     .await?;
/// # Ok(())
/// # }
/// ```
pub trait PublishTracing {
    /// Publishes inside a PRODUCER span, with the trace context in the message attributes.
    fn send_traced(
        self,
    ) -> impl Future<Output = Result<PublishOutput, SdkError<PublishError, HttpResponse>>> + Send;
}

impl PublishTracing for PublishFluentBuilder {
    async fn send_traced(self) -> Result<PublishOutput, SdkError<PublishError, HttpResponse>> {
        let topic_arn = self
            .get_topic_arn()
            .clone()
            .or_else(|| self.get_target_arn().clone())
            .unwrap_or_default();
        let cx = start(topic_send_span(&topic_arn, Vec::new()));
        let mut attributes = self.get_message_attributes().clone().unwrap_or_default();
        let mut carrier = sns_publish_attributes(&mut attributes);
        inject(&cx, &mut carrier);
        note_skipped(&cx, carrier.skipped());
        let result = self
            .set_message_attributes(Some(attributes))
            .send()
            .with_context(cx.clone())
            .await;
        end_call(&cx, &result, |cx, output| {
            record_message_id(cx, output.message_id());
        });
        result
    }
}

/// `send_traced()` for `publish_batch`: one PRODUCER span with
/// `messaging.batch.message_count` and the context in every entry.
pub trait PublishBatchTracing {
    /// Publishes the batch inside a PRODUCER span, with the trace context in every entry.
    fn send_traced(
        self,
    ) -> impl Future<Output = Result<PublishBatchOutput, SdkError<PublishBatchError, HttpResponse>>> + Send;
}

impl PublishBatchTracing for PublishBatchFluentBuilder {
    async fn send_traced(
        self,
    ) -> Result<PublishBatchOutput, SdkError<PublishBatchError, HttpResponse>> {
        let topic_arn = self.get_topic_arn().clone().unwrap_or_default();
        let mut entries = self
            .get_publish_batch_request_entries()
            .clone()
            .unwrap_or_default();
        let count = i64::try_from(entries.len()).unwrap_or(i64::MAX);
        let cx = start(topic_send_span(
            &topic_arn,
            vec![KeyValue::new(MESSAGING_BATCH_MESSAGE_COUNT, count)],
        ));
        let mut skipped = Vec::new();
        for entry in &mut entries {
            let mut attributes = entry.message_attributes.take().unwrap_or_default();
            let mut carrier = sns_publish_attributes(&mut attributes);
            inject(&cx, &mut carrier);
            skipped.extend(carrier.skipped().iter().cloned());
            entry.message_attributes = Some(attributes);
        }
        note_skipped(&cx, &skipped);
        let result = self
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .with_context(cx.clone())
            .await;
        end_call(&cx, &result, |cx, output| {
            record_batch_failures(
                cx,
                output.failed().len(),
                count,
                "messages were not published",
            );
        });
        result
    }
}
