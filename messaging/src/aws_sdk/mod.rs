//! The AWS SDK for Rust: PRODUCER spans with context injection for the messaging calls, and
//! CLIENT spans for any client through the SDK's interceptor API.
//!
//! Spans are recorded with the tracer of the running invocation (see
//! [`InvocationScope`]) and its propagation; outside an
//! invocation, with the global tracer provider and text-map propagator.

mod client_spans;
#[cfg(feature = "aws-config")]
mod config;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
#[cfg(feature = "lambda")]
pub mod lambda;
mod producer;
mod services;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;

pub use client_spans::AwsSdkTracing;
#[cfg(feature = "aws-config")]
pub use config::sdk_config;

use opentelemetry::trace::{SpanBuilder, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute::ERROR_TYPE;
use otel_faas_core::{engine::InvocationScope, propagation::CarrierMut};

/// The instrumentation scope name of spans recorded outside an invocation.
pub(crate) const SCOPE: &str = "otel-faas-messaging";

/// Starts `builder` as a child of the current context, with the invocation's tracer when
/// there is one, and returns the context holding it.
pub(crate) fn start(builder: SpanBuilder) -> Context {
    InvocationScope::start_span(builder, SCOPE)
}

/// SQS and SNS accept at most this many message attributes per message.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// The name of the span event recorded when the context could not be injected.
pub const NOT_INJECTED_EVENT: &str = "trace context not injected";

/// Outgoing message attributes (SQS's or SNS's value type) as a carrier that keeps to the
/// services' limit of [`MAX_MESSAGE_ATTRIBUTES`]: a key that would exceed it is skipped —
/// the message is sent as the user built it — and remembered, so the send span can say why.
pub struct BoundedAttributes<'a, V> {
    attributes: &'a mut std::collections::HashMap<String, V>,
    make: fn(String) -> Option<V>,
    skipped: Vec<String>,
}

impl<V> std::fmt::Debug for BoundedAttributes<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedAttributes")
            .field("len", &self.attributes.len())
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl<'a, V> BoundedAttributes<'a, V> {
    /// A carrier writing into `attributes`, making each value with `make` (`None` skips).
    pub fn with(
        attributes: &'a mut std::collections::HashMap<String, V>,
        make: fn(String) -> Option<V>,
    ) -> Self {
        Self {
            attributes,
            make,
            skipped: Vec::new(),
        }
    }

    /// The keys that were not written because the message was full.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

impl<V> CarrierMut for BoundedAttributes<'_, V> {
    fn set(&mut self, key: &str, value: String) {
        // An empty value carries nothing, and SNS rejects an empty attribute outright (the
        // W3C propagator writes `tracestate` even when it is empty).
        if value.is_empty() {
            return;
        }
        if !self.attributes.contains_key(key) && self.attributes.len() >= MAX_MESSAGE_ATTRIBUTES {
            self.skipped.push(key.to_owned());
            return;
        }
        match (self.make)(value) {
            Some(attribute) => {
                self.attributes.insert(key.to_owned(), attribute);
            }
            None => self.skipped.push(key.to_owned()),
        }
    }
}

/// Marks the span of `cx` failed with `error_type` and `message`.
pub(crate) fn record_failure(cx: &Context, error_type: String, message: String) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(ERROR_TYPE, error_type));
    span.set_status(Status::error(message));
}
