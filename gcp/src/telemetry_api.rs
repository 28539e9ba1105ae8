//! Cloud Trace without a collector: spans (and logs, metrics) over OTLP/HTTP to Google's
//! Telemetry API, `https://telemetry.googleapis.com`, with an access token of the service's
//! identity from the metadata server.
//!
//! **How.** Point the OTLP exporter there — `OTEL_EXPORTER_OTLP_ENDPOINT=https://telemetry.googleapis.com`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=https://telemetry.googleapis.com/v1/traces` for
//! spans alone); [`pipeline_with_environment`](crate::pipeline_with_environment) then signs
//! each export request with `Authorization: Bearer <token>`. The token comes from
//! `instance/service-accounts/default/token` of the metadata server (`GCE_METADATA_HOST`),
//! fetched on a thread of its own — never on a request's path —, kept in memory, renewed
//! before it expires (when a quarter of its life or five minutes remain, whichever comes
//! first), and never written anywhere. The service account needs the Cloud Telemetry Traces
//! Writer role (`roles/telemetry.tracesWriter`) or `cloudtrace.agent`; the token's scope
//! (`cloud-platform` on Cloud Run) covers `trace.append`.
//!
//! **Which endpoints.** `OTEL_FAAS_GCP_ACCESS_TOKEN`: `auto` (the default) signs requests to
//! `*.googleapis.com` only; `always` signs every OTLP/HTTP endpoint (a proxy in front of the
//! Telemetry API); `never` signs none (a collector that adds its own credentials). gRPC
//! exports are not signed: use `http/protobuf`, the default.
//!
//! **The project.** The Telemetry API files spans under the resource's `gcp.project_id`; on
//! Cloud Run the metadata server's project joins the resource as `gcp.project_id` (beside
//! `cloud.account.id`), elsewhere set `OTEL_RESOURCE_ATTRIBUTES=gcp.project_id=<project>`.
//!
//! **Until a token arrives** (the metadata server is slow, failing or absent), exports are
//! not sent: the spans are kept for a later send as during an outage (the circuit opens, so
//! requests pay nothing), one warning says why, and the thread keeps asking (from half a
//! second, doubling to 30 s). A token that expired without renewal is not used.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use otel_faas_core::Environment;
use otel_faas_core::pipeline::{RequestSigner, SignerFactory, SigningError};

use crate::resource::MetadataServer;

/// The Telemetry API's host.
///
/// ```
/// assert_eq!(otel_faas_gcp::telemetry_api::TELEMETRY_API_HOST, "telemetry.googleapis.com");
/// ```
pub const TELEMETRY_API_HOST: &str = "telemetry.googleapis.com";

/// The variable that says which OTLP endpoints get the token: `auto`, `always`, `never`.
///
/// ```
/// use otel_faas_gcp::telemetry_api::ACCESS_TOKEN_VARIABLE;
/// assert_eq!(ACCESS_TOKEN_VARIABLE, "OTEL_FAAS_GCP_ACCESS_TOKEN");
/// ```
pub const ACCESS_TOKEN_VARIABLE: &str = "OTEL_FAAS_GCP_ACCESS_TOKEN";

/// The metadata server's path of the default service account's token.
const TOKEN_PATH: &str = "instance/service-accounts/default/token";

/// An access token and when it stops being valid.
struct Token {
    header: http::HeaderValue,
    expires_at: Instant,
}

#[derive(Default)]
struct Shared {
    token: RwLock<Option<Token>>,
    /// Why the last fetch failed, for the signing error (never a token).
    last_error: RwLock<Option<String>>,
}

