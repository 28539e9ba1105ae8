//! HTTP functions: the stable HTTP server conventions of core's
//! [`HttpTrigger`] — span `{method}` (a Functions
//! Framework HTTP function answers every path, so there is no route to report), `url.*`,
//! `client.address` from `X-Forwarded-For`, ERROR for 5xx only — with `url.scheme` =
//! `https` when the request does not say (Cloud Run terminates TLS in front of the
//! container) and `faas.invocation_id` from `Function-Execution-Id`.

use http::{Request, Response};
use otel_faas_core::http::HttpTrigger;
use otel_faas_core::propagation::Propagation;
use otel_faas_core::trigger::{InvocationContext, InvocationSpec, Outcome, TriggerAdapter};

/// Describes HTTP invocations of a Cloud Run function.
///
/// ```
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::InvocationContext};
/// use otel_faas_gcp::triggers::http::GcpHttpTrigger;
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
        Self {
            inner: HttpTrigger::new().with_default_scheme("https"),
        }
    }
}

impl<B, RB> TriggerAdapter<Request<B>, Response<RB>> for GcpHttpTrigger {
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
}
