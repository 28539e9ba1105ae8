//! Rule-based head sampling.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use serde::Deserialize;

/// The variable holding the rules document, or the path of its file.
pub const SAMPLING_RULES_VARIABLE: &str = "OTEL_FAAS_SAMPLING_RULES";

/// Why a rules document was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamplingRulesError {
    /// The file could not be read.
    #[error("the sampling rules file {path} cannot be read: {source}")]
    Read {
        /// The path given.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The document is not a valid rules document.
    #[error(
        "the sampling rules are not valid: {0} (see the rule document format in otel_faas_core::sampling::SamplingRules)"
    )]
    Invalid(String),
}

/// One rule of the document.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SamplingRule {
    /// What the rule is for (not used to match).
    #[serde(default)]
    pub description: Option<String>,
    /// A glob on `service.name`.
    #[serde(default)]
    pub service_name: Option<String>,
    /// A glob on `server.address`.
    #[serde(default)]
    pub host: Option<String>,
    /// A glob on `http.request.method`.
    #[serde(default)]
    pub http_method: Option<String>,
    /// A glob on `url.path`.
    #[serde(default)]
    pub url_path: Option<String>,
    /// A glob on the span name.
    #[serde(default)]
    pub span_name: Option<String>,
    /// Traces sampled per second before `rate` applies.
    pub fixed_target: u32,
    /// The ratio sampled beyond the reservoir, in `[0, 1]`.
    pub rate: f64,
}

/// The `default` of the document: a reservoir and a rate for what no rule matches.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DefaultSamplingRule {
    /// Traces sampled per second before `rate` applies.
    pub fixed_target: u32,
    /// The ratio sampled beyond the reservoir.
    pub rate: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    #[serde(default)]
    rules: Vec<SamplingRule>,
    default: DefaultSamplingRule,
}

/// A parsed sampling rules document: the first rule that matches a new trace's root span
/// decides, with a reservoir of traces per second and a fixed rate beyond it.
///
/// The document is the local sampling-rules format of centralized sampling systems
/// (version 2, with `service_name` and `span_name` as well), so existing rule files work:
///
/// ```json
/// {
///   "version": 2,
///   "rules": [
///     { "description": "never trace health checks", "url_path": "/health*", "fixed_target": 0, "rate": 0.0 },
///     { "description": "always keep the API", "http_method": "*", "url_path": "/api/*", "fixed_target": 1, "rate": 1.0 }
///   ],
///   "default": { "fixed_target": 1, "rate": 0.05 }
/// }
/// ```
///
/// * A rule matches when every field it names matches: `service_name` (the resource's
///   `service.name`), `host` (`server.address`), `http_method` (`http.request.method`),
///   `url_path` (`url.path`) and `span_name`, each a glob where `*` is any run of
///   characters and `?` one character; a missing field, or `*`, matches anything. Methods
///   and hosts match without regard to case, paths and names exactly. A span without the
///   attribute a rule asks for (a queue trigger has no `url.path`) matches only `*`.
/// * The first matching rule decides; `default` (required) decides for the rest.
/// * Each rule samples its first `fixed_target` traces in every second (the reservoir),
///   then `rate` of the others, decided from the trace id as `traceidratio` does.
/// * Only roots are decided here: a span with a parent follows the parent (parent-based),
///   as with `parentbased_traceidratio`.
///
/// Loaded from `OTEL_FAAS_SAMPLING_RULES` — the document itself (text starting with `{`)
/// or the path of a file holding it — or given in code with
/// [`Pipeline::with_sampling_rules`](crate::Pipeline::with_sampling_rules). A document that
/// does not parse is reported once, naming the problem, and `OTEL_TRACES_SAMPLER` applies.
///
///
/// ```
/// use otel_faas_core::sampling::SamplingRules;
///
/// let rules = SamplingRules::parse(r#"{
///     "version": 2,
///     "rules": [{ "url_path": "/health", "fixed_target": 0, "rate": 0.0 }],
///     "default": { "fixed_target": 1, "rate": 0.1 }
/// }"#).unwrap();
/// assert_eq!(rules.rules().len(), 1);
/// assert!(SamplingRules::parse(r#"{"version": 2, "rules": []}"#).is_err(), "default is required");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingRules {
    rules: Vec<SamplingRule>,
    default: DefaultSamplingRule,
}

