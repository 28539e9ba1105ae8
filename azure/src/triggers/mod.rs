//! Trigger adapters, one file per trigger, and the adapter that picks among them by what
//! `function.json` says.
//!
//! Every invocation span carries, beside what its trigger file adds, `faas.name` =
//! `<app>/<function>` and `cloud.resource_id` =
//! `/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<app>/functions/<function>`
//! as span attributes (an app hosts several functions under one resource, so the
//! conventions put these on the span), plus `faas.invocation_id`, `faas.trigger` and
//! `faas.coldstart` from the engine.
//!
//! Parent: the `traceparent` of the host's request to the handler — the host's HTTP client
//! sends its own activity there, so the invocation nests under the host's span (and, for
//! an HTTP trigger, under the caller's trace the host continued). Without it, the legacy
//! `Request-Id`; without that, the caller's context (an HTTP request's `traceparent`, or
//! the producer context of a single Service Bus message or Event Hubs event).

pub(crate) mod blob;
pub(crate) mod event_hubs;
pub(crate) mod http;
mod messaging;
pub(crate) mod queue;
pub(crate) mod service_bus;
pub(crate) mod timer;

use std::sync::Arc;

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute::{CLOUD_RESOURCE_ID, FAAS_NAME};
use otel_faas_core::http::http_response_outcome;
use otel_faas_core::propagation::Propagation;
use otel_faas_core::trigger::{FaasTrigger, InvocationContext, Outcome};
use otel_faas_core::{Environment, InvocationSpec, SpanSpec, TriggerAdapter};

use crate::function_json::{FunctionJson, TriggerKind};
use crate::http_messages::HttpRequest;
use crate::reply::Encoded;
use crate::request::InvocationRequest;

/// Who the app is, for `faas.name` and `cloud.resource_id`.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppIdentity {
    app: Option<String>,
    subscription: Option<String>,
    resource_group: Option<String>,
}

impl AppIdentity {
    pub(crate) fn from_env(env: &dyn Environment) -> Self {
        Self {
            app: env.get_non_empty("WEBSITE_SITE_NAME"),
            subscription: env
                .get_non_empty("WEBSITE_OWNER_NAME")
                .as_deref()
                .and_then(crate::resource::subscription_of),
            resource_group: env.get_non_empty("WEBSITE_RESOURCE_GROUP"),
        }
    }

    fn attributes(&self, function: &str) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(2);
        let name = match &self.app {
            Some(app) => format!("{app}/{function}"),
            None => function.to_owned(),
        };
        attributes.push(KeyValue::new(FAAS_NAME, name));
        if let (Some(app), Some(subscription), Some(group)) =
            (&self.app, &self.subscription, &self.resource_group)
        {
            attributes.push(KeyValue::new(
                CLOUD_RESOURCE_ID,
                format!("/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Web/sites/{app}/functions/{function}"),
            ));
        }
        attributes
    }
}

