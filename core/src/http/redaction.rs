//! Which query values are credentials, and their redaction.

use std::sync::{Arc, LazyLock};

use crate::env::{Environment, ProcessEnvironment};

/// The keys the url registry of the semantic conventions (v1.44) names: their values
/// "SHOULD be redacted by default and replaced by the value `REDACTED`".
pub const SPEC_QUERY_KEYS: [&str; 4] = ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// Signed-URL parameters of the clouds beyond the spec's list: AWS Signature Version 4
/// presigned URLs (signature, credential scope with the access key id, session token) and
/// Google Cloud Storage V4 signed URLs.
pub const CLOUD_QUERY_KEYS: [&str; 5] = [
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Credential",
    "X-Goog-Security-Token",
];

/// Names applications commonly give credentials in query strings (OAuth tokens, API keys,
/// passwords). Redacting a harmless value costs a little detail; recording a secret cannot
/// be undone, so these are redacted by default too. A bare `key` is not among them: it names
/// too many harmless things (an object key, a sort key); add it when your API takes keys so.
pub const COMMON_SECRET_QUERY_KEYS: [&str; 13] = [
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "api-key",
];

/// The variable whose comma-separated keys are added to the default list.
pub const REDACT_QUERY_KEYS_VARIABLE: &str = "OTEL_FAAS_REDACT_QUERY_KEYS";

/// The value a redacted query value is replaced with, as the conventions spell it.
pub const REDACTED: &str = "REDACTED";

/// Which query parameters' values are replaced by `REDACTED` in `url.query`. Keys are
/// compared case-insensitively and after percent-decoding (`x-amz-signature`,
/// `X%2DAmz%2DSignature` and `X-Amz-Signature` are the same key); the key itself is kept,
/// as the conventions ask.
///
/// The default list is [`SPEC_QUERY_KEYS`], [`CLOUD_QUERY_KEYS`] and
/// [`COMMON_SECRET_QUERY_KEYS`], plus the keys in `OTEL_FAAS_REDACT_QUERY_KEYS`
/// (comma-separated) of the process environment, read once.
///
/// ```
/// use otel_faas_core::http::QueryRedaction;
///
/// let redaction = QueryRedaction::default().with_key("session");
/// assert_eq!(
///     redaction.redact("q=rust&x-amz-signature=abc123&SESSION=s1"),
///     "q=rust&x-amz-signature=REDACTED&SESSION=REDACTED"
/// );
/// // Only what the conventions name:
/// assert_eq!(QueryRedaction::spec_only().redact("token=t&sig=s"), "token=t&sig=REDACTED");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRedaction {
    /// Lower-cased keys.
    keys: Vec<String>,
    /// Bit `n` set when a key is `n` bytes long (bit 63: 63 or longer): most parameters of
    /// most requests are told apart by their length alone, without comparing any key.
    lengths: u64,
}

/// The bit of [`QueryRedaction::lengths`] for a key of `len` bytes.
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

static PROCESS_DEFAULT: LazyLock<Arc<QueryRedaction>> =
    LazyLock::new(|| Arc::new(QueryRedaction::from_env(&ProcessEnvironment)));

impl Default for QueryRedaction {
    /// The default list with `OTEL_FAAS_REDACT_QUERY_KEYS` of the process environment.
    fn default() -> Self {
        (**PROCESS_DEFAULT).clone()
    }
}

impl QueryRedaction {
    /// Only the keys of the conventions ([`SPEC_QUERY_KEYS`]).
    pub fn spec_only() -> Self {
        Self::from_keys(SPEC_QUERY_KEYS)
    }

    /// The default lists (without any environment variable).
    pub fn defaults() -> Self {
        Self::from_keys(
            SPEC_QUERY_KEYS
                .into_iter()
                .chain(CLOUD_QUERY_KEYS)
                .chain(COMMON_SECRET_QUERY_KEYS),
        )
    }

    /// The default lists plus the keys of `OTEL_FAAS_REDACT_QUERY_KEYS` in `env`.
    pub fn from_env(env: &dyn Environment) -> Self {
        let extra = env
            .get_non_empty(REDACT_QUERY_KEYS_VARIABLE)
            .unwrap_or_default();
        extra
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .fold(Self::defaults(), Self::with_key)
    }

