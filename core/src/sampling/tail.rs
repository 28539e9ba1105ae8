//! Invocation-scoped tail sampling: an invocation's spans wait until it ends.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::trace::{Span as _, SpanId, Status, TraceContextExt as _, TraceId};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_semantic_conventions::attribute::FAAS_COLDSTART;

use crate::engine::{CurrentInvocation, InvocationScope};
use crate::env::Environment;
use crate::warning::{ConfigWarning, report_once};

/// The variable that turns tail sampling on, with the ratio of ordinary invocations kept.
pub const TAIL_SAMPLING_RATIO_VARIABLE: &str = "OTEL_FAAS_TAIL_SAMPLING_RATIO";
const SLOW_VARIABLE: &str = "OTEL_FAAS_TAIL_SAMPLING_SLOW_MS";
const COLD_VARIABLE: &str = "OTEL_FAAS_TAIL_SAMPLING_KEEP_COLD_STARTS";
const MAX_SPANS_VARIABLE: &str = "OTEL_FAAS_TAIL_SAMPLING_MAX_SPANS";

/// How many decisions are remembered for spans that end after their invocation.
const REMEMBERED_DECISIONS: usize = 1024;
/// The most spans tracked as started inside an invocation and not yet ended (spans a
/// handler never ends would otherwise grow the table without bound).
const MAX_OPEN_SPANS: usize = 65_536;

/// Tail sampling's settings: the spans of an invocation wait until it ends, and the way it
/// ended decides whether they are exported.
///
/// Head sampling decides before anything is known, so at 10 % it drops nine failing
/// invocations in ten. [`TailSampling`] holds each invocation's ended spans in memory and,
/// when the invocation ends, keeps them all if it
///
/// * failed, errored, panicked, timed out or was cancelled,
/// * was the process's cold invocation (unless turned off),
/// * ran at least the slow threshold, when one is set, or
/// * continues a trace whose remote parent was sampled — the caller recorded its part, so
///   dropping ours would leave a hole in its trace;
///
/// and otherwise keeps them at the configured ratio, decided from the trace id (as the
/// `traceidratio` sampler does, so services that share the ratio agree). Spans that end after
/// their invocation follow its decision; spans outside any invocation pass through.
///
/// Memory is bounded: an invocation holds at most `max_spans` spans (512 by default); the
/// rest are dropped and counted ([`TailSamplingStats::overflowed`]), with one warning.
/// Head sampling still applies first: only sampled spans reach the tail sampler, so keep
/// the head sampler at its default (`parentbased_always_on`) to let the tail decide.
///
/// | variable | accepted | default |
/// |---|---|---|
/// | `OTEL_FAAS_TAIL_SAMPLING_RATIO` | a ratio in `[0, 1]`; setting it turns tail sampling on | off |
/// | `OTEL_FAAS_TAIL_SAMPLING_SLOW_MS` | milliseconds; invocations at least this long are kept | none |
/// | `OTEL_FAAS_TAIL_SAMPLING_KEEP_COLD_STARTS` | `true`, `false` | `true` |
/// | `OTEL_FAAS_TAIL_SAMPLING_MAX_SPANS` | spans held per invocation | `512` |
///
///
/// ```
/// use std::time::Duration;
/// use otel_faas_core::sampling::TailSampling;
///
/// let sampling = TailSampling::new(0.1)
///     .slow(Duration::from_secs(2))
///     .keep_cold_starts(true)
///     .max_spans(256);
/// assert_eq!(sampling.ratio(), 0.1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailSampling {
    ratio: f64,
    slow: Option<Duration>,
    keep_cold_starts: bool,
    max_spans: usize,
}

impl TailSampling {
    /// Keeps every failing, timed-out, cold and remotely sampled invocation, and `ratio`
    /// (clamped to `[0, 1]`) of the others.
    pub fn new(ratio: f64) -> Self {
        Self {
            ratio: if ratio.is_nan() {
                1.0
            } else {
                ratio.clamp(0.0, 1.0)
            },
            slow: None,
            keep_cold_starts: true,
            max_spans: 512,
        }
    }

