//! The TLS client set-up every HTTPS client of the crate shares (the exporters', and the
//! traced reqwest client of `http::client`): rustls with the ring provider and the webpki
//! roots compiled in — no system OpenSSL or CA bundle needed, which Lambda's
//! `provided.al2023` image and scratch containers do not have.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WantsClientCert;

/// The webpki roots.
pub(crate) fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A client configuration trusting `roots`, with ring and the safe protocol versions; the
/// client certificate is left to the caller.
pub(crate) fn client_builder(
    roots: RootCertStore,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, WantsClientCert>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
}
