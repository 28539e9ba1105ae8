//! Lambda function URLs. The adapter is [`FunctionUrlTrigger`]; its documentation lists the
//! spans and attributes it produces.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use otel_faas_core::{
    InvocationSpec, Propagation, TriggerAdapter,
    http::HttpServerAttributes,
    trigger::{InvocationContext, Outcome},
};

use super::http::{forwarded, spec_with_parent};
use crate::response::{LambdaResponse, http_outcome};

/// Describes invocations through a function URL.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// Lambda function URLs.
///
/// The same shape as HTTP API payload 2.0 without routes: `faas.trigger=http`, span
/// `{method}`, `url.path` from `rawPath`, `url.query` from `rawQueryString`,
/// `server.address` from `requestContext.domainName`, `client.address` from
/// `requestContext.http.sourceIp`, `user_agent.original`, `network.protocol.version`,
/// `url.scheme` (`https`), and `http.response.status_code` from the response.
///
/// ```
/// use otel_faas_aws::FunctionUrlTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let request: aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest = serde_json::from_value(serde_json::json!({
///     "rawPath": "/hook", "rawQueryString": "id=1",
///     "isBase64Encoded": false,
///     "requestContext": {"domainName": "abc.lambda-url.eu-west-1.on.aws", "http": {"method": "POST", "sourceIp": "198.51.100.1"}, "timeEpoch": 0}
/// })).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &FunctionUrlTrigger::new(), &request, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// assert_eq!(spec.name(), "POST");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FunctionUrlTrigger;

impl FunctionUrlTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

impl<R: LambdaResponse> TriggerAdapter<LambdaFunctionUrlRequest, R> for FunctionUrlTrigger {
    fn invocation_spec(
        &self,
        request: &LambdaFunctionUrlRequest,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let headers = &request.headers;
        let http = &request.request_context.http;
        let mut attributes = HttpServerAttributes::new(http.method.clone().unwrap_or_default())
            .query(request.raw_query_string.clone().unwrap_or_default());
        if let Some(path) = request.raw_path.as_deref().or(http.path.as_deref()) {
            attributes = attributes.path(path);
        }
        attributes = forwarded(attributes, headers, headers, "https");
        if let Some(host) = request.request_context.domain_name.as_deref() {
            attributes = attributes.authority(host);
        }
        if let Some(client) = http.source_ip.as_deref() {
            attributes = attributes.client_address(client);
        }
        if let Some(agent) = http.user_agent.as_deref() {
            attributes = attributes.user_agent(agent);
        }
        if let Some(protocol) = http.protocol.as_deref() {
            attributes = attributes.protocol_version(protocol);
        }
        spec_with_parent(attributes, headers, headers, context, propagation)
    }

    fn outcome(&self, response: &R) -> Outcome {
        http_outcome(response)
    }
}
