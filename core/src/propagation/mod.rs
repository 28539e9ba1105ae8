//! How context crosses process boundaries.
//!
//! [`Propagation`] reads and writes trace context through a [`Carrier`]. Every
//! OpenTelemetry [`TextMapPropagator`] is a `Propagation`, so formats that maintained crates
//! already parse (W3C tracecontext and baggage from the SDK, X-Ray from `opentelemetry-aws`)
//! are reused rather than re-implemented. [`PropagatorRegistry`] turns `OTEL_PROPAGATORS`
//! into a [`CompositePropagation`]; cloud crates register their own formats in it by name,
//! which is how core stays free of any cloud's format.

mod carrier;
mod links;
mod registry;
mod w3c;

pub(crate) use carrier::AsInjector;
pub use carrier::{Carrier, CarrierMut, Chained, IgnoreCase};
pub use links::ExtractedLinks;
pub use registry::{CompositePropagation, PropagatorFactory, PropagatorRegistry};

use std::fmt;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;

use carrier::AsExtractor;

/// Extracts and injects trace context through carriers.
///
/// Extraction always starts from an empty context, never from the ambient one: an
/// invocation's parent comes only from what arrived with it, so concurrent invocations can
/// never pick up each other's context.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::trace::TraceContextExt;
/// use opentelemetry_sdk::propagation::TraceContextPropagator;
/// use otel_faas_core::Propagation;
///
/// let headers = HashMap::from([(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )]);
/// let parent = TraceContextPropagator::new().extract_from(&headers);
/// assert_eq!(
///     parent.span().span_context().trace_id().to_string(),
///     "4bf92f3577b34da6a3ce929d0e0e4736"
/// );
///
/// let mut outgoing = HashMap::new();
/// TraceContextPropagator::new().inject_into(&parent, &mut outgoing);
/// assert!(outgoing["traceparent"].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
/// ```
pub trait Propagation: Send + Sync + fmt::Debug {
    /// Reads context from `carrier` on top of `cx`.
    fn extract_with(&self, cx: &Context, carrier: &dyn Carrier) -> Context;

    /// Writes the context of `cx` into `carrier`.
    fn inject_into(&self, cx: &Context, carrier: &mut dyn CarrierMut);

    /// The keys this propagation reads and writes.
    fn fields(&self) -> Vec<String>;

    /// Reads context from `carrier` into a fresh, empty context.
    fn extract_from(&self, carrier: &dyn Carrier) -> Context {
        self.extract_with(&Context::new(), carrier)
    }
}

impl<P: TextMapPropagator + Send + Sync + fmt::Debug> Propagation for P {
    fn extract_with(&self, cx: &Context, carrier: &dyn Carrier) -> Context {
        self.extract_with_context(cx, &AsExtractor(carrier))
    }

    fn inject_into(&self, cx: &Context, carrier: &mut dyn CarrierMut) {
        self.inject_context(cx, &mut AsInjector(carrier));
    }

    fn fields(&self) -> Vec<String> {
        TextMapPropagator::fields(self).map(str::to_owned).collect()
    }
}