    /// Also keeps every invocation that ran at least `threshold`.
    #[must_use]
    pub fn slow(mut self, threshold: Duration) -> Self {
        self.slow = Some(threshold);
        self
    }

    /// Whether the cold invocation is always kept (`true` by default).
    #[must_use]
    pub fn keep_cold_starts(mut self, keep: bool) -> Self {
        self.keep_cold_starts = keep;
        self
    }

    /// The most spans one invocation holds (at least 1).
    #[must_use]
    pub fn max_spans(mut self, max: usize) -> Self {
        self.max_spans = max.max(1);
        self
    }

    /// The ratio of ordinary invocations kept.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The settings from the `OTEL_FAAS_TAIL_SAMPLING_*` variables, `None` when
    /// `OTEL_FAAS_TAIL_SAMPLING_RATIO` is unset (or invalid, with a warning).
    pub(crate) fn from_env(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> Option<Self> {
        let raw = env.get_non_empty(TAIL_SAMPLING_RATIO_VARIABLE)?;
        let Some(ratio) = raw.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)) else {
            w.push(ConfigWarning::new(
                TAIL_SAMPLING_RATIO_VARIABLE,
                raw,
                "a number from 0 to 1",
                "no tail sampling",
            ));
            return None;
        };
        let mut sampling = Self::new(ratio);
        if let Some(raw) = env.get_non_empty(SLOW_VARIABLE) {
            match raw.parse::<u64>() {
                Ok(ms) => sampling = sampling.slow(Duration::from_millis(ms)),
                Err(_) => w.push(ConfigWarning::new(
                    SLOW_VARIABLE,
                    raw,
                    "milliseconds",
                    "none",
                )),
            }
        }
        if let Some(raw) = env.get_non_empty(COLD_VARIABLE) {
            match raw.to_ascii_lowercase().as_str() {
                "true" => sampling = sampling.keep_cold_starts(true),
                "false" => sampling = sampling.keep_cold_starts(false),
                _ => w.push(ConfigWarning::new(
                    COLD_VARIABLE,
                    raw,
                    "true, false",
                    "true",
                )),
            }
        }
        if let Some(raw) = env.get_non_empty(MAX_SPANS_VARIABLE) {
            match raw.parse::<usize>() {
                Ok(max) if max > 0 => sampling = sampling.max_spans(max),
                _ => w.push(ConfigWarning::new(
                    MAX_SPANS_VARIABLE,
                    raw,
                    "a positive count",
                    "512",
                )),
            }
        }
        Some(sampling)
    }

    /// Whether the invocation whose span is `span` is kept.
    fn keeps(&self, span: &SpanData, parent_sampled: bool) -> bool {
        let failed = matches!(span.status, Status::Error { .. });
        let cold = self.keep_cold_starts
            && span
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == FAAS_COLDSTART && kv.value == Value::Bool(true));
        let slow = self.slow.is_some_and(|slow| {
            span.end_time
                .duration_since(span.start_time)
                .is_ok_and(|duration| duration >= slow)
        });
        failed
            || cold
            || slow
            || parent_sampled
            || ratio_keeps(span.span_context.trace_id(), self.ratio)
    }
}

/// The `traceidratio` decision: the trace id's last 8 bytes against the ratio.
pub(crate) fn ratio_keeps(trace_id: TraceId, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let bytes = trace_id.to_bytes();
    let mut low = [0; 8];
    low.copy_from_slice(&bytes[8..]);
    let value = u64::from_be_bytes(low) >> 1;
    // 2^63 as a float is exact; the product rounds down as the SDK's sampler does.
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    value < bound
}

