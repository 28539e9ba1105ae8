//! Timer triggers (`timerTrigger`): `faas.trigger=timer`, `faas.time` (when the host fired
//! it, `Metadata.sys.UtcNow`), `faas.cron` (the `schedule` of `function.json`), and
//! `azure.functions.timer.past_due` when the host reports the run as late.

use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::attribute::{FAAS_CRON, FAAS_TIME};
use otel_faas_core::trigger::FaasTrigger;
use otel_faas_core::{InvocationSpec, SpanSpec};
use serde_json::Value;

use crate::function_json::Binding;
use crate::request::InvocationRequest;
use crate::value;

/// Whether the host reported the run as past due (it fired later than scheduled, after a
/// restart or a long run). Not in the conventions; named in the cloud's namespace.
pub const PAST_DUE_ATTRIBUTE: &str = "azure.functions.timer.past_due";

/// A timer trigger's value.
///
/// ```
/// use otel_faas_azure::{InvocationRequest, TimerInfo};
/// use serde_json::json;
///
/// let request = InvocationRequest::new(
///     "nightly",
///     json!({"timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": true}}),
///     json!({}),
/// );
/// let timer = TimerInfo::from_request(&request, Some("timer"));
/// assert!(timer.is_past_due());
/// assert_eq!(timer.next(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerInfo {
    past_due: bool,
    last: Option<String>,
    next: Option<String>,
}

impl TimerInfo {
    /// Reads `Data.<binding>` (the first `Data` value when the binding is not known). A
    /// missing or odd value reads as an on-time run with no schedule status.
    pub fn from_request(request: &InvocationRequest, binding: Option<&str>) -> Self {
        let timer = match binding {
            Some(binding) => value::member(request.data(), binding).map(value::json),
            None => request.data().values().next().map(value::json),
        };
        let Some(Value::Object(timer)) = timer else {
            return Self::default();
        };
        let status = value::member(&timer, "ScheduleStatus")
            .map(value::json)
            .and_then(|s| s.as_object().cloned())
            .unwrap_or_default();
        Self {
            past_due: value::member(&timer, "IsPastDue")
                .and_then(|v| {
                    v.as_bool()
                        .or_else(|| value::text(v).map(|t| t.eq_ignore_ascii_case("true")))
                })
                .unwrap_or(false),
            last: value::member(&status, "Last").and_then(value::text),
            next: value::member(&status, "Next").and_then(value::text),
        }
    }

    /// Whether the host fired this run later than scheduled.
    pub fn is_past_due(&self) -> bool {
        self.past_due
    }
    /// When the previous run was due, if the host tracks the schedule.
    pub fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }
    /// When the next run is due, if the host tracks the schedule.
    pub fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }
}

pub(crate) fn spec(
    request: &InvocationRequest,
    binding: &Binding,
    function: &str,
) -> InvocationSpec {
    let mut attributes = Vec::with_capacity(3);
    if let Some(time) = request.utc_now() {
        attributes.push(KeyValue::new(FAAS_TIME, time));
    }
    if let Some(schedule) = binding.setting("schedule") {
        attributes.push(KeyValue::new(FAAS_CRON, schedule.to_owned()));
    }
    let timer = TimerInfo::from_request(request, Some(binding.name()));
    attributes.push(KeyValue::new(PAST_DUE_ATTRIBUTE, timer.is_past_due()));
    InvocationSpec::new(
        FaasTrigger::Timer,
        SpanSpec::server(function.to_owned()).with_attributes(attributes),
    )
}