impl SamplingRules {
    /// Parses a document; says what is wrong with one that does not parse.
    pub fn parse(document: &str) -> Result<Self, SamplingRulesError> {
        let parsed: Document = serde_json::from_str(document)
            .map_err(|error| SamplingRulesError::Invalid(error.to_string()))?;
        if !(1..=2).contains(&parsed.version) {
            return Err(SamplingRulesError::Invalid(format!(
                "version {} (1 and 2 are known)",
                parsed.version
            )));
        }
        let rates = parsed
            .rules
            .iter()
            .map(|rule| rule.rate)
            .chain([parsed.default.rate]);
        for rate in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SamplingRulesError::Invalid(format!(
                    "rate {rate} is not in [0, 1]"
                )));
            }
        }
        Ok(Self {
            rules: parsed.rules,
            default: parsed.default,
        })
    }

    /// The document in `value`, or in the file `value` names when it does not start with
    /// `{`.
    pub fn load(value: &str) -> Result<Self, SamplingRulesError> {
        if value.trim_start().starts_with('{') {
            Self::parse(value)
        } else {
            let text =
                std::fs::read_to_string(value).map_err(|source| SamplingRulesError::Read {
                    path: value.to_owned(),
                    source,
                })?;
            Self::parse(&text)
        }
    }

    /// The rules, in the order they are tried.
    pub fn rules(&self) -> &[SamplingRule] {
        &self.rules
    }

    /// The sampler deciding for root spans of `service_name`'s traces (rules naming another
    /// service are left out).
    ///
    /// ```
    /// use opentelemetry::trace::{SpanKind, TraceId};
    /// use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};
    /// use otel_faas_core::sampling::SamplingRules;
    ///
    /// let rules = SamplingRules::parse(r#"{"version": 2,
    ///     "rules": [{"span_name": "GET /health", "fixed_target": 0, "rate": 0.0}],
    ///     "default": {"fixed_target": 0, "rate": 1.0}}"#).unwrap();
    /// let sampler = rules.sampler("orders");
    /// let decide = |name: &str| {
    ///     sampler.should_sample(None, TraceId::from(7), name, &SpanKind::Server, &[], &[]).decision
    /// };
    /// assert_eq!(decide("GET /health"), SamplingDecision::Drop);
    /// assert_eq!(decide("GET /orders"), SamplingDecision::RecordAndSample);
    /// ```
    pub fn sampler(&self, service_name: &str) -> RuleSampler {
        let mut rules: Vec<Compiled> = self
            .rules
            .iter()
            .filter(|rule| {
                rule.service_name
                    .as_deref()
                    .is_none_or(|glob| glob_matches_case(glob, service_name, false))
            })
            .map(|rule| Compiled {
                host: rule.host.clone(),
                http_method: rule.http_method.clone(),
                url_path: rule.url_path.clone(),
                span_name: rule.span_name.clone(),
                reservoir: Reservoir::new(u64::from(rule.fixed_target)),
                rate: rule.rate,
            })
            .collect();
        rules.push(Compiled {
            host: None,
            http_method: None,
            url_path: None,
            span_name: None,
            reservoir: Reservoir::new(u64::from(self.default.fixed_target)),
            rate: self.default.rate,
        });
        RuleSampler {
            rules: Arc::new(rules),
        }
    }
}

/// The sampler of a [`SamplingRules`] document, from [`SamplingRules::sampler`]: it decides
/// for root spans (the pipeline wraps it in a parent-based sampler). Clones share the
/// rules' reservoirs.
#[derive(Clone)]
pub struct RuleSampler {
    rules: Arc<Vec<Compiled>>,
}

impl fmt::Debug for RuleSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RuleSampler({} rules)", self.rules.len())
    }
}

struct Compiled {
    host: Option<String>,
    http_method: Option<String>,
    url_path: Option<String>,
    span_name: Option<String>,
    reservoir: Reservoir,
    rate: f64,
}

impl Compiled {
    fn matches(&self, name: &str, attributes: &[KeyValue]) -> bool {
        let attribute = |key: &str| {
            attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.as_str())
        };
        let field = |glob: &Option<String>, value: Option<&str>, ignore_case: bool| match glob {
            None => true,
            Some(glob) if glob == "*" => true,
            Some(glob) => value.is_some_and(|value| glob_matches_case(glob, value, ignore_case)),
        };
        field(&self.span_name, Some(name), false)
            && field(&self.host, attribute("server.address").as_deref(), true)
            && field(
                &self.http_method,
                attribute("http.request.method").as_deref(),
                true,
            )
            && field(&self.url_path, attribute("url.path").as_deref(), false)
    }
}

/// The traces a rule samples per second before its rate applies: the first `per_second`
/// asked for in each second of the clock are taken, the rest are not. Shared by the local
/// rules and the platforms' remote samplers (X-Ray's reservoirs and quotas).
///
/// ```
/// use otel_faas_core::sampling::Reservoir;
///
/// let reservoir = Reservoir::new(2);
/// let taken = (0..10).filter(|_| reservoir.take()).count();
/// assert!(taken == 2 || taken == 4, "two a second (the loop may straddle one)");
/// assert!(!Reservoir::new(0).take());
/// ```
#[derive(Debug)]
pub struct Reservoir {
    per_second: u64,
    /// (the second, how many were taken in it)
    taken: Mutex<(u64, u64)>,
}

