//! Configuration warnings.
//!
//! A function must never fail to start because of its telemetry configuration. Every
//! invalid value is turned into one [`ConfigWarning`] that names the variable, says what
//! was wrong and which values are accepted, and the spec default is used instead.

use std::fmt;

/// One problem found in the configuration, and the default used instead.
///
/// ```
/// use otel_faas_core::env::ConfigWarning;
///
/// let warning = ConfigWarning::new("OTEL_TRACES_SAMPLER", "sometimes", "always_on, always_off", "parentbased_always_on");
/// assert_eq!(
///     warning.to_string(),
///     "OTEL_TRACES_SAMPLER=\"sometimes\" is not valid (accepted: always_on, always_off); using parentbased_always_on"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The variable that held the invalid value.
    pub variable: String,
    /// The value as it was found.
    pub value: String,
    /// What the variable accepts.
    pub accepted: String,
    /// What is used instead.
    pub fallback: String,
    /// What kind of problem it is.
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A variable with a value it does not accept.
    Invalid,
    /// A variable nothing here reads.
    Unsupported,
    /// A configuration file, or what it describes.
    Setting,
}

impl ConfigWarning {
    /// Creates a warning.
    pub fn new(
        variable: impl Into<String>,
        value: impl Into<String>,
        accepted: impl Into<String>,
        fallback: impl Into<String>,
    ) -> Self {
        Self {
            variable: variable.into(),
            value: value.into(),
            accepted: accepted.into(),
            fallback: fallback.into(),
            kind: Kind::Invalid,
        }
    }

    /// A problem with a platform's configuration beyond the variables — a file
    /// (`host.json`, a `function.json`) or what registration found (`FUNCTION_TARGET`
    /// naming no function, two functions on one route): `setting` names it, `problem` says
    /// what is wrong and `effect` what happens instead.
    ///
    /// ```
    /// use otel_faas_core::env::ConfigWarning;
    ///
    /// let warning = ConfigWarning::setting("orders/function.json", "it is not valid JSON", "the function is traced as faas.trigger=other");
    /// assert_eq!(
    ///     warning.to_string(),
    ///     "orders/function.json: it is not valid JSON; the function is traced as faas.trigger=other"
    /// );
    /// ```
    pub fn setting(
        setting: impl Into<String>,
        problem: impl Into<String>,
        effect: impl Into<String>,
    ) -> Self {
        Self {
            variable: setting.into(),
            value: String::new(),
            accepted: problem.into(),
            fallback: effect.into(),
            kind: Kind::Setting,
        }
    }

    /// A variable that is set but that nothing in otel-faas reads; `effect` says what
    /// happens instead. The value is never repeated (it may be a secret).
    ///
    /// ```
    /// use otel_faas_core::env::ConfigWarning;
    ///
    /// let warning = ConfigWarning::unsupported("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "it has no effect");
    /// assert_eq!(
    ///     warning.to_string(),
    ///     "OTEL_EXPORTER_ZIPKIN_ENDPOINT is set but not supported by otel-faas: it has no effect"
    /// );
    /// ```
    pub fn unsupported(variable: impl Into<String>, effect: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            value: String::new(),
            accepted: String::new(),
            fallback: effect.into(),
            kind: Kind::Unsupported,
        }
    }

    /// Whether this warning is about a variable nothing here reads.
    pub fn is_unsupported(&self) -> bool {
        self.kind == Kind::Unsupported
    }

    /// Emits the warning once: through `tracing` when a subscriber is in effect (global or
    /// scoped), otherwise on standard error, which every FaaS platform collects as logs.
    pub fn emit(&self) {
        emit_line(&self.variable, &self.to_string());
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Unsupported => write!(
                f,
                "{} is set but not supported by otel-faas: {}",
                self.variable, self.fallback
            ),
            Kind::Setting => write!(f, "{}: {}; {}", self.variable, self.accepted, self.fallback),
            Kind::Invalid => write!(
                f,
                "{}={:?} is not valid (accepted: {}); using {}",
                self.variable, self.value, self.accepted, self.fallback
            ),
        }
    }
}

/// Reports a runtime problem of kind `kind` once per process: through `tracing` when a
/// subscriber is in effect, and on standard error otherwise, so that a problem (an export
/// that fails, an observer that panics) is visible even to a function that installed no
/// subscriber, without repeating itself on every invocation. `message` must never hold a
/// credential.
pub fn report_once(kind: &'static str, message: &str) {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock, PoisonError};
    static REPORTED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let first = REPORTED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(kind);
    if first {
        emit_line(kind, message);
    }
}

/// One diagnostic line: `tracing` if a subscriber listens, standard error otherwise.
fn emit_line(kind: &str, message: &str) {
    let subscribed = tracing::dispatcher::get_default(|dispatch| {
        !dispatch.is::<tracing::subscriber::NoSubscriber>()
    });
    if subscribed {
        tracing::warn!(target: "otel_faas", kind, "{message}");
    } else {
        eprintln!("otel-faas warning: {message}");
    }
}
