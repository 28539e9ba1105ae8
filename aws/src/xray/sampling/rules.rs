//! X-Ray's sampling rules and targets: the wire documents (`GetSamplingRules`,
//! `GetSamplingTargets`, as the X-Ray API reference and botocore's service model define
//! them) and one rule applied to spans with its reservoir, rate and statistics.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;
use otel_faas_core::sampling::{Reservoir, glob_matches};
use serde::{Deserialize, Serialize};

/// `GetSamplingRules`' answer (one page).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RulesPage {
    #[serde(default)]
    pub(super) sampling_rule_records: Vec<RuleRecord>,
    #[serde(default)]
    pub(super) next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RuleRecord {
    #[serde(default)]
    pub(super) sampling_rule: Option<RemoteRule>,
}

/// One rule as X-Ray sends it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RemoteRule {
    #[serde(default)]
    pub(super) rule_name: String,
    pub(super) priority: i64,
    pub(super) fixed_rate: f64,
    pub(super) reservoir_size: u64,
    pub(super) service_name: String,
    pub(super) service_type: String,
    pub(super) host: String,
    #[serde(rename = "HTTPMethod")]
    pub(super) http_method: String,
    #[serde(rename = "URLPath")]
    pub(super) url_path: String,
    #[serde(rename = "ResourceARN")]
    pub(super) resource_arn: String,
    pub(super) version: i64,
    #[serde(default)]
    pub(super) attributes: HashMap<String, String>,
}

/// `GetSamplingTargets`' answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TargetsAnswer {
    #[serde(default)]
    pub(super) sampling_target_documents: Vec<Target>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub(super) last_rule_modification: Option<f64>,
}

/// What X-Ray assigns one rule for the next interval.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Target {
    pub(super) rule_name: String,
    #[serde(default)]
    pub(super) fixed_rate: Option<f64>,
    #[serde(default)]
    pub(super) reservoir_quota: Option<u64>,
    /// Seconds since the epoch.
    #[serde(default, rename = "ReservoirQuotaTTL")]
    pub(super) reservoir_quota_ttl: Option<f64>,
    /// Seconds until the next `GetSamplingTargets`.
    #[serde(default)]
    pub(super) interval: Option<u64>,
}

/// One rule's counts since the last report (`SamplingStatisticsDocument`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Statistics {
    pub(super) rule_name: String,
    #[serde(rename = "ClientID")]
    pub(super) client_id: String,
    /// Seconds since the epoch.
    pub(super) timestamp: f64,
    pub(super) request_count: u64,
    pub(super) sampled_count: u64,
    pub(super) borrow_count: u64,
}

/// What a span offers the rules: its attributes at start, and the resource's facts.
pub(super) struct Facts<'a> {
    pub(super) service_name: &'a str,
    pub(super) service_type: &'a str,
    pub(super) resource_arn: &'a str,
    pub(super) attributes: &'a [KeyValue],
}

impl Facts<'_> {
    fn attribute(&self, key: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    }
}

/// X-Ray's wildcard match: `*` matches anything, also a missing value; otherwise the
/// value must be there and match the glob (`*` any run, `?` one character), case and all —
/// as the OpenTelemetry X-Ray samplers match.
fn wildcard(pattern: &str, value: Option<&str>) -> bool {
    pattern == "*" || value.is_some_and(|value| glob_matches(pattern, value))
}

/// A rule with its reservoir, rate and counts.
pub(super) struct Applier {
    pub(super) rule: RemoteRule,
    reservoir: Arc<Reservoir>,
    fixed_rate: f64,
    /// Before X-Ray has assigned a quota, a rule with a reservoir borrows one trace a
    /// second (counted as borrowed), as the X-Ray SDKs do.
    borrowing: bool,
    /// Until when the assigned quota holds; `None`: for ever (the borrowed one).
    reservoir_expiry: Option<SystemTime>,
    /// Shared with the versions of this applier that a new target or an unchanged rule
    /// replace, so that no span counted during the swap is lost from the statistics.
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    sampled: AtomicU64,
    borrowed: AtomicU64,
}

impl Applier {
    pub(super) fn new(rule: RemoteRule) -> Self {
        let borrowing = rule.reservoir_size > 0;
        Self {
            fixed_rate: rule.fixed_rate,
            reservoir: Arc::new(Reservoir::new(u64::from(borrowing))),
            borrowing,
            reservoir_expiry: None,
            counts: Arc::default(),
            rule,
        }
    }

