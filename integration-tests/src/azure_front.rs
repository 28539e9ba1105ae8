//! The Functions host's HTTP front for a [`FunctionAppHost`]: what a caller outside reaches
//! (`https://<app>.azurewebsites.net/api/...`), served on loopback, each request taken by
//! the mini host as the host takes it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::front_log::{FrontLog, FrontRequest, set_headers};
use crate::server::BackgroundServer;
use crate::{FunctionAppHost, ReceiverError};

struct Shared {
    app: Arc<FunctionAppHost>,
    received: FrontLog,
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
            received: FrontLog::default(),
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
            set_headers(
                &mut response,
                reply.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            response
        }
        Ok(Err(error)) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
