//! EventBridge publishers: `put_events` with a PRODUCER span and the context in each
//! entry's `TraceHeader`.
//!
//! **What is injected, and why.** EventBridge defines its own place for trace context: the
//! `TraceHeader` of each `PutEventsRequestEntry`, in X-Ray format. EventBridge carries it to
//! the rule's targets (a Lambda target receives it as its invocation's trace header, an SQS
//! target as the message's `AWSTraceHeader`), which is where the consumers in this workspace
//! look. By default nothing is written into the event itself: the event's `detail` is the
//! user's data, and every target sees what is in it. An entry that already has a
//! `TraceHeader` keeps it.
//!
//! **Opt-in: the context in `detail` too.** Where the `TraceHeader` does not arrive — a
//! target that is not X-Ray aware, an emulator (neither moto nor LocalStack forwards it) —
//! [`PutEventsTracing::send_traced_with`] and [`PutEventsTraceOptions::context_in_detail`]
//! also write the context, through the configured propagation, as an `_otel` object in each
//! entry's `detail` (see [`EventDetailContext`](crate::EventDetailContext)); the SQS and
//! EventBridge consumers of `otel-faas-aws` read it. An entry whose `detail` is not a JSON
//! object, already has `_otel`, or would grow past EventBridge's 256 KiB entry limit is sent
//! unchanged, and the span records why.

use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::error::SdkError;
use aws_sdk_eventbridge::operation::put_events::builders::PutEventsFluentBuilder;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute::MESSAGING_BATCH_MESSAGE_COUNT;

use super::producer::{end_call, inject, record_batch_failures, record_message_id, send_span};
use super::{NOT_INJECTED_EVENT, start};
use crate::{DetailNotInjected, inject_into_detail};

/// EventBridge's limit on the size of one `PutEvents` entry.
const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// How [`PutEventsTracing::send_traced_with`] carries the context.
///
/// ```
/// use otel_faas_messaging::aws_sdk::eventbridge::PutEventsTraceOptions;
///
/// let options = PutEventsTraceOptions::new().context_in_detail();
/// assert!(options.writes_context_in_detail());
/// assert!(!PutEventsTraceOptions::default().writes_context_in_detail());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutEventsTraceOptions {
    context_in_detail: bool,
}

impl PutEventsTraceOptions {
    /// The default: the context in each entry's `TraceHeader` only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also writes the context into each entry's `detail`, under `_otel`.
    pub fn context_in_detail(mut self) -> Self {
        self.context_in_detail = true;
        self
    }

    /// Whether the context goes into `detail` too.
    pub fn writes_context_in_detail(self) -> bool {
        self.context_in_detail
    }
}

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
    /// Puts the events inside a PRODUCER span, with the trace context in every entry's
    /// `TraceHeader`.
    fn send_traced(
        self,
    ) -> impl Future<Output = Result<PutEventsOutput, SdkError<PutEventsError, HttpResponse>>> + Send;

    /// [`send_traced`](Self::send_traced), carrying the context as `options` say.
    ///
    /// ```no_run
    /// # async fn example(client: aws_sdk_eventbridge::Client) -> Result<(), aws_sdk_eventbridge::Error> {
    /// use aws_sdk_eventbridge::types::PutEventsRequestEntry;
    /// use otel_faas_messaging::aws_sdk::eventbridge::{PutEventsTraceOptions, PutEventsTracing as _};
    ///
    /// let entry = PutEventsRequestEntry::builder()
    ///     .source("shop.orders")
    ///     .detail_type("OrderPlaced")
    ///     .detail("{\"order\": 42}")
    ///     .build();
    /// client
    ///     .put_events()
    ///     .entries(entry)
    ///     .send_traced_with(PutEventsTraceOptions::new().context_in_detail())
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    fn send_traced_with(
        self,
        options: PutEventsTraceOptions,
    ) -> impl Future<Output = Result<PutEventsOutput, SdkError<PutEventsError, HttpResponse>>> + Send;
}

impl PutEventsTracing for PutEventsFluentBuilder {
    async fn send_traced(self) -> Result<PutEventsOutput, SdkError<PutEventsError, HttpResponse>> {
        self.send_traced_with(PutEventsTraceOptions::new()).await
    }

