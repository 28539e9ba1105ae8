//! An OTLP receiver on 127.0.0.1 — HTTP (protobuf and JSON) and gRPC — for tests and the
//! demo.
//!
//! It runs on its own thread with its own tokio runtime, so it keeps answering even when
//! the code under test stalls its executor — which is exactly what some tests check.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::sync::{Notify, oneshot};

use crate::signals::{ReceivedLog, ReceivedMetric, ReceivedRequest};
use crate::span::{ReceivedSpan, decode_attributes};

/// Why the receiver could not start or a wait failed.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// Binding or starting the server failed.
    #[error("the OTLP receiver could not start: {0}")]
    Start(String),
    /// The expected spans did not arrive in time.
    #[error("timed out after {timeout:?} waiting for spans; received so far:\n{received}")]
    Timeout {
        /// How long the wait lasted.
        timeout: Duration,
        /// The names of what did arrive.
        received: String,
    },
}

#[derive(Default)]
struct Shared {
    spans: Mutex<Vec<ReceivedSpan>>,
    metrics: Mutex<Vec<ReceivedMetric>>,
    logs: Mutex<Vec<ReceivedLog>>,
    requests: Mutex<Vec<ReceivedRequest>>,
    arrived: Notify,
    delay: Mutex<Duration>,
    /// The `authorization` value every HTTP export must carry, when set.
    authorization: Mutex<Option<String>>,
}

impl Shared {
    fn spans(&self) -> MutexGuard<'_, Vec<ReceivedSpan>> {
        self.spans.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running receiver. Dropping it stops the server.
pub struct OtlpReceiver {
    https: bool,
    address: SocketAddr,
    grpc_address: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Starts a receiver on an ephemeral port of 127.0.0.1.
    pub fn start() -> Result<Self, ReceiverError> {
        Self::start_with(None)
    }