impl Reservoir {
    /// Takes up to `per_second` each second.
    pub fn new(per_second: u64) -> Self {
        Self {
            per_second,
            taken: Mutex::new((0, 0)),
        }
    }

    /// How many it takes each second.
    pub fn per_second(&self) -> u64 {
        self.per_second
    }

    /// Whether one more is taken in this second.
    pub fn take(&self) -> bool {
        if self.per_second == 0 {
            return false;
        }
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        if taken.0 != second {
            *taken = (second, 0);
        }
        if taken.1 < self.per_second {
            taken.1 += 1;
            true
        } else {
            false
        }
    }
}

impl ShouldSample for RuleSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        _span_kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        // The last rule is the default, which matches everything.
        let sampled = self
            .rules
            .iter()
            .find(|rule| rule.matches(name, attributes))
            .is_some_and(|rule| {
                rule.reservoir.take() || super::tail::ratio_keeps(trace_id, rule.rate)
            });
        root_decision(sampled, parent_context)
    }
}

/// A root sampler's answer: sampled (recorded) or dropped, no attributes added, and the
/// parent's trace state kept (the SDK's samplers keep it too).
///
/// ```
/// use opentelemetry_sdk::trace::SamplingDecision;
/// use otel_faas_core::sampling::root_decision;
///
/// assert_eq!(root_decision(true, None).decision, SamplingDecision::RecordAndSample);
/// assert_eq!(root_decision(false, None).decision, SamplingDecision::Drop);
/// ```
pub fn root_decision(sampled: bool, parent_context: Option<&Context>) -> SamplingResult {
    SamplingResult {
        decision: if sampled {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        },
        attributes: Vec::new(),
        trace_state: parent_context
            .map(|cx| cx.span().span_context().trace_state().clone())
            .unwrap_or_default(),
    }
}

/// Whether `glob` (`*` any run of characters, `?` one character) matches all of `value`,
/// exactly as the sampling rules match paths and names.
///
/// ```
/// use otel_faas_core::sampling::glob_matches;
///
/// assert!(glob_matches("/api/*", "/api/orders"));
/// assert!(glob_matches("nightly-?", "nightly-3"));
/// assert!(!glob_matches("/health", "/healthz"));
/// ```
pub fn glob_matches(glob: &str, value: &str) -> bool {
    glob_matches_case(glob, value, false)
}

