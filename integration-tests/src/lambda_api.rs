//! A local Lambda Runtime API: the HTTP interface Lambda offers a runtime and its
//! extensions, on 127.0.0.1, so that the real `lambda_runtime` crate (in real function
//! binaries) can be driven by tests.
//!
//! It follows the documented lifecycle:
//!
//! * `GET /2018-06-01/runtime/invocation/next` hands the runtime one invocation, with the
//!   `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn` and
//!   `-Trace-Id` headers of that invocation;
//! * `POST …/invocation/{id}/response` and `…/{id}/error` complete it;
//! * `POST /2020-01-01/extension/register` and `GET /2020-01-01/extension/event/next` serve
//!   extensions; an extension subscribed to `INVOKE` receives each invocation, and —
//!   as on Lambda — the next invocation is not handed out until every extension has called
//!   `next` again, so work an extension does after the response is finished before then.
//!
//! `GET /2018-06-01/runtime/restore/next` (SnapStart) answers at once, as if the snapshot
//! had been taken and restored in between.
//!
//! `PUT /2022-07-01/telemetry` is the Telemetry API (see `telemetry_api`): an extension that
//! subscribes during init receives `platform.initStart`, `initRuntimeDone`, `initReport`,
//! `start`, `runtimeDone`, `report` (and `restoreReport` after a restore), delivered only
//! while the environment is thawed, as Lambda does. The report's memory figures are the ones
//! set with [`LocalRuntimeApi::report_memory`] (this stand-in cannot measure the process).
//!
//! With `max_concurrency > 1` it behaves like Lambda Managed Instances: up to that many
//! invocations are handed out at once, and an extension that asks for INVOKE events is
//! refused at registration (`400`, `Extension.InvalidEventType` — the error type is this
//! stand-in's; what matters is that Lambda refuses), so that a function that does not
//! register for SHUTDOWN only fails its init here as it would there.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, oneshot};

use crate::receiver::ReceiverError;
use crate::server::BackgroundServer;
use crate::telemetry_api::{self, Subscription};

/// One invocation to send.
#[derive(Debug, Clone)]
pub struct Invoke {
    /// The event, as JSON.
    pub event: serde_json::Value,
    /// The request id; generated when `None`.
    pub request_id: Option<String>,
    /// Time until the deadline.
    pub timeout: Duration,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub invoked_arn: String,
    /// `Lambda-Runtime-Trace-Id`, if any.
    pub trace_header: Option<String>,
    /// `Lambda-Runtime-Client-Context` (the decoded JSON), if any.
    pub client_context: Option<String>,
}

impl Invoke {
    /// An invocation of `event` with a 10 s timeout and the default ARN.
    pub fn new(event: serde_json::Value) -> Self {
        Self {
            event,
            request_id: None,
            timeout: Duration::from_secs(10),
            invoked_arn: DEFAULT_ARN.to_owned(),
            trace_header: None,
            client_context: None,
        }
    }

    /// Sets the client context, as the JSON the caller's base64 `ClientContext` decodes to.
    #[must_use]
    pub fn client_context(mut self, json: impl Into<String>) -> Self {
        self.client_context = Some(json.into());
        self
    }

    /// Sets the request id.
    #[must_use]
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Sets the time until the deadline.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the invoked ARN.
    #[must_use]
    pub fn invoked_arn(mut self, arn: impl Into<String>) -> Self {
        self.invoked_arn = arn.into();
        self
    }

    /// Sets the Lambda trace header.
    #[must_use]
    pub fn trace_header(mut self, header: impl Into<String>) -> Self {
        self.trace_header = Some(header.into());
        self
    }
}

/// The ARN invocations use unless told otherwise.
pub const DEFAULT_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:otel-faas-test";

