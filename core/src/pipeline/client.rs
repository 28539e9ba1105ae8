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

#[cfg(feature = "exporter-client")]
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

#[cfg(feature = "exporter-client")]
struct Inner {
    current: RwLock<reqwest::blocking::Client>,
    config: SignalConfig,
    /// Signs each request just before it is sent, over the bytes sent.
    signer: Option<Arc<dyn super::RequestSigner>>,
}

/// An exporter's HTTP client; see the module documentation.
#[cfg(feature = "exporter-client")]
#[derive(Clone)]
pub(crate) struct ReconnectingClient(Arc<Inner>);

#[cfg(feature = "exporter-client")]
impl fmt::Debug for ReconnectingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconnectingClient")
            .field("endpoint", &self.0.config.endpoint)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "exporter-client")]
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

#[cfg(feature = "exporter-client")]
impl Rebuild for Inner {
    fn rebuild(&self) -> Result<(), BuildError> {
        let client = build(&self.config)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = client;
        Ok(())
    }
}

thread_local! {
    static ON_EXPORTER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as an export path's exporter thread (for [`AsyncClients::get`]).
pub(crate) fn mark_exporter_thread() {
    ON_EXPORTER_THREAD.with(|flag| flag.set(true));
}

/// Whether the calling thread is an exporter thread.
pub(crate) fn on_exporter_thread() -> bool {
    ON_EXPORTER_THREAD.with(std::cell::Cell::get)
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

#[cfg(feature = "exporter-client")]
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
#[cfg(feature = "exporter-client")]
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

/// Why an [`ExporterClient`] could not be built (a TLS file that cannot be read, for
/// instance); the message says which.
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::{ExporterClient, PipelineConfig, Signal};
///
/// let config = PipelineConfig::from_env(&MapEnvironment::from([
///     ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
/// ]));
/// let error = ExporterClient::new(Signal::Logs, &config.logs).unwrap_err();
/// assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
/// ```
#[cfg(feature = "exporter-client")]
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ExporterClientError(#[from] BuildError);

/// The HTTP client for a destination whose exporter sends HTTP itself, through
/// `opentelemetry_http::HttpClient` (a vendor's exporter crate): built from the signal's
/// settings — `OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT`, the CA file and client certificate of
/// `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE` and companions, the webpki roots — and sending
/// the way the signal's export path needs: for spans, async on the invocation's task or
/// the exporter thread (each with its own pool, as the OTLP path does); for metrics and
/// logs, blocking on the SDK's own threads, which have no runtime. It is rebuilt by
/// [`reconnect_exporters`] after a snapshot restore, like the OTLP clients.
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::{ExporterClient, PipelineConfig, Signal};
///
/// let config = PipelineConfig::from_env(&MapEnvironment::default());
/// let client = ExporterClient::new(Signal::Traces, &config.traces).unwrap();
/// # drop(client);
/// ```
#[cfg(feature = "exporter-client")]
#[derive(Clone)]
pub struct ExporterClient(ClientFor);

#[cfg(feature = "exporter-client")]
#[derive(Clone)]
enum ClientFor {
    Spans(Arc<AsyncClients>),
    SdkThreads(ReconnectingClient),
}

#[cfg(feature = "exporter-client")]
impl fmt::Debug for ExporterClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ClientFor::Spans(clients) => f.debug_tuple("ExporterClient").field(clients).finish(),
            ClientFor::SdkThreads(client) => f.debug_tuple("ExporterClient").field(client).finish(),
        }
    }
}

#[cfg(feature = "exporter-client")]
impl ExporterClient {
    /// The client for `signal`'s exporter, with `settings`' timeout and TLS files.
    pub fn new(
        signal: super::Signal,
        settings: &SignalConfig,
    ) -> Result<Self, ExporterClientError> {
        Ok(Self(match signal {
            super::Signal::Traces => ClientFor::Spans(AsyncClients::new(settings)?),
            _ => ClientFor::SdkThreads(ReconnectingClient::new(settings, None)?),
        }))
    }
}

#[cfg(feature = "exporter-client")]
#[async_trait::async_trait]
impl HttpClient for ExporterClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        match &self.0 {
            ClientFor::Spans(clients) => {
                let client = clients.get(on_exporter_thread());
                client.send_bytes(request).await
            }
            ClientFor::SdkThreads(client) => client.send_bytes(request).await,
        }
    }
}
