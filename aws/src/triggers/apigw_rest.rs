//! API Gateway REST APIs (payload format 1.0). The adapter is [`ApiGatewayRestTrigger`];
//! its documentation lists the spans and attributes it produces.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use otel_faas_core::{
    InvocationSpec, Propagation, TriggerAdapter,
    http::HttpServerAttributes,
    trigger::{InvocationContext, Outcome},
};

use super::http::{forwarded, header, query_string, spec_with_parent};
use crate::response::{LambdaResponse, http_outcome};

/// Describes invocations by an API Gateway REST API.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// API Gateway REST APIs (payload format 1.0).
///
/// `faas.trigger=http`; span `{method} {resource}` and `http.route` from `resource` (the
/// route the user configured, e.g. `/pets/{petId}`); `http.request.method`, `url.path`,
/// `url.query` (rebuilt from the decoded parameters: REST APIs do not pass the raw query),
/// `url.scheme` (`X-Forwarded-Proto`, else `https`), `server.address` (`Host`, else the
/// request context's domain), `server.port` (`X-Forwarded-Port`), `client.address`
/// (`requestContext.identity.sourceIp`), `user_agent.original`,
/// `network.protocol.version`, and `http.response.status_code` from the response. The
/// parent comes from the request headers.
///
/// ```
/// use otel_faas_aws::ApiGatewayRestTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let request: aws_lambda_events::apigw::ApiGatewayProxyRequest = serde_json::from_value(serde_json::json!({
///     "resource": "/pets/{petId}", "path": "/pets/7", "httpMethod": "GET",
///     "headers": {"Host": "api.example.com"}, "requestContext": {"httpMethod": "GET"}
/// })).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &ApiGatewayRestTrigger::new(), &request, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// assert_eq!(spec.name(), "GET /pets/{petId}");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiGatewayRestTrigger;

impl ApiGatewayRestTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

impl<R: LambdaResponse> TriggerAdapter<ApiGatewayProxyRequest, R> for ApiGatewayRestTrigger {
    fn invocation_spec(
        &self,
        request: &ApiGatewayProxyRequest,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let (single, multi) = (&request.headers, &request.multi_value_headers);
        let identity = &request.request_context.identity;
        let mut attributes = HttpServerAttributes::new(request.http_method.as_str())
            .route(request.resource.clone())
            .query(query_string(
                &request.query_string_parameters,
                &request.multi_value_query_string_parameters,
            ));
        if let Some(path) = request
            .path
            .as_deref()
            .or(request.request_context.path.as_deref())
        {
            attributes = attributes.path(path);
        }
        attributes = forwarded(attributes, single, multi, "https");
        if let Some(host) =
            header(single, multi, "host").or(request.request_context.domain_name.as_deref())
        {
            attributes = attributes.authority(host);
        }
        if let Some(client) = identity.source_ip.as_deref() {
            attributes = attributes.client_address(client);
        }
        if let Some(agent) = identity
            .user_agent
            .as_deref()
            .or_else(|| header(single, multi, "user-agent"))
        {
            attributes = attributes.user_agent(agent);
        }
        if let Some(protocol) = request.request_context.protocol.as_deref() {
            attributes = attributes.protocol_version(protocol);
        }
        spec_with_parent(attributes, single, multi, context, propagation)
    }

    fn outcome(&self, response: &R) -> Outcome {
        http_outcome(response)
    }
}
