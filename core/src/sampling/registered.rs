//! Root samplers that platform crates offer under an `OTEL_TRACES_SAMPLER` name (as
//! `OTEL_TRACES_SAMPLER=xray` names the X-Ray remote sampler in the OpenTelemetry
//! distributions).

use std::fmt;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::ShouldSample;

use super::rules::RuleSampler;
use crate::env::ConfigWarning;
use crate::env::Environment;

/// What a [`RootSamplerFactory`] is given when `OTEL_TRACES_SAMPLER` names it.
#[non_exhaustive]
pub struct RootSamplerInput<'a> {
    /// `OTEL_TRACES_SAMPLER_ARG`, when set: the sampler's own settings.
    pub argument: Option<String>,
    /// The resource as detected at start-up (a late resource is not in it yet).
    pub resource: &'a Resource,
    /// The local rules (`OTEL_FAAS_SAMPLING_RULES`, else
    /// [`Pipeline::with_sampling_rules`](crate::Pipeline::with_sampling_rules)), when there
    /// are any: what a remote sampler falls back to while it has no rules of its own.
    pub local_rules: Option<RuleSampler>,
    /// The pipeline's environment.
    pub env: &'a dyn Environment,
    /// Where the factory reports a setting it could not use; each is emitted once and
    /// listed in [`Telemetry::warnings`](crate::Telemetry::warnings).
    pub warnings: &'a mut Vec<ConfigWarning>,
}

impl fmt::Debug for RootSamplerInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootSamplerInput")
            .field("argument", &self.argument)
            .field("local_rules", &self.local_rules)
            .finish_non_exhaustive()
    }
}

/// Builds the root sampler registered under a name, once, when the pipeline is installed.
/// What it returns decides for new traces; the pipeline wraps it in a parent-based sampler
/// (spans with a parent follow it), as for every other root sampler.
pub type RootSamplerFactory =
    Box<dyn FnOnce(RootSamplerInput<'_>) -> Box<dyn ShouldSample> + Send + Sync>;

/// A root sampler offered under an `OTEL_TRACES_SAMPLER` name; see
/// [`Pipeline::with_root_sampler`](crate::Pipeline::with_root_sampler).
pub(crate) struct NamedRootSampler {
    pub(crate) name: &'static str,
    pub(crate) factory: RootSamplerFactory,
}

impl fmt::Debug for NamedRootSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NamedRootSampler({})", self.name)
    }
}
