//! `OTEL_TRACES_SAMPLER=xray`: X-Ray's centralized sampling rules, for long-running
//! services (ECS, EKS, EC2 — on Lambda, the platform decides and passes `Sampled=` on).
//!
//! The sampler asks the X-Ray daemon's proxy (the sidecar that also receives segments) for
//! the account's sampling rules (`GetSamplingRules`, every 5 minutes by default) and reports
//! each rule's counts to it every 10 seconds (`GetSamplingTargets`), which answers with the
//! share of each rule's reservoir this instance may use — so that the account-wide
//! "1 per second, then 5 %" holds however many instances run. Both calls run on a thread of
//! their own, never on a request's path; a span start reads the rules under a read lock.
//!
//! Until the rules arrive, when the proxy cannot be reached, or when no rule has been
//! fetched for an hour, the **local rules** decide: `OTEL_FAAS_SAMPLING_RULES` (the same
//! document format as the X-Ray SDKs' local rules file), else X-Ray's default of one trace
//! a second and 5 % of the rest. The first failure is reported once; new traces are never
//! delayed by it.
//!
//! | `OTEL_TRACES_SAMPLER_ARG` key | Meaning | Default |
//! |---|---|---|
//! | `endpoint` | the proxy, `http://host:port` | from `AWS_XRAY_DAEMON_ADDRESS` (its `tcp:` address), else `http://127.0.0.1:2000` |
//! | `polling_interval` | seconds between `GetSamplingRules` (at least 1) | `300` |
//!
//! As in the OpenTelemetry X-Ray samplers: rules are matched in priority order (then by
//! name) on `service.name`, the service type from `cloud.platform` (`AWS::ECS::Container`,
//! `AWS::EKS::Container`, `AWS::EC2::Instance`…), the resource ARN
//! (`aws.ecs.container.arn`), `server.address`, `http.request.method`, `url.path` and the
//! rule's attributes, each a case-sensitive glob where `*` also matches a missing value;
//! only rules of version 1 are used. Spans with a parent follow it (the pipeline's
//! parent-based wrapping). IAM: the daemon's role needs `xray:GetSamplingRules` and
//! `xray:GetSamplingTargets`.
//!
//! ```
//! use otel_faas_core::{Pipeline, env::MapEnvironment};
//!
//! let telemetry = otel_faas_aws::xray::sampling::register(Pipeline::with_environment(
//!     MapEnvironment::from([
//!         ("OTEL_TRACES_SAMPLER", "xray"),
//!         // A port where nothing listens: the local rules decide, and one warning says why.
//!         ("OTEL_TRACES_SAMPLER_ARG", "endpoint=http://127.0.0.1:9,polling_interval=60"),
//!         ("OTEL_TRACES_EXPORTER", "none"),
//!         ("OTEL_METRICS_EXPORTER", "none"),
//!         ("OTEL_LOGS_EXPORTER", "none"),
//!     ]),
//! ))
//! .install();
//! assert!(telemetry.warnings().is_empty());
//! ```

mod poller;
mod rules;

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SamplingResult, ShouldSample};
use otel_faas_core::Pipeline;
use otel_faas_core::env::ConfigWarning;
use otel_faas_core::env::Environment;
use otel_faas_core::sampling::{
    RootSamplerFactory, RootSamplerInput, SamplingRules, root_decision,
};

use rules::{Applier, Facts};

/// The `OTEL_TRACES_SAMPLER` name of the X-Ray remote sampler, as the OpenTelemetry
/// distributions for AWS name it.
pub const XRAY_SAMPLER: &str = "xray";

/// The daemon's proxy when nothing says otherwise.
pub const DEFAULT_SAMPLING_ENDPOINT: &str = "http://127.0.0.1:2000";

/// X-Ray's default local rule (the X-Ray SDKs' `DefaultRule`): one trace a second, then
/// 5 %.
const XRAY_DEFAULT_LOCAL_RULES: &str =
    r#"{"version": 2, "default": {"fixed_target": 1, "rate": 0.05}}"#;

/// How long fetched rules are trusted without a successful refresh (as the X-Ray SDKs).
const RULES_TTL: Duration = Duration::from_secs(3600);

/// How the remote sampler reaches X-Ray and how often.
///
/// ```
/// use std::time::Duration;
/// use otel_faas_aws::xray::sampling::XraySamplingOptions;
///
/// let options = XraySamplingOptions::new("http://127.0.0.1:2000")
///     .rules_interval(Duration::from_secs(60));
/// assert_eq!(options.endpoint(), "http://127.0.0.1:2000");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct XraySamplingOptions {
    endpoint: String,
    rules_interval: Duration,
    targets_interval: Duration,
}

