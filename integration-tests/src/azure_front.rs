//! The Functions host's HTTP front for a [`FunctionAppHost`]: what a caller outside reaches
//! (`https://<app>.azurewebsites.net/api/...`), served on loopback, each request taken by
//! the mini host as the host takes it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::server::BackgroundServer;
use crate::{FrontRequest, FunctionAppHost, ReceiverError};

struct Shared {
    app: Arc<FunctionAppHost>,
    received: Mutex<Vec<FrontRequest>>,
}

/// The front; stops when dropped.
pub struct AzureHttpFront {
    shared: Arc<Shared>,
    server: BackgroundServer,
}

impl std::fmt::Debug for AzureHttpFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureHttpFront")
            .field("address", &self.server.address())
            .finish_non_exhaustive()
    }
}

impl AzureHttpFront {
    /// Serves `app`'s HTTP functions.
    pub fn start(app: Arc<FunctionAppHost>) -> Result<Self, ReceiverError> {
        let shared = Arc::new(Shared {
            app,
            received: Mutex::new(Vec::new()),
        });
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let server = BackgroundServer::start("azure-http-front", 2, router)?;
        Ok(Self { shared, server })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.address())
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<FrontRequest> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let flat: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    shared
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(FrontRequest {
            line: format!("{method} {}", uri.path()),
            headers: flat.clone(),
        });
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let app = Arc::clone(&shared.app);
    let answered = tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> =
            flat.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        app.http(method.as_str(), &path_and_query, &headers, &body)
    })
    .await;
    match answered {
        Ok(Ok(reply)) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = (status, reply.body).into_response();
            for (name, value) in reply.headers {
                if let (Ok(name), Ok(value)) = (
                    axum::http::HeaderName::from_bytes(name.as_bytes()),
                    axum::http::HeaderValue::from_str(&value),
                ) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Ok(Err(error)) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
