//! The ingestion client: core's [`ExporterClient`] (the pipeline's TLS, timeout, pools and
//! restore handling), with the exporter's retries turned into one failure.
//!
//! `opentelemetry-application-insights` retries a failed upload (a refused connection,
//! 408, 429, 439, 500 without details, 503) for up to 35 seconds with its own timer. On a
//! function that would hold every flush for its whole budget while the endpoint is down,
//! and the pipeline already has a circuit, a budget and counted drops for that. So each
//! such answer is handed to the exporter as a final `400` — it then gives up at once — and
//! the real reason is kept for the failure the pipeline reports. Items refused one by one
//! in a `206` or a detailed `500` are marked not retryable the same way.

use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use otel_faas_core::pipeline::ExporterClient;

/// Statuses the exporter would retry.
const RETRIED: [u16; 5] = [408, 429, 439, 500, 503];

/// The reason of the last upload that failed, for the error the exporter returns.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastFailure(Arc<Mutex<Option<String>>>);

impl LastFailure {
    fn set(&self, reason: String) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
    }

    /// The reason kept since the last call, if any.
    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct IngestionClient {
    inner: ExporterClient,
    failure: LastFailure,
}

impl IngestionClient {
    pub(crate) fn new(inner: ExporterClient, failure: LastFailure) -> Self {
        Self { inner, failure }
    }

    fn final_answer(&self, reason: String) -> Result<Response<Bytes>, HttpError> {
        self.failure.set(reason);
        Ok(Response::builder().status(400).body(Bytes::new())?)
    }
}

#[async_trait::async_trait]
impl HttpClient for IngestionClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        // Only the scheme and authority: the path is always /v2/track.
        let endpoint = {
            let uri = request.uri();
            format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("https"),
                uri.authority().map_or("", |a| a.as_str())
            )
        };
        let response = match self.inner.send_bytes(request).await {
            Ok(response) => response,
            Err(error) => {
                return self.final_answer(format!(
                    "sending to the ingestion endpoint {endpoint} failed: {}",
                    full_error(error.as_ref())
                ));
            }
        };
        let status = response.status().as_u16();
        match status {
            206 | 500 => match not_retryable(response.body()) {
                Some(body) => {
                    let (parts, _) = response.into_parts();
                    Ok(Response::from_parts(parts, body))
                }
                None => self.final_answer(format!(
                    "the ingestion endpoint {endpoint} answered {status}"
                )),
            },
            _ if RETRIED.contains(&status) => self.final_answer(format!(
                "the ingestion endpoint {endpoint} answered {status}{}",
                match status {
                    429 | 439 => " (throttled or over the daily cap)",
                    _ => "",
                }
            )),
            _ => Ok(response),
        }
    }
}

/// The error and its sources, as one line (reqwest's top error says only "error sending
/// request").
fn full_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

/// A track response whose per-item errors all say `400`, so the exporter retries none;
/// `None` when the body is not a track response.
fn not_retryable(body: &Bytes) -> Option<Bytes> {
    let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let errors = json.get_mut("errors")?.as_array_mut()?;
    for error in errors {
        if let Some(code) = error.get_mut("statusCode") {
            *code = serde_json::Value::from(400);
        }
    }
    serde_json::to_vec(&json).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_errors_become_final_and_other_bodies_are_not_track_responses() {
        let body = Bytes::from_static(
            br#"{"itemsReceived":3,"itemsAccepted":1,"errors":[{"index":0,"statusCode":503,"message":"busy"},{"index":2,"statusCode":400,"message":"bad"}]}"#,
        );
        let rewritten: serde_json::Value =
            serde_json::from_slice(&not_retryable(&body).unwrap()).unwrap();
        assert_eq!(rewritten["errors"][0]["statusCode"], 400);
        assert_eq!(rewritten["errors"][1]["statusCode"], 400);
        assert_eq!(rewritten["itemsAccepted"], 1);
        assert_eq!(
            not_retryable(&Bytes::from_static(b"<html>busy</html>")),
            None
        );
    }
}
