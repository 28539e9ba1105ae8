//! CLIENT spans for any AWS SDK client, through the SDK's interceptor API.
//!
//! Each operation is a CLIENT span `{Service}.{Operation}` with the AWS SDK conventions:
//! `rpc.system=aws-api`, `rpc.service`, `rpc.method` (or the stable RPC keys, see
//! `OTEL_SEMCONV_STABILITY_OPT_IN` on [`AwsSdkTracing::new`]), `cloud.region`,
//! `aws.request_id`, `http.response.status_code`; and per service, with that service's
//! cargo feature:
//!
//! * DynamoDB: `db.system.name=aws.dynamodb`, `aws.dynamodb.table_names`,
//!   `aws.dynamodb.consumed_capacity` (when the call asked for it);
//! * S3: `aws.s3.bucket`, `aws.s3.key`;
//! * SQS: `aws.sqs.queue.url`, `messaging.system=aws_sqs`, `messaging.destination.name`.
//!
//! A failed call (service error, throttling, timeout, connection failure) is ERROR with
//! `error.type` = the service's error code (`ResourceNotFoundException`,
//! `ThrottlingException`, …) or the kind of failure. The span's context goes into the
//! request as an `X-Amzn-Trace-Id` header, which AWS services carry onward (SQS, for one,
//! turns it into the message's `AWSTraceHeader`).

use std::sync::Mutex;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute::{
    AWS_REQUEST_ID, CLOUD_REGION, HTTP_RESPONSE_STATUS_CODE, RPC_METHOD,
};

use super::{record_failure, start};

/// Which RPC attribute keys client spans carry, as `OTEL_SEMCONV_STABILITY_OPT_IN` says.
///
/// The AWS SDK conventions name `rpc.system=aws-api`, `rpc.service` and `rpc.method`; the
/// RPC conventions since have renamed `rpc.system` to `rpc.system.name` and folded the
/// service into a fully-qualified `rpc.method`. Following the RPC conventions' migration
/// rule, the AWS SDK keys are the default, `rpc` switches to the new ones, `rpc/dup` emits
/// both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RpcKeys {
    AwsSdk,
    Stable,
    Both,
}

impl RpcKeys {
    fn from_opt_in(value: Option<&str>) -> Self {
        let values: Vec<&str> = value
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .collect();
        if values.contains(&"rpc/dup") {
            Self::Both
        } else if values.contains(&"rpc") {
            Self::Stable
        } else {
            Self::AwsSdk
        }
    }

    #[allow(deprecated)] // The AWS SDK conventions still specify these keys: see above.
    fn attributes(self, service: &str, operation: &str) -> Vec<KeyValue> {
        use opentelemetry_semantic_conventions::attribute::{
            RPC_SERVICE, RPC_SYSTEM, RPC_SYSTEM_NAME,
        };
        let aws_sdk = [
            KeyValue::new(RPC_SYSTEM, "aws-api"),
            KeyValue::new(RPC_SERVICE, service.to_owned()),
            KeyValue::new(RPC_METHOD, operation.to_owned()),
        ];
        let stable = [
            KeyValue::new(RPC_SYSTEM_NAME, "aws-api"),
            KeyValue::new(RPC_METHOD, format!("{service}/{operation}")),
        ];
        match self {
            Self::AwsSdk => aws_sdk.to_vec(),
            Self::Stable => stable.to_vec(),
            // rpc.method appears once, fully qualified.
            Self::Both => vec![
                aws_sdk[0].clone(),
                aws_sdk[1].clone(),
                stable[0].clone(),
                stable[1].clone(),
            ],
        }
    }
}

/// Records a CLIENT span for every operation of the AWS SDK client it is added to.
///
/// ```
/// use otel_faas_messaging::aws_sdk::AwsSdkTracing;
///
/// let config = aws_sdk_sqs::Config::builder()
///     .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
///     .region(aws_sdk_sqs::config::Region::new("eu-west-1"))
///     .interceptor(AwsSdkTracing::new())
///     .build();
/// let _client = aws_sdk_sqs::Client::from_conf(config);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AwsSdkTracing {
    inject: bool,
    rpc_keys: RpcKeys,
}

