//! HTTP functions: the stable HTTP server conventions of core's
//! [`HttpTrigger`] — span `{method}` (a Functions
//! Framework HTTP function answers every path, so there is no route to report), `url.*`,
//! `client.address` from `X-Forwarded-For`, ERROR for 5xx only — with `url.scheme` =
//! `https` when the request does not say (Cloud Run terminates TLS in front of the
//! container) and `faas.invocation_id` from `Function-Execution-Id`.

use http::{Request, Response};
use otel_faas_core::http::{HttpTrigger, QueryRedaction};
use otel_faas_core::propagation::Propagation;
use otel_faas_core::trigger::{
    FaasTrigger, InvocationContext, InvocationSpec, Outcome, TriggerAdapter,
};

/// The query parameter Google APIs take an API key in (`?key=<API key>`), redacted in
/// `url.query` beside core's default keys and `OTEL_FAAS_REDACT_QUERY_KEYS`. Core leaves a
/// bare `key` alone (it names too many harmless things); on Google Cloud, where clients
/// habitually pass API keys so and a function often relays them, a leaked key costs more
/// than a redacted object key.
///
/// ```
/// assert_eq!(otel_faas_gcp::triggers::GOOGLE_API_QUERY_KEYS, ["key"]);
/// ```
pub const GOOGLE_API_QUERY_KEYS: [&str; 1] = ["key"];

/// Describes HTTP invocations of a Cloud Run function.
///
/// ```
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
/// use otel_faas_gcp::GcpHttpTrigger;
///
/// let request = http::Request::get("/hello?name=ada")
///     .header("host", "hello-abc.a.run.app")
///     .header("function-execution-id", "xn1h9xdgv6zw")
///     .body(())
///     .unwrap();
/// let trigger = GcpHttpTrigger::new();
/// let context = TriggerAdapter::<_, http::Response<()>>::invocation_context(&trigger, &request);
/// assert_eq!(context.invocation_id(), Some("xn1h9xdgv6zw"));
/// let spec = TriggerAdapter::<_, http::Response<()>>::invocation_spec(&trigger, &request, &context, &CompositePropagation::w3c());
/// assert_eq!(spec.name(), "GET");
/// ```
#[derive(Debug, Clone)]
pub struct GcpHttpTrigger {
    inner: HttpTrigger,
}

impl Default for GcpHttpTrigger {
    fn default() -> Self {
        Self::new()
    }
}

impl GcpHttpTrigger {
    /// The adapter.
    pub fn new() -> Self {
        let redaction = GOOGLE_API_QUERY_KEYS
            .into_iter()
            .fold(QueryRedaction::default(), QueryRedaction::with_key);
        Self {
            inner: HttpTrigger::new()
                .with_default_scheme("https")
                .with_query_redaction(redaction),
        }
    }
}

impl<B, RB: Default> TriggerAdapter<Request<B>, Response<RB>> for GcpHttpTrigger {
    fn invocation_context(&self, request: &Request<B>) -> InvocationContext {
        super::execution_context(request.headers())
    }

    fn invocation_spec(
        &self,
        request: &Request<B>,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        TriggerAdapter::<Request<B>, Response<RB>>::invocation_spec(
            &self.inner,
            request,
            context,
            propagation,
        )
    }

    fn outcome(&self, response: &Response<RB>) -> Outcome {
        TriggerAdapter::<Request<B>, Response<RB>>::outcome(&self.inner, response)
    }

    /// `500`, as the Functions Framework answers a function that throws.
    fn panic_response(&self, trigger: FaasTrigger) -> Option<Response<RB>> {
        TriggerAdapter::<Request<B>, Response<RB>>::panic_response(&self.inner, trigger)
    }
}
