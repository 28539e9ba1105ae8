//! The subscription to the Telemetry API and the listener Lambda posts event batches to.

use std::time::Duration;

use super::*;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// Why the subscription failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubscribeError {
    #[error("cannot reach the Telemetry API at {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("the Telemetry API request failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("the Telemetry API request could not be built: {0}")]
    Request(#[from] http::Error),
    #[error("the Telemetry API did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the Telemetry API refused the subscription ({status}): {body}")]
    Refused { status: u16, body: String },
}

/// Subscribes extension `extension_id` to platform events, sent to `port`. Lambda Managed
/// Instances require schema 2025-01-29, which Lambda accepts everywhere; elsewhere
/// 2022-12-13 is asked for, the version emulators know.
pub(crate) async fn subscribe(
    runtime_api: &str,
    extension_id: &str,
    port: u16,
    managed_instances: bool,
) -> Result<(), SubscribeError> {
    let schema = if managed_instances {
        "2025-01-29"
    } else {
        "2022-12-13"
    };
    let body = serde_json::json!({
        "schemaVersion": schema,
        "types": ["platform"],
        // The shortest wait Lambda allows: the figures arrive as soon as the environment
        // runs again.
        "buffering": {"maxItems": 1000, "maxBytes": 262_144, "timeoutMs": 25},
        "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{port}")},
    });
    // `host:port` on Lambda; `http://host:port/prefix` under cargo-lambda's emulator, which
    // lambda_runtime accepts too.
    let base = runtime_api
        .strip_prefix("http://")
        .unwrap_or(runtime_api)
        .trim_end_matches('/');
    let authority = base.split('/').next().unwrap_or(base);
    let request = async {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|source| SubscribeError::Connect {
                address: runtime_api.to_owned(),
                source,
            })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = hyper::Request::put(format!("http://{base}/2022-07-01/telemetry"))
            .header(http::header::HOST, authority)
            .header("Lambda-Extension-Identifier", extension_id)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status.is_success() {
            Ok(())
        } else {
            Err(SubscribeError::Refused {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            })
        }
    };
    tokio::time::timeout(SUBSCRIBE_TIMEOUT, request)
        .await
        .unwrap_or(Err(SubscribeError::Timeout(SUBSCRIBE_TIMEOUT)))
}
