//! A stand-in for the X-Ray daemon's sampling proxy (`POST /GetSamplingRules`, `POST
//! /SamplingTargets`), serving documents the test chooses (the official samples in
//! `integration-tests/fixtures/xray/sampling`), keeping every request, and able to stop
//! answering.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use crate::ReceiverError;
use crate::server::BackgroundServer;

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct SamplingRequest {
    /// `GetSamplingRules` or `GetSamplingTargets` (the API's operation names).
    pub operation: &'static str,
    /// The JSON body.
    pub body: Value,
}

#[derive(Default)]
struct Served {
    rules: Mutex<Value>,
    targets: Mutex<Value>,
    requests: Mutex<Vec<SamplingRequest>>,
    failing: AtomicBool,
}

/// The stand-in; stops when dropped.
pub struct FakeXraySampling {
    served: Arc<Served>,
    server: BackgroundServer,
}

/// An official sampling document of `integration-tests/fixtures/xray/sampling`.
pub fn xray_sampling_fixture(file: &str) -> Value {
    let path = crate::workspace_root()
        .join("integration-tests/fixtures/xray/sampling")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl FakeXraySampling {
    /// Starts it on an ephemeral port of 127.0.0.1, answering `rules` and `targets`.
    pub fn start(rules: Value, targets: Value) -> Result<Self, ReceiverError> {
        let served = Arc::new(Served {
            rules: Mutex::new(rules),
            targets: Mutex::new(targets),
            ..Served::default()
        });
        let app = Router::new()
            .route("/GetSamplingRules", post(get_rules))
            .route("/SamplingTargets", post(get_targets))
            .with_state(Arc::clone(&served));
        let server = BackgroundServer::start("fake-xray-sampling", 1, app)?;
        Ok(Self { served, server })
    }

    /// `http://127.0.0.1:port`, for `OTEL_TRACES_SAMPLER_ARG=endpoint=…`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.address())
    }

    /// Answers `rules` from now on.
    pub fn set_rules(&self, rules: Value) {
        *lock(&self.served.rules) = rules;
    }

    /// Answers `targets` from now on.
    pub fn set_targets(&self, targets: Value) {
        *lock(&self.served.targets) = targets;
    }

    /// Answers 500 to everything from now on (or again as usual).
    pub fn set_failing(&self, failing: bool) {
        self.served.failing.store(failing, Ordering::SeqCst);
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<SamplingRequest> {
        lock(&self.served.requests).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn answer(
    served: &Served,
    operation: &'static str,
    body: &Bytes,
    document: &Mutex<Value>,
) -> Response {
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    lock(&served.requests).push(SamplingRequest { operation, body });
    if served.failing.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the daemon is failing").into_response();
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        lock(document).to_string(),
    )
        .into_response()
}

async fn get_rules(State(served): State<Arc<Served>>, body: Bytes) -> Response {
    answer(&served, "GetSamplingRules", &body, &served.rules)
}

async fn get_targets(State(served): State<Arc<Served>>, body: Bytes) -> Response {
    answer(&served, "GetSamplingTargets", &body, &served.targets)
}
