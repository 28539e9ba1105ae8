//! X-Ray trace headers: the `xray` and `xray-lambda` propagators, and X-Ray-compatible ids.
//!
//! Parsing and formatting of the `X-Amzn-Trace-Id` header are reused from
//! `opentelemetry-aws`. What these wrappers add is strictness: `opentelemetry-aws` turns a
//! header without `Parent` (as an ALB sends) into an *invalid* span context that then
//! overwrites a valid one found by an earlier propagator. Here a header that does not yield
//! a complete, valid context is ignored — never trusted partially.

pub mod annotations;
#[cfg(feature = "xray-daemon")]
pub mod daemon;
#[cfg(feature = "xray-sampling")]
pub mod sampling;

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Link, SpanContext, TraceContextExt};
use opentelemetry_aws::trace::xray_propagator::{span_context_from_str, span_context_to_string};
use otel_faas_core::propagation::{ExtractedLinks, PropagatorRegistry};
use std::borrow::Cow;
/// The HTTP header X-Ray uses.
pub const XRAY_HEADER: &str = "x-amzn-trace-id";

/// The carrier key under which [`LambdaEventAdapter`](crate::lambda::LambdaEventAdapter) hands the invocation's own trace
/// header (the Runtime API's `Lambda-Runtime-Trace-Id`) to propagators. Only
/// [`XrayLambdaPropagator`] reads it.
pub const LAMBDA_TRACE_HEADER: &str = "lambda-runtime-trace-id";

fn parse_valid(header: Option<&str>) -> Option<SpanContext> {
    span_context_from_str(&canonical(header?)?).filter(SpanContext::is_valid)
}

/// The header with its pairs trimmed and `Root`, `Parent` and `Sampled` spelled as X-Ray
/// spells them, whatever their case — or `None` when one of them appears twice, which
/// leaves it ambiguous. `opentelemetry-aws` matches the three keys case-sensitively: a
/// `SamPled=1` was read as "no sampling decision" plus a trace-state entry `sampled=1`,
/// and re-injected as `Sampled=?;Sampled=1`, so the next hop saw a different header.
///
/// A header that is canonical already — as AWS services write it — is returned as it is:
/// rebuilding it pair by pair cost more than the parse itself (≈ 5.5 k instructions per
/// SQS record in `cargo xtask bench`).
fn canonical(header: &str) -> Option<Cow<'_, str>> {
    const KEYS: [&str; 3] = ["Root", "Parent", "Sampled"];
    let mut seen = [false; 3];
    let mut rewrite = false;
    for pair in header.split(';') {
        // A part without `=` carries nothing (as `opentelemetry-aws` reads it too).
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let trimmed = key.trim();
        rewrite |= trimmed.len() != key.len() || value.trim().len() != value.len();
        if let Some(index) = KEYS
            .iter()
            .position(|known| known.eq_ignore_ascii_case(trimmed))
        {
            if std::mem::replace(&mut seen[index], true) {
                return None;
            }
            rewrite |= KEYS[index] != trimmed;
        }
    }
    if !rewrite {
        return Some(Cow::Borrowed(header));
    }
    rebuilt(header).map(Cow::Owned)
}

/// [`canonical`] the long way: every pair trimmed and rewritten.
fn rebuilt(header: &str) -> Option<String> {
    const KEYS: [&str; 3] = ["Root", "Parent", "Sampled"];
    let mut seen = [false; 3];
    let mut pairs = Vec::new();
    for pair in header.split(';') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match KEYS
            .iter()
            .position(|known| known.eq_ignore_ascii_case(key))
        {
            Some(index) => {
                if std::mem::replace(&mut seen[index], true) {
                    return None;
                }
                pairs.push(format!("{}={value}", KEYS[index]));
            }
            None => pairs.push(format!("{key}={value}")),
        }
    }
    Some(pairs.join(";"))
}

/// The `xray` propagator: the `X-Amzn-Trace-Id` header of the carrier.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::trace::TraceContextExt;
/// use otel_faas_aws::xray::XrayPropagator;
/// use otel_faas_core::Propagation;
///
/// let headers = HashMap::from([(
///     "x-amzn-trace-id".to_owned(),
///     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
/// )]);
/// let cx = XrayPropagator::new().extract_from(&headers);
/// assert_eq!(cx.span().span_context().trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
///
/// // An ALB's header has no Parent: it is not a parent.
/// let alb = HashMap::from([("x-amzn-trace-id".to_owned(), "Root=1-67891233-abcdef012345678912345678".to_owned())]);
/// assert!(!XrayPropagator::new().extract_from(&alb).has_active_span());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct XrayPropagator;

