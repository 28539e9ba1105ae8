//! Signing each OTLP/HTTP export request: the hook a cloud crate uses to sign exports for
//! an endpoint that wants it (AWS's X-Ray and CloudWatch Logs OTLP endpoints want SigV4).
//! Core names no cloud and no signature scheme; it calls the signer registered for an
//! endpoint just before each request leaves, over the final bytes (compressed, if they
//! are), so the signature covers what is sent.

use std::fmt;
use std::sync::Arc;

use super::config::{Signal, SignalConfig};
use crate::env::Environment;

/// Why an export request could not be signed: the export fails with this message (never a
/// credential in it) and its records are counted as dropped.
///
/// ```
/// use otel_faas_core::pipeline::SigningError;
///
/// let error = SigningError::new("no credentials: AWS_ACCESS_KEY_ID is not set");
/// assert_eq!(error.to_string(), "no credentials: AWS_ACCESS_KEY_ID is not set");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{why}")]
pub struct SigningError {
    why: String,
    pending: bool,
}

impl SigningError {
    /// An error saying `why`; say what the user can do about it, never a secret. The
    /// request's records are dropped: what is missing now is missing on the next try too.
    pub fn new(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            pending: false,
        }
    }

    /// The credentials are on their way (a token still being fetched): the spans are kept
    /// for a later send, as when the endpoint cannot be reached, and the circuit opens.
    ///
    /// ```
    /// use otel_faas_core::pipeline::SigningError;
    ///
    /// let error = SigningError::pending("no access token yet");
    /// assert!(error.is_pending());
    /// assert!(!SigningError::new("no key").is_pending());
    /// ```
    pub fn pending(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            pending: true,
        }
    }

    /// Whether a later try may succeed (see [`pending`](Self::pending)).
    pub fn is_pending(&self) -> bool {
        self.pending
    }
}

/// Signs export requests: adds the headers a signature scheme needs.
///
/// Called once per request on the task or thread that sends it, so it must not block: read
/// credentials from memory or the environment, never from the network.
///
/// ```
/// use otel_faas_core::pipeline::{RequestSigner, SigningError};
///
/// /// A shared secret in a header (a stand-in for a real scheme).
/// #[derive(Debug)]
/// struct Token(&'static str);
///
/// impl RequestSigner for Token {
///     fn sign(
///         &self,
///         _method: &http::Method,
///         _uri: &http::Uri,
///         headers: &mut http::HeaderMap,
///         _body: &[u8],
///     ) -> Result<(), SigningError> {
///         let mut value = http::HeaderValue::from_static(self.0);
///         value.set_sensitive(true);
///         headers.insert("x-token", value);
///         Ok(())
///     }
/// }
///
/// let mut headers = http::HeaderMap::new();
/// Token("s3cret")
///     .sign(&http::Method::POST, &"https://example.com/v1/traces".parse().unwrap(), &mut headers, b"")
///     .unwrap();
/// assert_eq!(headers["x-token"], "s3cret");
/// ```
pub trait RequestSigner: Send + Sync + fmt::Debug {
    /// Adds the signature's headers to `headers`, for a request of `method` to `uri`
    /// carrying `body` (the bytes sent).
    fn sign(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &mut http::HeaderMap,
        body: &[u8],
    ) -> Result<(), SigningError>;
}

/// Decides, for one signal's OTLP settings, whether its requests are signed and by what:
/// `None` leaves them unsigned. Given the pipeline's environment, which a signer may keep
/// to read rotated credentials from on each request.
pub type SignerFactory = Arc<
    dyn Fn(&Arc<dyn Environment>, Signal, &SignalConfig) -> Option<Arc<dyn RequestSigner>>
        + Send
        + Sync,
>;

/// The signer the first factory that wants `signal`'s endpoint gives.
pub(crate) fn signer_for(
    factories: &[SignerFactory],
    env: &Arc<dyn Environment>,
    signal: Signal,
    config: &SignalConfig,
) -> Option<Arc<dyn RequestSigner>> {
    factories
        .iter()
        .find_map(|factory| factory(env, signal, config))
}