/// The default service account's access tokens, fetched from the metadata server on a
/// thread of its own and renewed before they expire; a [`RequestSigner`] that adds the
/// current one as `Authorization: Bearer …`. The thread ends when the last clone is
/// dropped.
///
/// ```
/// use std::time::Duration;
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::RequestSigner;
/// use otel_faas_gcp::metadata::MetadataServer;
/// use otel_faas_gcp::telemetry_api::AccessTokens;
///
/// // Nothing listens on port 9: no token, and the request is not signed (yet).
/// let server = MetadataServer::from_env(&MapEnvironment::from([("GCE_METADATA_HOST", "127.0.0.1:9")]))
///     .with_timeout(Duration::from_millis(100));
/// let tokens = AccessTokens::start(server);
/// let mut headers = http::HeaderMap::new();
/// let uri = "https://telemetry.googleapis.com/v1/traces".parse().unwrap();
/// let error = tokens.sign(&http::Method::POST, &uri, &mut headers, b"").unwrap_err();
/// assert!(error.is_pending());
/// assert!(headers.is_empty());
/// ```
#[derive(Clone)]
pub struct AccessTokens {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("has_token", &self.current().is_some())
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    /// Starts fetching from `server` in the background; returns at once.
    pub fn start(server: MetadataServer) -> Self {
        let shared = Arc::new(Shared::default());
        let weak = Arc::downgrade(&shared);
        let spawned = std::thread::Builder::new()
            .name("otel-faas-gcp-token".to_owned())
            .spawn(move || refresh_loop(&server, &weak));
        if let Err(error) = spawned {
            *write(&shared.last_error) = Some(format!("the token thread did not start: {error}"));
        }
        Self { shared }
    }

    /// The current token's header value, if one is valid now.
    fn current(&self) -> Option<http::HeaderValue> {
        let token = self
            .shared
            .token
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        token
            .as_ref()
            .filter(|token| Instant::now() < token.expires_at)
            .map(|token| token.header.clone())
    }
}

impl RequestSigner for AccessTokens {
    fn sign(
        &self,
        _method: &http::Method,
        _uri: &http::Uri,
        headers: &mut http::HeaderMap,
        _body: &[u8],
    ) -> Result<(), SigningError> {
        match self.current() {
            Some(header) => {
                headers.insert(http::header::AUTHORIZATION, header);
                Ok(())
            }
            None => {
                let why = self
                    .shared
                    .last_error
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap_or_else(|| "it is being fetched".to_owned());
                Err(SigningError::pending(format!(
                    "no access token from the metadata server yet ({why}); the spans are kept"
                )))
            }
        }
    }
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Fetches, stores, sleeps until renewal is due (or backs off after a failure), until the
/// tokens are dropped.
fn refresh_loop(server: &MetadataServer, shared: &Weak<Shared>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let next = match fetch(server) {
            Ok((header, lifetime)) => {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                *write(&shared.token) = Some(Token {
                    header,
                    expires_at: Instant::now() + lifetime,
                });
                *write(&shared.last_error) = None;
                backoff = Duration::from_millis(500);
                // Renewed when a quarter of its life or five minutes remain.
                lifetime.saturating_sub((lifetime / 4).min(Duration::from_secs(300)))
            }
            Err(why) => {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                otel_faas_core::env::report_once(
                    "otel-faas-gcp-token",
                    &format!(
                        "no access token from the metadata server for the Telemetry API: {why}; spans are kept and the token is asked again"
                    ),
                );
                *write(&shared.last_error) = Some(why);
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                wait
            }
        };
        // In short steps, so that the thread ends soon after the tokens are dropped.
        let until = Instant::now() + next.max(Duration::from_millis(100));
        while Instant::now() < until {
            if shared.strong_count() == 0 {
                return;
            }
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(250)));
        }
    }
}

/// One token from the metadata server: its `Bearer` header (marked sensitive) and lifetime.
fn fetch(server: &MetadataServer) -> Result<(http::HeaderValue, Duration), String> {
    let body = server.get(TOKEN_PATH).map_err(|error| error.to_string())?;
    token_from_answer(&body)
}

/// Reads the metadata server's token answer (`{"access_token", "expires_in", "token_type"}`).
fn token_from_answer(body: &str) -> Result<(http::HeaderValue, Duration), String> {
    let answer: serde_json::Value =
        serde_json::from_str(body).map_err(|_| "its token answer is not JSON".to_owned())?;
    let token = answer["access_token"]
        .as_str()
        .filter(|token| !token.is_empty())
        .ok_or("its token answer has no access_token")?;
    if let Some(kind) = answer["token_type"].as_str()
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(format!("its token is of type {kind}, not Bearer"));
    }
    let lifetime = answer["expires_in"]
        .as_u64()
        .filter(|seconds| *seconds > 0)
        .ok_or("its token answer has no positive expires_in")?;
    let mut header = http::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "its access token is not a valid header value".to_owned())?;
    header.set_sensitive(true);
    Ok((header, Duration::from_secs(lifetime)))
}

