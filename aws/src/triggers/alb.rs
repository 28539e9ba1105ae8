//! Application Load Balancer targets. The adapter is [`AlbTrigger`]; its documentation
//! lists the spans and attributes it produces.

use aws_lambda_events::alb::AlbTargetGroupRequest;
use otel_faas_core::{
    InvocationSpec, Propagation, TriggerAdapter,
    http::{HttpServerAttributes, forwarded_client_address},
    trigger::{InvocationContext, Outcome},
};

use super::http::{forwarded, header, query_string, spec_with_parent};
use crate::response::{LambdaResponse, http_outcome};

/// Describes invocations by an Application Load Balancer.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// Application Load Balancer targets.
///
/// `faas.trigger=http`; span `{method}` (an ALB has no route templates);
/// `http.request.method`, `url.path`, `url.query` (rebuilt from the parameters),
/// `url.scheme` and `server.port` from `X-Forwarded-Proto` / `X-Forwarded-Port`,
/// `server.address` from `Host`, `client.address` from `X-Forwarded-For`,
/// `user_agent.original`, and `http.response.status_code` from the response. Single- and
/// multi-value header modes are both read.
///
/// An ALB adds `X-Amzn-Trace-Id: Root=…` without a `Parent`: that names a trace but no
/// parent span, so it is not a parent (the X-Ray propagators here ignore it).
///
/// ```
/// use otel_faas_aws::AlbTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
///
/// let request: aws_lambda_events::alb::AlbTargetGroupRequest = serde_json::from_value(serde_json::json!({
///     "httpMethod": "GET", "path": "/health",
///     "headers": {"x-forwarded-for": "203.0.113.5, 10.0.0.1"},
///     "requestContext": {"elb": {}}, "isBase64Encoded": false
/// })).unwrap();
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &AlbTrigger::new(), &request, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// let client = spec.attributes().iter().find(|kv| kv.key.as_str() == "client.address").unwrap();
/// assert_eq!(client.value.as_str(), "203.0.113.5");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AlbTrigger;

impl AlbTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

impl<R: LambdaResponse> TriggerAdapter<AlbTargetGroupRequest, R> for AlbTrigger {
    fn invocation_spec(
        &self,
        request: &AlbTargetGroupRequest,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let (single, multi) = (&request.headers, &request.multi_value_headers);
        let mut attributes =
            HttpServerAttributes::new(request.http_method.as_str()).query(query_string(
                &request.query_string_parameters,
                &request.multi_value_query_string_parameters,
            ));
        if let Some(path) = request.path.as_deref() {
            attributes = attributes.path(path);
        }
        attributes = forwarded(attributes, single, multi, "http");
        if let Some(host) = header(single, multi, "host") {
            attributes = attributes.authority(host);
        }
        if let Some(client) = forwarded_client_address(|name| header(single, multi, name)) {
            attributes = attributes.client_address(client);
        }
        if let Some(agent) = header(single, multi, "user-agent") {
            attributes = attributes.user_agent(agent);
        }
        spec_with_parent(attributes, single, multi, context, propagation)
    }

    fn outcome(&self, response: &R) -> Outcome {
        http_outcome(response)
    }
}
