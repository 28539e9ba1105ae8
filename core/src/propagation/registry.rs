//! `OTEL_PROPAGATORS` and the registry of named formats.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry_sdk::propagation::BaggagePropagator;

use crate::env::Environment;
use crate::warning::ConfigWarning;

/// Builds a fresh propagator; registered under a name in a [`PropagatorRegistry`].
///
/// ```
/// use std::sync::Arc;
/// use opentelemetry_sdk::propagation::BaggagePropagator;
/// use otel_faas_core::propagation::PropagatorFactory;
///
/// let factory: PropagatorFactory = Arc::new(|| Box::new(BaggagePropagator::new()));
/// let _propagator = factory();
/// ```
pub type PropagatorFactory =
    Arc<dyn Fn() -> Box<dyn TextMapPropagator + Send + Sync> + Send + Sync>;

/// The value the specification gives `OTEL_PROPAGATORS` when it is unset.
const DEFAULT_PROPAGATORS: &str = "tracecontext,baggage";

/// Maps `OTEL_PROPAGATORS` names to propagators.
///
/// It starts with the formats every process has (`tracecontext`, `baggage`); a cloud crate
/// adds its own (`xray`, `xray-lambda`, `gcp`, …) before the pipeline reads the variable.
///
/// ```
/// use opentelemetry_sdk::propagation::TraceContextPropagator;
/// use otel_faas_core::{env::MapEnvironment, propagation::PropagatorRegistry};
///
/// let mut registry = PropagatorRegistry::new();
/// // A cloud crate registers its format under the name users put in OTEL_PROPAGATORS.
/// registry.register("my-format", || Box::new(TraceContextPropagator::new()));
///
/// let env = MapEnvironment::from([("OTEL_PROPAGATORS", "my-format,baggage")]);
/// let (propagation, warnings) = registry.from_env(&env);
/// assert!(warnings.is_empty());
/// assert_eq!(propagation.names(), ["my-format", "baggage"]);
/// ```
#[derive(Clone)]
pub struct PropagatorRegistry {
    factories: BTreeMap<String, PropagatorFactory>,
    /// What an unset `OTEL_PROPAGATORS` means: the specification's default unless a
    /// platform crate says otherwise ([`PropagatorRegistry::set_default`]).
    default: &'static str,
}

impl fmt::Debug for PropagatorRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropagatorRegistry")
            .field("names", &self.factories.keys().collect::<Vec<_>>())
            .field("default", &self.default)
            .finish()
    }
}

impl Default for PropagatorRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl PropagatorRegistry {
    /// A registry with `tracecontext` and `baggage`.
    pub fn new() -> Self {
        let mut registry = Self {
            factories: BTreeMap::new(),
            default: DEFAULT_PROPAGATORS,
        };
        registry.register("tracecontext", || {
            Box::new(super::w3c::W3cTraceContext::new())
        });
        registry.register("baggage", || Box::new(BaggagePropagator::new()));
        registry
    }

    /// Registers `factory` under `name` (lower case, as in `OTEL_PROPAGATORS`), replacing
    /// an earlier registration of the same name.
    pub fn register<F>(&mut self, name: impl Into<String>, factory: F) -> &mut Self
    where
        F: Fn() -> Box<dyn TextMapPropagator + Send + Sync> + Send + Sync + 'static,
    {
        self.factories
            .insert(name.into().to_ascii_lowercase(), Arc::new(factory));
        self
    }

    /// Makes `names` (a comma-separated list, as in `OTEL_PROPAGATORS`) what an unset
    /// `OTEL_PROPAGATORS` means, in place of the specification's `tracecontext,baggage`.
    /// For a platform whose destination needs its own format to keep one trace (X-Ray's
    /// daemon on Lambda); a user's `OTEL_PROPAGATORS` still wins, and a list of which
    /// nothing is usable still falls back to this default.
    ///
    /// ```
    /// use otel_faas_core::{env::MapEnvironment, propagation::PropagatorRegistry};
    ///
    /// let mut registry = PropagatorRegistry::new();
    /// registry.set_default("baggage");
    /// let (unset, _) = registry.from_env(&MapEnvironment::default());
    /// assert_eq!(unset.names(), ["baggage"]);
    /// let (set, _) = registry.from_env(&MapEnvironment::from([("OTEL_PROPAGATORS", "tracecontext")]));
    /// assert_eq!(set.names(), ["tracecontext"]);
    /// ```
    pub fn set_default(&mut self, names: &'static str) -> &mut Self {
        self.default = names;
        self
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }

    /// Builds the propagation `OTEL_PROPAGATORS` asks for.
    ///
    /// Unknown names are reported and skipped, as the specification requires; `none` turns
    /// propagation off; a list in which nothing is usable falls back to the default
    /// `tracecontext,baggage` (or the platform's, [`set_default`](Self::set_default)) with a
    /// warning, so a typo never silently breaks every trace.
    pub fn from_env(&self, env: &dyn Environment) -> (CompositePropagation, Vec<ConfigWarning>) {
        let raw = env.get_non_empty("OTEL_PROPAGATORS");
        let requested = raw.as_deref().unwrap_or(self.default);
        let mut warnings = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut saw_none = false;
        for name in requested.split(',').map(|n| n.trim().to_ascii_lowercase()) {
            if name.is_empty() || names.contains(&name) {
                continue;
            }
            if name == "none" {
                saw_none = true;
            } else if self.factories.contains_key(&name) {
                names.push(name);
            } else {
                warnings.push(ConfigWarning::new(
                    "OTEL_PROPAGATORS",
                    name,
                    format!("none, {}", self.names().join(", ")),
                    "the other listed propagators",
                ));
            }
        }
        if saw_none {
            // The spec makes `none` exclusive; honour it even if other names came with it.
            return (CompositePropagation::none(), warnings);
        }
        if names.is_empty() {
            if let Some(raw) = raw {
                warnings.push(ConfigWarning::new(
                    "OTEL_PROPAGATORS",
                    raw,
                    format!("none, {}", self.names().join(", ")),
                    self.default,
                ));
            }
            names = self
                .default
                .split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| self.factories.contains_key(n))
                .collect();
        }
        (self.build(names), warnings)
    }

    /// Builds a propagation from names that are known to be registered.
    fn build(&self, names: Vec<String>) -> CompositePropagation {
        let propagators = names
            .iter()
            .filter_map(|name| self.factories.get(name).map(|factory| factory()))
            .collect();
        CompositePropagation {
            names,
            inner: TextMapCompositePropagator::new(propagators),
        }
    }
}

