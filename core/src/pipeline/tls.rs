//! HTTPS for OTLP/HTTP: rustls with the ring provider and the webpki roots, plus the CA and
//! client certificate files of `OTEL_EXPORTER_OTLP_[SIGNAL_]{CERTIFICATE,CLIENT_KEY,
//! CLIENT_CERTIFICATE}`.
//!
//! Why these: rustls needs no system OpenSSL (Lambda's `provided.al2023` image and a
//! scratch container have none to link against); ring is already in every AWS SDK
//! build; the webpki roots are compiled in, so the result does not depend on the
//! image's CA bundle. The configured client is handed to the OTLP exporter, which then
//! speaks plain http or https as the endpoint's scheme says.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::config::SignalConfig;
use super::error::BuildError;

/// The rustls configuration of an exporter's HTTPS client: the webpki roots and the
/// configured CA file, and the client certificate if one is configured.
pub(crate) fn client_config(config: &SignalConfig) -> Result<rustls::ClientConfig, BuildError> {
    let mut roots = crate::rustls_roots::webpki_roots();
    if let Some(path) = &config.tls.certificate {
        let certificates = read_certificates(path)?;
        let (_added, ignored) = roots.add_parsable_certificates(certificates);
        if ignored > 0 {
            return Err(BuildError::UnusableCa {
                path: path.clone(),
                ignored,
            });
        }
    }
    let builder = crate::rustls_roots::client_builder(roots)
        .map_err(|error| BuildError::Tls(error.to_string()))?;
    match (&config.tls.client_certificate, &config.tls.client_key) {
        (Some(certificate), Some(key)) => {
            let chain = read_certificates(certificate)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|error| BuildError::ClientKey {
                path: key.clone(),
                reason: error.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|error| BuildError::ClientCertificate(error.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    let certificates: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<_, _>>())
        .map_err(|error| BuildError::Certificates {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(BuildError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// The TLS settings of an OTLP/gRPC channel: the webpki roots, the CA file, the client
/// identity.
#[cfg(feature = "otlp-grpc-tls")]
pub(crate) fn grpc_tls_config(
    config: &SignalConfig,
) -> Result<tonic::transport::ClientTlsConfig, BuildError> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let read = |path: &Path| {
        std::fs::read(path).map_err(|error| BuildError::Read {
            path: path.to_owned(),
            reason: error.to_string(),
        })
    };
    let mut tls = ClientTlsConfig::new().with_webpki_roots();
    if let Some(path) = &config.tls.certificate {
        // Parsed here too, so that a file without a certificate is refused at start-up.
        read_certificates(path)?;
        tls = tls.ca_certificate(Certificate::from_pem(read(path)?));
    }
    if let (Some(certificate), Some(key)) = (&config.tls.client_certificate, &config.tls.client_key)
    {
        tls = tls.identity(Identity::from_pem(read(certificate)?, read(key)?));
    }
    Ok(tls)
}