    /// Starts a receiver that speaks HTTPS on its OTLP/HTTP port, with `certificate` (see
    /// [`TestCertificate`](crate::TestCertificate)).
    pub fn start_tls(certificate: &crate::TestCertificate) -> Result<Self, ReceiverError> {
        let acceptor = certificate.acceptor(None).map_err(ReceiverError::Start)?;
        let (cert, key) = certificate.pem();
        let grpc = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert, key));
        Self::start_with(Some((acceptor, grpc)))
    }

    /// Like [`start_tls`](Self::start_tls), and only clients that present `client` are
    /// served (mutual TLS).
    pub fn start_mutual_tls(
        certificate: &crate::TestCertificate,
        client: &crate::TestCertificate,
    ) -> Result<Self, ReceiverError> {
        let acceptor = certificate
            .acceptor(Some(client))
            .map_err(ReceiverError::Start)?;
        let (cert, key) = certificate.pem();
        let grpc = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert, key))
            .client_ca_root(tonic::transport::Certificate::from_pem(client.pem().0));
        Self::start_with(Some((acceptor, grpc)))
    }

    fn start_with(
        tls: Option<(tokio_rustls::TlsAcceptor, tonic::transport::ServerTlsConfig)>,
    ) -> Result<Self, ReceiverError> {
        let https = tls.is_some();
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let bound = async {
                        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                        std::io::Result::Ok((http, grpc))
                    };
                    let (http, grpc) = match bound.await {
                        Ok(listeners) => listeners,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error.to_string()));
                            return;
                        }
                    };
                    let addresses = http
                        .local_addr()
                        .and_then(|h| Ok((h, grpc.local_addr()?)))
                        .map_err(|e| e.to_string());
                    let _ = ready_tx.send(addresses);
                    let (stop_grpc_tx, stop_grpc_rx) = oneshot::channel::<()>();
                    let mut grpc_builder = tonic::transport::Server::builder();
                    let (tls, grpc_tls) = match tls {
                        Some((acceptor, grpc_tls)) => (Some(acceptor), Some(grpc_tls)),
                        None => (None, None),
                    };
                    if let Some(grpc_tls) = grpc_tls {
                        grpc_builder = match grpc_builder.tls_config(grpc_tls) {
                            Ok(builder) => builder,
                            Err(error) => {
                                eprintln!("the gRPC receiver's TLS set-up failed: {error}");
                                return;
                            }
                        };
                    }
                    let grpc_server = grpc_builder
                        .add_service(TraceServiceServer::new(GrpcSink(Arc::clone(&state))))
                        .add_service(MetricsServiceServer::new(GrpcSink(Arc::clone(&state))))
                        .add_service(LogsServiceServer::new(GrpcSink(Arc::clone(&state))))
                        .serve_with_incoming_shutdown(
                            tonic::transport::server::TcpIncoming::from(grpc),
                            async {
                                let _ = stop_grpc_rx.await;
                            },
                        );
                    let app = Router::new()
                        .route("/v1/traces", post(export))
                        .route("/v1/metrics", post(export_metrics))
                        .route("/v1/logs", post(export_logs))
                        .with_state(state);
                    match tls {
                        None => {
                            let http_server =
                                axum::serve(http, app).with_graceful_shutdown(async {
                                    let _ = stop_rx.await;
                                    let _ = stop_grpc_tx.send(());
                                });
                            let _ = tokio::join!(http_server, grpc_server);
                        }
                        Some(acceptor) => {
                            let https_server =
                                crate::tls::serve_https(http, acceptor, app, async {
                                    let _ = stop_rx.await;
                                    let _ = stop_grpc_tx.send(());
                                });
                            let _ = tokio::join!(https_server, grpc_server);
                        }
                    }
                });
            })
            .map_err(|error| ReceiverError::Start(error.to_string()))?;
        let (address, grpc_address) = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|error| ReceiverError::Start(error.to_string()))?
            .map_err(ReceiverError::Start)?;
        Ok(Self {
            https,
            address,
            grpc_address,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The HTTP listener's address.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT` (`https://localhost:…` for a TLS
    /// receiver, the name its certificate is for).
    pub fn endpoint(&self) -> String {
        if self.https {
            format!("https://localhost:{}", self.address.port())
        } else {
            format!("http://{}", self.address)
        }
    }

    /// The OTLP/gRPC URL, for `OTEL_EXPORTER_OTLP_ENDPOINT` with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`.
    pub fn grpc_endpoint(&self) -> String {
        if self.https {
            format!("https://localhost:{}", self.grpc_address.port())
        } else {
            format!("http://{}", self.grpc_address)
        }
    }

    /// The full traces URL, for `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub fn traces_endpoint(&self) -> String {
        format!("http://{}/v1/traces", self.address)
    }

    /// Refuses every HTTP export (`401`, as Google's and most vendors' endpoints answer)
    /// whose `authorization` header is not `value`; `None` accepts all again.
    pub fn require_authorization(&self, value: Option<&str>) {
        *self
            .shared
            .authorization
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = value.map(str::to_owned);
    }

    /// Makes every export request wait `delay` before it is answered: a slow collector.
    pub fn set_response_delay(&self, delay: Duration) {
        *self
            .shared
            .delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = delay;
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.shared.spans().clone()
    }

    /// The content types of the export requests received so far.
    pub fn request_content_types(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .map(|request| request.content_type)
            .collect()
    }

    /// Every export request received so far: path, content type and encoding, headers.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every metric received so far, one entry per metric per export.
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.shared
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every log record received so far.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        self.shared
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `done` holds for what has been received (of any signal).
    pub async fn wait_for<F>(&self, timeout: Duration, mut done: F) -> Result<(), ReceiverError>
    where
        F: FnMut(&Self) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            if done(self) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let received = format!(
                    "  {} span(s), {} metric(s), {} log record(s), requests: {:?}",
                    self.spans().len(),
                    self.metrics().len(),
                    self.logs().len(),
                    self.requests()
                        .iter()
                        .map(|r| r.path.as_str())
                        .collect::<Vec<_>>()
                );
                return Err(ReceiverError::Timeout { timeout, received });
            }
        }
    }

    /// Waits until `done` holds for the spans received, then returns them all.
    pub async fn wait_until<F>(
        &self,
        timeout: Duration,
        mut done: F,
    ) -> Result<Vec<ReceivedSpan>, ReceiverError>
    where
        F: FnMut(&[ReceivedSpan]) -> bool,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            {
                let spans = self.shared.spans();
                if done(&spans) {
                    return Ok(spans.clone());
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let received = self
                    .spans()
                    .iter()
                    .map(|s| {
                        format!(
                            "  {} (trace {}, parent {:?})",
                            s.name, s.trace_id, s.parent_span_id
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(ReceiverError::Timeout { timeout, received });
            }
        }
    }

    /// Waits until at least `count` spans have arrived.
    pub async fn wait_for_spans(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedSpan>, ReceiverError> {
        self.wait_until(timeout, |spans| spans.len() >= count).await
    }

    /// Waits for the first span named `name`.
    pub async fn wait_for_span(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<ReceivedSpan, ReceiverError> {
        self.wait_for_span_where(timeout, |s| s.name == name).await
    }

    /// Waits for the first span for which `found` holds.
    pub async fn wait_for_span_where(
        &self,
        timeout: Duration,
        found: impl Fn(&ReceivedSpan) -> bool,
    ) -> Result<ReceivedSpan, ReceiverError> {
        let spans = self
            .wait_until(timeout, |spans| spans.iter().any(&found))
            .await?;
        spans
            .into_iter()
            .find(|s| found(s))
            .ok_or_else(|| ReceiverError::Timeout {
                timeout,
                received: String::new(),
            })
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Decodes an export request body, protobuf or JSON, gzip-compressed or not.
fn decode_request<T>(headers: &HeaderMap, body: &[u8]) -> Result<(T, bool), String>
where
    T: Message + Default + serde::de::DeserializeOwned,
{
    let inflated;
    let body = if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
    {
        use std::io::Read as _;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .map_err(|e| format!("gzip: {e}"))?;
        inflated = out;
        inflated.as_slice()
    } else {
        body
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let request = if json {
        serde_json::from_slice::<T>(body).map_err(|e| e.to_string())?
    } else {
        T::decode(body).map_err(|e| e.to_string())?
    };
    Ok((request, json))
}

/// Answers an export in the encoding it came in.
fn answer<T: Message + serde::Serialize>(response: T, json: bool) -> Response {
    if json {
        let body = serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec());
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response()
    }
}

fn note_request(shared: &Shared, path: &str, headers: &HeaderMap) {
    shared
        .requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(ReceivedRequest::new(path, headers));
}

/// `401` when the receiver requires an `authorization` value the request does not carry.
fn unauthorized(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let required = shared
        .authorization
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()?;
    let given = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    (given != Some(required.as_str()))
        .then(|| (StatusCode::UNAUTHORIZED, "missing or invalid credentials").into_response())
}

async fn export(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let received_at = Instant::now();
    note_request(&shared, "/v1/traces", &headers);
    if let Some(refused) = unauthorized(&shared, &headers) {
        return refused;
    }
    let (request, json) = match decode_request::<ExportTraceServiceRequest>(&headers, &body) {
        Ok(decoded) => decoded,
        Err(error) => return (StatusCode::BAD_REQUEST, error).into_response(),
    };
    record(&shared, &request, received_at).await;
    answer(ExportTraceServiceResponse::default(), json)
}

async fn export_metrics(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    note_request(&shared, "/v1/metrics", &headers);
    if let Some(refused) = unauthorized(&shared, &headers) {
        return refused;
    }
    let (request, json) = match decode_request::<ExportMetricsServiceRequest>(&headers, &body) {
        Ok(decoded) => decoded,
        Err(error) => return (StatusCode::BAD_REQUEST, error).into_response(),
    };
    shared
        .metrics
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(ReceivedMetric::decode_all(&request));
    shared.arrived.notify_waiters();
    answer(ExportMetricsServiceResponse::default(), json)
}

async fn export_logs(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    note_request(&shared, "/v1/logs", &headers);
    if let Some(refused) = unauthorized(&shared, &headers) {
        return refused;
    }
    let (request, json) = match decode_request::<ExportLogsServiceRequest>(&headers, &body) {
        Ok(decoded) => decoded,
        Err(error) => return (StatusCode::BAD_REQUEST, error).into_response(),
    };
    shared
        .logs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(ReceivedLog::decode_all(&request));
    shared.arrived.notify_waiters();
    answer(ExportLogsServiceResponse::default(), json)
}

/// Stores the spans of one export request, after the configured delay.
async fn record(shared: &Shared, request: &ExportTraceServiceRequest, received_at: Instant) {
    let delay = *shared.delay.lock().unwrap_or_else(PoisonError::into_inner);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    shared.spans().extend(decode_spans(request, received_at));
    shared.arrived.notify_waiters();
}

/// The spans of one export request.
pub(crate) fn decode_spans(
    request: &ExportTraceServiceRequest,
    received_at: Instant,
) -> Vec<ReceivedSpan> {
    let mut spans = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map(|r| decode_attributes(&r.attributes))
            .unwrap_or_default();
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_spans
                .scope
                .as_ref()
                .map(|s| s.name.as_str())
                .unwrap_or_default();
            for span in &scope_spans.spans {
                spans.push(ReceivedSpan::decode(span, &resource, scope, received_at));
            }
        }
    }
    spans
}

/// The OTLP/gRPC services (traces, metrics, logs), feeding the same store as the HTTP
/// endpoints.
struct GrpcSink(Arc<Shared>);

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ReceivedRequest::grpc(
                "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                request.metadata(),
            ));
        self.0
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(ReceivedMetric::decode_all(request.get_ref()));
        self.0.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ReceivedRequest::grpc(
                "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                request.metadata(),
            ));
        self.0
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(ReceivedLog::decode_all(request.get_ref()));
        self.0.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let received_at = Instant::now();
        self.0
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ReceivedRequest::grpc(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request.metadata(),
            ));
        record(&self.0, request.get_ref(), received_at).await;
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}