impl XraySamplingOptions {
    /// Polling `endpoint` (`http://host:port`, the daemon's proxy) every 5 minutes for
    /// rules and every 10 seconds for targets (until X-Ray says another interval).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            rules_interval: Duration::from_secs(300),
            targets_interval: Duration::from_secs(10),
        }
    }

    /// The time between two `GetSamplingRules`.
    #[must_use]
    pub fn rules_interval(mut self, interval: Duration) -> Self {
        self.rules_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The time between two `GetSamplingTargets` until X-Ray answers with an interval of
    /// its own.
    #[must_use]
    pub fn targets_interval(mut self, interval: Duration) -> Self {
        self.targets_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The proxy polled.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The options `OTEL_TRACES_SAMPLER_ARG` and `AWS_XRAY_DAEMON_ADDRESS` in `env` ask
    /// for; a key or value that cannot be used is a warning, and its default applies.
    pub fn from_env(env: &dyn Environment, warnings: &mut Vec<ConfigWarning>) -> Self {
        let default_endpoint = env
            .get_non_empty("AWS_XRAY_DAEMON_ADDRESS")
            .and_then(|address| daemon_tcp_endpoint(&address))
            .unwrap_or_else(|| DEFAULT_SAMPLING_ENDPOINT.to_owned());
        let mut options = Self::new(default_endpoint);
        let Some(argument) = env.get_non_empty("OTEL_TRACES_SAMPLER_ARG") else {
            return options;
        };
        let mut warn = |accepted: &str, fallback: String| {
            warnings.push(ConfigWarning::new(
                "OTEL_TRACES_SAMPLER_ARG",
                argument.clone(),
                accepted,
                fallback,
            ));
        };
        for pair in argument.split(',').filter(|pair| !pair.trim().is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = value.trim();
            match key.trim() {
                "endpoint" if is_http_endpoint(value) => {
                    options.endpoint = value.trim_end_matches('/').to_owned();
                }
                "endpoint" => warn(
                    "endpoint=http://host:port (the X-Ray daemon's proxy)",
                    options.endpoint.clone(),
                ),
                "polling_interval" => match value.parse::<f64>() {
                    Ok(seconds) if seconds.is_finite() && (1.0..=86_400.0).contains(&seconds) => {
                        options.rules_interval = Duration::from_secs_f64(seconds);
                    }
                    _ => warn(
                        "polling_interval=<seconds from 1 to 86400>",
                        format!("{} s", options.rules_interval.as_secs()),
                    ),
                },
                _ => warn(
                    "endpoint=…, polling_interval=… (comma-separated)",
                    "the defaults for unknown keys".to_owned(),
                ),
            }
        }
        options
    }
}

/// `http://host:port` with a port.
fn is_http_endpoint(value: &str) -> bool {
    value.strip_prefix("http://").is_some_and(|rest| {
        let authority = rest.trim_end_matches('/');
        !authority.contains('/')
            && authority
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
    })
}

/// The TCP address in `AWS_XRAY_DAEMON_ADDRESS` (`host:port`, or `tcp:host:port
/// udp:host:port` when they differ), as an endpoint.
fn daemon_tcp_endpoint(address: &str) -> Option<String> {
    let tcp = if address.contains("tcp:") || address.contains("udp:") {
        address
            .split_whitespace()
            .find_map(|part| part.strip_prefix("tcp:"))?
    } else {
        address.trim()
    };
    let endpoint = format!("http://{tcp}");
    is_http_endpoint(&endpoint).then_some(endpoint)
}

/// The X-Ray remote sampler (see the [module](self)); it decides for root spans. Clones
/// share the rules; the polling thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct XrayRemoteSampler {
    shared: Arc<Shared>,
}

struct Shared {
    rules: RwLock<Fetched>,
    fallback: Box<dyn ShouldSample>,
    service_name: String,
    service_type: String,
    resource_arn: String,
    /// Dropped with the last sampler: the polling thread sees the channel close and ends.
    _stop: mpsc::Sender<()>,
}

#[derive(Default)]
struct Fetched {
    appliers: Vec<Applier>,
    /// When rules last arrived: `Instant` for the TTL, seconds since the epoch to compare
    /// with X-Ray's `LastRuleModification`.
    at: Option<(Instant, f64)>,
}

impl fmt::Debug for XrayRemoteSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules = self
            .shared
            .rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .appliers
            .len();
        write!(f, "XrayRemoteSampler({rules} rules)")
    }
}

