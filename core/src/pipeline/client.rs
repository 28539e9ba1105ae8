//! The HTTP clients of the OTLP/HTTP exporters, which can be rebuilt after a snapshot
//! restore.
//!
//! A process restored from a snapshot keeps the connection pool it had
//! when the snapshot was taken, but not the connections: the first export after a restore
//! would be written into a dead socket and lost, together with the spans of the cold
//! invocation. Every exporter here sends through a [`ReconnectingClient`] (the metrics and
//! logs exporters, on the SDK's threads: blocking) or [`AsyncClients`] (the spans' export
//! path, on the invocation's task and the exporter thread), and [`reconnect_exporters`]
//! replaces each one's client — and so its pool — with a new one.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

#[cfg(feature = "otlp-sdk-http")]
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

use super::config::SignalConfig;
use super::error::BuildError;

/// A client that [`reconnect_exporters`] can rebuild.
trait Rebuild: Send + Sync {
    fn rebuild(&self) -> Result<(), BuildError>;
}

/// The clients of every exporter built in this process, for [`reconnect_exporters`].
static CLIENTS: Mutex<Vec<Weak<dyn Rebuild>>> = Mutex::new(Vec::new());

fn register(client: Weak<dyn Rebuild>) {
    let mut clients = CLIENTS.lock().unwrap_or_else(PoisonError::into_inner);
    clients.retain(|client| client.strong_count() > 0);
    clients.push(client);
}

#[cfg(feature = "otlp-sdk-http")]
struct Inner {
    current: RwLock<reqwest::blocking::Client>,
    config: SignalConfig,
    /// Signs each request just before it is sent, over the bytes sent.
    signer: Option<Arc<dyn super::RequestSigner>>,
}

/// An exporter's HTTP client; see the module documentation.
#[cfg(feature = "otlp-sdk-http")]
#[derive(Clone)]
pub(crate) struct ReconnectingClient(Arc<Inner>);

#[cfg(feature = "otlp-sdk-http")]
impl fmt::Debug for ReconnectingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectingClient")
            .field("endpoint", &self.0.config.endpoint)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "otlp-sdk-http")]
impl ReconnectingClient {
    /// A client for `config`'s endpoint, registered for [`reconnect_exporters`].
    pub(crate) fn new(
        config: &SignalConfig,
        signer: Option<Arc<dyn super::RequestSigner>>,
    ) -> Result<Self, BuildError> {
        let inner = Arc::new(Inner {
            current: RwLock::new(build(config)?),
            config: config.clone(),
            signer,
        });
        let weak: Weak<dyn Rebuild> = Arc::downgrade(&inner) as Weak<dyn Rebuild>;
        register(weak);
        Ok(Self(inner))
    }
}

#[cfg(feature = "otlp-sdk-http")]
impl Rebuild for Inner {
    fn rebuild(&self) -> Result<(), BuildError> {
        let client = build(&self.config)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = client;
        Ok(())
    }
}

/// The two async clients of the spans' export path: one for sends on an invocation's task
/// (its connections are driven by the function's runtime), one for the exporter thread's
/// own runtime. Two pools, so that neither waits on a connection the other runtime drives
/// while that runtime is busy.
pub(crate) struct AsyncClients {
    current: RwLock<(reqwest::Client, reqwest::Client)>,
    config: SignalConfig,
}

impl fmt::Debug for AsyncClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClients")
            .field("endpoint", &self.config.endpoint)
            .finish_non_exhaustive()
    }
}

impl AsyncClients {
    /// The clients for `config`'s endpoint, registered for [`reconnect_exporters`].
    pub(crate) fn new(config: &SignalConfig) -> Result<Arc<Self>, BuildError> {
        let clients = Arc::new(Self {
            current: RwLock::new((build_async(config)?, build_async(config)?)),
            config: config.clone(),
        });
        let weak: Weak<dyn Rebuild> = Arc::downgrade(&clients) as Weak<dyn Rebuild>;
        register(weak);
        Ok(clients)
    }

    /// The client for the calling thread: the exporter thread's own, or the task's.
    pub(crate) fn get(&self, on_exporter_thread: bool) -> reqwest::Client {
        let clients = self.current.read().unwrap_or_else(PoisonError::into_inner);
        if on_exporter_thread {
            clients.1.clone()
        } else {
            clients.0.clone()
        }
    }
}

impl Rebuild for AsyncClients {
    fn rebuild(&self) -> Result<(), BuildError> {
        let fresh = (build_async(&self.config)?, build_async(&self.config)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }
}

#[cfg(feature = "otlp-sdk-http")]
#[async_trait::async_trait]
impl HttpClient for ReconnectingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self
            .0
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let request = match &self.0.signer {
            Some(signer) => {
                let (mut parts, body) = request.into_parts();
                signer.sign(&parts.method, &parts.uri, &mut parts.headers, &body)?;
                Request::from_parts(parts, body)
            }
            None => request,
        };
        client.send_bytes(request).await
    }
}

/// Replaces the HTTP client of every OTLP/HTTP exporter of the process with a new one,
/// dropping the connections a snapshot restore left dead. Returns how many were rebuilt.
/// It blocks while the clients are built (each on a thread of its own): from async code,
/// call it through `spawn_blocking`.
///
/// ```
/// let rebuilt = otel_faas_core::pipeline::reconnect_exporters();
/// # let _ = rebuilt;
/// ```
pub fn reconnect_exporters() -> usize {
    let live: Vec<Arc<dyn Rebuild>> = CLIENTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let mut rebuilt = 0;
    for client in live {
        match client.rebuild() {
            Ok(()) => rebuilt += 1,
            Err(error) => crate::warning::report_once(
                "otel-faas-reconnect",
                &format!("the OTLP client could not be rebuilt; the old one is kept: {error}"),
            ),
        }
    }
    rebuilt
}

/// An async client with the exporter's timeout and TLS settings. Building one needs no
/// runtime; using one needs a tokio runtime, which the task and the exporter thread have.
fn build_async(config: &SignalConfig) -> Result<reqwest::Client, BuildError> {
    let builder = reqwest::Client::builder().timeout(config.timeout);
    #[cfg(feature = "tls")]
    let builder = builder.tls_backend_preconfigured(super::tls::client_config(config)?);
    builder
        .build()
        .map_err(|error| BuildError::HttpClient(error.to_string()))
}

/// A blocking client (the exporters run on the SDK's own threads), built on a thread of
/// its own: reqwest's blocking client owns a runtime, which must not start inside the
/// caller's async context.
#[cfg(feature = "otlp-sdk-http")]
fn build(config: &SignalConfig) -> Result<reqwest::blocking::Client, BuildError> {
    #[cfg(feature = "tls")]
    let tls = super::tls::client_config(config)?;
    let timeout = config.timeout;
    std::thread::spawn(move || {
        let builder = reqwest::blocking::Client::builder().timeout(timeout);
        #[cfg(feature = "tls")]
        let builder = builder.tls_backend_preconfigured(tls);
        builder
            .build()
            .map_err(|error| BuildError::HttpClient(error.to_string()))
    })
    .join()
    .map_err(|_| BuildError::HttpClient("its thread panicked".to_owned()))?
}
