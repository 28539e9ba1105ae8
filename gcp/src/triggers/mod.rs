//! One adapter per kind of invocation, one file each: HTTP requests
//! ([`GcpHttpTrigger`](crate::GcpHttpTrigger)), and CloudEvents
//! ([`CloudEventTrigger`]) — Pub/Sub messages, Cloud Storage objects, and any other
//! event. The adapters and payload types are at the crate root; this module holds the
//! constants that go with them.
//!
//! Every CloudEvent invocation is a SERVER span (the request that delivered it) with the
//! `cloudevents.*` attributes (event id, source, type, subject, spec version) and
//! `faas.invocation_id` from the `Function-Execution-Id` header when the platform sends it.
//!
//! **Parent and links**, as the messaging conventions say: the transport's context (the
//! push request's `traceparent`, else `X-Cloud-Trace-Context` when the `gcp` propagator is
//! configured) is the parent. The event's creation context — a Pub/Sub message's
//! `googclient_traceparent`, or a `traceparent` extension that differs from the
//! transport's — is a link. Only when the request carries no context at all does the
//! creation context become the parent, so that an event from a producer that propagated is
//! never a trace of its own.

pub(crate) mod generic;
pub(crate) mod http;
pub(crate) mod pubsub;
pub(crate) mod storage;

use axum::response::Response;
use cloudevents::AttributesReader as _;
use opentelemetry::trace::{Link, SpanContext, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute::{
    CLOUDEVENTS_EVENT_ID, CLOUDEVENTS_EVENT_SOURCE, CLOUDEVENTS_EVENT_SPEC_VERSION,
    CLOUDEVENTS_EVENT_SUBJECT, CLOUDEVENTS_EVENT_TYPE,
};
use otel_faas_core::propagation::Propagation;
use otel_faas_core::trigger::{InvocationContext, InvocationSpec, TriggerAdapter};

use crate::CloudEventRequest;

/// The header Cloud Run functions set to the execution's id.
pub const EXECUTION_ID_HEADER: &str = "function-execution-id";

/// Describes CloudEvent invocations: the adapter of the event's type.
///
/// ```
/// use axum::body::Bytes;
/// use otel_faas_core::server::Envelope;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::FaasTrigger};
/// use otel_faas_gcp::{CloudEventRequest, CloudEventTrigger};
///
/// let push = br#"{"message": {"data": "aGk=", "messageId": "1"}, "subscription": "projects/p/subscriptions/s"}"#;
/// let (parts, ()) = http::Request::post("/").body(()).unwrap().into_parts();
/// let request = CloudEventRequest::decode(&parts, Bytes::from_static(push)).unwrap();
/// let trigger = CloudEventTrigger::new();
/// let context = TriggerAdapter::<_, axum::response::Response>::invocation_context(&trigger, &request);
/// let spec = TriggerAdapter::<_, axum::response::Response>::invocation_spec(
///     &trigger, &request, &context, &CompositePropagation::w3c());
/// assert_eq!(spec.trigger(), FaasTrigger::PubSub);
/// assert_eq!(spec.name(), "subscribe s");
/// ```
#[derive(Debug, Clone, Default)]
pub struct CloudEventTrigger {
    _private: (),
}

impl CloudEventTrigger {
    /// The adapter.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TriggerAdapter<CloudEventRequest, Response> for CloudEventTrigger {
    fn invocation_context(&self, request: &CloudEventRequest) -> InvocationContext {
        execution_context(request.headers())
    }

    fn invocation_spec(
        &self,
        request: &CloudEventRequest,
        _context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        let event = request.event();
        let mut creation: Vec<SpanContext> = Vec::new();
        if let Some(own) = request.event_traceparent() {
            let transport = request
                .headers()
                .get("traceparent")
                .and_then(|v| v.to_str().ok());
            if transport != Some(own) {
                let carrier =
                    std::collections::HashMap::from([("traceparent".to_owned(), own.to_owned())]);
                let cx = propagation.extract_from(&carrier);
                let producer = cx.span().span_context().clone();
                if producer.is_valid() {
                    creation.push(producer);
                }
            }
        }
        let (spec, creation) = if event.ty() == PUBSUB_MESSAGE_PUBLISHED {
            // The CONSUMER span inside holds the links.
            pubsub::spec(request, propagation, creation)
        } else {
            let spec = if event.ty().starts_with(storage::STORAGE_TYPE_PREFIX) {
                storage::spec(request)
            } else {
                generic::spec(request)
            };
            let links = links_to(&creation);
            (spec.map_span(|span| span.with_links(links)), creation)
        };
        let mut attributes = vec![
            KeyValue::new(CLOUDEVENTS_EVENT_ID, event.id().to_owned()),
            KeyValue::new(CLOUDEVENTS_EVENT_SOURCE, event.source().to_string()),
            KeyValue::new(CLOUDEVENTS_EVENT_TYPE, event.ty().to_owned()),
            KeyValue::new(
                CLOUDEVENTS_EVENT_SPEC_VERSION,
                event.specversion().to_string(),
            ),
        ];
        if let Some(subject) = event.subject() {
            attributes.push(KeyValue::new(CLOUDEVENTS_EVENT_SUBJECT, subject.to_owned()));
        }
        let transport = propagation.extract_from(request.headers());
        let spec = if transport.span().span_context().is_valid() {
            spec.with_parent(transport)
        } else if let [producer] = dedup(&creation).as_slice() {
            spec.with_parent(Context::new().with_remote_span_context(producer.clone()))
        } else {
            spec
        };
        spec.map_span(|span| span.with_attributes(attributes))
    }
}

/// The invocation's context: its id from `Function-Execution-Id`, when the platform sends
/// one.
pub(crate) fn execution_context(headers: &::http::HeaderMap) -> InvocationContext {
    match headers
        .get(EXECUTION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty())
    {
        Some(id) => InvocationContext::new().with_invocation_id(id),
        None => InvocationContext::new(),
    }
}

/// One link per distinct creation context.
pub(crate) fn links_to(contexts: &[SpanContext]) -> Vec<Link> {
    dedup(contexts)
        .into_iter()
        .map(|producer| Link::new(producer, Vec::new(), 0))
        .collect()
}

fn dedup(contexts: &[SpanContext]) -> Vec<SpanContext> {
    let mut unique: Vec<SpanContext> = Vec::new();
    for cx in contexts {
        if !unique
            .iter()
            .any(|u| u.trace_id() == cx.trace_id() && u.span_id() == cx.span_id())
        {
            unique.push(cx.clone());
        }
    }
    unique
}

pub use crate::services::PUBSUB_MESSAGE_PUBLISHED;
pub use http::GOOGLE_API_QUERY_KEYS;
pub use pubsub::PUBSUB_SYSTEM;
pub use storage::STORAGE_TYPE_PREFIX;