/// How an invocation ended, and when each step happened.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The request id.
    pub request_id: String,
    /// The response body, for a success.
    pub response: Option<serde_json::Value>,
    /// The error body, for a failure.
    pub error: Option<serde_json::Value>,
    /// When the runtime received the invocation.
    pub delivered_at: Instant,
    /// When the runtime posted the response or error.
    pub responded_at: Instant,
    /// When every extension had called `next` again (the end of the invocation on Lambda).
    pub completed_at: Instant,
}

struct Active {
    request_id: String,
    delivered_at: Instant,
    outcome: Option<(
        Option<serde_json::Value>,
        Option<serde_json::Value>,
        Instant,
    )>,
    done: Option<oneshot::Sender<Invoked>>,
}

struct Extension {
    events: Vec<String>,
    idle: bool,
    pending: VecDeque<serde_json::Value>,
}

#[derive(Default)]
struct ApiState {
    queue: VecDeque<(Invoke, oneshot::Sender<Invoked>)>,
    active: HashMap<String, Active>,
    extensions: HashMap<String, Extension>,
    next_extension: u64,
    next_request: u64,
    init_errors: Vec<String>,
    runtime_polls: u64,
    restores: u64,
    /// Telemetry API subscriptions, and every platform event so far.
    subscriptions: Vec<Subscription>,
    platform_events: Vec<serde_json::Value>,
    /// When each platform event was produced (its buffering starts then).
    platform_event_times: Vec<Instant>,
    delivery_errors: Vec<String>,
    /// The init phase is over (the runtime asked for work): subscriptions are closed.
    initialized: bool,
    /// The init duration for the cold invocation's report, until it is written.
    cold_init_ms: Option<f64>,
    /// The restore duration for the first report after a restore, until it is written.
    cold_restore_ms: Option<f64>,
    /// (memorySizeMB, maxMemoryUsedMB) for reports.
    report_memory: (u64, u64),
}

impl ApiState {
    fn push_platform_event(&mut self, kind: &str, record: serde_json::Value) {
        self.platform_events
            .push(telemetry_api::event(kind, record));
        self.platform_event_times.push(Instant::now());
    }
}

struct Shared {
    state: Mutex<ApiState>,
    changed: Notify,
    max_concurrency: usize,
    stopping: std::sync::atomic::AtomicBool,
    started: Instant,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, ApiState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Completes every invocation whose response is in and whose extensions are all idle.
    fn complete_finished(&self, state: &mut ApiState) {
        let extensions_idle = state.extensions.values().all(|e| e.idle);
        if !extensions_idle {
            return;
        }
        let finished: Vec<String> = state
            .active
            .iter()
            .filter(|(_, a)| a.outcome.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for id in finished {
            if let Some(mut active) = state.active.remove(&id) {
                let (response, error, responded_at) =
                    active
                        .outcome
                        .take()
                        .unwrap_or((None, None, Instant::now()));
                let duration_ms = active.delivered_at.elapsed().as_secs_f64() * 1000.0;
                let (memory_size, max_memory_used) = state.report_memory;
                let mut metrics = serde_json::json!({
                    "durationMs": (duration_ms * 1000.0).round() / 1000.0,
                    // Lambda bills each started millisecond.
                    "billedDurationMs": duration_ms.ceil().max(1.0) as u64,
                    "memorySizeMB": memory_size,
                    "maxMemoryUsedMB": max_memory_used,
                });
                // After a restore the report has the restore's duration instead of init's
                // (the init ran when the version was published).
                if let Some(restore) = state.cold_restore_ms.take() {
                    metrics["restoreDurationMs"] = serde_json::json!(restore);
                    state.cold_init_ms = None;
                } else if let Some(init) = state.cold_init_ms.take() {
                    metrics["initDurationMs"] = serde_json::json!(init);
                }
                let mut record = serde_json::json!({
                    "requestId": active.request_id,
                    "status": if error.is_some() { "error" } else { "success" },
                    "metrics": metrics,
                });
                if let Some(error_type) = error
                    .as_ref()
                    .and_then(|e| e.get("errorType"))
                    .and_then(|t| t.as_str())
                {
                    record["errorType"] = serde_json::json!(error_type);
                }
                state.push_platform_event("platform.report", record);
                if let Some(done) = active.done.take() {
                    let _ = done.send(Invoked {
                        request_id: active.request_id,
                        response,
                        error,
                        delivered_at: active.delivered_at,
                        responded_at,
                        completed_at: Instant::now(),
                    });
                }
            }
        }
        self.changed.notify_waiters();
    }
}

/// A running local Runtime API. Dropping it stops the server.
pub struct LocalRuntimeApi {
    shared: Arc<Shared>,
    // Dropped after `Drop::drop` released the long-polls: that stops the server.
    server: BackgroundServer,
}

impl LocalRuntimeApi {
    /// Starts the API on an ephemeral port of 127.0.0.1, handing out one invocation at a
    /// time, as classic Lambda does.
    pub fn start() -> Result<Self, ReceiverError> {
        Self::start_with_concurrency(1)
    }