impl XrayPropagator {
    /// The propagator.
    pub fn new() -> Self {
        Self
    }
}

impl TextMapPropagator for XrayPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if let Some(header) = span_context_to_string(cx.span().span_context()) {
            injector.set(XRAY_HEADER, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match parse_valid(extractor.get(XRAY_HEADER)) {
            Some(span_context) => cx.with_remote_span_context(span_context),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(xray_fields())
    }
}

fn xray_fields() -> &'static [String] {
    static XRAY_FIELDS: std::sync::OnceLock<[String; 1]> = std::sync::OnceLock::new();
    XRAY_FIELDS.get_or_init(|| [XRAY_HEADER.to_owned()])
}

/// The ids of Lambda's own `AWS::Lambda::Function` segments that recent invocations took as
/// their parent (the `Parent` of the Lambda trace header), so that the X-Ray daemon
/// destination can tell a span under Lambda's segment — which X-Ray records as a subsegment
/// of it — from a span under a caller's. Bounded: the last [`LAMBDA_SEGMENTS_KEPT`].
static LAMBDA_SEGMENTS: std::sync::Mutex<std::collections::VecDeque<opentelemetry::trace::SpanId>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());

/// How many of Lambda's segment ids are remembered (far more than invocations in flight).
const LAMBDA_SEGMENTS_KEPT: usize = 256;

fn remember_lambda_segment(id: opentelemetry::trace::SpanId) {
    let mut ids = LAMBDA_SEGMENTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !ids.contains(&id) {
        if ids.len() == LAMBDA_SEGMENTS_KEPT {
            ids.pop_front();
        }
        ids.push_back(id);
    }
}

/// Whether `id` is the id of Lambda's own segment for a recent invocation of this process.
#[cfg_attr(not(feature = "xray-daemon"), allow(dead_code))]
pub(crate) fn is_lambda_segment(id: opentelemetry::trace::SpanId) -> bool {
    LAMBDA_SEGMENTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(&id)
}

/// The `xray-lambda` propagator, with the semantics of the conventions: a valid context
/// from the carrier (or from a propagator listed before it) wins; only without one does the
/// invocation's own Lambda trace header become the parent.
///
/// The Lambda header is read from the carrier key [`LAMBDA_TRACE_HEADER`], which
/// [`LambdaEventAdapter`](crate::lambda::LambdaEventAdapter) fills from the invocation context — never from the
/// `_X_AMZN_TRACE_ID` variable, which concurrent invocations would overwrite.
///
/// **`Sampled=0`.** Lambda sends a trace header with every invocation, also when X-Ray
/// active tracing is off, and then it says `Sampled=0`. Trusting it would make a
/// parent-based sampler drop every trace of a function that does not use X-Ray — silently.
/// So by default a Lambda header that says `Sampled=0` is ignored: the invocation starts a
/// new trace and `OTEL_TRACES_SAMPLER` decides. A function that uses X-Ray active tracing
/// and wants X-Ray's "not sampled" honoured uses [`XrayLambdaPropagator::honoring_unsampled`].
/// Headers from callers (the carrier) are always honoured as they are.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::trace::TraceContextExt;
/// use otel_faas_aws::xray::{LAMBDA_TRACE_HEADER, XrayLambdaPropagator};
/// use otel_faas_core::Propagation;
///
/// let lambda_header = |sampled: &str| HashMap::from([(
///     LAMBDA_TRACE_HEADER.to_owned(),
///     format!("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled={sampled}"),
/// )]);
/// let propagator = XrayLambdaPropagator::new();
/// assert!(propagator.extract_from(&lambda_header("1")).span().span_context().is_sampled());
/// // Active tracing off: no parent, so the function's own sampler decides.
/// assert!(!propagator.extract_from(&lambda_header("0")).has_active_span());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct XrayLambdaPropagator {
    honor_unsampled: bool,
    lambda_parent: bool,
}

