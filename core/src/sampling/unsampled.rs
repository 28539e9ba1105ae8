//! What a parent-based sampler does with a remote parent that says "not sampled".
//!
//! The specification's parent-based samplers follow the caller's decision. Some platforms
//! put a front end before the function that makes that decision for reasons of its own
//! and sends `sampled=0` on almost every request (one such front end samples about 0.1
//! request per second per instance): following it drops nearly every span, silently. With
//! [`UnsampledRemoteParents::DecideLocally`], such a parent is still the parent — the trace
//! id and parent span id are kept, so the spans join the caller's trace — but the sampling
//! decision is made as for a root, by the configured root sampler (`always_on`, or the
//! ratio of `parentbased_traceidratio`). Sampled remote parents and local parents are
//! followed as the specification says.
//!
//! A cloud crate chooses the default for its platform
//! ([`Pipeline::unsampled_remote_parents`](crate::Pipeline::unsampled_remote_parents));
//! `OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS` (`honor` or `decide_locally`) overrides it.

use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingResult, ShouldSample};

/// The variable that overrides a platform's choice.
pub const UNSAMPLED_REMOTE_PARENTS_VARIABLE: &str = "OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS";

/// What a parent-based sampler does with a remote parent that is not sampled.
///
/// ```
/// use otel_faas_core::{Pipeline, env::MapEnvironment, sampling::UnsampledRemoteParents};
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")]))
///     .unsampled_remote_parents(UnsampledRemoteParents::DecideLocally)
///     .install();
/// assert_eq!(telemetry.unsampled_remote_parents(), UnsampledRemoteParents::DecideLocally);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnsampledRemoteParents {
    /// Follow it: the span is not sampled (the specification's default).
    #[default]
    Honor,
    /// Keep it as the parent, but decide as for a root.
    DecideLocally,
}

impl UnsampledRemoteParents {
    /// Parses the variable's value (`honor`, `decide_locally`; any case).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "honor" | "honour" => Some(Self::Honor),
            "decide_locally" => Some(Self::DecideLocally),
            _ => None,
        }
    }
}

/// A parent-based sampler that decides locally for unsampled remote parents.
#[derive(Debug, Clone)]
pub(crate) struct LocalDecisionForUnsampledRemote {
    /// The configured sampler (parent-based).
    pub(crate) configured: Sampler,
    /// Its root sampler.
    pub(crate) root: Box<dyn ShouldSample>,
}

impl ShouldSample for LocalDecisionForUnsampledRemote {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let unsampled_remote = parent_context.is_some_and(|cx| {
            let parent = cx.span();
            let parent = parent.span_context();
            parent.is_valid() && parent.is_remote() && !parent.is_sampled()
        });
        let sampler: &dyn ShouldSample = if unsampled_remote {
            self.root.as_ref()
        } else {
            &self.configured
        };
        sampler.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
    use opentelemetry_sdk::trace::SamplingDecision;

    use super::*;

    fn decide(sampler: &dyn ShouldSample, parent: Option<SpanContext>) -> SamplingDecision {
        let cx = parent.map(|p| Context::new().with_remote_span_context(p));
        sampler
            .should_sample(
                cx.as_ref(),
                TraceId::from(7),
                "s",
                &SpanKind::Server,
                &[],
                &[],
            )
            .decision
    }

    fn remote(sampled: bool) -> SpanContext {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            flags,
            true,
            TraceState::default(),
        )
    }

    #[test]
    fn unsampled_remote_parents_are_decided_by_the_root_sampler() {
        let local = LocalDecisionForUnsampledRemote {
            configured: Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            root: Box::new(Sampler::AlwaysOn),
        };
        assert_eq!(
            decide(&local, Some(remote(false))),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide(&local, Some(remote(true))),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(decide(&local, None), SamplingDecision::RecordAndSample);
        let honoring = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        assert_eq!(
            decide(&honoring, Some(remote(false))),
            SamplingDecision::Drop
        );
        // A root sampler that drops still drops.
        let off = LocalDecisionForUnsampledRemote {
            configured: Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            root: Box::new(Sampler::AlwaysOff),
        };
        assert_eq!(decide(&off, Some(remote(false))), SamplingDecision::Drop);
        assert_eq!(
            decide(&off, Some(remote(true))),
            SamplingDecision::RecordAndSample
        );
    }

    #[test]
    fn values_parse() {
        assert_eq!(
            UnsampledRemoteParents::parse("Decide_Locally"),
            Some(UnsampledRemoteParents::DecideLocally)
        );
        assert_eq!(
            UnsampledRemoteParents::parse("honor"),
            Some(UnsampledRemoteParents::Honor)
        );
        assert_eq!(UnsampledRemoteParents::parse("sometimes"), None);
    }
}