    /// Starts the API handing out up to `max_concurrency` invocations at once, as Lambda
    /// Managed Instances do.
    pub fn start_with_concurrency(max_concurrency: usize) -> Result<Self, ReceiverError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(ApiState::default()),
            changed: Notify::new(),
            max_concurrency: max_concurrency.max(1),
            stopping: std::sync::atomic::AtomicBool::new(false),
            started: Instant::now(),
        });
        shared.state().report_memory = (128, 64);
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(runtime_next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(runtime_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(runtime_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/2018-06-01/runtime/restore/next", get(restore_next))
            .route("/2018-06-01/runtime/restore/error", post(init_error))
            .route("/2020-01-01/extension/register", post(extension_register))
            .route("/2020-01-01/extension/event/next", get(extension_next))
            .route(
                "/2022-07-01/telemetry",
                axum::routing::put(telemetry_subscribe),
            )
            .with_state(Arc::clone(&shared));
        let server = BackgroundServer::start("lambda-runtime-api", 2, app)?;
        Ok(Self { shared, server })
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// Queues an invocation and waits until Lambda would consider it finished (response in,
    /// every extension back at `next`), or `timeout`.
    pub async fn invoke(
        &self,
        invoke: Invoke,
        timeout: Duration,
    ) -> Result<Invoked, ReceiverError> {
        let (done, finished) = oneshot::channel();
        {
            let mut state = self.shared.state();
            state.queue.push_back((invoke, done));
        }
        self.shared.changed.notify_waiters();
        match tokio::time::timeout(timeout, finished).await {
            Ok(Ok(invoked)) => Ok(invoked),
            _ => {
                // One lock: taking it twice in one expression deadlocked here, so a function
                // that never polled hung the test instead of failing it.
                let state = self.shared.state();
                Err(ReceiverError::Timeout {
                    timeout,
                    received: format!(
                        "the invocation did not complete; init errors: {:?}; runtime polls: {}",
                        state.init_errors, state.runtime_polls
                    ),
                })
            }
        }
    }

    /// How many times a runtime asked to be restored (SnapStart's `restore/next`).
    pub fn restores(&self) -> u64 {
        self.shared.state().restores
    }

    /// The memory figures of the `platform.report` events: `memorySizeMB` and
    /// `maxMemoryUsedMB` (128 and 64 unless set).
    pub fn report_memory(&self, memory_size_mb: u64, max_memory_used_mb: u64) {
        self.shared.state().report_memory = (memory_size_mb, max_memory_used_mb);
    }

    /// Every platform event the Telemetry API has produced so far, delivered or not.
    pub fn platform_events(&self) -> Vec<serde_json::Value> {
        self.shared.state().platform_events.clone()
    }

    /// How many platform events each subscription has been sent.
    pub fn delivered_events(&self) -> Vec<usize> {
        self.shared
            .state()
            .subscriptions
            .iter()
            .map(|s| s.delivered)
            .collect()
    }

    /// Why deliveries to subscribers failed, if any did.
    pub fn delivery_errors(&self) -> Vec<String> {
        self.shared.state().delivery_errors.clone()
    }

    /// How many extensions registered.
    pub fn extension_count(&self) -> usize {
        self.shared.state().extensions.len()
    }

    /// The events each registered extension subscribed to.
    pub fn extension_events(&self) -> Vec<Vec<String>> {
        self.shared
            .state()
            .extensions
            .values()
            .map(|extension| extension.events.clone())
            .collect()
    }

    /// Waits until the runtime has asked for work at least once (its init phase is over).
    pub async fn wait_until_polled(&self, timeout: Duration) -> bool {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            if self.shared.state().runtime_polls > 0 {
                return true;
            }
            if tokio::time::timeout_at(until, changed).await.is_err() {
                return self.shared.state().runtime_polls > 0;
            }
        }
    }
}

impl Drop for LocalRuntimeApi {
    fn drop(&mut self) {
        // Release every long-poll first: a graceful shutdown waits for requests in flight.
        self.shared
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.changed.notify_waiters();
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn stopping(shared: &Shared) -> bool {
    shared.stopping.load(std::sync::atomic::Ordering::SeqCst)
}

async fn runtime_next(State(shared): State<Arc<Shared>>) -> Response {
    {
        let mut state = shared.state();
        state.runtime_polls += 1;
        if !state.initialized {
            // The runtime's first `next` ends the init phase.
            state.initialized = true;
            let init_ms = shared.started.elapsed().as_secs_f64() * 1000.0;
            let init_ms = (init_ms * 1000.0).round() / 1000.0;
            state.cold_init_ms = Some(init_ms);
            for (kind, record) in [
                (
                    "platform.initStart",
                    serde_json::json!({"initializationType": "on-demand", "phase": "init"}),
                ),
                (
                    "platform.initRuntimeDone",
                    serde_json::json!({"initializationType": "on-demand", "phase": "init", "status": "success"}),
                ),
                (
                    "platform.initReport",
                    serde_json::json!({"initializationType": "on-demand", "phase": "init", "status": "success", "metrics": {"durationMs": init_ms}}),
                ),
            ] {
                state.push_platform_event(kind, record);
            }
        }
    }
    shared.changed.notify_waiters();
    loop {
        let changed = shared.changed.notified();
        if stopping(&shared) {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        {
            let mut state = shared.state();
            let ready = state.extensions.values().all(|e| e.idle) || shared.max_concurrency > 1;
            if ready
                && state.active.len() < shared.max_concurrency
                && let Some((invoke, done)) = state.queue.pop_front()
            {
                {
                    state.next_request += 1;
                    let request_id = invoke
                        .request_id
                        .clone()
                        .unwrap_or_else(|| format!("req-{:06}", state.next_request));
                    let deadline_ms = now_ms()
                        + u64::try_from(invoke.timeout.as_millis()).unwrap_or(u64::MAX / 2);
                    let invoke_event = serde_json::json!({
                        "eventType": "INVOKE",
                        "deadlineMs": deadline_ms,
                        "requestId": request_id,
                        "invokedFunctionArn": invoke.invoked_arn,
                        "tracing": {"type": "X-Amzn-Trace-Id", "value": invoke.trace_header.clone().unwrap_or_default()},
                    });
                    for extension in state.extensions.values_mut() {
                        if extension.events.iter().any(|e| e == "INVOKE") {
                            extension.pending.push_back(invoke_event.clone());
                            extension.idle = false;
                        }
                    }
                    let mut headers = HeaderMap::new();
                    let mut set = |name: &'static str, value: &str| {
                        if let Ok(value) = HeaderValue::from_str(value) {
                            headers.insert(name, value);
                        }
                    };
                    set("lambda-runtime-aws-request-id", &request_id);
                    set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
                    set("lambda-runtime-invoked-function-arn", &invoke.invoked_arn);
                    if let Some(trace) = &invoke.trace_header {
                        set("lambda-runtime-trace-id", trace);
                    }
                    if let Some(client_context) = &invoke.client_context {
                        set("lambda-runtime-client-context", client_context);
                    }
                    let body = invoke.event.to_string();
                    state.push_platform_event(
                        "platform.start",
                        serde_json::json!({"requestId": request_id, "version": "$LATEST"}),
                    );
                    state.active.insert(
                        request_id.clone(),
                        Active {
                            request_id,
                            delivered_at: Instant::now(),
                            outcome: None,
                            done: Some(done),
                        },
                    );
                    drop(state);
                    shared.changed.notify_waiters();
                    return (StatusCode::OK, headers, body).into_response();
                }
            }
        }
        changed.await;
    }
}

fn record_outcome(
    shared: &Shared,
    id: &str,
    response: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
) -> StatusCode {
    let mut state = shared.state();
    let Some(active) = state.active.get_mut(id) else {
        return StatusCode::BAD_REQUEST;
    };
    let status = if error.is_some() { "error" } else { "success" };
    let duration_ms = active.delivered_at.elapsed().as_secs_f64() * 1000.0;
    active.outcome = Some((response, error, Instant::now()));
    state.push_platform_event(
        "platform.runtimeDone",
        serde_json::json!({"requestId": id, "status": status, "metrics": {"durationMs": duration_ms}}),
    );
    shared.complete_finished(&mut state);
    drop(state);
    shared.changed.notify_waiters();
    StatusCode::ACCEPTED
}

fn json_or_text(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn runtime_response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    record_outcome(&shared, &id, Some(json_or_text(&body)), None)
}

async fn runtime_error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    record_outcome(&shared, &id, None, Some(json_or_text(&body)))
}

/// SnapStart's `restore/next`: the runtime calls it once its init is done and is answered
/// when the environment has been restored — here at once, as if the snapshot had been
/// taken and restored in between.
/// How long a restore takes here, as the Telemetry API reports it.
pub const RESTORE_MS: f64 = 0.5;

async fn restore_next(State(shared): State<Arc<Shared>>) -> StatusCode {
    let mut state = shared.state();
    state.restores += 1;
    state.cold_restore_ms = Some(RESTORE_MS);
    for (kind, record) in [
        ("platform.restoreStart", serde_json::json!({})),
        (
            "platform.restoreRuntimeDone",
            serde_json::json!({"status": "success"}),
        ),
        (
            "platform.restoreReport",
            serde_json::json!({"status": "success", "metrics": {"durationMs": RESTORE_MS}}),
        ),
    ] {
        state.push_platform_event(kind, record);
    }
    StatusCode::OK
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    shared
        .state()
        .init_errors
        .push(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

async fn extension_register(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let events: Vec<String> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("events").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    if shared.max_concurrency > 1 && events.iter().any(|event| event == "INVOKE") {
        let body = serde_json::json!({
            "errorType": "Extension.InvalidEventType",
            "errorMessage": "INVOKE events are not supported on Lambda Managed Instances; subscribe to SHUTDOWN",
        });
        return (StatusCode::BAD_REQUEST, body.to_string()).into_response();
    }
    let name = headers
        .get("lambda-extension-name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unnamed")
        .to_owned();
    let id = {
        let mut state = shared.state();
        state.next_extension += 1;
        let id = format!("{name}-{}", state.next_extension);
        state.extensions.insert(
            id.clone(),
            Extension {
                events,
                // Until it first calls `next`, an extension is still initialising.
                idle: false,
                pending: VecDeque::new(),
            },
        );
        id
    };
    let mut response_headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response_headers.insert("lambda-extension-identifier", value);
    }
    let body = serde_json::json!({
        "functionName": "otel-faas-test",
        "functionVersion": "$LATEST",
        "handler": "bootstrap",
        "accountId": "123456789012",
    });
    (StatusCode::OK, response_headers, body.to_string()).into_response()
}

async fn extension_next(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(id) = headers
        .get("lambda-extension-identifier")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return StatusCode::FORBIDDEN.into_response();
    };
    {
        let mut state = shared.state();
        let Some(extension) = state.extensions.get_mut(&id) else {
            return StatusCode::FORBIDDEN.into_response();
        };
        if extension.pending.is_empty() {
            extension.idle = true;
        }
        shared.complete_finished(&mut state);
    }
    shared.changed.notify_waiters();
    loop {
        let changed = shared.changed.notified();
        if stopping(&shared) {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        {
            let mut state = shared.state();
            let Some(extension) = state.extensions.get_mut(&id) else {
                return StatusCode::FORBIDDEN.into_response();
            };
            if let Some(event) = extension.pending.pop_front() {
                extension.idle = false;
                return (StatusCode::OK, event.to_string()).into_response();
            }
        }
        changed.await;
    }
}

/// `PUT /2022-07-01/telemetry`: subscribes a registered extension, during init only.
async fn telemetry_subscribe(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error = |status: StatusCode, kind: &str, message: &str| {
        let body = serde_json::json!({"errorType": kind, "errorMessage": message});
        (status, body.to_string()).into_response()
    };
    let id = headers
        .get("lambda-extension-identifier")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut state = shared.state();
    if !id.is_some_and(|id| state.extensions.contains_key(&id)) {
        return error(
            StatusCode::FORBIDDEN,
            "Extension.UnknownExtensionIdentifier",
            "Lambda-Extension-Identifier is not a registered extension",
        );
    }
    if state.initialized {
        return error(
            StatusCode::FORBIDDEN,
            "Telemetry.SubscriptionClosed",
            "Telemetry API subscription is closed already",
        );
    }
    let subscription = match telemetry_api::parse_subscription(&body) {
        Ok(subscription) => subscription,
        Err(message) => return error(StatusCode::BAD_REQUEST, "ValidationError", &message),
    };
    let index = state.subscriptions.len();
    state.subscriptions.push(subscription);
    drop(state);
    tokio::spawn(deliver_events(Arc::clone(&shared), index));
    (StatusCode::OK, "\"OK\"").into_response()
}

/// Whether Lambda would run the environment now: during init, while an invocation is in
/// progress, or while it stops. Between invocations it is frozen.
fn thawed(shared: &Shared, state: &ApiState) -> bool {
    !state.initialized || !state.active.is_empty() || stopping(shared)
}

/// Sends subscription `index` its platform events in batches of at most its `maxItems`,
/// once the oldest undelivered event has waited its `timeoutMs` (time runs on while the
/// environment is frozen, as Lambda buffers outside it), and only while the environment is
/// thawed.
async fn deliver_events(shared: Arc<Shared>, index: usize) {
    loop {
        let changed = shared.changed.notified();
        if stopping(&shared) {
            return;
        }
        let due = {
            let state = shared.state();
            let subscription = &state.subscriptions[index];
            let platform = subscription.types.iter().any(|t| t == "platform");
            let oldest = state.platform_event_times.get(subscription.delivered);
            match oldest {
                Some(oldest) if platform && thawed(&shared, &state) => {
                    let pending = state.platform_events.len() - subscription.delivered;
                    if pending >= subscription.max_items {
                        Some(Duration::ZERO)
                    } else {
                        Some(
                            (*oldest + subscription.timeout)
                                .saturating_duration_since(Instant::now()),
                        )
                    }
                }
                _ => None,
            }
        };
        let Some(wait) = due else {
            changed.await;
            continue;
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            continue;
        }
        let (port, events) = {
            let state = shared.state();
            let subscription = &state.subscriptions[index];
            let end = state
                .platform_events
                .len()
                .min(subscription.delivered + subscription.max_items);
            (
                subscription.port,
                state.platform_events[subscription.delivered..end].to_vec(),
            )
        };
        match telemetry_api::deliver(port, &events).await {
            Ok(()) => {
                shared.state().subscriptions[index].delivered += events.len();
                shared.changed.notify_waiters();
            }
            Err(error) => {
                shared.state().delivery_errors.push(error);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
