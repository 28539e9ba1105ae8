//! API Gateway HTTP APIs (payload format 2.0). The adapter is [`ApiGatewayHttpTrigger`];
//! its documentation lists the spans and attributes it produces.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use otel_faas_core::{
    InvocationSpec, Propagation, TriggerAdapter,
    http::HttpServerAttributes,
    trigger::{InvocationContext, Outcome},
};

use super::http::{forwarded, header, spec_with_parent};
use crate::response::{LambdaResponse, http_outcome};

/// Describes invocations by an API Gateway HTTP API.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// API Gateway HTTP APIs (payload format 2.0).
///
/// `faas.trigger=http`; `http.route` from `routeKey` without its method (`GET /pets/{id}` →
/// `/pets/{id}`; `$default` has no route); `url.path` from `rawPath`, `url.query` from
/// `rawQueryString`, `server.address` from `requestContext.domainName`, `client.address`
/// from `requestContext.http.sourceIp`, `user_agent.original` from
/// `requestContext.http.userAgent`, `network.protocol.version`, `url.scheme`
/// (`X-Forwarded-Proto`, else `https`), `server.port` (`X-Forwarded-Port`), and
/// `http.response.status_code` from the response.
///
/// ```
/// use otel_faas_aws::ApiGatewayHttpTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let request: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(serde_json::json!({
///     "routeKey": "POST /orders", "rawPath": "/orders", "rawQueryString": "",
///     "requestContext": {"http": {"method": "POST", "path": "/orders"}}
/// })).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &ApiGatewayHttpTrigger::new(), &request, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// assert_eq!(spec.name(), "POST /orders");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiGatewayHttpTrigger;

impl ApiGatewayHttpTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

/// The route of a `routeKey`: the part after the method; `$default` is no route.
pub(crate) fn route_of_key(route_key: Option<&str>) -> Option<String> {
    let key = route_key?.trim();
    if key.is_empty() || key == "$default" {
        return None;
    }
    let route = key.split_once(' ').map_or(key, |(_, route)| route.trim());
    (!route.is_empty()).then(|| route.to_owned())
}

impl<R: LambdaResponse> TriggerAdapter<ApiGatewayV2httpRequest, R> for ApiGatewayHttpTrigger {
    fn invocation_spec(
        &self,
        request: &ApiGatewayV2httpRequest,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let (single, multi) = (&request.headers, &request.headers);
        let http = &request.request_context.http;
        let route_key = request
            .route_key
            .as_deref()
            .or(request.request_context.route_key.as_deref());
        let mut attributes = HttpServerAttributes::new(http.method.as_str())
            .route(route_of_key(route_key))
            .query(request.raw_query_string.clone().unwrap_or_default());
        if let Some(path) = request.raw_path.as_deref().or(http.path.as_deref()) {
            attributes = attributes.path(path);
        }
        attributes = forwarded(attributes, single, multi, "https");
        if let Some(host) = request
            .request_context
            .domain_name
            .as_deref()
            .or_else(|| header(single, multi, "host"))
        {
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
        spec_with_parent(attributes, single, multi, context, propagation)
    }

    fn outcome(&self, response: &R) -> Outcome {
        http_outcome(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_lose_their_method_and_default_has_no_route() {
        assert_eq!(
            route_of_key(Some("GET /pets/{id}")).as_deref(),
            Some("/pets/{id}")
        );
        assert_eq!(
            route_of_key(Some("ANY /{proxy+}")).as_deref(),
            Some("/{proxy+}")
        );
        assert_eq!(route_of_key(Some("$default")), None);
        assert_eq!(route_of_key(Some("")), None);
        assert_eq!(route_of_key(None), None);
    }
}