impl XrayLambdaPropagator {
    /// The propagator, ignoring a Lambda header that says `Sampled=0`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Honours a Lambda header that says `Sampled=0`, for functions that run X-Ray active
    /// tracing and want its sampling decision to stand.
    pub fn honoring_unsampled() -> Self {
        Self {
            honor_unsampled: true,
            lambda_parent: false,
        }
    }

    /// For X-Ray active tracing with the daemon destination (`xray::daemon`, feature
    /// `xray-daemon`): Lambda's `Sampled=0` honoured, and Lambda's own
    /// segment the parent **even when the carrier or a propagator listed before this one
    /// found a context** — that context becomes a link of the invocation span
    /// ([`ExtractedLinks`]) unless it is in
    /// Lambda's trace already. Lambda has recorded its segment in its own trace; the
    /// function's spans belong there, and a caller's W3C trace id (random, not X-Ray's
    /// epoch form) would make them untranslatable.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use opentelemetry::trace::TraceContextExt;
    /// use otel_faas_aws::xray::{LAMBDA_TRACE_HEADER, XrayLambdaPropagator};
    /// use otel_faas_core::Propagation;
    /// use otel_faas_core::propagation::ExtractedLinks;
    ///
    /// let carrier = HashMap::from([
    ///     (LAMBDA_TRACE_HEADER.to_owned(), "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned()),
    ///     ("x-amzn-trace-id".to_owned(), "Root=1-66666666-777777777777777777777777;Parent=8888888888888888;Sampled=1".to_owned()),
    /// ]);
    /// let cx = XrayLambdaPropagator::lambda_parent().extract_from(&carrier);
    /// assert_eq!(cx.span().span_context().span_id().to_string(), "53995c3f42cd8ad8");
    /// assert_eq!(ExtractedLinks::of(&cx)[0].span_context.span_id().to_string(), "8888888888888888");
    /// ```
    pub fn lambda_parent() -> Self {
        Self {
            honor_unsampled: true,
            lambda_parent: true,
        }
    }
}

impl TextMapPropagator for XrayLambdaPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        XrayPropagator.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let from_carrier = XrayPropagator.extract_with_context(cx, extractor);
        let span = from_carrier.span();
        let found = span.span_context();
        if self.lambda_parent {
            let lambda = parse_valid(extractor.get(LAMBDA_TRACE_HEADER))
                .filter(|lambda| lambda.is_sampled() || self.honor_unsampled);
            if let Some(lambda) = lambda {
                let linked = (found.is_valid() && found.trace_id() != lambda.trace_id())
                    .then(|| Link::with_context(found.clone()));
                remember_lambda_segment(lambda.span_id());
                let cx = from_carrier.with_remote_span_context(lambda);
                return match linked {
                    Some(link) => ExtractedLinks::add(&cx, link),
                    None => cx,
                };
            }
        }
        if found.is_valid() {
            return from_carrier;
        }
        match parse_valid(extractor.get(LAMBDA_TRACE_HEADER)) {
            Some(span_context) if span_context.is_sampled() || self.honor_unsampled => {
                remember_lambda_segment(span_context.span_id());
                cx.with_remote_span_context(span_context)
            }
            _ => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(xray_fields())
    }
}