/// What tail sampling did since start-up.
///
/// ```
/// use otel_faas_core::sampling::TailSamplingStats;
///
/// let stats = TailSamplingStats::default();
/// assert_eq!(stats.kept_invocations + stats.dropped_invocations, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TailSamplingStats {
    /// Invocations whose spans were exported.
    pub kept_invocations: u64,
    /// Invocations whose spans were dropped.
    pub dropped_invocations: u64,
    /// Spans dropped because their invocation held `max_spans` already.
    pub overflowed: u64,
}

/// The tail sampler: a span processor in front of the exporting ones, deciding when each
/// invocation span ends (the engine ends it after every span of the invocation it knows).
pub(crate) struct TailSampler {
    config: TailSampling,
    next: Vec<Box<dyn SpanProcessor>>,
    state: Mutex<State>,
    counters: Arc<TailCounters>,
}

/// The counts behind [`TailSamplingStats`], shared with the installed pipeline.
#[derive(Debug, Default)]
pub(crate) struct TailCounters {
    kept: AtomicU64,
    dropped: AtomicU64,
    overflowed: AtomicU64,
}

impl TailCounters {
    pub(crate) fn stats(&self) -> TailSamplingStats {
        TailSamplingStats {
            kept_invocations: self.kept.load(Ordering::Relaxed),
            dropped_invocations: self.dropped.load(Ordering::Relaxed),
            overflowed: self.overflowed.load(Ordering::Relaxed),
        }
    }
}

/// What one running invocation holds.
#[derive(Default)]
struct Held {
    spans: Vec<SpanData>,
    /// Whether the invocation continues a remote parent that was sampled.
    parent_sampled: bool,
}

#[derive(Default)]
struct State {
    /// Spans started inside an invocation and not yet ended → that invocation's span id.
    owners: HashMap<SpanId, SpanId>,
    /// The held spans of each running invocation, by its span id.
    held: HashMap<SpanId, Held>,
    /// The latest decisions, for spans that end after their invocation.
    decided: VecDeque<(SpanId, bool)>,
}

