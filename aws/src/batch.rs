//! Partial batch failures: process records one by one, each in its own span, and tell
//! Lambda exactly which ones failed.
//!
//! Each helper runs the handler once per record inside a CONSUMER span (a child of the
//! batch span, linked to the record's producer where the record carries one), records a
//! failure on that span (ERROR status, `error.type`, an exception event), and returns the
//! response Lambda expects with `ReportBatchItemFailures` turned on. The invocation span
//! then reports the failures too (see [`LambdaResponse`](crate::triggers::LambdaResponse)).
//!
//! Ordering rules, as AWS requires:
//!
//! * **SQS standard queues**: every message is processed; each failure is reported.
//! * **SQS FIFO queues** (`.fifo`): processing stops at the first failure; that message and
//!   every later one are reported, so that the group's order is kept on retry.
//! * **Kinesis and DynamoDB Streams**: processing stops at the first failure and only its
//!   sequence number is reported; Lambda retries from there, so later records are not lost.
//!
//! Records that are skipped are not given spans (they did not run); the batch span gets a
//! `records skipped` event with their count.

use std::fmt::Display;

use aws_lambda_events::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_lambda_events::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse, KinesisBatchItemFailure, KinesisEventResponse,
};
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use otel_faas_core::{SpanSpec, engine::InvocationScope};

pub use crate::triggers::sqs::process_message;
use crate::triggers::{dynamodb, kinesis, sqs};

/// Runs `future` in `span` when inside an invocation; otherwise just runs it.
async fn in_record_span<E: Display + std::fmt::Debug + 'static>(
    span: impl FnOnce(&InvocationScope) -> SpanSpec,
    future: impl Future<Output = Result<(), E>>,
) -> Result<(), E> {
    match InvocationScope::current() {
        Some(scope) => scope.in_span(span(&scope), future).await,
        None => future.await,
    }
}

fn note_skipped(count: usize) {
    if count > 0 {
        Context::current().span().add_event(
            "records skipped",
            vec![KeyValue::new(
                "aws.lambda.batch.skipped_records",
                i64::try_from(count).unwrap_or(i64::MAX),
            )],
        );
    }
}

/// Processes an SQS batch message by message and returns the `batchItemFailures`.
///
/// ```no_run
/// use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
/// use lambda_runtime::LambdaEvent;
///
/// async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
///     Ok(otel_faas_aws::batch::process_sqs_batch(&event.payload, async |message| {
///         let body = message.body.as_deref().unwrap_or_default();
///         if body.is_empty() {
///             return Err("empty message");
///         }
///         Ok(())
///     })
///     .await)
/// }
/// ```
pub async fn process_sqs_batch<E, F>(event: &SqsEvent, mut handler: F) -> SqsBatchResponse
where
    F: AsyncFnMut(&SqsMessage) -> Result<(), E>,
    E: Display + std::fmt::Debug + 'static,
{
    let mut response = SqsBatchResponse::default();
    let records = &event.records;
    for (index, message) in records.iter().enumerate() {
        let result = in_record_span(
            |scope| sqs::SqsTrigger::current().message_span(message, scope.propagation().as_ref()),
            handler(message),
        )
        .await;
        if result.is_ok() {
            continue;
        }
        let fifo = message
            .event_source_arn
            .as_deref()
            .is_some_and(|arn| arn.ends_with(".fifo"));
        let failed = if fifo {
            &records[index..]
        } else {
            std::slice::from_ref(message)
        };
        for failed in failed {
            match failed.message_id.clone() {
                Some(id) => {
                    let mut failure = aws_lambda_events::sqs::BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
                None => {
                    tracing::debug!(target: "otel_faas", "a failed SQS message has no messageId and cannot be reported")
                }
            }
        }
        if fifo {
            note_skipped(records.len() - index - 1);
            break;
        }
    }
    response
}

/// Processes a Kinesis batch record by record, stopping at the first failure, and returns
/// its sequence number as the `batchItemFailures`.
///
/// ```no_run
/// use aws_lambda_events::kinesis::KinesisEvent;
/// use aws_lambda_events::streams::KinesisEventResponse;
/// use lambda_runtime::LambdaEvent;
///
/// async fn handler(event: LambdaEvent<KinesisEvent>) -> Result<KinesisEventResponse, lambda_runtime::Error> {
///     Ok(otel_faas_aws::batch::process_kinesis_batch(&event.payload, async |record| {
///         std::str::from_utf8(&record.kinesis.data.0).map(|_| ())
///     })
///     .await)
/// }
/// ```
pub async fn process_kinesis_batch<E, F>(
    event: &KinesisEvent,
    mut handler: F,
) -> KinesisEventResponse
where
    F: AsyncFnMut(&KinesisEventRecord) -> Result<(), E>,
    E: Display + std::fmt::Debug + 'static,
{
    let mut response = KinesisEventResponse::default();
    let records = &event.records;
    for (index, record) in records.iter().enumerate() {
        let span = |_: &InvocationScope| {
            let (name, attributes) = kinesis::record_attributes(record);
            SpanSpec::new(name, SpanKind::Consumer).with_attributes(attributes)
        };
        if in_record_span(span, handler(record)).await.is_err() {
            let mut failure = KinesisBatchItemFailure::default();
            failure.item_identifier = Some(record.kinesis.sequence_number.clone());
            response.batch_item_failures.push(failure);
            note_skipped(records.len() - index - 1);
            break;
        }
    }
    response
}

/// Processes a DynamoDB stream batch record by record, stopping at the first failure, and
/// returns its sequence number as the `batchItemFailures`.
///
/// ```no_run
/// use aws_lambda_events::dynamodb::Event;
/// use aws_lambda_events::streams::DynamoDbEventResponse;
/// use lambda_runtime::LambdaEvent;
///
/// async fn handler(event: LambdaEvent<Event>) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
///     Ok(otel_faas_aws::batch::process_dynamodb_batch(&event.payload, async |record| {
///         match record.event_name.as_str() {
///             "INSERT" | "MODIFY" | "REMOVE" => Ok(()),
///             other => Err(format!("unexpected event {other}")),
///         }
///     })
///     .await)
/// }
/// ```
pub async fn process_dynamodb_batch<E, F>(
    event: &DynamoDbEvent,
    mut handler: F,
) -> DynamoDbEventResponse
where
    F: AsyncFnMut(&EventRecord) -> Result<(), E>,
    E: Display + std::fmt::Debug + 'static,
{
    let mut response = DynamoDbEventResponse::default();
    let records = &event.records;
    for (index, record) in records.iter().enumerate() {
        let span = |_: &InvocationScope| {
            let attributes = dynamodb::record_attributes(record);
            let name = record
                .event_source_arn
                .as_deref()
                .and_then(dynamodb::table_name)
                .map_or_else(|| "process".to_owned(), |table| format!("{table} process"));
            SpanSpec::new(name, SpanKind::Consumer).with_attributes(attributes)
        };
        if in_record_span(span, handler(record)).await.is_err() {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            note_skipped(records.len() - index - 1);
            break;
        }
    }
    response
}
