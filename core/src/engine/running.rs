//! A running invocation and the one path every ending takes.
//!
//! An invocation ends in one of three places — the handler's future completes, the
//! watchdog fires before the deadline, or the invocation future is dropped — and all three
//! call [`Running::end`]: whichever comes first records the ending on the spans, ends them,
//! builds the [`InvocationRecord`] and tells the observers. The others find it done.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute::ERROR_TYPE;

use super::error_type::error_type_of;
use super::exception::Exceptions;
use super::observer::{InvocationRecord, InvocationStart, InvocationStatus, Observers};
use super::{CANCELLED_ERROR_TYPE, Flusher, PANIC_ERROR_TYPE, TIMEOUT_ERROR_TYPE};
use crate::trigger::Outcome;

/// How an invocation ended, before it is written onto the spans.
pub(crate) enum Ended {
    /// The handler returned; the adapter read the response.
    Outcome(Outcome),
    /// The handler returned an error.
    Error { error_type: String, message: String },
    /// The handler panicked; `answered` holds what the response the adapter answered it
    /// with says (`http.response.status_code`), empty when the panic is resumed.
    Panic {
        message: String,
        answered: Vec<KeyValue>,
    },
    /// The watchdog fired `margin` before the deadline.
    Timeout { margin: Duration },
    /// The invocation future was dropped.
    Cancelled,
}

impl Ended {
    pub(crate) fn from_result<R, E: std::fmt::Display + std::fmt::Debug + 'static>(
        result: &Result<Result<R, E>, Box<dyn Any + Send>>,
        outcome: impl FnOnce(&R) -> Outcome,
    ) -> Self {
        match result {
            Ok(Ok(response)) => Self::Outcome(outcome(response)),
            Ok(Err(error)) => Self::Error {
                error_type: error_type_of(error),
                message: error.to_string(),
            },
            Err(payload) => Self::Panic {
                message: panic_message(payload.as_ref()),
                answered: Vec::new(),
            },
        }
    }

    /// Status, `error.type` and description; records the exception event where there is
    /// one.
    fn apply(self, spans: &Spans) -> (InvocationStatus, Option<(String, String)>) {
        match self {
            Self::Outcome(outcome) => {
                let span = spans.invocation.span();
                span.set_attributes(outcome.attributes().iter().cloned());
                match outcome.failure() {
                    None => (InvocationStatus::Succeeded, None),
                    Some(failure) => (
                        InvocationStatus::Failed,
                        Some((
                            failure.error_type().to_owned(),
                            failure.description().unwrap_or_default().to_owned(),
                        )),
                    ),
                }
            }
            Self::Error {
                error_type,
                message,
            } => {
                spans
                    .exceptions
                    .record(&spans.invocation, &error_type, &message);
                (InvocationStatus::Errored, Some((error_type, message)))
            }
            Self::Panic { message, answered } => {
                spans.invocation.span().set_attributes(answered);
                spans
                    .exceptions
                    .record(&spans.invocation, PANIC_ERROR_TYPE, &message);
                (
                    InvocationStatus::Panicked,
                    Some((PANIC_ERROR_TYPE.to_owned(), message)),
                )
            }
            Self::Timeout { margin } => {
                let message = format!(
                    "the invocation was still running {} ms before its deadline",
                    margin.as_millis()
                );
                spans
                    .exceptions
                    .record(&spans.invocation, TIMEOUT_ERROR_TYPE, &message);
                (
                    InvocationStatus::TimedOut,
                    Some((TIMEOUT_ERROR_TYPE.to_owned(), message)),
                )
            }
            Self::Cancelled => (
                InvocationStatus::Cancelled,
                Some((
                    CANCELLED_ERROR_TYPE.to_owned(),
                    "the invocation was dropped before it finished (the caller went away or \
                     the runtime cancelled it)"
                        .to_owned(),
                )),
            ),
        }
    }
}

/// The spans of one invocation: the invocation span and, if the adapter asked for one, the
/// inner span the handler runs in.
#[derive(Clone)]
pub(crate) struct Spans {
    pub(crate) invocation: Context,
    pub(crate) inner: Option<Context>,
    pub(crate) exceptions: Exceptions,
}

impl Spans {
    /// The context the handler runs in: the innermost span.
    pub(crate) fn handler_cx(&self) -> &Context {
        self.inner.as_ref().unwrap_or(&self.invocation)
    }

    /// Writes the ending on the spans and ends them, inner first. Response attributes and
    /// the exception event go on the invocation span; an inner span shares the status and
    /// `error.type`.
    pub(crate) fn end_with(&self, ended: Ended) -> (InvocationStatus, Option<String>) {
        let (status, failure) = ended.apply(self);
        let error_type = failure.map(|(error_type, description)| {
            for cx in self.inner.iter().chain([&self.invocation]) {
                let span = cx.span();
                span.set_attribute(KeyValue::new(ERROR_TYPE, error_type.clone()));
                span.set_status(Status::error(description.clone()));
            }
            error_type
        });
        if let Some(inner) = &self.inner {
            inner.span().end();
        }
        self.invocation.span().end();
        (status, error_type)
    }
}

/// One started invocation, shared by the invocation future and its watchdog.
pub(crate) struct Running {
    pub(crate) spans: Spans,
    pub(crate) start: InvocationStart,
    started: Instant,
    /// Set by whichever ends the invocation first.
    ended: AtomicBool,
    flusher: Flusher,
    observers: Observers,
}

impl Running {
    pub(crate) fn new(
        spans: Spans,
        start: InvocationStart,
        flusher: Flusher,
        observers: Observers,
    ) -> Arc<Self> {
        observers.start(&start);
        Arc::new(Self {
            spans,
            start,
            started: Instant::now(),
            ended: AtomicBool::new(false),
            flusher,
            observers,
        })
    }

    /// The one end path: records `ended`, ends the spans, tells the observers. Returns the
    /// flush ticket when this call ended the invocation, `None` when it had already ended.
    pub(crate) fn end(&self, ended: Ended) -> Option<u64> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return None;
        }
        let (status, error_type) = self.spans.end_with(ended);
        let ticket = self.flusher.span_ended();
        self.observers.end(&InvocationRecord {
            start: self.start.clone(),
            status,
            error_type,
            duration: self.started.elapsed(),
        });
        Some(ticket)
    }
}

/// Owns a running invocation for the invocation future: stops the watchdog, and ends the
/// invocation as cancelled if the future is dropped before it finished.
pub(crate) struct Guard {
    pub(crate) running: Arc<Running>,
    pub(crate) watchdog: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
        // A no-op when the handler's ending or the watchdog came first.
        self.running.end(Ended::Cancelled);
    }
}

/// Ends and exports an invocation that is about to be stopped by the platform.
pub(crate) struct Watchdog {
    pub(crate) running: Arc<Running>,
    pub(crate) flusher: Flusher,
    pub(crate) deadline: Instant,
    pub(crate) margin: Duration,
}

impl Watchdog {
    pub(crate) async fn run(self) {
        let fire_at = self
            .deadline
            .checked_sub(self.margin)
            .unwrap_or(self.deadline);
        tokio::time::sleep_until(fire_at.into()).await;
        let Some(ticket) = self.running.end(Ended::Timeout {
            margin: self.margin,
        }) else {
            return;
        };
        let budget = self.deadline.saturating_duration_since(Instant::now());
        if let Err(error) = self.flusher.flush_ticket(ticket, budget).await {
            tracing::warn!(target: "otel_faas", %error, "could not export the timed-out invocation before its deadline");
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "the handler panicked with a non-string payload".to_owned()
    }
}