impl fmt::Debug for TailSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailSampler")
            .field("config", &self.config)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl TailSampler {
    pub(crate) fn new(
        config: TailSampling,
        next: Vec<Box<dyn SpanProcessor>>,
        counters: Arc<TailCounters>,
    ) -> Self {
        Self {
            config,
            next,
            state: Mutex::default(),
            counters,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forward(&self, span: SpanData) {
        if let [only] = self.next.as_slice() {
            only.on_end(span);
        } else {
            for next in &self.next {
                next.on_end(span.clone());
            }
        }
    }
}

impl SpanProcessor for TailSampler {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        let id = span.span_context().span_id();
        if let Some(invocation) = cx.get::<CurrentInvocation>() {
            // Started inside an invocation: it follows that invocation's decision.
            let mut state = self.state();
            if state.owners.len() < MAX_OPEN_SPANS {
                state.owners.insert(id, invocation.span_context().span_id());
            }
        } else if cx.get::<InvocationScope>().is_some() {
            // The engine starts an invocation span in a context holding the invocation's
            // scope but no current invocation yet: hold what the invocation ends.
            let parent = cx.span().span_context().clone();
            self.state().held.insert(
                id,
                Held {
                    spans: Vec::new(),
                    parent_sampled: parent.is_remote() && parent.is_sampled(),
                },
            );
        }
        for next in &self.next {
            next.on_start(span, cx);
        }
    }

    fn on_end(&self, span: SpanData) {
        let id = span.span_context.span_id();
        let mut state = self.state();
        if let Some(held) = state.held.remove(&id) {
            // The invocation span ends last: decide for the whole invocation.
            let keep = self.config.keeps(&span, held.parent_sampled);
            if state.decided.len() == REMEMBERED_DECISIONS {
                state.decided.pop_front();
            }
            state.decided.push_back((id, keep));
            drop(state);
            if keep {
                self.counters.kept.fetch_add(1, Ordering::Relaxed);
                for held in held.spans {
                    self.forward(held);
                }
                self.forward(span);
            } else {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let owner = state.owners.remove(&id);
        if let Some(held) = owner.and_then(|owner| state.held.get_mut(&owner)) {
            if held.spans.len() < self.config.max_spans {
                held.spans.push(span);
            } else {
                self.counters.overflowed.fetch_add(1, Ordering::Relaxed);
                report_once(
                    "tail-sampling-overflow",
                    &format!(
                        "an invocation ended more than {} spans: the tail sampler dropped the \
                         rest (raise OTEL_FAAS_TAIL_SAMPLING_MAX_SPANS to hold more)",
                        self.config.max_spans
                    ),
                );
            }
            return;
        }
        // Outside any invocation, or ended after its invocation: that decision stands (one
        // no longer remembered keeps the span).
        let dropped = owner.is_some_and(|owner| {
            state
                .decided
                .iter()
                .rev()
                .find(|(invocation, _)| *invocation == owner)
                .is_some_and(|(_, keep)| !keep)
        });
        drop(state);
        if !dropped {
            self.forward(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut result = Ok(());
        for next in &self.next {
            result = result.and(next.force_flush());
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let mut result = Ok(());
        for next in &self.next {
            result = result.and(next.shutdown_with_timeout(timeout));
        }
        result
    }

    fn set_resource(&mut self, resource: &Resource) {
        for next in &mut self.next {
            next.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    fn read(pairs: &[(&str, &str)]) -> (Option<TailSampling>, Vec<ConfigWarning>) {
        let mut warnings = Vec::new();
        let env: MapEnvironment = pairs.iter().copied().collect();
        (TailSampling::from_env(&env, &mut warnings), warnings)
    }

    #[test]
    fn the_variables_configure_it_and_bad_values_warn() {
        assert_eq!(read(&[]).0, None, "off unless the ratio is set");
        let (sampling, warnings) = read(&[
            ("OTEL_FAAS_TAIL_SAMPLING_RATIO", "0.25"),
            ("OTEL_FAAS_TAIL_SAMPLING_SLOW_MS", "1500"),
            ("OTEL_FAAS_TAIL_SAMPLING_KEEP_COLD_STARTS", "false"),
            ("OTEL_FAAS_TAIL_SAMPLING_MAX_SPANS", "64"),
        ]);
        assert!(warnings.is_empty());
        assert_eq!(
            sampling,
            Some(
                TailSampling::new(0.25)
                    .slow(Duration::from_millis(1500))
                    .keep_cold_starts(false)
                    .max_spans(64)
            )
        );
        let (sampling, warnings) = read(&[("OTEL_FAAS_TAIL_SAMPLING_RATIO", "1.5")]);
        assert_eq!(sampling, None);
        assert_eq!(warnings[0].variable, TAIL_SAMPLING_RATIO_VARIABLE);
        let (sampling, warnings) = read(&[
            ("OTEL_FAAS_TAIL_SAMPLING_RATIO", "0.5"),
            ("OTEL_FAAS_TAIL_SAMPLING_SLOW_MS", "soon"),
            ("OTEL_FAAS_TAIL_SAMPLING_KEEP_COLD_STARTS", "maybe"),
            ("OTEL_FAAS_TAIL_SAMPLING_MAX_SPANS", "0"),
        ]);
        assert_eq!(sampling, Some(TailSampling::new(0.5)), "defaults kept");
        assert_eq!(warnings.len(), 3);
    }

    #[test]
    fn the_ratio_decision_matches_the_trace_id_ratio_sampler() {
        use opentelemetry::trace::SpanKind;
        use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
        let sdk = Sampler::TraceIdRatioBased(0.3);
        for i in 0..2000u128 {
            let trace =
                TraceId::from(i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) | 1);
            let sampled = sdk
                .should_sample(None, trace, "x", &SpanKind::Internal, &[], &[])
                .decision
                == SamplingDecision::RecordAndSample;
            assert_eq!(ratio_keeps(trace, 0.3), sampled, "{trace}");
        }
    }
}