/// Describes the invocations of one function, by its `function.json`.
#[derive(Debug, Clone)]
pub(crate) struct FunctionTrigger {
    pub(crate) function: Arc<FunctionJson>,
    pub(crate) identity: Arc<AppIdentity>,
    /// The HTTP route template, `/<routePrefix>/<route>`.
    pub(crate) route: String,
    /// The host records the HTTP request as a SERVER span itself (`telemetryMode:
    /// OpenTelemetry`): the invocation span is then INTERNAL, not a second SERVER span.
    /// Shared with the app, which may change it after registration.
    pub(crate) host_records_requests: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TriggerAdapter<InvocationRequest, Encoded> for FunctionTrigger {
    fn invocation_context(&self, request: &InvocationRequest) -> InvocationContext {
        match request.invocation_id() {
            Some(id) => InvocationContext::new().with_invocation_id(id),
            None => InvocationContext::new(),
        }
    }

    fn invocation_spec(
        &self,
        request: &InvocationRequest,
        _context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let name = self.function.name();
        let binding = self.function.trigger();
        let kind = self.function.trigger_kind();
        let spec = match (&kind, binding) {
            (TriggerKind::Http, _) => {
                let decoded;
                let request_seen = match &request.forwarded {
                    Some(forwarded) => forwarded,
                    None => {
                        decoded = binding
                            .and_then(|b| crate::value::member(request.data(), b.name()))
                            .and_then(|value| HttpRequest::head_from_host_json(value).ok())
                            .unwrap_or_default();
                        &decoded
                    }
                };
                let spec = http::spec(request_seen, &self.route, propagation);
                if self
                    .host_records_requests
                    .load(std::sync::atomic::Ordering::Relaxed)
                {
                    spec.map_span(|span| span.with_kind(SpanKind::Internal))
                } else {
                    spec
                }
            }
            (TriggerKind::Queue, Some(binding)) => queue::spec(request, binding, propagation),
            (TriggerKind::Timer, Some(binding)) => timer::spec(request, binding, name),
            (TriggerKind::ServiceBus, Some(binding)) => {
                service_bus::spec(request, binding, propagation)
            }
            (TriggerKind::EventHubs, Some(binding)) => {
                event_hubs::spec(request, binding, propagation)
            }
            (TriggerKind::Blob, Some(binding)) => blob::spec(request, binding),
            _ => InvocationSpec::new(FaasTrigger::Other, SpanSpec::server(name.to_owned())),
        };
        let host = host_parent(request, propagation);
        let spec = if host.span().span_context().is_valid() {
            spec.with_parent(host)
        } else if !spec.parent().span().span_context().is_valid() {
            // A single message's producer is its natural parent when the host sent none.
            let producer = spec
                .inner_span()
                .filter(|inner| inner.links().len() == 1)
                .and_then(|inner| inner.links().first())
                .map(|link| link.span_context.clone());
            match producer {
                Some(producer) => {
                    spec.with_parent(Context::new().with_remote_span_context(producer))
                }
                None => spec,
            }
        } else {
            spec
        };
        let identity = self.identity.attributes(name);
        spec.map_span(|span| span.with_attributes(identity))
    }

    fn outcome_for(&self, trigger: FaasTrigger, reply: &Encoded) -> Outcome {
        let status = match reply {
            Encoded::Envelope(_, status) => *status,
            Encoded::Http(response) => Some(response.status().as_u16()),
        };
        match (trigger, status) {
            (FaasTrigger::Http, Some(status)) => http_response_outcome(status),
            _ => Outcome::success(),
        }
    }

    /// An HTTP trigger's panic is answered `500` here, so that its span records the status
    /// the caller gets (the host turns a custom handler's `500` into a failed invocation and
    /// a `500` for the client). Other triggers resume the panic; the app answers it `500` too
    /// (the host then retries or dead-letters the message as for any failed invocation).
    fn panic_response(&self, trigger: FaasTrigger) -> Option<Encoded> {
        (trigger == FaasTrigger::Http)
            .then(|| Encoded::Http(crate::HttpResponse::new(500).body("the function panicked")))
    }
}

/// The host's context: the W3C headers of its request, else a legacy `Request-Id`
/// (`|<trace id>.<span id>.` or a `traceparent`-formatted value).
fn host_parent(request: &InvocationRequest, propagation: &dyn Propagation) -> Context {
    let cx = propagation.extract_from(request.headers());
    if cx.span().span_context().is_valid() {
        return cx;
    }
    let Some(request_id) = request
        .headers()
        .get("request-id")
        .and_then(|v| v.to_str().ok())
    else {
        return cx;
    };
    match parse_request_id(request_id) {
        Some(span) => Context::new().with_remote_span_context(span),
        None => cx,
    }
}

fn parse_request_id(value: &str) -> Option<SpanContext> {
    let value = value.trim();
    let (trace, span, flags) = if let Some(rest) = value.strip_prefix("00-") {
        let mut parts = rest.split('-');
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
        (trace, span, sampled)
    } else {
        let rest = value.strip_prefix('|')?;
        let mut parts = rest.split('.');
        (parts.next()?, parts.next()?, true)
    };
    if trace.len() != 32 || span.len() != 16 {
        return None;
    }
    let span = SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        if flags {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        true,
        TraceState::default(),
    );
    span.is_valid().then_some(span)
}

pub use event_hubs::EVENT_HUBS_SYSTEM;
pub use http::FUNCTION_KEY_QUERY_KEYS;
pub use service_bus::SERVICE_BUS_SYSTEM;
pub use timer::PAST_DUE_ATTRIBUTE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_request_ids_are_read() {
        let hierarchical =
            parse_request_id("|4bf92f3577b34da6a3ce929d0e0e4736.00f067aa0ba902b7.").unwrap();
        assert_eq!(
            hierarchical.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(hierarchical.span_id().to_string(), "00f067aa0ba902b7");
        let w3c =
            parse_request_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!w3c.is_sampled());
        assert!(parse_request_id("|abc.def.").is_none());
        assert!(parse_request_id("garbage").is_none());
    }

    #[test]
    fn identity_names_the_function_in_its_app() {
        let identity = AppIdentity {
            app: Some("orders-app".into()),
            subscription: Some("0b3a1f5e-8c1e-4d6a-9f0e-2a7c5d9b1e44".into()),
            resource_group: Some("orders-rg".into()),
        };
        let attributes = identity.attributes("enqueue");
        assert_eq!(attributes[0].value.to_string(), "orders-app/enqueue");
        assert_eq!(
            attributes[1].value.to_string(),
            "/subscriptions/0b3a1f5e-8c1e-4d6a-9f0e-2a7c5d9b1e44/resourceGroups/orders-rg/providers/Microsoft.Web/sites/orders-app/functions/enqueue"
        );
        assert_eq!(AppIdentity::default().attributes("f").len(), 1);
    }
}
