//! Any other CloudEvent (audit logs, Firestore, Firebase, your own): `faas.trigger=other`,
//! a SERVER span named after the event type, with the `cloudevents.*` attributes every
//! CloudEvent invocation has.

use cloudevents::AttributesReader as _;
use otel_faas_core::trigger::{FaasTrigger, InvocationSpec, SpanSpec};

use crate::CloudEventRequest;

pub(crate) fn spec(request: &CloudEventRequest) -> InvocationSpec {
    InvocationSpec::new(
        FaasTrigger::Other,
        SpanSpec::server(request.event().ty().to_owned()),
    )
}
