//! Who is running: `GcpResourceDetector` from the environment at start-up, and the
//! metadata server in the background for what only it knows.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_semantic_conventions::resource::{
    CLOUD_ACCOUNT_ID, CLOUD_PLATFORM, CLOUD_PROVIDER, CLOUD_REGION, FAAS_INSTANCE, FAAS_NAME,
    FAAS_VERSION, SERVICE_NAME,
};
use otel_faas_core::pipeline::LateResource;
use otel_faas_core::{Environment, ResourceDetector};

/// Google's resource attribute of the project (not in the semantic conventions): the
/// Telemetry API files spans under it.
///
/// ```
/// assert_eq!(otel_faas_gcp::metadata::GCP_PROJECT_ID, "gcp.project_id");
/// ```
pub const GCP_PROJECT_ID: &str = "gcp.project_id";

/// The metadata server's host, unless `GCE_METADATA_HOST` says otherwise.
pub const METADATA_HOST: &str = "metadata.google.internal";

/// Describes a Cloud Run service or function from its environment: `cloud.provider=gcp`;
/// `cloud.platform` = `gcp_cloud_functions` when `FUNCTION_TARGET` is set (a function
/// deployed through Cloud Functions or `gcloud functions deploy`), else `gcp_cloud_run`
/// when `K_CONFIGURATION` is; `faas.name` and `service.name` = `K_SERVICE`,
/// `faas.version` = `K_REVISION`. Outside Cloud Run (no `K_SERVICE`) it adds nothing.
/// The instance, region and project come from the metadata server, later
/// ([`MetadataServer`]).
///
/// ```
/// use otel_faas_core::{ResourceDetector, env::MapEnvironment};
/// use otel_faas_gcp::GcpResourceDetector;
///
/// let env = MapEnvironment::from([
///     ("K_SERVICE", "orders"),
///     ("K_REVISION", "orders-00007-xid"),
///     ("K_CONFIGURATION", "orders"),
/// ]);
/// let resource = GcpResourceDetector.detect(&env);
/// assert_eq!(resource.get(&"cloud.platform".into()), Some("gcp_cloud_run".into()));
/// assert_eq!(resource.get(&"faas.version".into()), Some("orders-00007-xid".into()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GcpResourceDetector;

impl ResourceDetector for GcpResourceDetector {
    fn detect(&self, env: &dyn Environment) -> Resource {
        let Some(service) = env.get_non_empty("K_SERVICE") else {
            return Resource::builder_empty().build();
        };
        let mut attributes = vec![
            KeyValue::new(CLOUD_PROVIDER, "gcp"),
            KeyValue::new(FAAS_NAME, service.clone()),
            KeyValue::new(SERVICE_NAME, service),
        ];
        if env.get_non_empty("FUNCTION_TARGET").is_some() {
            attributes.push(KeyValue::new(CLOUD_PLATFORM, "gcp_cloud_functions"));
        } else if env.get_non_empty("K_CONFIGURATION").is_some() {
            attributes.push(KeyValue::new(CLOUD_PLATFORM, "gcp_cloud_run"));
        }
        if let Some(revision) = env.get_non_empty("K_REVISION") {
            attributes.push(KeyValue::new(FAAS_VERSION, revision));
        }
        Resource::builder_empty()
            .with_attributes(attributes)
            .build()
    }
}

/// Why the metadata server told nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// It could not be reached (no such host, refused, timed out).
    #[error("the metadata server at {host} cannot be reached: {source}")]
    Unreachable {
        /// The host asked.
        host: String,
        /// What failed.
        source: std::io::Error,
    },
    /// It answered something other than 200 with a value.
    #[error("the metadata server answered {path} with {status}")]
    Status {
        /// The path asked.
        path: String,
        /// The status line, or what came instead of one.
        status: String,
    },
}

/// The metadata server (`Metadata-Flavor: Google` over plain HTTP, host from
/// `GCE_METADATA_HOST`), for `faas.instance` (`instance/id`), `cloud.region`
/// (`instance/region`, whose answer is `projects/<number>/regions/<region>`) and
/// `cloud.account.id` (`project/project-id`, also as `gcp.project_id`, the attribute
/// Google's Telemetry API reads), and the service account's access token
/// ([`AccessTokens`](crate::telemetry_api::AccessTokens)).
///
/// It is asked in the background, never on a request's path: a server that is slow,
/// failing or absent costs the requests nothing, and the attributes join the exports
/// that follow once they are known ([`LateResource`]). Each request has a short timeout.
///
/// ```
/// use std::time::Duration;
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_gcp::metadata::MetadataServer;
///
/// // Nothing listens on port 9: the answer is an error, quickly.
/// let server = MetadataServer::from_env(&MapEnvironment::from([("GCE_METADATA_HOST", "127.0.0.1:9")]))
///     .with_timeout(Duration::from_millis(200));
/// assert!(server.fetch().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct MetadataServer {
    host: String,
    timeout: Duration,
}

