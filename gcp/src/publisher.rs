//! Publishing to Pub/Sub with the trace context (cargo feature `publisher`).
//!
//! [`PubSubPublisher::publish`] records a PRODUCER `send {topic}` span (messaging
//! conventions, `messaging.system=gcp_pubsub`) and writes its context into the message's
//! attributes as the Google client libraries do (`googclient_traceparent`), so the
//! subscriber's span links to it — and continues its trace when the push carries none.
//!
//! It speaks the Pub/Sub REST API: to the emulator when `PUBSUB_EMULATOR_HOST` is set
//! (plain HTTP, no credentials, as the client libraries do), else to
//! `https://pubsub.googleapis.com` with an access token of the service's identity from the
//! metadata server (cached until shortly before it expires).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, MESSAGING_DESTINATION_NAME, MESSAGING_MESSAGE_BODY_SIZE, MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use otel_faas_core::Environment;
use otel_faas_core::engine::InvocationScope;
use otel_faas_messaging::PubSubAttributesMut;
use serde_json::{Value, json};

use crate::resource::METADATA_HOST;
use crate::triggers::PUBSUB_SYSTEM;

/// Why a message was not published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// No project: set `GOOGLE_CLOUD_PROJECT` or call `with_project`.
    #[error(
        "no project to publish in: set GOOGLE_CLOUD_PROJECT or call PubSubPublisher::with_project"
    )]
    NoProject,
    /// The request failed on the way.
    #[error("publishing to {topic} failed: {source}")]
    Transport {
        /// The topic.
        topic: String,
        /// What failed.
        source: reqwest::Error,
    },
    /// The service refused it.
    #[error("Pub/Sub answered {status} for {topic}: {body}")]
    Refused {
        /// The topic.
        topic: String,
        /// The HTTP status.
        status: u16,
        /// The service's explanation.
        body: String,
    },
    /// No access token from the metadata server.
    #[error("no access token from the metadata server: {0}")]
    Token(String),
}

impl PublishError {
    fn error_type(&self) -> String {
        match self {
            Self::NoProject => "no_project".to_owned(),
            Self::Transport { .. } => "transport".to_owned(),
            Self::Refused { status, .. } => status.to_string(),
            Self::Token(_) => "token".to_owned(),
        }
    }
}

#[derive(Debug)]
struct CachedToken {
    token: String,
    valid_until: Instant,
}

/// Publishes to Pub/Sub topics, traced.
///
/// ```no_run
/// # async fn run() -> Result<(), otel_faas_gcp::PublishError> {
/// use otel_faas_gcp::PubSubPublisher;
///
/// let publisher = PubSubPublisher::from_env()?;
/// let id = publisher.publish("orders", br#"{"id": 42}"#.to_vec(), Default::default()).await?;
/// # let _ = id; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PubSubPublisher {
    client: reqwest::Client,
    base: String,
    project: Option<String>,
    token: Option<(String, Arc<Mutex<Option<CachedToken>>>)>,
}

impl PubSubPublisher {
    /// From the process environment: see [`from_environment`](Self::from_environment).
    pub fn from_env() -> Result<Self, PublishError> {
        Self::from_environment(&otel_faas_core::env::ProcessEnvironment)
    }

    /// The emulator at `PUBSUB_EMULATOR_HOST` when set, else the service with the metadata
    /// server's token (`GCE_METADATA_HOST` to override its host); the project from
    /// `GOOGLE_CLOUD_PROJECT` (or `GCLOUD_PROJECT`, `GCP_PROJECT`).
    pub fn from_environment(env: &dyn Environment) -> Result<Self, PublishError> {
        let project = ["GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT"]
            .into_iter()
            .find_map(|name| env.get_non_empty(name));
        let client = http_client().map_err(|source| PublishError::Transport {
            topic: String::new(),
            source,
        })?;
        let (base, token) = match env.get_non_empty("PUBSUB_EMULATOR_HOST") {
            Some(host) => (
                format!("http://{}", host.trim_start_matches("http://")),
                None,
            ),
            None => {
                let metadata = env
                    .get_non_empty("GCE_METADATA_HOST")
                    .unwrap_or_else(|| METADATA_HOST.to_owned());
                (
                    "https://pubsub.googleapis.com".to_owned(),
                    Some((metadata, Arc::new(Mutex::new(None)))),
                )
            }
        };
        Ok(Self {
            client,
            base,
            project,
            token,
        })
    }

