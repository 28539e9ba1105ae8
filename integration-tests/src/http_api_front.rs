//! A local front that plays API Gateway's HTTP API (or a Lambda function URL, whose events
//! have the same shape) for a function polling a [`LocalRuntimeApi`]: each HTTP request
//! becomes the official payload 2.0 event — the official sample
//! (`example-apigw-v2-request-no-authorizer.json`) with this request's method, path, query,
//! headers and body — and the function's response becomes the HTTP response.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::front_log::{FrontLog, FrontRequest, set_headers};
use crate::server::BackgroundServer;
use crate::{Invoke, LocalRuntimeApi, ReceiverError, workspace_root};

struct Shared {
    runtime: LocalRuntimeApi,
    template: Value,
    arn: String,
    received: FrontLog,
    next_id: AtomicU64,
}

/// The front; stops when dropped (the runtime API with it).
pub struct HttpApiFront {
    shared: Arc<Shared>,
    server: BackgroundServer,
}

impl std::fmt::Debug for HttpApiFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApiFront")
            .field("address", &self.server.address())
            .finish_non_exhaustive()
    }
}

impl HttpApiFront {
    /// A front for the function of `runtime`, invoked as `function_arn`.
    pub fn start(runtime: LocalRuntimeApi, function_arn: &str) -> Result<Self, ReceiverError> {
        let sample = workspace_root().join(
            "../shared/fixtures/aws-lambda-events/example-apigw-v2-request-no-authorizer.json",
        );
        let template: Value = std::fs::read(&sample)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .map_err(|e| ReceiverError::Start(format!("{}: {e}", sample.display())))?;
        let shared = Arc::new(Shared {
            runtime,
            template,
            arn: function_arn.to_owned(),
            received: FrontLog::default(),
            next_id: AtomicU64::new(1),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let server = BackgroundServer::start("http-api-front", 2, app)?;
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.address())
    }

    /// The runtime API the function polls, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        self.shared.runtime.address()
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<FrontRequest> {
        self.shared.received.all()
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let flat = shared.received.record(&method, &uri, &headers);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut event = shared.template.clone();
    event["rawPath"] = json!(uri.path());
    event["rawQueryString"] = json!(uri.query().unwrap_or(""));
    event["headers"] = json!(flat);
    event["requestContext"]["http"]["method"] = json!(method.as_str());
    event["requestContext"]["http"]["path"] = json!(uri.path());
    event["requestContext"]["http"]["sourceIp"] = json!("127.0.0.1");
    event["requestContext"]["http"]["userAgent"] =
        json!(flat.get("user-agent").cloned().unwrap_or_default());
    event["requestContext"]["requestId"] = json!(format!("front-{id}"));
    event["requestContext"]["timeEpoch"] = json!(now);
    if !body.is_empty() {
        match std::str::from_utf8(&body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    let invoked = shared
        .runtime
        .invoke(
            Invoke::new(event)
                .request_id(format!("front-request-{id}"))
                .invoked_arn(shared.arn.clone()),
            Duration::from_secs(30),
        )
        .await;
    let response = match invoked {
        Ok(invoked) => match invoked.response {
            Some(response) => response,
            // A function error: API Gateway answers 500.
            None => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                    .into_response();
            }
        },
        Err(error) => return (StatusCode::GATEWAY_TIMEOUT, error.to_string()).into_response(),
    };
    let status = response["statusCode"]
        .as_u64()
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let text = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let mut reply = (status, body).into_response();
    if let Some(headers) = response["headers"].as_object() {
        set_headers(
            &mut reply,
            headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.as_str()?))),
        );
    }
    reply
}
