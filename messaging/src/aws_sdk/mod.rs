//! The AWS SDK for Rust: PRODUCER spans with context injection for the messaging calls, and
//! CLIENT spans for any client through the SDK's interceptor API.
//!
//! Spans are recorded with the tracer of the running invocation (see
//! [`InvocationScope`](otel_faas_core::InvocationScope)) and its propagation; outside an
//! invocation, with the global tracer provider and text-map propagator.

mod client_spans;
mod services;
#[cfg(feature = "sqs")]
pub mod sqs;

pub use client_spans::AwsSdkTracing;

use opentelemetry::global;
use opentelemetry::propagation::Injector;
use opentelemetry::trace::{SpanBuilder, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute::ERROR_TYPE;
use otel_faas_core::{CarrierMut, InvocationScope};

/// The instrumentation scope name of spans recorded outside an invocation.
pub(crate) const SCOPE: &str = "otel-faas-messaging";

/// Starts `builder` as a child of the current context, with the invocation's tracer when
/// there is one, and returns the context holding it.
pub(crate) fn start(builder: SpanBuilder) -> Context {
    let parent = Context::current();
    match InvocationScope::current() {
        Some(scope) => parent.with_span(builder.start_with_context(scope.tracer(), &parent)),
        None => parent.with_span(builder.start_with_context(&global::tracer(SCOPE), &parent)),
    }
}

struct AsInjector<'a>(&'a mut dyn CarrierMut);

impl Injector for AsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key, value);
    }
}

/// Injects `cx` with the invocation's propagation, or the global propagator outside one.
pub(crate) fn inject(cx: &Context, carrier: &mut dyn CarrierMut) {
    match InvocationScope::current() {
        Some(scope) => scope.propagation().inject_into(cx, carrier),
        None => global::get_text_map_propagator(|propagator| {
            propagator.inject_context(cx, &mut AsInjector(carrier));
        }),
    }
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

/// Marks the span of `cx` failed with `error_type` and `message`.
pub(crate) fn record_failure(cx: &Context, error_type: String, message: String) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(ERROR_TYPE, error_type));
    span.set_status(Status::error(message));
}