impl Default for AwsSdkTracing {
    fn default() -> Self {
        Self::new()
    }
}

impl AwsSdkTracing {
    /// The interceptor, injecting `X-Amzn-Trace-Id` into requests, with the RPC keys
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` in the process environment asks for.
    pub fn new() -> Self {
        Self::with_environment(&otel_faas_core::env::ProcessEnvironment)
    }

    /// The interceptor, reading `OTEL_SEMCONV_STABILITY_OPT_IN` from `env`.
    pub fn with_environment(env: &dyn otel_faas_core::Environment) -> Self {
        Self {
            inject: true,
            rpc_keys: RpcKeys::from_opt_in(env.get("OTEL_SEMCONV_STABILITY_OPT_IN").as_deref()),
        }
    }

    /// Leaves requests untouched: no `X-Amzn-Trace-Id` is added.
    #[must_use]
    pub fn without_injection(mut self) -> Self {
        self.inject = false;
        self
    }
}

/// The span of one operation, kept in the call's config bag between hooks.
#[derive(Debug)]
struct OperationSpan {
    cx: Context,
    /// The error code the response carried, if it failed.
    error_code: Mutex<Option<String>>,
}

impl Storable for OperationSpan {
    type Storer = StoreReplace<Self>;
}

impl Intercept for AwsSdkTracing {
    fn name(&self) -> &'static str {
        "otel-faas AwsSdkTracing"
    }

    // Not `read_before_execution`: that runs before the operation's configuration (its
    // `Metadata`: service and operation name) is in the config bag.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_else(|| ("AWS".to_owned(), "Operation".to_owned()));
        let mut attributes = self.rpc_keys.attributes(&service, &operation);
        if let Some(region) = cfg.load::<aws_types::region::Region>() {
            attributes.push(KeyValue::new(CLOUD_REGION, region.to_string()));
        }
        attributes.extend(super::services::input_attributes(context.input()));
        let builder = SpanBuilder::from_name(format!("{service}.{operation}"))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes);
        cfg.interceptor_state().store_put(OperationSpan {
            cx: start(builder),
            error_code: Mutex::new(None),
        });
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.inject {
            return Ok(());
        }
        let Some(span) = cfg.load::<OperationSpan>() else {
            return Ok(());
        };
        let span_context = span.cx.span().span_context().clone();
        if let Some(header) =
            opentelemetry_aws::trace::xray_propagator::span_context_to_string(&span_context)
        {
            context
                .request_mut()
                .headers_mut()
                .insert("X-Amzn-Trace-Id", header);
        }
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(span) = cfg.load::<OperationSpan>() else {
            return Ok(());
        };
        let response = context.response();
        let headers = response.headers();
        let status = response.status().as_u16();
        let otel_span = span.cx.span();
        otel_span.set_attribute(KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status)));
        if let Some(id) = headers
            .get("x-amzn-requestid")
            .or_else(|| headers.get("x-amz-request-id"))
        {
            otel_span.set_attribute(KeyValue::new(AWS_REQUEST_ID, id.to_owned()));
        }
        if status >= 400 {
            let code = error_code_from_headers(
                headers.get("x-amzn-errortype"),
                headers.get("x-amzn-query-error"),
            )
            .or_else(|| response.body().bytes().and_then(error_code_from_body));
            if let Ok(mut slot) = span.error_code.lock() {
                *slot = code;
            }
        }
        Ok(())
    }

    // A streaming operation's error body is read only to deserialize the error: look again.
    fn read_after_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(span) = cfg.load::<OperationSpan>() else {
            return Ok(());
        };
        let response = context.response();
        if response.status().as_u16() >= 400
            && let Ok(mut slot) = span.error_code.lock()
            && slot.is_none()
        {
            *slot = response.body().bytes().and_then(error_code_from_body);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(span) = cfg.load::<OperationSpan>() else {
            return Ok(());
        };
        match context.output_or_error() {
            Some(Ok(output)) => {
                span.cx
                    .span()
                    .set_attributes(super::services::output_attributes(output));
            }
            Some(Err(error)) => {
                let code = span.error_code.lock().ok().and_then(|code| code.clone());
                let error_type = code.unwrap_or_else(|| {
                    if error.is_timeout_error() {
                        "timeout".to_owned()
                    } else if error.is_connector_error() {
                        "connector_error".to_owned()
                    } else if error.is_response_error() {
                        "response_error".to_owned()
                    } else {
                        "_OTHER".to_owned()
                    }
                });
                record_failure(&span.cx, error_type, error.to_string());
            }
            None => {}
        }
        span.cx.span().end();
        Ok(())
    }
}

/// The error code of `x-amzn-errortype` (`Namespace#Code:URI`) or `x-amzn-query-error`
/// (`Code;Sender`).
fn error_code_from_headers(error_type: Option<&str>, query_error: Option<&str>) -> Option<String> {
    if let Some(value) = error_type {
        let code = value.split(':').next().unwrap_or(value);
        let code = code.rsplit('#').next().unwrap_or(code).trim();
        if !code.is_empty() {
            return Some(code.to_owned());
        }
    }
    let code = query_error?.split(';').next()?.trim();
    (!code.is_empty()).then(|| code.to_owned())
}

/// The error code in a JSON (`__type`) or XML (`<Code>`) error body.
fn error_code_from_body(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        let raw = json
            .get("__type")
            .or_else(|| json.get("code"))
            .and_then(serde_json::Value::as_str)?;
        return error_code_from_headers(Some(raw), None);
    }
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    let code = text[start..end].trim();
    (!code.is_empty()).then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_keys_follow_the_stability_opt_in() {
        let keys = |opt_in: Option<&str>| {
            RpcKeys::from_opt_in(opt_in)
                .attributes("DynamoDB", "GetItem")
                .into_iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(None),
            [
                "rpc.system=aws-api",
                "rpc.service=DynamoDB",
                "rpc.method=GetItem"
            ]
        );
        assert_eq!(
            keys(Some("http,rpc")),
            ["rpc.system.name=aws-api", "rpc.method=DynamoDB/GetItem"]
        );
        assert_eq!(
            keys(Some("rpc/dup")),
            [
                "rpc.system=aws-api",
                "rpc.service=DynamoDB",
                "rpc.system.name=aws-api",
                "rpc.method=DynamoDB/GetItem"
            ]
        );
    }

    #[test]
    fn error_codes_are_found_in_headers_and_bodies() {
        assert_eq!(
            error_code_from_headers(
                Some("ResourceNotFoundException:http://internal.amazon.com/coral/"),
                None
            )
            .as_deref(),
            Some("ResourceNotFoundException")
        );
        assert_eq!(
            error_code_from_headers(
                Some("com.amazonaws.dynamodb.v20120810#ThrottlingException"),
                None
            )
            .as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(
            error_code_from_headers(None, Some("AWS.SimpleQueueService.NonExistentQueue;Sender"))
                .as_deref(),
            Some("AWS.SimpleQueueService.NonExistentQueue")
        );
        assert_eq!(
            error_code_from_body(
                br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"x"}"#
            )
            .as_deref(),
            Some("QueueDoesNotExist")
        );
        assert_eq!(
            error_code_from_body(b"<Error><Code>NoSuchBucket</Code><Message>m</Message></Error>")
                .as_deref(),
            Some("NoSuchBucket")
        );
        assert_eq!(error_code_from_body(b"\xff\xfe"), None);
        assert_eq!(error_code_from_body(b"<Code></Code>"), None);
    }
}