impl XrayRemoteSampler {
    /// A sampler for the service `resource` describes, polling as `options` say, and
    /// deciding by `fallback` until rules arrive (None: X-Ray's default, one a second and
    /// 5 %). Starts its polling thread.
    pub fn start(
        options: XraySamplingOptions,
        resource: &Resource,
        fallback: Option<Box<dyn ShouldSample>>,
    ) -> Self {
        let attribute = |key: &'static str| {
            resource
                .get(&opentelemetry::Key::from_static_str(key))
                .map(|value| value.to_string())
        };
        let service_name = attribute("service.name").unwrap_or_default();
        let service_type = attribute("cloud.platform")
            .as_deref()
            .and_then(service_type)
            .unwrap_or_default()
            .to_owned();
        let resource_arn = attribute("aws.ecs.container.arn")
            .or_else(|| attribute("cloud.resource_id"))
            .unwrap_or_default();
        let fallback = fallback.unwrap_or_else(|| {
            let rules = SamplingRules::parse(XRAY_DEFAULT_LOCAL_RULES);
            match rules {
                Ok(rules) => Box::new(rules.sampler(&service_name)),
                // The constant parses (a unit test says so); never reached.
                Err(_) => Box::new(opentelemetry_sdk::trace::Sampler::TraceIdRatioBased(0.05)),
            }
        });
        let (stop, stopped) = mpsc::channel();
        let shared = Arc::new(Shared {
            rules: RwLock::default(),
            fallback,
            service_name,
            service_type,
            resource_arn,
            _stop: stop,
        });
        poller::spawn(options, Arc::downgrade(&shared), stopped);
        Self { shared }
    }

    /// How many rules X-Ray sent that are in use (0 until they arrive, or while the local
    /// rules decide).
    pub fn remote_rules(&self) -> usize {
        let fetched = self
            .shared
            .rules
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if fetched.fresh() {
            fetched.appliers.len()
        } else {
            0
        }
    }
}

impl Fetched {
    fn fresh(&self) -> bool {
        self.at.is_some_and(|(at, _)| at.elapsed() < RULES_TTL)
    }
}

/// X-Ray's service type for an OpenTelemetry `cloud.platform`.
fn service_type(platform: &str) -> Option<&'static str> {
    Some(match platform {
        "aws_lambda" => "AWS::Lambda::Function",
        "aws_elastic_beanstalk" => "AWS::ElasticBeanstalk::Environment",
        "aws_ec2" => "AWS::EC2::Instance",
        "aws_ecs" => "AWS::ECS::Container",
        "aws_eks" => "AWS::EKS::Container",
        _ => return None,
    })
}

impl ShouldSample for XrayRemoteSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let decided = {
            let fetched = self
                .shared
                .rules
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if fetched.fresh() {
                let facts = Facts {
                    service_name: &self.shared.service_name,
                    service_type: &self.shared.service_type,
                    resource_arn: &self.shared.resource_arn,
                    attributes,
                };
                fetched
                    .appliers
                    .iter()
                    .find(|applier| applier.matches(&facts))
                    .map(|applier| applier.sample(trace_id))
            } else {
                None
            }
        };
        match decided {
            Some(sampled) => root_decision(sampled, parent_context),
            // No rules (yet, or any more), or none matched: the local rules decide.
            None => self.shared.fallback.should_sample(
                parent_context,
                trace_id,
                name,
                span_kind,
                attributes,
                links,
            ),
        }
    }
}

/// The factory [`register`] gives the pipeline: options from `OTEL_TRACES_SAMPLER_ARG`,
/// the local rules as the fallback.
pub fn sampler_factory() -> RootSamplerFactory {
    Box::new(|input: RootSamplerInput<'_>| {
        let options = XraySamplingOptions::from_env(input.env, input.warnings);
        let fallback = input
            .local_rules
            .map(|rules| Box::new(rules) as Box<dyn ShouldSample>);
        Box::new(XrayRemoteSampler::start(options, input.resource, fallback))
    })
}

/// `pipeline`, where `OTEL_TRACES_SAMPLER=xray` selects the X-Ray remote sampler (see the
/// [module](self)). [`containers::pipeline`](crate::containers::pipeline) does this
/// already.
pub fn register(pipeline: Pipeline) -> Pipeline {
    pipeline.with_root_sampler(XRAY_SAMPLER, sampler_factory())
}

/// Seconds since the epoch, now.
fn epoch_seconds(now: SystemTime) -> f64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests;