/// [`glob_matches`], optionally without regard to case.
pub(crate) fn glob_matches_case(glob: &str, value: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.chars().flat_map(char::to_lowercase).collect()
        } else {
            s.chars().collect()
        }
    };
    let (pattern, text) = (fold(glob), fold(value));
    // Iterative matching with one backtrack point for the last `*`: linear in practice,
    // never recursive, so no input can exhaust the stack.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};

    use super::*;

    fn decide(sampler: &RuleSampler, name: &str, attributes: &[KeyValue], trace: u128) -> bool {
        let result = sampler.should_sample(
            None,
            TraceId::from(trace),
            name,
            &SpanKind::Server,
            attributes,
            &[],
        );
        result.decision == SamplingDecision::RecordAndSample
    }

    fn http(method: &str, path: &str) -> Vec<KeyValue> {
        vec![
            KeyValue::new("http.request.method", method.to_owned()),
            KeyValue::new("url.path", path.to_owned()),
            KeyValue::new("server.address", "api.example.com"),
        ]
    }

    const DOCUMENT: &str = r#"{
        "version": 2,
        "rules": [
            {"description": "health", "url_path": "/health*", "fixed_target": 0, "rate": 0.0},
            {"description": "api", "http_method": "post", "url_path": "/api/*", "host": "*.EXAMPLE.com", "fixed_target": 0, "rate": 1.0},
            {"description": "other service", "service_name": "billing", "fixed_target": 0, "rate": 1.0},
            {"description": "jobs", "span_name": "nightly-?", "fixed_target": 0, "rate": 1.0}
        ],
        "default": {"fixed_target": 2, "rate": 0.0}
    }"#;

    #[test]
    fn the_first_matching_rule_decides_and_the_default_takes_the_rest() {
        let sampler = SamplingRules::parse(DOCUMENT).unwrap().sampler("orders");
        // Health checks: never, even from the default's reservoir.
        for trace in 1..10 {
            assert!(!decide(
                &sampler,
                "GET /health",
                &http("GET", "/healthz"),
                trace
            ));
        }
        // POSTs to the API on any example.com host: always (method and host ignore case).
        for trace in 1..10 {
            assert!(decide(
                &sampler,
                "POST /api/orders",
                &http("POST", "/api/orders"),
                trace
            ));
        }
        assert!(decide(&sampler, "nightly-3", &[], 1));
        // Everything else: the default's reservoir of 2 per second, then rate 0. The
        // `billing` rule does not apply to the `orders` service.
        let kept = (1..10)
            .filter(|trace| {
                decide(
                    &sampler,
                    "GET /api/orders",
                    &http("GET", "/api/orders"),
                    *trace,
                )
            })
            .count();
        assert!(
            kept <= 4,
            "two per second (the loop may straddle a second): {kept}"
        );
        assert!(kept >= 2, "{kept}");
    }

    #[test]
    fn a_rule_naming_an_attribute_the_span_lacks_matches_only_a_star() {
        let sampler = SamplingRules::parse(
            r#"{"version": 2, "rules": [{"url_path": "/x", "fixed_target": 0, "rate": 1.0}],
               "default": {"fixed_target": 0, "rate": 0.0}}"#,
        )
        .unwrap()
        .sampler("queue");
        assert!(!decide(&sampler, "orders process", &[], 1));
        assert!(decide(&sampler, "GET /x", &http("GET", "/x"), 1));
    }

    #[test]
    fn the_rate_is_decided_from_the_trace_id() {
        let sampler =
            SamplingRules::parse(r#"{"version": 2, "default": {"fixed_target": 0, "rate": 0.25}}"#)
                .unwrap()
                .sampler("s");
        let kept = (0..4000u128)
            .filter(|i| {
                decide(
                    &sampler,
                    "x",
                    &[],
                    i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) | 1,
                )
            })
            .count();
        assert!((900..1100).contains(&kept), "{kept} of 4000 at 25 %");
        // The same trace always gets the same answer.
        let trace = 0x1234_5678_9abc_def0_1234_5678_9abc_def0;
        assert_eq!(
            decide(&sampler, "x", &[], trace),
            decide(&sampler, "x", &[], trace)
        );
    }

    #[test]
    fn the_parent_trace_state_is_kept() {
        let sampler =
            SamplingRules::parse(r#"{"version": 1, "default": {"fixed_target": 0, "rate": 1.0}}"#)
                .unwrap()
                .sampler("s");
        let state = TraceState::from_key_value([("vendor", "x")]).unwrap();
        let parent = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(1),
            SpanId::from(2),
            TraceFlags::SAMPLED,
            true,
            state.clone(),
        ));
        let result = sampler.should_sample(
            Some(&parent),
            TraceId::from(1),
            "x",
            &SpanKind::Server,
            &[],
            &[],
        );
        assert_eq!(result.trace_state, state);
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        for (document, says) in [
            ("{", "EOF"),
            (r#"{"version": 2, "rules": []}"#, "default"),
            (
                r#"{"version": 3, "default": {"fixed_target": 0, "rate": 1}}"#,
                "version 3",
            ),
            (
                r#"{"version": 2, "default": {"fixed_target": 0, "rate": 1.5}}"#,
                "rate 1.5",
            ),
            (
                r#"{"version": 2, "rules": [{"url_pth": "/", "fixed_target": 0, "rate": 1}], "default": {"fixed_target": 0, "rate": 1}}"#,
                "url_pth",
            ),
            (
                r#"{"version": 2, "default": {"fixed_target": -1, "rate": 1}}"#,
                "-1",
            ),
        ] {
            let error = SamplingRules::parse(document).unwrap_err().to_string();
            assert!(error.contains(says), "{document}: {error}");
        }
        let missing = SamplingRules::load("/nonexistent/rules.json").unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/rules.json"),
            "{missing}"
        );
    }

    #[test]
    fn globs_match_like_the_rule_format_says() {
        for (glob, value, matches) in [
            ("*", "", true),
            ("/api/*", "/api/orders/42", true),
            ("/api/*", "/apiv2", false),
            ("/health", "/health", true),
            ("/health", "/healthz", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*x*y*", "..x..y..", true),
            ("*x*y", "..y..x", false),
            ("**", "anything", true),
        ] {
            assert_eq!(glob_matches(glob, value), matches, "{glob} ~ {value}");
        }
        assert!(glob_matches_case("GET", "get", true));
        assert!(!glob_matches("GET", "get"));
        // A pattern that would backtrack exponentially in a naive matcher answers at once.
        let long = "a".repeat(10_000);
        assert!(!glob_matches(&format!("{}b", "*a".repeat(50)), &long));
        assert!(glob_matches(&"*a".repeat(50), &long));
    }
}
