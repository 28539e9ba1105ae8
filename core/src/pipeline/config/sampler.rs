//! The sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`) and what to do with an
//! unsampled remote parent (`OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS`).

use opentelemetry_sdk::trace::Sampler;

use crate::env::Environment;
use crate::warning::ConfigWarning;

/// The sampler asked for by `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::{PipelineConfig, SamplerConfig};
///
/// let env = MapEnvironment::from([
///     ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
///     ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
/// ]);
/// let sampler = PipelineConfig::from_env(&env).sampler;
/// assert_eq!(sampler, SamplerConfig::ParentBasedTraceIdRatio(0.1));
/// let _sdk_sampler = sampler.to_sampler();
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SamplerConfig {
    /// Sample everything.
    AlwaysOn,
    /// Sample nothing.
    AlwaysOff,
    /// Sample this share of traces, by trace id.
    TraceIdRatio(f64),
    /// Follow the parent's decision; sample roots.
    ParentBasedAlwaysOn,
    /// Follow the parent's decision; drop roots.
    ParentBasedAlwaysOff,
    /// Follow the parent's decision; sample this share of roots.
    ParentBasedTraceIdRatio(f64),
    /// Follow the parent's decision; roots are decided by the sampler a platform crate
    /// registered under this name
    /// ([`Pipeline::with_root_sampler`](crate::Pipeline::with_root_sampler)), which only
    /// the pipeline can build: [`root_sampler`](Self::root_sampler) and
    /// [`to_sampler`](Self::to_sampler) answer for it as for `parentbased_always_on`.
    ParentBasedRegistered(&'static str),
}

impl SamplerConfig {
    /// The root sampler of a parent-based sampler; `None` for the others.
    ///
    /// ```
    /// use otel_faas_core::pipeline::SamplerConfig;
    ///
    /// assert!(SamplerConfig::ParentBasedTraceIdRatio(0.1).root_sampler().is_some());
    /// assert!(SamplerConfig::AlwaysOn.root_sampler().is_none());
    /// ```
    pub fn root_sampler(self) -> Option<Sampler> {
        match self {
            Self::ParentBasedAlwaysOn | Self::ParentBasedRegistered(_) => Some(Sampler::AlwaysOn),
            Self::ParentBasedAlwaysOff => Some(Sampler::AlwaysOff),
            Self::ParentBasedTraceIdRatio(ratio) => Some(Sampler::TraceIdRatioBased(ratio)),
            Self::AlwaysOn | Self::AlwaysOff | Self::TraceIdRatio(_) => None,
        }
    }

    /// The SDK sampler.
    pub fn to_sampler(self) -> Sampler {
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
            Self::ParentBasedAlwaysOn | Self::ParentBasedRegistered(_) => {
                Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
            }
            Self::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Self::ParentBasedTraceIdRatio(ratio) => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
            }
        }
    }
}

pub(super) fn read_sampler(
    env: &dyn Environment,
    registered: &[&'static str],
    w: &mut Vec<ConfigWarning>,
) -> SamplerConfig {
    const VAR: &str = "OTEL_TRACES_SAMPLER";
    const ACCEPTED: &str = "always_on, always_off, traceidratio, parentbased_always_on, \
                            parentbased_always_off, parentbased_traceidratio";
    let ratio = |w: &mut Vec<ConfigWarning>| {
        let Some(raw) = env.get_non_empty("OTEL_TRACES_SAMPLER_ARG") else {
            return 1.0;
        };
        match raw.parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
            _ => {
                w.push(ConfigWarning::new(
                    "OTEL_TRACES_SAMPLER_ARG",
                    raw,
                    "a number from 0 to 1",
                    "1.0",
                ));
                1.0
            }
        }
    };
    let Some(name) = env.get_non_empty(VAR) else {
        return SamplerConfig::ParentBasedAlwaysOn;
    };
    let lowercase = name.to_ascii_lowercase();
    if let Some(registered) = registered.iter().find(|known| **known == lowercase) {
        return SamplerConfig::ParentBasedRegistered(registered);
    }
    match lowercase.as_str() {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(ratio(w)),
        "parentbased_always_on" => SamplerConfig::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerConfig::ParentBasedTraceIdRatio(ratio(w)),
        _ => {
            let accepted = registered
                .iter()
                .fold(ACCEPTED.to_owned(), |list, name| format!("{list}, {name}"));
            w.push(ConfigWarning::new(
                VAR,
                name,
                accepted,
                "parentbased_always_on",
            ));
            SamplerConfig::ParentBasedAlwaysOn
        }
    }
}

pub(super) fn read_unsampled_remote_parents(
    env: &dyn Environment,
    w: &mut Vec<ConfigWarning>,
) -> Option<crate::sampling::UnsampledRemoteParents> {
    let variable = crate::sampling::UNSAMPLED_REMOTE_PARENTS_VARIABLE;
    let raw = env.get_non_empty(variable)?;
    let parsed = crate::sampling::UnsampledRemoteParents::parse(&raw);
    if parsed.is_none() {
        w.push(ConfigWarning::new(
            variable,
            raw,
            "honor, decide_locally",
            "the platform's default",
        ));
    }
    parsed
}
