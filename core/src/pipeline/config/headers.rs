//! Export headers (`OTEL_EXPORTER_OTLP_[SIGNAL_]HEADERS`): parsed as the spec says, and
//! never printed with their values, which are often credentials.

use std::fmt;

use super::signal::{Signal, signal_var};
use crate::env::Environment;
use crate::warning::ConfigWarning;

/// Headers sent with every export. Their values are often credentials, so `Debug` prints
/// the names only.
///
/// ```
/// use otel_faas_core::pipeline::Headers;
///
/// let headers = Headers::from(vec![("authorization".to_owned(), "Bearer s3cret".to_owned())]);
/// assert_eq!(format!("{headers:?}"), r#"Headers(["authorization"])"#);
/// assert_eq!(headers.get("Authorization"), Some("Bearer s3cret"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// The pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl From<Vec<(String, String)>> for Headers {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Headers")
            .field(&self.0.iter().map(|(key, _)| key).collect::<Vec<_>>())
            .finish()
    }
}

pub(super) fn read_headers(
    env: &dyn Environment,
    signal: Signal,
    w: &mut Vec<ConfigWarning>,
) -> Vec<(String, String)> {
    let Some((var, raw)) = signal_var(env, signal, "OTEL_EXPORTER_OTLP_HEADERS") else {
        return Vec::new();
    };
    let mut headers = Vec::new();
    let mut invalid = Vec::new();
    for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
        let parsed = pair.split_once('=').and_then(|(key, value)| {
            let key = key.trim();
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .ok()?;
            let valid = http::HeaderName::from_bytes(key.as_bytes()).is_ok()
                && http::HeaderValue::from_str(&value).is_ok();
            valid.then(|| (key.to_owned(), value.into_owned()))
        });
        match parsed {
            Some(header) => headers.push(header),
            None => invalid.push(header_key_for_warning(pair)),
        }
    }
    if !invalid.is_empty() {
        // Header values are often credentials: the warning names the keys, never the values.
        w.push(ConfigWarning::new(
            var,
            format!("<pairs with keys {invalid:?}>"),
            "comma-separated key=value pairs with percent-encoded values",
            "the valid pairs only",
        ));
    }
    headers
}

/// What a warning may say about an invalid header pair: its key, when there is one, and
/// never anything that could be the value. A pair without `=` (`Authorization: Bearer …`)
/// has no key the spec recognises; it is named by what precedes a `:` or a space, if that
/// looks like a header name, else not at all.
fn header_key_for_warning(pair: &str) -> String {
    let candidate = match pair.split_once('=') {
        Some((key, _)) => key.trim(),
        None => pair.split([':', ' ']).next().unwrap_or_default().trim(),
    };
    if http::HeaderName::from_bytes(candidate.as_bytes()).is_ok() && candidate.len() <= 64 {
        candidate.to_owned()
    } else {
        "<unnamed>".to_owned()
    }
}
