//! Why an exporter could not be built: the one error type of the exporters' set-up, a leaf
//! that the client, TLS and export modules all return and none of them owns.

use std::path::PathBuf;

/// Why an exporter could not be built. Reported as a configuration warning naming the
/// signal and exporter; the signal then falls back to no export (see `Build::fail`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
    /// rustls refused its own set-up.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    /// A certificate file could not be read as PEM.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    #[error("the certificates in {} could not be read: {reason}", path.display())]
    Certificates { path: PathBuf, reason: String },
    /// A certificate file holds no certificate.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    /// Certificates of the CA file that rustls cannot use as trust anchors.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    #[error("{ignored} certificate(s) in {} could not be used as a CA", path.display())]
    UnusableCa { path: PathBuf, ignored: usize },
    /// The client key could not be read.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    #[error("the client key {} could not be read: {reason}", path.display())]
    ClientKey { path: PathBuf, reason: String },
    /// rustls refused the client certificate and key.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    #[error("the client certificate was refused: {0}")]
    ClientCertificate(String),
    /// A file could not be read.
    #[cfg_attr(not(feature = "otlp-grpc-tls"), allow(dead_code))]
    #[error("{} could not be read: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    /// A configured header cannot be sent over HTTP (its value is never repeated: it is a
    /// credential as often as not).
    #[error("{0}")]
    Header(String),
    /// The SDK's exporter builder refused the settings.
    #[cfg_attr(
        not(any(feature = "otlp-sdk-http", feature = "otlp-grpc")),
        allow(dead_code)
    )]
    #[error("{0}")]
    Exporter(String),
    /// What is asked for needs a cargo feature this build lacks.
    #[cfg_attr(
        any(feature = "otlp-sdk-http", not(feature = "otlp-grpc")),
        allow(dead_code)
    )]
    #[error("{0}")]
    MissingFeature(&'static str),
}
