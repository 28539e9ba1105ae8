//! Contexts a propagator read but did not make the parent, carried to the span as links.

use opentelemetry::Context;
use opentelemetry::trace::Link;

/// Links a propagator asks for: span contexts it found in the carrier (or that a
/// propagator listed before it found) but did not make the parent, so that the span started
/// on the extracted context still points at them.
///
/// A propagator adds them with [`ExtractedLinks::add`]; the engine starts the invocation
/// span with them beside the adapter's own links, and the context it hands the handler no
/// longer holds them (the handler's spans do not repeat the links). X-Ray's `xray-lambda`
/// uses this on Lambda with the X-Ray daemon destination: Lambda's segment is the parent,
/// a caller's W3C context a link.
///
/// ```
/// use opentelemetry::Context;
/// use opentelemetry::trace::{Link, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// use otel_faas_core::propagation::ExtractedLinks;
///
/// let caller = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED,
///     true,
///     TraceState::default(),
/// );
/// let cx = ExtractedLinks::add(&Context::new(), Link::with_context(caller.clone()));
/// assert_eq!(ExtractedLinks::of(&cx)[0].span_context, caller);
/// assert!(ExtractedLinks::of(&Context::new()).is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExtractedLinks(Vec<Link>);

impl ExtractedLinks {
    /// `cx` with `link` added to the links it carries.
    pub fn add(cx: &Context, link: Link) -> Context {
        let mut links = cx.get::<Self>().map(|l| l.0.clone()).unwrap_or_default();
        links.push(link);
        cx.with_value(Self(links))
    }

    /// The links `cx` carries; empty when none.
    pub fn of(cx: &Context) -> &[Link] {
        cx.get::<Self>().map_or(&[], |links| links.0.as_slice())
    }
}