    /// This rule with `target` applied; its counts carry over (they are reported at the
    /// next `GetSamplingTargets`).
    pub(super) fn with_target(&self, target: &Target) -> Self {
        let expiry = target
            .reservoir_quota_ttl
            .filter(|ttl| ttl.is_finite() && *ttl >= 0.0)
            .map(|ttl| UNIX_EPOCH + Duration::from_secs_f64(ttl.min(1e11)))
            // No TTL: the quota is spent at once, as the reference samplers read it.
            .unwrap_or_else(SystemTime::now);
        Self {
            rule: self.rule.clone(),
            reservoir: Arc::new(Reservoir::new(target.reservoir_quota.unwrap_or(0))),
            fixed_rate: target
                .fixed_rate
                .filter(|rate| (0.0..=1.0).contains(rate))
                .unwrap_or(self.fixed_rate),
            borrowing: false,
            reservoir_expiry: Some(expiry),
            counts: Arc::clone(&self.counts),
        }
    }

    /// Whether the rule applies: every field matches (see [`wildcard`]), and every one of
    /// its attributes is among the span's. The path is `url.path`; the method
    /// `http.request.method`; the host `server.address`.
    pub(super) fn matches(&self, facts: &Facts<'_>) -> bool {
        let rule = &self.rule;
        rule.attributes.iter().all(|(key, pattern)| {
            facts
                .attribute(key)
                .is_some_and(|value| glob_matches(pattern, &value))
        }) && wildcard(&rule.url_path, facts.attribute("url.path").as_deref())
            && wildcard(
                &rule.http_method,
                facts.attribute("http.request.method").as_deref(),
            )
            && wildcard(&rule.host, facts.attribute("server.address").as_deref())
            && wildcard(&rule.service_name, Some(facts.service_name))
            && wildcard(&rule.service_type, Some(facts.service_type))
            && wildcard(&rule.resource_arn, Some(facts.resource_arn))
    }

    /// Decides for a root span of trace `trace_id` that this rule matched: the reservoir
    /// first (while its quota holds), then the fixed rate, decided from the trace id.
    pub(super) fn sample(&self, trace_id: opentelemetry::trace::TraceId) -> bool {
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        let quota_holds = self
            .reservoir_expiry
            .is_none_or(|expiry| SystemTime::now() < expiry);
        let sampled = if quota_holds && self.reservoir.take() {
            if self.borrowing {
                self.counts.borrowed.fetch_add(1, Ordering::Relaxed);
            }
            true
        } else {
            ratio_keeps(trace_id, self.fixed_rate)
        };
        if sampled {
            self.counts.sampled.fetch_add(1, Ordering::Relaxed);
        }
        sampled
    }

    /// The counts since the last call, which resets them.
    pub(super) fn take_statistics(&self, client_id: &str, now: SystemTime) -> Statistics {
        Statistics {
            rule_name: self.rule.rule_name.clone(),
            client_id: client_id.to_owned(),
            timestamp: now
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |elapsed| elapsed.as_secs_f64()),
            request_count: self.counts.requests.swap(0, Ordering::Relaxed),
            sampled_count: self.counts.sampled.swap(0, Ordering::Relaxed),
            borrow_count: self.counts.borrowed.swap(0, Ordering::Relaxed),
        }
    }
}

/// Whether a trace is kept at `rate`, decided from its id as the `traceidratio` sampler
/// decides (the low 63 bits of the id below `rate` × 2⁶³), so every service deciding on
/// the same trace at the same rate agrees.
fn ratio_keeps(trace_id: opentelemetry::trace::TraceId, rate: f64) -> bool {
    use opentelemetry::trace::SpanKind;
    use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample as _};
    Sampler::TraceIdRatioBased(rate)
        .should_sample(None, trace_id, "", &SpanKind::Internal, &[], &[])
        .decision
        == SamplingDecision::RecordAndSample
}

/// The rules X-Ray sent, as they are applied: named, of version 1, in priority order (then
/// by name), and keeping the reservoirs and counts of rules that did not change.
pub(super) fn appliers(rules: Vec<RemoteRule>, previous: &[Applier]) -> Vec<Applier> {
    let mut rules: Vec<RemoteRule> = rules
        .into_iter()
        .filter(|rule| !rule.rule_name.is_empty() && rule.version == 1)
        .filter(|rule| (0.0..=1.0).contains(&rule.fixed_rate))
        .collect();
    rules.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then_with(|| a.rule_name.cmp(&b.rule_name))
    });
    rules
        .into_iter()
        .map(|rule| {
            match previous.iter().find(|old| old.rule == rule) {
                // Unchanged: its target and counts stay.
                Some(old) => old.carried(),
                None => Applier::new(rule),
            }
        })
        .collect()
}

impl Applier {
    /// The same rule, reservoir state, target and counts (for a new list of appliers).
    pub(super) fn carried(&self) -> Self {
        Self {
            rule: self.rule.clone(),
            reservoir: Arc::clone(&self.reservoir),
            fixed_rate: self.fixed_rate,
            borrowing: self.borrowing,
            reservoir_expiry: self.reservoir_expiry,
            counts: Arc::clone(&self.counts),
        }
    }
}