    /// Exactly these keys.
    pub fn from_keys<K: AsRef<str>>(keys: impl IntoIterator<Item = K>) -> Self {
        keys.into_iter().fold(
            Self {
                keys: Vec::new(),
                lengths: 0,
            },
            Self::with_key,
        )
    }

    /// Adds a key.
    #[must_use]
    pub fn with_key(mut self, key: impl AsRef<str>) -> Self {
        let key = key.as_ref().to_ascii_lowercase();
        if !self.keys.contains(&key) {
            self.lengths |= length_bit(key.len());
            self.keys.push(key);
        }
        self
    }

    /// Whether the value of `key` is redacted.
    pub fn covers(&self, key: &str) -> bool {
        // Most keys are plain: compared as they are, without decoding into a new string
        // (this runs for every query parameter of every request and outgoing call).
        if !key.bytes().any(|b| b == b'%' || b == b'+') {
            let key = key.trim();
            return self.lengths & length_bit(key.len()) != 0
                && self
                    .keys
                    .iter()
                    .any(|candidate| candidate.eq_ignore_ascii_case(key));
        }
        let decoded = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
        let decoded = decoded.replace('+', " ");
        self.keys
            .iter()
            .any(|candidate| candidate.eq_ignore_ascii_case(decoded.trim()))
    }

    /// The query with the value of every covered key replaced by `REDACTED`.
    pub fn redact(&self, query: &str) -> String {
        let mut redacted = String::with_capacity(query.len());
        self.redact_into(query, &mut redacted);
        redacted
    }

    /// [`redact`](Self::redact), appended to `out` (a URL being built: no string of its
    /// own).
    pub(crate) fn redact_into(&self, query: &str, out: &mut String) {
        for (index, pair) in query.split('&').enumerate() {
            if index > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((key, _)) if self.covers(key) => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(pair),
            }
        }
    }

    /// The process-wide default, shared without copying.
    pub(crate) fn shared_default() -> Arc<QueryRedaction> {
        Arc::clone(&PROCESS_DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    /// Every default key, in its own spelling, lower case, upper case and percent-encoded.
    #[test]
    fn every_default_key_is_redacted_in_any_case() {
        let redaction = QueryRedaction::defaults();
        let keys = SPEC_QUERY_KEYS
            .into_iter()
            .chain(CLOUD_QUERY_KEYS)
            .chain(COMMON_SECRET_QUERY_KEYS);
        for key in keys {
            let encoded = key.replace('-', "%2D");
            for spelling in [
                key.to_owned(),
                key.to_ascii_lowercase(),
                key.to_ascii_uppercase(),
                encoded,
            ] {
                let query = format!("keep=1&{spelling}=s3cr3t&also=2");
                assert_eq!(
                    redaction.redact(&query),
                    format!("keep=1&{spelling}=REDACTED&also=2"),
                    "{spelling}"
                );
            }
        }
        // The spec's four by name, as the issue that asked for them lists them.
        for key in ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"] {
            assert!(QueryRedaction::spec_only().covers(key), "{key}");
        }
    }

    #[test]
    fn other_keys_and_shapes_are_left_alone() {
        let redaction = QueryRedaction::defaults();
        assert_eq!(
            redaction.redact("signatures=1&keys=2&q"),
            "signatures=1&keys=2&q"
        );
        assert_eq!(redaction.redact(""), "");
        assert_eq!(
            redaction.redact("sig"),
            "sig",
            "a key without a value has nothing to hide"
        );
        assert_eq!(redaction.redact("sig=&a=b"), "sig=REDACTED&a=b");
        assert_eq!(redaction.redact("a=%ZZ&token=x"), "a=%ZZ&token=REDACTED");
    }

    #[test]
    fn the_environment_extends_the_defaults() {
        let env = MapEnvironment::from([(REDACT_QUERY_KEYS_VARIABLE, " session, X-Tenant-Key ,")]);
        let redaction = QueryRedaction::from_env(&env);
        assert_eq!(
            redaction.redact("session=1&x-tenant-key=2&token=3&page=4"),
            "session=REDACTED&x-tenant-key=REDACTED&token=REDACTED&page=4"
        );
        assert_eq!(
            QueryRedaction::from_env(&MapEnvironment::default()),
            QueryRedaction::defaults()
        );
    }
}