    async fn send_traced_with(
        self,
        options: PutEventsTraceOptions,
    ) -> Result<PutEventsOutput, SdkError<PutEventsError, HttpResponse>> {
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
        let mut not_injected = Vec::new();
        for entry in &mut entries {
            if entry.trace_header.is_none() {
                entry.trace_header = header.clone();
            }
            if options.context_in_detail
                && let Err(why) = write_context_in_detail(&cx, entry)
            {
                not_injected.push(why);
            }
        }
        note_not_injected(&cx, &not_injected);
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

/// Why a `detail` was left without context, beyond [`DetailNotInjected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotInjected {
    Detail(DetailNotInjected),
    TooLarge,
}

impl NotInjected {
    fn reason(self) -> String {
        match self {
            Self::Detail(why) => why.to_string(),
            Self::TooLarge => "the entry would exceed EventBridge's 256 KiB limit".to_owned(),
        }
    }
}

/// Writes the context of `cx` into the entry's `detail`, unless that would change what
/// EventBridge accepts. An entry without `detail` is left alone: EventBridge refuses it
/// anyway, with its own error.
fn write_context_in_detail(
    cx: &Context,
    entry: &mut PutEventsRequestEntry,
) -> Result<(), NotInjected> {
    let Some(detail) = entry.detail.as_deref() else {
        return Ok(());
    };
    let written =
        inject_into_detail(detail, |carrier| inject(cx, carrier)).map_err(NotInjected::Detail)?;
    let grown = written.len() - detail.len();
    if entry_size(entry) + grown > MAX_ENTRY_BYTES {
        return Err(NotInjected::TooLarge);
    }
    entry.detail = Some(written);
    Ok(())
}

/// An entry's size as EventBridge counts it: the UTF-8 bytes of its source, detail type,
/// detail and resources, and 14 bytes for a time.
fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    let text = |value: Option<&str>| value.map_or(0, str::len);
    let time = if entry.time.is_some() { 14 } else { 0 };
    time + text(entry.source.as_deref())
        + text(entry.detail_type.as_deref())
        + text(entry.detail.as_deref())
        + entry.resources().iter().map(String::len).sum::<usize>()
}

/// One span event per distinct reason, with how many entries it kept unchanged.
fn note_not_injected(cx: &Context, not_injected: &[NotInjected]) {
    let mut reasons: Vec<NotInjected> = not_injected.to_vec();
    reasons.sort_by_key(|why| why.reason());
    reasons.dedup();
    for why in reasons {
        let count = not_injected.iter().filter(|w| **w == why).count();
        cx.span().add_event(
            NOT_INJECTED_EVENT,
            vec![
                KeyValue::new("reason", why.reason()),
                KeyValue::new("entries", i64::try_from(count).unwrap_or(i64::MAX)),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::primitives::DateTime;

    fn traced_context() -> Context {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ))
    }

    fn with_w3c<T>(f: impl FnOnce() -> T) -> T {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        f()
    }

    #[test]
    fn the_detail_takes_the_context() {
        with_w3c(|| {
            let mut entry = PutEventsRequestEntry::builder()
                .detail(r#"{"order": 42}"#)
                .build();
            write_context_in_detail(&traced_context(), &mut entry).unwrap();
            assert_eq!(
                entry.detail(),
                Some(
                    r#"{"order": 42,"_otel":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}"#
                )
            );
        });
    }

    #[test]
    fn an_entry_at_the_size_limit_is_sent_unchanged() {
        with_w3c(|| {
            let padding = "x".repeat(MAX_ENTRY_BYTES - 100);
            let detail = format!(r#"{{"pad": "{padding}"}}"#);
            let mut entry = PutEventsRequestEntry::builder()
                .source("shop.orders")
                .detail_type("OrderPlaced")
                .time(DateTime::from_secs(0))
                .resources("arn:aws:s3:::bucket")
                .detail(detail.clone())
                .build();
            assert!(entry_size(&entry) <= MAX_ENTRY_BYTES);
            assert_eq!(
                write_context_in_detail(&traced_context(), &mut entry),
                Err(NotInjected::TooLarge)
            );
            assert_eq!(entry.detail(), Some(detail.as_str()));
        });
    }

    #[test]
    fn entries_without_an_object_detail_are_sent_unchanged() {
        with_w3c(|| {
            let mut entry = PutEventsRequestEntry::builder().detail("[1, 2]").build();
            assert_eq!(
                write_context_in_detail(&traced_context(), &mut entry),
                Err(NotInjected::Detail(DetailNotInjected::NotAnObject))
            );
            assert_eq!(entry.detail(), Some("[1, 2]"));
            let mut entry = PutEventsRequestEntry::builder().build();
            assert_eq!(
                write_context_in_detail(&traced_context(), &mut entry),
                Ok(())
            );
            assert_eq!(entry.detail(), None);
        });
    }
}