impl MetadataServer {
    /// The server `GCE_METADATA_HOST` names (`host` or `host:port`), else
    /// [`METADATA_HOST`].
    pub fn from_env(env: &dyn Environment) -> Self {
        Self {
            host: env
                .get_non_empty("GCE_METADATA_HOST")
                .unwrap_or_else(|| METADATA_HOST.to_owned()),
            timeout: Duration::from_secs(2),
        }
    }

    /// Limits each request (connect, then read) to `timeout` (2 s by default).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Asks the three values now (blocking); what it could not learn is left out, and an
    /// error only when it learned nothing.
    pub fn fetch(&self) -> Result<Vec<KeyValue>, MetadataError> {
        let mut attributes = Vec::new();
        let mut first_error = None;
        for (path, key) in [
            ("instance/id", FAAS_INSTANCE),
            ("instance/region", CLOUD_REGION),
            ("project/project-id", CLOUD_ACCOUNT_ID),
        ] {
            match self.get(path) {
                Ok(value) => {
                    let value = if key == CLOUD_REGION {
                        value.rsplit('/').next().unwrap_or(&value).to_owned()
                    } else {
                        value
                    };
                    // The Telemetry API files spans under the project this names.
                    if key == CLOUD_ACCOUNT_ID {
                        attributes.push(KeyValue::new(GCP_PROJECT_ID, value.clone()));
                    }
                    attributes.push(KeyValue::new(key, value));
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match (attributes.is_empty(), first_error) {
            (true, Some(error)) => Err(error),
            _ => Ok(attributes),
        }
    }

    /// Asks in a background thread and hands the answer to `late`; returns at once.
    pub fn fetch_in_background(self, late: LateResource) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || match self.fetch() {
            Ok(attributes) => {
                late.set(attributes);
            }
            Err(error) => eprintln!(
                "otel-faas: {error}; faas.instance, cloud.region and cloud.account.id (gcp.project_id) are not reported"
            ),
        })
    }

    pub(crate) fn get(&self, path: &str) -> Result<String, MetadataError> {
        let unreachable = |source| MetadataError::Unreachable {
            host: self.host.clone(),
            source,
        };
        let address = if self.host.contains(':') {
            self.host.clone()
        } else {
            format!("{}:80", self.host)
        };
        let address = address
            .to_socket_addrs()
            .map_err(unreachable)?
            .next()
            .ok_or_else(|| unreachable(std::io::Error::other("the host has no address")))?;
        let mut stream = TcpStream::connect_timeout(&address, self.timeout).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(unreachable)?;
        let request = format!(
            "GET /computeMetadata/v1/{path} HTTP/1.1\r\nHost: {}\r\nMetadata-Flavor: Google\r\nConnection: close\r\n\r\n",
            self.host
        );
        stream.write_all(request.as_bytes()).map_err(unreachable)?;
        let mut response = Vec::new();
        stream
            .take(64 * 1024)
            .read_to_end(&mut response)
            .map_err(unreachable)?;
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.lines().next().unwrap_or_default();
        let flavored = head.lines().any(|line| {
            line.split_once(':').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("metadata-flavor")
                    && value.trim().eq_ignore_ascii_case("google")
            })
        });
        let value = body.trim();
        if status.split_whitespace().nth(1) != Some("200") || !flavored || value.is_empty() {
            return Err(MetadataError::Status {
                path: path.to_owned(),
                status: if status.is_empty() {
                    "no answer".to_owned()
                } else {
                    status.to_owned()
                },
            });
        }
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use otel_faas_core::env::MapEnvironment;

    use super::*;

    #[test]
    fn functions_and_services_and_elsewhere() {
        let function = GcpResourceDetector.detect(&MapEnvironment::from([
            ("K_SERVICE", "resize"),
            ("K_CONFIGURATION", "resize"),
            ("FUNCTION_TARGET", "resize_image"),
        ]));
        assert_eq!(
            function.get(&CLOUD_PLATFORM.into()),
            Some("gcp_cloud_functions".into())
        );
        assert_eq!(function.get(&FAAS_NAME.into()), Some("resize".into()));
        assert_eq!(function.get(&SERVICE_NAME.into()), Some("resize".into()));
        assert!(function.get(&FAAS_VERSION.into()).is_none());
        assert!(
            GcpResourceDetector
                .detect(&MapEnvironment::default())
                .is_empty()
        );
    }
}
