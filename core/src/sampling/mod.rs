//! Which traces are kept.
//!
//! The pipeline builds the root sampler and the span processors from these, as
//! `OTEL_TRACES_SAMPLER` and the variables below say:
//!
//! * [`UnsampledRemoteParents`] (`OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS`): what parent-based
//!   samplers do with a caller that did not sample (Cloud Run drops the decision).
//! * [`SamplingRules`] (`OTEL_FAAS_SAMPLING_RULES`): rule-based head sampling — globs on
//!   service, host, method, path and span name, a reservoir per second and a rate per rule.
//! * A root sampler a platform crate registers under an `OTEL_TRACES_SAMPLER` name
//!   ([`RootSamplerFactory`], [`Pipeline::with_root_sampler`](crate::Pipeline::with_root_sampler)):
//!   the X-Ray remote sampler of `otel-faas-aws` is one; the local rules are its fallback.
//! * [`TailSampling`] (`OTEL_FAAS_TAIL_SAMPLING_RATIO`): an invocation's spans wait until it
//!   ends, and are kept when it failed, timed out, was cold or slow, else at a ratio.
//!
//! This module depends on the engine (tail sampling reads the current invocation) and on
//! nothing of the pipeline; the pipeline depends on it.

pub(crate) mod registered;
pub(crate) mod rules;
pub(crate) mod tail;
pub(crate) mod unsampled;

pub use registered::{RootSamplerFactory, RootSamplerInput};
pub use rules::{
    DefaultSamplingRule, Reservoir, RuleSampler, SAMPLING_RULES_VARIABLE, SamplingRule,
    SamplingRules, SamplingRulesError, glob_matches, root_decision,
};
pub use tail::{TAIL_SAMPLING_RATIO_VARIABLE, TailSampling, TailSamplingStats};
pub use unsampled::{UNSAMPLED_REMOTE_PARENTS_VARIABLE, UnsampledRemoteParents};