    /// Publishes in `project` rather than the environment's.
    #[must_use]
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Sends to another endpoint of the REST API (a regional endpoint, a test double); the
    /// metadata token is still used unless the publisher talks to the emulator.
    #[must_use]
    pub fn with_endpoint(mut self, base: impl Into<String>) -> Self {
        self.base = base.into().trim_end_matches('/').to_owned();
        self
    }

    /// Publishes one message to `topic` (its id or its full `projects/…/topics/…` name);
    /// returns the message id. The context of the `send` span is added to `attributes`.
    pub async fn publish(
        &self,
        topic: &str,
        data: Vec<u8>,
        mut attributes: HashMap<String, String>,
    ) -> Result<String, PublishError> {
        let topic_id = topic.rsplit('/').next().unwrap_or(topic).to_owned();
        let builder = opentelemetry::trace::SpanBuilder::from_name(format!("send {topic_id}"))
            .with_kind(SpanKind::Producer)
            .with_attributes([
                KeyValue::new(MESSAGING_SYSTEM, PUBSUB_SYSTEM),
                KeyValue::new(MESSAGING_OPERATION_TYPE, "send"),
                KeyValue::new(MESSAGING_OPERATION_NAME, "send"),
                KeyValue::new(MESSAGING_DESTINATION_NAME, topic_id.clone()),
                KeyValue::new(
                    MESSAGING_MESSAGE_BODY_SIZE,
                    i64::try_from(data.len()).unwrap_or(i64::MAX),
                ),
            ]);
        let cx = InvocationScope::start_span(builder, "otel-faas-gcp");
        InvocationScope::inject(&cx, &mut PubSubAttributesMut(&mut attributes));
        let result = self.send(topic, &topic_id, data, attributes).await;
        let span = cx.span();
        match &result {
            Ok(id) => span.set_attribute(KeyValue::new(MESSAGING_MESSAGE_ID, id.clone())),
            Err(error) => {
                span.set_attribute(KeyValue::new(ERROR_TYPE, error.error_type()));
                span.set_status(Status::error(error.to_string()));
            }
        }
        span.end();
        result
    }

    async fn send(
        &self,
        topic: &str,
        topic_id: &str,
        data: Vec<u8>,
        attributes: HashMap<String, String>,
    ) -> Result<String, PublishError> {
        let path = if topic.starts_with("projects/") {
            topic.to_owned()
        } else {
            let project = self.project.as_deref().ok_or(PublishError::NoProject)?;
            format!("projects/{project}/topics/{topic_id}")
        };
        let body = json!({"messages": [{
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "attributes": attributes,
        }]});
        let mut request = self
            .client
            .post(format!("{}/v1/{path}:publish", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some((metadata, cache)) = &self.token {
            request = request.bearer_auth(self.token(metadata, cache).await?);
        }
        let transport = |source| PublishError::Transport {
            topic: path.clone(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            return Err(PublishError::Refused {
                topic: path,
                status,
                body: text,
            });
        }
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|answer| answer["messageIds"][0].as_str().map(str::to_owned))
            .ok_or(PublishError::Refused {
                topic: path,
                status,
                body: text,
            })
    }

    async fn token(
        &self,
        metadata: &str,
        cache: &Mutex<Option<CachedToken>>,
    ) -> Result<String, PublishError> {
        if let Some(cached) = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .filter(|cached| cached.valid_until > Instant::now())
        {
            return Ok(cached.token.clone());
        }
        let url =
            format!("http://{metadata}/computeMetadata/v1/instance/service-accounts/default/token");
        let answer: Value = self
            .client
            .get(url)
            .header("Metadata-Flavor", "Google")
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| PublishError::Token(e.to_string()))?
            .json()
            .await
            .map_err(|e| PublishError::Token(e.to_string()))?;
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| PublishError::Token(format!("no access_token in {answer}")))?
            .to_owned();
        // Renewed a minute early, so a token never expires in flight.
        let lifetime = answer["expires_in"]
            .as_u64()
            .unwrap_or(300)
            .saturating_sub(60);
        *cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(CachedToken {
            token: token.clone(),
            valid_until: Instant::now() + Duration::from_secs(lifetime),
        });
        Ok(token)
    }
}

/// An async client with rustls (ring) and the webpki roots.
fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(builder) => reqwest::Client::builder()
            .tls_backend_preconfigured(builder.with_root_certificates(roots).with_no_client_auth())
            .timeout(Duration::from_secs(30))
            .build(),
        Err(_) => reqwest::Client::builder().build(),
    }
}