/// Whether `endpoint` gets the token under `OTEL_FAAS_GCP_ACCESS_TOKEN`'s `setting`.
fn wants_token(setting: &str, endpoint: &str) -> bool {
    match setting {
        "always" => true,
        "never" => false,
        _ => endpoint.parse::<http::Uri>().is_ok_and(|uri| {
            uri.scheme_str() == Some("https")
                && uri.host().is_some_and(|host| {
                    host == "googleapis.com" || host.ends_with(".googleapis.com")
                })
        }),
    }
}

/// The signer factory for [`Pipeline::with_request_signer`](otel_faas_core::Pipeline::with_request_signer):
/// the endpoints `OTEL_FAAS_GCP_ACCESS_TOKEN` selects (see the module documentation) get
/// the tokens of one background fetch from `server`, started when the first endpoint needs
/// it. An unknown setting is `auto`, with a warning.
///
/// ```
/// use otel_faas_core::{Pipeline, env::MapEnvironment};
/// use otel_faas_gcp::metadata::MetadataServer;
///
/// let env = MapEnvironment::from([("OTEL_EXPORTER_OTLP_ENDPOINT", "https://telemetry.googleapis.com")]);
/// let server = MetadataServer::from_env(&env);
/// let telemetry = Pipeline::with_environment(env)
///     .with_request_signer(otel_faas_gcp::telemetry_api::signer_factory(server))
///     .install();
/// assert!(telemetry.warnings().is_empty());
/// ```
pub fn signer_factory(server: MetadataServer) -> SignerFactory {
    let tokens: Arc<std::sync::Mutex<Option<AccessTokens>>> = Arc::default();
    Arc::new(move |env: &Arc<dyn Environment>, _signal, config| {
        let setting = env
            .get_non_empty(ACCESS_TOKEN_VARIABLE)
            .map(|value| value.trim().to_ascii_lowercase())
            .unwrap_or_else(|| "auto".to_owned());
        if !matches!(setting.as_str(), "auto" | "always" | "never") {
            otel_faas_core::env::report_once(
                "otel-faas-gcp-access-token-setting",
                &format!(
                    "{ACCESS_TOKEN_VARIABLE}={setting} is not one of auto, always, never: using auto"
                ),
            );
        }
        if !wants_token(&setting, &config.endpoint) {
            return None;
        }
        let mut tokens = tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let tokens = tokens.get_or_insert_with(|| AccessTokens::start(server.clone()));
        Some(Arc::new(tokens.clone()) as Arc<dyn RequestSigner>)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_answer_is_read_and_its_header_is_sensitive() {
        let (header, lifetime) = token_from_answer(
            r#"{"access_token":"ya29.c.b0Aaek","expires_in":3599,"token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(header, "Bearer ya29.c.b0Aaek");
        assert!(header.is_sensitive());
        assert_eq!(lifetime, Duration::from_secs(3599));
        for (answer, says) in [
            ("<html>", "not JSON"),
            (r#"{"expires_in":10}"#, "no access_token"),
            (
                r#"{"access_token":"t","expires_in":0}"#,
                "no positive expires_in",
            ),
            (
                r#"{"access_token":"t","expires_in":10,"token_type":"MAC"}"#,
                "not Bearer",
            ),
            (
                r#"{"access_token":"t\n","expires_in":10}"#,
                "not a valid header value",
            ),
        ] {
            let error = token_from_answer(answer).unwrap_err();
            assert!(error.contains(says), "{answer}: {error}");
            assert!(!error.contains("ya29"), "{error}");
        }
    }

    #[test]
    fn only_google_s_https_endpoints_get_the_token_unless_told() {
        for (setting, endpoint, wanted) in [
            ("auto", "https://telemetry.googleapis.com/v1/traces", true),
            (
                "auto",
                "https://telemetry.us-east1.rep.googleapis.com/v1/traces",
                true,
            ),
            ("auto", "http://telemetry.googleapis.com/v1/traces", false),
            (
                "auto",
                "https://telemetry.googleapis.com.evil.example/v1/traces",
                false,
            ),
            ("auto", "https://notgoogleapis.com/v1/traces", false),
            ("auto", "http://localhost:4318/v1/traces", false),
            ("always", "http://localhost:4318/v1/traces", true),
            ("never", "https://telemetry.googleapis.com/v1/traces", false),
        ] {
            assert_eq!(
                wants_token(setting, endpoint),
                wanted,
                "{setting} {endpoint}"
            );
        }
    }
}
