//! The three signals, and the names of their variables.

use std::fmt;

use crate::env::Environment;

/// One of the three signals, each with its own exporter settings.
///
/// ```
/// use otel_faas_core::pipeline::Signal;
///
/// assert_eq!(Signal::Metrics.path(), "/v1/metrics");
/// assert_eq!(Signal::Logs.exporter_variable(), "OTEL_LOGS_EXPORTER");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All three, in the order they are configured.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// `traces`, `metrics` or `logs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
            Self::Logs => "logs",
        }
    }

    /// The OTLP/HTTP path appended to the general endpoint.
    pub fn path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Metrics => "/v1/metrics",
            Self::Logs => "/v1/logs",
        }
    }

    /// `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` or `OTEL_LOGS_EXPORTER`.
    pub fn exporter_variable(self) -> &'static str {
        match self {
            Self::Traces => "OTEL_TRACES_EXPORTER",
            Self::Metrics => "OTEL_METRICS_EXPORTER",
            Self::Logs => "OTEL_LOGS_EXPORTER",
        }
    }

    /// The signal-specific name of a general `OTEL_EXPORTER_OTLP_*` variable.
    pub(super) fn specific(self, general: &str) -> String {
        let infix = match self {
            Self::Traces => "TRACES_",
            Self::Metrics => "METRICS_",
            Self::Logs => "LOGS_",
        };
        general.replacen(
            "OTEL_EXPORTER_OTLP_",
            &format!("OTEL_EXPORTER_OTLP_{infix}"),
            1,
        )
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first of the signal-specific and the general variable that is set, with its name.
pub(super) fn signal_var(
    env: &dyn Environment,
    signal: Signal,
    general: &'static str,
) -> Option<(String, String)> {
    let specific = signal.specific(general);
    env.get_non_empty(&specific)
        .map(|value| (specific, value))
        .or_else(|| {
            env.get_non_empty(general)
                .map(|value| (general.to_owned(), value))
        })
}
