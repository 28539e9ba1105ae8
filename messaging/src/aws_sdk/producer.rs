//! What the producers (`send_traced()` of SQS, SNS, EventBridge and Lambda) share: starting
//! and ending their spans, injecting context, and recording what the service answered.

// Each producer is behind its own feature; with only some of them compiled, some of these
// helpers have no caller.
#![cfg_attr(
    not(all(
        feature = "sqs",
        feature = "sns",
        feature = "eventbridge",
        feature = "lambda"
    )),
    allow(dead_code)
)]

use opentelemetry::trace::{SpanBuilder, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute::MESSAGING_MESSAGE_ID;
use otel_faas_core::{engine::InvocationScope, propagation::CarrierMut};

use super::{NOT_INJECTED_EVENT, record_failure};

/// Injects `cx` with the invocation's propagation, or the global propagator outside one.
pub(crate) fn inject(cx: &Context, carrier: &mut dyn CarrierMut) {
    InvocationScope::inject(cx, carrier);
}

/// Records on the span of `cx` which keys could not be injected, and why.
pub(crate) fn note_skipped(cx: &Context, skipped: &[String]) {
    if !skipped.is_empty() {
        cx.span().add_event(
            NOT_INJECTED_EVENT,
            vec![
                KeyValue::new(
                    "reason",
                    "the message already has the 10 attributes the service allows",
                ),
                KeyValue::new("keys", distinct_keys(skipped)),
            ],
        );
    }
}

/// The skipped keys, each once, comma-separated: a batch skips the same keys in every
/// full entry, not necessarily next to each other.
fn distinct_keys(skipped: &[String]) -> String {
    let mut keys: Vec<&str> = skipped.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.join(",")
}

/// A PRODUCER span `send {destination}` with the messaging attributes every send has, and
/// `extra`. (`SpanBuilder::with_attributes` replaces rather than adds, so all attributes
/// are given here, at once.)
pub(crate) fn send_span(
    system: &'static str,
    destination: &str,
    extra: Vec<KeyValue>,
) -> SpanBuilder {
    use opentelemetry::trace::SpanKind;
    use opentelemetry_semantic_conventions::attribute::{
        MESSAGING_DESTINATION_NAME, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE,
        MESSAGING_SYSTEM,
    };
    SpanBuilder::from_name(format!("send {destination}"))
        .with_kind(SpanKind::Producer)
        .with_attributes(
            [
                KeyValue::new(MESSAGING_SYSTEM, system),
                KeyValue::new(MESSAGING_OPERATION_TYPE, "send"),
                KeyValue::new(MESSAGING_OPERATION_NAME, "send"),
                KeyValue::new(MESSAGING_DESTINATION_NAME, destination.to_owned()),
            ]
            .into_iter()
            .chain(extra),
        )
}

/// The `error.type` of an SDK call that failed: the service's error code (such as
/// `ThrottlingException` or `QueueDoesNotExist`) when it sent one, else the kind of failure.
pub(crate) fn sdk_error_type<E, R>(
    error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match error {
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .map_or_else(|| "_OTHER".to_owned(), str::to_owned),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch_failure".to_owned(),
        SdkError::ResponseError(_) => "response_error".to_owned(),
        SdkError::ConstructionFailure(_) => "construction_failure".to_owned(),
        _ => "_OTHER".to_owned(),
    }
}

/// Ends the span of `cx` with what an SDK call returned: `on_output` records what a
/// successful output tells (a message id, failed entries); an SDK error becomes `error.type`
/// (the service's error code) and ERROR status.
pub(crate) fn end_call<T, E, R>(
    cx: &Context,
    result: &Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
    on_output: impl FnOnce(&Context, &T),
) where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
    aws_smithy_runtime_api::client::result::SdkError<E, R>: std::fmt::Display,
{
    match result {
        Ok(output) => on_output(cx, output),
        Err(error) => record_failure(cx, sdk_error_type(error), error.to_string()),
    }
    cx.span().end();
}

/// Records `messaging.message.id` when the service returned one.
pub(crate) fn record_message_id(cx: &Context, id: Option<&str>) {
    if let Some(id) = id {
        cx.span()
            .set_attribute(KeyValue::new(MESSAGING_MESSAGE_ID, id.to_owned()));
    }
}

/// Marks a batch call ERROR `partial_batch_failure` when the service refused `failed` of
/// its `count` entries; `refused` completes the status message ("messages were not sent").
pub(crate) fn record_batch_failures(
    cx: &Context,
    failed: usize,
    count: impl std::fmt::Display,
    refused: &str,
) {
    if failed > 0 {
        record_failure(
            cx,
            "partial_batch_failure".to_owned(),
            format!("{failed} of {count} {refused}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_skipped_by_several_entries_are_named_once() {
        let skipped = ["traceparent", "tracestate", "traceparent", "tracestate"].map(String::from);
        assert_eq!(distinct_keys(&skipped), "traceparent,tracestate");
    }
}
