//! Where configuration comes from.
//!
//! Everything in this crate that reads `OTEL_*` or platform variables reads them through
//! an [`Environment`], never through `std::env` directly. Production code uses
//! [`ProcessEnvironment`]; tests hand a [`MapEnvironment`] to the same code and never touch
//! the process environment (which is shared by every test thread and unsound to mutate).

use std::collections::HashMap;
use std::fmt;

pub use crate::warning::{ConfigWarning, report_once};

/// A read-only source of configuration variables.
///
/// Implementations must be cheap to query: detectors and the pipeline read a handful of
/// variables once at start-up.
///
/// ```
/// use otel_faas_core::{Environment, env::MapEnvironment};
///
/// let env = MapEnvironment::from([("OTEL_SERVICE_NAME", "checkout")]);
/// assert_eq!(env.get("OTEL_SERVICE_NAME").as_deref(), Some("checkout"));
/// assert_eq!(env.get("MISSING"), None);
/// ```
pub trait Environment: Send + Sync + fmt::Debug {
    /// The value of `key`, or `None` when it is unset or not valid UTF-8.
    fn get(&self, key: &str) -> Option<String>;

    /// The value of `key` with surrounding white space removed, or `None` when it is unset
    /// or blank. Most `OTEL_*` variables treat an empty value as unset, as the spec says.
    fn get_non_empty(&self, key: &str) -> Option<String> {
        self.get(key)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The names of the variables set, so that the pipeline can warn about `OTEL_*`
    /// variables it does not support. The default lists none (no such warnings).
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The environment of the running process (`std::env::var`).
///
/// ```
/// use otel_faas_core::{Environment, env::ProcessEnvironment};
///
/// // PATH is set on every machine this doctest runs on.
/// assert!(ProcessEnvironment.get("PATH").is_some());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }

    fn names(&self) -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect()
    }
}

/// An environment backed by a map: for tests, and for platforms that hand configuration
/// over in a request rather than in the process environment.
///
/// ```
/// use otel_faas_core::{Environment, env::MapEnvironment};
///
/// let mut env = MapEnvironment::default();
/// env.insert("OTEL_TRACES_SAMPLER", "always_off");
/// assert_eq!(env.get("OTEL_TRACES_SAMPLER").as_deref(), Some("always_off"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct MapEnvironment {
    vars: HashMap<String, String>,
}

impl MapEnvironment {
    /// Sets `key` to `value`, replacing any previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.vars.insert(key.into(), value.into());
        self
    }

    /// Returns the environment with `key` set to `value`.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }
}

impl Environment for MapEnvironment {
    fn get(&self, key: &str) -> Option<String> {
        self.vars.get(key).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.vars.keys().cloned().collect()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnvironment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for MapEnvironment {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<E: Environment + ?Sized> Environment for &E {
    fn get(&self, key: &str) -> Option<String> {
        (**self).get(key)
    }
    fn names(&self) -> Vec<String> {
        (**self).names()
    }
}

impl<E: Environment + ?Sized> Environment for std::sync::Arc<E> {
    fn get(&self, key: &str) -> Option<String> {
        (**self).get(key)
    }
    fn names(&self) -> Vec<String> {
        (**self).names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_count_as_unset() {
        let env = MapEnvironment::from([("A", "  "), ("B", " x ")]);
        assert_eq!(env.get_non_empty("A"), None);
        assert_eq!(env.get_non_empty("B").as_deref(), Some("x"));
        assert_eq!(env.get("A").as_deref(), Some("  "));
    }
}