/// Registers `xray` and `xray-lambda` in `registry`, so `OTEL_PROPAGATORS` can name them.
///
/// ```
/// use otel_faas_core::{env::MapEnvironment, propagation::PropagatorRegistry};
///
/// let mut registry = PropagatorRegistry::new();
/// otel_faas_aws::xray::register_propagators(&mut registry);
/// let env = MapEnvironment::from([("OTEL_PROPAGATORS", "tracecontext,xray-lambda")]);
/// let (propagation, warnings) = registry.from_env(&env);
/// assert!(warnings.is_empty());
/// assert_eq!(propagation.names(), ["tracecontext", "xray-lambda"]);
/// ```
pub fn register_propagators(registry: &mut PropagatorRegistry) {
    registry.register("xray", || Box::new(XrayPropagator::new()));
    registry.register("xray-lambda", || Box::new(XrayLambdaPropagator::new()));
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};
    use otel_faas_core::{Propagation, env::MapEnvironment};

    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn composite(names: &str) -> otel_faas_core::propagation::CompositePropagation {
        let mut registry = PropagatorRegistry::new();
        register_propagators(&mut registry);
        registry
            .from_env(&MapEnvironment::from([("OTEL_PROPAGATORS", names)]))
            .0
    }

    fn trace_id(cx: &Context) -> String {
        cx.span().span_context().trace_id().to_string()
    }

    /// `lambda_parent`, as the X-Ray daemon destination registers it after the W3C
    /// propagators: Lambda's segment is the parent whatever the caller sent; a caller's
    /// context of another trace is a link; with no Lambda header the caller's context stays.
    #[test]
    fn lambda_parent_keeps_lambdas_segment_and_links_the_callers_context() {
        let mut registry = PropagatorRegistry::new();
        registry.register("xray-lambda", || {
            Box::new(XrayLambdaPropagator::lambda_parent())
        });
        let propagation = registry
            .from_env(&MapEnvironment::from([(
                "OTEL_PROPAGATORS",
                "tracecontext,baggage,xray-lambda",
            )]))
            .0;
        let lambda = |sampled: &str| {
            format!(
                "Root=1-11111111-222222222222222222222222;Parent=3333333333333333;Sampled={sampled}"
            )
        };
        let links = |cx: &Context| {
            ExtractedLinks::of(cx)
                .iter()
                .map(|l| l.span_context.span_id().to_string())
                .collect::<Vec<_>>()
        };

        let sampled = lambda("1");
        let cx = propagation.extract_from(&carrier(&[
            ("traceparent", TRACEPARENT),
            ("baggage", "tenant=acme"),
            (LAMBDA_TRACE_HEADER, &sampled),
        ]));
        assert_eq!(trace_id(&cx), "11111111222222222222222222222222");
        assert_eq!(
            cx.span().span_context().span_id().to_string(),
            "3333333333333333"
        );
        assert_eq!(links(&cx), ["00f067aa0ba902b7"], "the caller, linked");
        assert_eq!(
            opentelemetry::baggage::BaggageExt::baggage(&cx)
                .get("tenant")
                .map(|v| v.to_string()),
            Some("acme".to_owned()),
            "baggage kept"
        );

        // X-Ray said not sampled: that decision stands.
        let unsampled = lambda("0");
        let cx = propagation.extract_from(&carrier(&[
            ("traceparent", TRACEPARENT),
            (LAMBDA_TRACE_HEADER, &unsampled),
        ]));
        assert_eq!(trace_id(&cx), "11111111222222222222222222222222");
        assert!(!cx.span().span_context().is_sampled());

        // An X-Amzn-Trace-Id in Lambda's own trace (API Gateway's segment) is no link.
        let cx = propagation.extract_from(&carrier(&[
            (
                "x-amzn-trace-id",
                "Root=1-11111111-222222222222222222222222;Parent=4444444444444444;Sampled=1",
            ),
            (LAMBDA_TRACE_HEADER, &sampled),
        ]));
        assert_eq!(
            cx.span().span_context().span_id().to_string(),
            "3333333333333333"
        );
        assert!(links(&cx).is_empty());

        // No Lambda header (outside Lambda): the caller's context is the parent.
        let cx = propagation.extract_from(&carrier(&[("traceparent", TRACEPARENT)]));
        assert_eq!(trace_id(&cx), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(links(&cx).is_empty());
    }

    #[test]
    fn an_alb_header_without_parent_does_not_erase_a_valid_traceparent() {
        let headers = carrier(&[
            ("traceparent", TRACEPARENT),
            (
                "x-amzn-trace-id",
                "Root=1-67891233-abcdef012345678912345678",
            ),
        ]);
        let cx = composite("tracecontext,xray").extract_from(&headers);
        assert_eq!(trace_id(&cx), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn invalid_xray_headers_are_ignored_whole() {
        for bad in [
            "",
            "Root=garbage;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=zz;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",
            "Parent=53995c3f42cd8ad8",
        ] {
            let cx = XrayPropagator.extract_from(&carrier(&[("x-amzn-trace-id", bad)]));
            assert!(!cx.span().span_context().is_valid(), "{bad:?} was trusted");
        }
    }

    #[test]
    fn xray_lambda_prefers_the_carrier_then_the_lambda_header() {
        let lambda = "Root=1-11111111-222222222222222222222222;Parent=3333333333333333;Sampled=1";
        let propagation = composite("tracecontext,xray-lambda");
        // A traceparent from the caller wins over the Lambda header.
        let cx = propagation.extract_from(&carrier(&[
            ("traceparent", TRACEPARENT),
            (LAMBDA_TRACE_HEADER, lambda),
        ]));
        assert_eq!(trace_id(&cx), "4bf92f3577b34da6a3ce929d0e0e4736");
        // So does a caller's X-Ray header.
        let cx = propagation.extract_from(&carrier(&[
            ("x-amzn-trace-id", XRAY),
            (LAMBDA_TRACE_HEADER, lambda),
        ]));
        assert_eq!(trace_id(&cx), "5759e988bd862e3fe1be46a994272793");
        // Without either, the Lambda header is the parent.
        let cx = propagation.extract_from(&carrier(&[(LAMBDA_TRACE_HEADER, lambda)]));
        assert_eq!(trace_id(&cx), "11111111222222222222222222222222");
        assert_eq!(
            cx.span().span_context().span_id().to_string(),
            "3333333333333333"
        );
    }

    #[test]
    fn plain_xray_never_reads_the_lambda_header() {
        let lambda = "Root=1-11111111-222222222222222222222222;Parent=3333333333333333;Sampled=1";
        let cx = XrayPropagator.extract_from(&carrier(&[(LAMBDA_TRACE_HEADER, lambda)]));
        assert!(!cx.has_active_span());
    }

    #[test]
    fn unsampled_lambda_header_policy() {
        let lambda = "Root=1-11111111-222222222222222222222222;Parent=3333333333333333;Sampled=0";
        let headers = carrier(&[(LAMBDA_TRACE_HEADER, lambda)]);
        assert!(
            !XrayLambdaPropagator::new()
                .extract_from(&headers)
                .has_active_span()
        );
        let honored = XrayLambdaPropagator::honoring_unsampled().extract_from(&headers);
        assert!(honored.span().span_context().is_valid());
        assert!(!honored.span().span_context().is_sampled());
        // A caller's unsampled X-Ray header is the caller's decision and stands.
        let caller = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
        let headers = carrier(&[("X-Amzn-Trace-Id", caller), (LAMBDA_TRACE_HEADER, lambda)]);
        let cx = XrayLambdaPropagator::new()
            .extract_from(&otel_faas_core::propagation::IgnoreCase(&headers));
        assert!(cx.span().span_context().is_valid() && !cx.span().span_context().is_sampled());
    }

    #[test]
    fn mis_cased_keys_are_read_as_the_keys_they_are() {
        let header = "root=1-5759e988-bd862e3fe1be46a994272793; PARENT=53995c3f42cd8ad8;SamPled=1";
        let cx = XrayPropagator.extract_from(&carrier(&[(XRAY_HEADER, header)]));
        let span_context = cx.span().span_context().clone();
        assert!(span_context.is_sampled());
        assert_eq!(span_context.span_id().to_string(), "53995c3f42cd8ad8");
        assert!(
            span_context.trace_state().header().is_empty(),
            "no sampled=1 trace state"
        );
        let mut out = HashMap::new();
        XrayPropagator.inject_into(&cx, &mut out);
        assert_eq!(out.get(XRAY_HEADER).map(String::as_str), Some(XRAY));
        // Twice the same key, in any case, is ambiguous: no parent.
        let twice = format!("{XRAY};sampled=0");
        let cx = XrayPropagator.extract_from(&carrier(&[(XRAY_HEADER, twice.as_str())]));
        assert!(!cx.has_active_span());
    }

    #[test]
    fn injection_round_trips() {
        let span_context = SpanContext::new(
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
            SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(span_context.clone());
        let mut out = HashMap::new();
        XrayPropagator.inject_into(&cx, &mut out);
        assert_eq!(out.get(XRAY_HEADER).map(String::as_str), Some(XRAY));
        let back = XrayPropagator.extract_from(&out);
        assert_eq!(
            back.span().span_context().trace_id(),
            span_context.trace_id()
        );
    }

    #[test]
    fn a_repeated_key_is_ambiguous_even_when_the_header_is_canonical() {
        let root = "Root=1-5759e988-bd862e3fe1be46a994272793";
        for header in [
            format!("{root};{root};Parent=53995c3f42cd8ad8;Sampled=1"),
            format!("{root};Parent=53995c3f42cd8ad8;Parent=53995c3f42cd8ad9"),
            format!("{root};Sampled=1;Parent=53995c3f42cd8ad8;Sampled=0"),
        ] {
            assert_eq!(canonical(&header), None, "{header}");
        }
        let plain = format!("{root};Parent=53995c3f42cd8ad8;Sampled=1");
        assert!(matches!(canonical(&plain), Some(Cow::Borrowed(_))));
        assert_eq!(
            canonical("root=1-5759e988-bd862e3fe1be46a994272793; parent=53995c3f42cd8ad8")
                .as_deref(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8")
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// `Root`, `Parent` or `Sampled` in some case.
        fn any_case(key: &'static str) -> impl Strategy<Value = String> {
            proptest::collection::vec(any::<bool>(), key.len()).prop_map(move |upper| {
                key.chars()
                    .zip(upper)
                    .map(|(c, up)| {
                        if up {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    })
                    .collect()
            })
        }

        fn pair() -> impl Strategy<Value = String> {
            prop_oneof![
                ("[0-9a-f]{8}", "[0-9a-f]{24}", any_case("Root"))
                    .prop_map(|(time, id, key)| format!("{key}=1-{time}-{id}")),
                ("[0-9a-f]{16}", any_case("Parent")).prop_map(|(id, key)| format!("{key}={id}")),
                (
                    prop_oneof!["0", "1", "\\?", "[a-z0-9]{0,3}"],
                    any_case("Sampled")
                )
                    .prop_map(|(value, key)| format!("{key}={value}")),
                ("[A-Za-z][A-Za-z0-9-]{0,8}", "[A-Za-z0-9:.-]{0,10}")
                    .prop_map(|(key, value)| format!("{key}={value}")),
                "[ -~]{0,12}",
            ]
        }

        fn header() -> impl Strategy<Value = String> {
            (proptest::collection::vec(pair(), 0..7), " ?")
                .prop_map(|(pairs, space)| pairs.join(&format!(";{space}")))
        }

        fn extract(header: &str) -> Context {
            XrayPropagator.extract_from(&carrier(&[(XRAY_HEADER, header)]))
        }

        fn inject(cx: &Context) -> Option<String> {
            let mut out = HashMap::new();
            XrayPropagator.inject_into(cx, &mut out);
            out.remove(XRAY_HEADER)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// A header passed through as it is (already canonical) reads exactly as its
            /// rewritten form does.
            #[test]
            fn the_shortcut_reads_as_the_rewrite(header in header()) {
                let read = |text: Option<&str>| {
                    text.and_then(span_context_from_str).map(|c| {
                        (c.trace_id(), c.span_id(), c.trace_flags(), c.trace_state().header())
                    })
                };
                let short = canonical(&header);
                let long = rebuilt(&header);
                prop_assert_eq!(short.is_some(), long.is_some());
                prop_assert_eq!(read(short.as_deref()), read(long.as_deref()), "{}", header);
            }

            /// Whatever arrives, what is passed on reads back as the same context, and
            /// passing it on again changes nothing.
            #[test]
            fn extract_inject_extract_is_a_fixed_point(header in header()) {
                let first = extract(&header);
                let first_context = first.span().span_context().clone();
                let Some(passed_on) = inject(&first) else {
                    prop_assert!(!first_context.is_valid());
                    return Ok(());
                };
                let second = extract(&passed_on);
                let second_context = second.span().span_context().clone();
                prop_assert_eq!(second_context.trace_id(), first_context.trace_id());
                prop_assert_eq!(second_context.span_id(), first_context.span_id());
                prop_assert_eq!(second_context.trace_flags(), first_context.trace_flags());
                prop_assert_eq!(
                    second_context.trace_state().header(),
                    first_context.trace_state().header()
                );
                prop_assert_eq!(inject(&second), Some(passed_on.clone()));
                let sampled_keys = passed_on
                    .split(';')
                    .filter(|pair| pair.to_ascii_lowercase().starts_with("sampled="))
                    .count();
                prop_assert_eq!(sampled_keys, 1, "{}", passed_on);
            }
        }
    }
}