/// Several propagators applied in the order `OTEL_PROPAGATORS` lists them.
///
/// Injection writes every format. Extraction runs each in turn on the growing context, so a
/// later format that finds a valid context replaces what an earlier one found, which is the
/// composite behaviour of every OpenTelemetry SDK.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::trace::TraceContextExt;
/// use otel_faas_core::{Propagation, propagation::CompositePropagation};
///
/// let propagation = CompositePropagation::w3c();
/// assert_eq!(propagation.names(), ["tracecontext", "baggage"]);
/// let carrier = HashMap::from([(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )]);
/// assert!(propagation.extract_from(&carrier).span().span_context().is_remote());
/// ```
#[derive(Debug)]
pub struct CompositePropagation {
    names: Vec<String>,
    inner: TextMapCompositePropagator,
}

impl CompositePropagation {
    /// W3C `tracecontext` and `baggage`: the default of the specification.
    pub fn w3c() -> Self {
        PropagatorRegistry::new().build(vec!["tracecontext".into(), "baggage".into()])
    }

    /// A propagation that reads and writes nothing (`OTEL_PROPAGATORS=none`).
    pub fn none() -> Self {
        Self {
            names: Vec::new(),
            inner: TextMapCompositePropagator::new(Vec::new()),
        }
    }

    /// The names of the formats, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl Default for CompositePropagation {
    fn default() -> Self {
        Self::w3c()
    }
}

// A `TextMapPropagator`, so that it can be `opentelemetry`'s global propagator (what
// libraries inject with outside an invocation); `Propagation` comes with it.
impl TextMapPropagator for CompositePropagation {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.inner.inject_context(cx, injector);
    }
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.inner.extract_with_context(cx, extractor)
    }
    fn fields(&self) -> FieldIter<'_> {
        TextMapPropagator::fields(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::trace::TraceContextExt;

    use super::*;
    use crate::env::MapEnvironment;
    use crate::propagation::Propagation as _;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn carrier() -> HashMap<String, String> {
        HashMap::from([
            ("traceparent".to_owned(), PARENT.to_owned()),
            ("baggage".to_owned(), "tenant=acme".to_owned()),
        ])
    }

    #[test]
    fn unset_means_tracecontext_and_baggage() {
        let (propagation, warnings) =
            PropagatorRegistry::new().from_env(&MapEnvironment::default());
        assert!(warnings.is_empty());
        assert_eq!(propagation.names(), ["tracecontext", "baggage"]);
        let cx = propagation.extract_from(&carrier());
        assert!(cx.span().span_context().is_remote());
        assert_eq!(
            opentelemetry::baggage::BaggageExt::baggage(&cx)
                .get("tenant")
                .map(|v| v.to_string()),
            Some("acme".to_owned())
        );
    }

    #[test]
    fn unknown_names_warn_and_are_skipped() {
        let env = MapEnvironment::from([("OTEL_PROPAGATORS", "b3, TraceContext")]);
        let (propagation, warnings) = PropagatorRegistry::new().from_env(&env);
        assert_eq!(propagation.names(), ["tracecontext"]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].variable, "OTEL_PROPAGATORS");
        assert_eq!(warnings[0].value, "b3");
        assert!(warnings[0].accepted.contains("tracecontext"));
    }

    #[test]
    fn nothing_usable_falls_back_to_default_with_warning() {
        let env = MapEnvironment::from([("OTEL_PROPAGATORS", "jaeger")]);
        let (propagation, warnings) = PropagatorRegistry::new().from_env(&env);
        assert_eq!(propagation.names(), ["tracecontext", "baggage"]);
        assert_eq!(warnings.len(), 2);
        assert_eq!(warnings[1].fallback, DEFAULT_PROPAGATORS);
    }

    #[test]
    fn none_disables_propagation() {
        let env = MapEnvironment::from([("OTEL_PROPAGATORS", "none")]);
        let (propagation, warnings) = PropagatorRegistry::new().from_env(&env);
        assert!(warnings.is_empty());
        assert!(!propagation.extract_from(&carrier()).has_active_span());
        let mut out = HashMap::new();
        propagation.inject_into(&propagation.extract_from(&carrier()), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn registered_formats_are_found_by_name() {
        let mut registry = PropagatorRegistry::new();
        registry.register("Custom", || {
            Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new())
        });
        let env = MapEnvironment::from([("OTEL_PROPAGATORS", "custom")]);
        let (propagation, warnings) = registry.from_env(&env);
        assert!(warnings.is_empty());
        assert_eq!(propagation.names(), ["custom"]);
        assert!(propagation.extract_from(&carrier()).has_active_span());
    }
}
