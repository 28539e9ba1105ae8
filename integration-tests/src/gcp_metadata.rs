//! A stand-in for Google's metadata server (`GCE_METADATA_HOST`): the project, instance and
//! region, and the default service account's access token — answered, late, refused, or
//! short-lived, as the test chooses — only to requests with `Metadata-Flavor: Google`, and
//! every answer with it, as the real server does.

use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::ReceiverError;
use crate::server::BackgroundServer;

/// The project the stand-in names.
pub const TEST_PROJECT: &str = "orders-project";

#[derive(Default)]
struct Served {
    /// The token's value and lifetime in seconds; `None`: no token (404).
    token: Mutex<Option<(String, u64)>>,
    /// 0: answer; otherwise the status every request gets.
    refusing_with: AtomicU16,
    /// Milliseconds every answer waits.
    delay_ms: AtomicU64,
    token_requests: AtomicUsize,
}

/// The stand-in; stops when dropped.
pub struct FakeMetadataServer {
    served: Arc<Served>,
    server: BackgroundServer,
}

impl FakeMetadataServer {
    /// Starts it on an ephemeral port of 127.0.0.1, handing out `token` for
    /// `lifetime_seconds`.
    pub fn start(token: &str, lifetime_seconds: u64) -> Result<Self, ReceiverError> {
        let served = Arc::new(Served::default());
        *lock(&served.token) = Some((token.to_owned(), lifetime_seconds));
        let app = Router::new()
            .route("/computeMetadata/v1/{*path}", get(answer))
            .with_state(Arc::clone(&served));
        let server = BackgroundServer::start("fake-metadata", 1, app)?;
        Ok(Self { served, server })
    }

    /// `127.0.0.1:port`, for `GCE_METADATA_HOST`.
    pub fn host(&self) -> String {
        self.server.address().to_string()
    }

    /// Hands out `token` for `lifetime_seconds` from now on.
    pub fn set_token(&self, token: &str, lifetime_seconds: u64) {
        *lock(&self.served.token) = Some((token.to_owned(), lifetime_seconds));
    }

    /// Answers every request with `status` from now on; `None` answers again.
    pub fn refuse_with(&self, status: Option<u16>) {
        self.served
            .refusing_with
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    /// Makes every answer wait `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.served.delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// How many token requests arrived.
    pub fn token_requests(&self) -> usize {
        self.served.token_requests.load(Ordering::SeqCst)
    }
}

async fn answer(
    State(served): State<Arc<Served>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let delay = served.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if path == "instance/service-accounts/default/token" {
        served.token_requests.fetch_add(1, Ordering::SeqCst);
    }
    let flavored = headers
        .get("metadata-flavor")
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"google"));
    if !flavored {
        return (
            StatusCode::FORBIDDEN,
            "Missing Metadata-Flavor:Google header.",
        )
            .into_response();
    }
    let refusing = served.refusing_with.load(Ordering::SeqCst);
    if refusing != 0 {
        return StatusCode::from_u16(refusing)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response();
    }
    let (body, json) = match path.as_str() {
        "project/project-id" => (TEST_PROJECT.to_owned(), false),
        "instance/id" => ("4520031799277581759".to_owned(), false),
        "instance/region" => ("projects/123456789/regions/europe-west1".to_owned(), false),
        "instance/service-accounts/default/token" => match lock(&served.token).clone() {
            Some((token, lifetime)) => (
                serde_json::json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})
                    .to_string(),
                true,
            ),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            ("metadata-flavor", "Google"),
            (
                "content-type",
                if json {
                    "application/json"
                } else {
                    "application/text"
                },
            ),
        ],
        body,
    )
        .into_response()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
