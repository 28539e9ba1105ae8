//! Which traces are kept.
//!
//! The pipeline builds the root sampler and the span processors from these, as
//! `OTEL_TRACES_SAMPLER` and the variables below say:
//!
//! * [`UnsampledRemoteParents`] (`OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS`): what parent-based
//!   samplers do with a caller that did not sample (Cloud Run drops the decision).
//! * [`SamplingRules`] (`OTEL_FAAS_SAMPLING_RULES`): rule-based head sampling — globs on
//!   service, host, method, path and span name, a reservoir per second and a rate per rule.
//! * [`TailSampling`] (`OTEL_FAAS_TAIL_SAMPLING_RATIO`): an invocation's spans wait until it
//!   ends, and are kept when it failed, timed out, was cold or slow, else at a ratio.
//!
//! This module depends on the engine (tail sampling reads the current invocation) and on
//! nothing of the pipeline; the pipeline depends on it.

pub(crate) mod rules;
pub(crate) mod tail;
pub(crate) mod unsampled;

pub use rules::{
    DefaultSamplingRule, SAMPLING_RULES_VARIABLE, SamplingRule, SamplingRules, SamplingRulesError,
    glob_matches,
};
pub use tail::{TAIL_SAMPLING_RATIO_VARIABLE, TailSampling, TailSamplingStats};
pub use unsampled::{UNSAMPLED_REMOTE_PARENTS_VARIABLE, UnsampledRemoteParents};
