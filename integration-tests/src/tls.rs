//! A self-signed certificate made at test time, and HTTPS serving for the OTLP receiver.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A self-signed certificate for `localhost` and `127.0.0.1`, generated with rcgen, and
/// the PEM file a client trusts it through (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
pub struct TestCertificate {
    certificate_pem: String,
    key_pem: String,
    ca_file: PathBuf,
    key_file: PathBuf,
}

impl TestCertificate {
    /// Generates a certificate and writes its PEM into `dir` (created if missing).
    pub fn generate(dir: &Path) -> Result<Self, String> {
        Self::generate_named(dir, "otlp-receiver")
    }

    /// Generates a certificate in a directory of the system's temporary one named after
    /// `tag` and this process (each test its own).
    pub fn in_temp_dir(tag: &str) -> Result<Self, String> {
        Self::generate(
            &std::env::temp_dir().join(format!("otel-faas-{tag}-{}", std::process::id())),
        )
    }

    /// Generates a certificate whose files in `dir` are named after `name` (a client
    /// certificate for mutual TLS beside the receiver's).
    pub fn generate_named(dir: &Path, name: &str) -> Result<Self, String> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
        let certificate_pem = certified.cert.pem();
        let key_pem = certified.signing_key.serialize_pem();
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let ca_file = dir.join(format!("{name}-cert.pem"));
        std::fs::write(&ca_file, &certificate_pem).map_err(|e| e.to_string())?;
        let key_file = dir.join(format!("{name}-key.pem"));
        std::fs::write(&key_file, &key_pem).map_err(|e| e.to_string())?;
        Ok(Self {
            certificate_pem,
            key_pem,
            ca_file,
            key_file,
        })
    }

    /// The certificate's PEM file: what a peer trusts (`OTEL_EXPORTER_OTLP_CERTIFICATE`), or
    /// what a client presents (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The private key's PEM file (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The certificate and key PEM, for a tonic `Identity`.
    pub(crate) fn pem(&self) -> (&str, &str) {
        (&self.certificate_pem, &self.key_pem)
    }

    pub(crate) fn acceptor(&self, client: Option<&TestCertificate>) -> Result<TlsAcceptor, String> {
        let chain = vec![
            CertificateDer::from_pem_slice(self.certificate_pem.as_bytes())
                .map_err(|e| e.to_string())?,
        ];
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| e.to_string())?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder =
            tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?;
        let builder = match client {
            None => builder.with_no_client_auth(),
            Some(client) => {
                // Mutual TLS: only the client's own (self-signed) certificate is accepted.
                let mut roots = tokio_rustls::rustls::RootCertStore::empty();
                roots
                    .add(
                        CertificateDer::from_pem_slice(client.certificate_pem.as_bytes())
                            .map_err(|e| e.to_string())?,
                    )
                    .map_err(|e| e.to_string())?;
                let verifier =
                    tokio_rustls::rustls::server::WebPkiClientVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider,
                    )
                    .build()
                    .map_err(|e| e.to_string())?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| e.to_string())?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// Serves `app` over HTTPS on `listener` until `stop` completes.
pub(crate) async fn serve_https(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    stop: impl Future<Output = ()>,
) {
    let accept = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends here, which is what the tests
                // without the CA expect.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                    .await;
            });
        }
    };
    tokio::select! {
        () = accept => {}
        () = stop => {}
    }
}
