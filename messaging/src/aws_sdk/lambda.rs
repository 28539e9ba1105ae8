//! Lambda → Lambda: `invoke` with a CLIENT span and the context in the invocation's
//! `ClientContext`, which the callee's runtime hands its handler (the aws crate's `Lambda`
//! adapter reads it from there).

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::builders::InvokeFluentBuilder;
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use base64::Engine as _;
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt};
use opentelemetry_semantic_conventions::attribute::{
    FAAS_INVOKED_NAME, FAAS_INVOKED_PROVIDER, FAAS_INVOKED_REGION,
};
use otel_faas_core::propagation::CarrierMut;

use super::producer::{end_call, inject};
use super::{record_failure, start};

/// The largest `ClientContext` Lambda accepts, base64-encoded.
pub const MAX_CLIENT_CONTEXT: usize = 3583;

/// The name of the span event recorded when the context did not fit.
pub const CLIENT_CONTEXT_FULL_EVENT: &str = "trace context not injected";

/// The `custom` map of a client context, as a carrier.
struct Custom<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl CarrierMut for Custom<'_> {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0
                .insert(key.to_owned(), serde_json::Value::String(value));
        }
    }
}

/// Adds the context of the current span to a base64 client context (or a new one), keeping
/// whatever else it holds. `None` when the result would exceed [`MAX_CLIENT_CONTEXT`] or the
/// existing value is not a base64 JSON object — then it is left as it is.
fn with_context(existing: Option<&str>, cx: &opentelemetry::Context) -> Option<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut document = match existing {
        Some(encoded) => {
            let decoded = engine.decode(encoded).ok()?;
            match serde_json::from_slice::<serde_json::Value>(&decoded).ok()? {
                serde_json::Value::Object(map) => map,
                _ => return None,
            }
        }
        None => serde_json::Map::new(),
    };
    let custom = document
        .entry("custom")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    let serde_json::Value::Object(custom) = custom else {
        return None;
    };
    inject(cx, &mut Custom(custom));
    let encoded = engine.encode(serde_json::Value::Object(document).to_string());
    (encoded.len() <= MAX_CLIENT_CONTEXT).then_some(encoded)
}

/// The function name and region in `FunctionName`, which may be a name, a partial ARN or an
/// ARN, with an optional qualifier.
fn function_and_region(function: &str) -> (&str, Option<&str>) {
    let parts: Vec<&str> = function.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, _, "function", name, ..] => (name, Some(region)),
        [_, "function", name, ..] => (name, None),
        [name, ..] => (name, None),
        [] => (function, None),
    }
}

/// `send_traced()` for `invoke`: a CLIENT span named after the function with
/// `faas.invoked_name`, `faas.invoked_provider=aws`, `faas.invoked_region` (when the
/// function is named by ARN), and the context in the `ClientContext`, merged into one the
/// caller set. A function error (`FunctionError` in the response) makes the span an ERROR.
///
/// ```no_run
/// # async fn example(client: aws_sdk_lambda::Client) -> Result<(), aws_sdk_lambda::Error> {
/// use aws_sdk_lambda::primitives::Blob;
/// use otel_faas_messaging::aws_sdk::lambda::InvokeTracing as _;
///
/// client
///     .invoke()
///     .function_name("billing")
///     .payload(Blob::new(r#"{"order": 42}"#))
///     .send_traced()
///     .await?;
/// # Ok(())
/// # }
/// ```
pub trait InvokeTracing {
    /// Invokes inside a CLIENT span, with the trace context in the client context.
    fn send_traced(
        self,
    ) -> impl Future<Output = Result<InvokeOutput, SdkError<InvokeError, HttpResponse>>> + Send;
}

impl InvokeTracing for InvokeFluentBuilder {
    async fn send_traced(self) -> Result<InvokeOutput, SdkError<InvokeError, HttpResponse>> {
        let target = self.get_function_name().clone().unwrap_or_default();
        let (function, region) = function_and_region(&target);
        let mut attributes = vec![
            KeyValue::new(FAAS_INVOKED_NAME, function.to_owned()),
            KeyValue::new(FAAS_INVOKED_PROVIDER, "aws"),
        ];
        if let Some(region) = region {
            attributes.push(KeyValue::new(FAAS_INVOKED_REGION, region.to_owned()));
        }
        let cx = start(
            SpanBuilder::from_name(function.to_owned())
                .with_kind(SpanKind::Client)
                .with_attributes(attributes),
        );
        let existing = self.get_client_context().clone();
        let builder = match with_context(existing.as_deref(), &cx) {
            Some(client_context) => self.client_context(client_context),
            None => {
                cx.span().add_event(
                    CLIENT_CONTEXT_FULL_EVENT,
                    vec![KeyValue::new(
                        "reason",
                        "the client context is not a base64 JSON object, or would exceed 3583 bytes",
                    )],
                );
                self
            }
        };
        let result = builder.send().with_context(cx.clone()).await;
        end_call(&cx, &result, |cx, output| {
            if let Some(error) = output.function_error() {
                record_failure(
                    cx,
                    error.to_owned(),
                    format!("the function returned an error ({error})"),
                );
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    /// Outside an invocation, injection uses the global propagator, as an application
    /// would set it.
    fn cx() -> opentelemetry::Context {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ))
    }

    fn decode(encoded: &str) -> serde_json::Value {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn the_context_is_merged_into_an_existing_client_context() {
        let existing = base64::engine::general_purpose::STANDARD
            .encode(r#"{"custom":{"tenant":"acme"},"env":{"locale":"en"}}"#);
        let merged = decode(&with_context(Some(&existing), &cx()).unwrap());
        assert_eq!(merged["custom"]["tenant"], "acme");
        assert_eq!(merged["env"]["locale"], "en");
        assert_eq!(
            merged["custom"]["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let fresh = decode(&with_context(None, &cx()).unwrap());
        assert!(fresh["custom"]["traceparent"].is_string());
    }

    #[test]
    fn an_unusable_or_oversized_client_context_is_left_alone() {
        assert_eq!(with_context(Some("%%% not base64"), &cx()), None);
        let array = base64::engine::general_purpose::STANDARD.encode("[1, 2]");
        assert_eq!(with_context(Some(&array), &cx()), None);
        let big = base64::engine::general_purpose::STANDARD
            .encode(format!(r#"{{"custom":{{"blob":"{}"}}}}"#, "x".repeat(2600)));
        assert_eq!(with_context(Some(&big), &cx()), None);
    }

    #[test]
    fn function_names_and_regions_come_from_any_form_of_the_name() {
        assert_eq!(function_and_region("billing"), ("billing", None));
        assert_eq!(function_and_region("billing:live"), ("billing", None));
        assert_eq!(
            function_and_region("123456789012:function:billing"),
            ("billing", None)
        );
        assert_eq!(
            function_and_region("arn:aws:lambda:eu-west-1:123456789012:function:billing:7"),
            ("billing", Some("eu-west-1"))
        );
    }
}
