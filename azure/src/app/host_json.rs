//! What `host.json` says that matters here: the HTTP mode, the route prefix, whether the
//! host records requests itself.

use std::path::Path;

use serde_json::Value;

/// How the host hands HTTP triggers to the handler (`customHandler` in `host.json`).
///
/// ```
/// use otel_faas_azure::{FunctionApp, HttpMode};
/// use otel_faas_core::{Pipeline, env::MapEnvironment};
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([("OTEL_TRACES_EXPORTER", "none")])).install();
/// // No host.json in this directory: the default mode (and a warning saying so).
/// let app = FunctionApp::with_environment(&telemetry, MapEnvironment::default(), "/nonexistent");
/// assert_eq!(app.http_mode(), HttpMode::Envelope);
/// assert!(app.warnings()[0].to_string().contains("host.json"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpMode {
    /// The request inside the envelope, the response in `Outputs` (the default).
    Envelope,
    /// `enableForwardingHttpRequest`: the request itself, at its own path (legacy).
    Forwarding,
    /// `enableProxyingHttpRequest`: the request streamed through the host's proxy, at its
    /// own path.
    Proxying,
}

/// What `host.json` says that matters here.
#[derive(Debug, Clone)]
pub(super) struct HostJson {
    pub(super) http_mode: HttpMode,
    pub(super) route_prefix: String,
    /// `telemetryMode: OpenTelemetry`: the host records requests as spans itself.
    pub(super) host_records_requests: bool,
}

impl Default for HostJson {
    fn default() -> Self {
        Self {
            http_mode: HttpMode::Envelope,
            route_prefix: "api".to_owned(),
            host_records_requests: false,
        }
    }
}

impl HostJson {
    /// The settings, or what is wrong with the file.
    pub(super) fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read(path).map_err(|e| format!("it cannot be read: {e}"))?;
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
        let json: Value =
            serde_json::from_slice(text).map_err(|e| format!("it is not valid JSON: {e}"))?;
        let flag = |section: &str, key: &str| {
            json.get(section)
                .and_then(|s| s.get(key))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let http_mode = if flag("customHandler", "enableProxyingHttpRequest") {
            HttpMode::Proxying
        } else if flag("customHandler", "enableForwardingHttpRequest")
            || flag("httpWorker", "enableForwardingHttpRequest")
        {
            HttpMode::Forwarding
        } else {
            HttpMode::Envelope
        };
        let route_prefix = json
            .pointer("/extensions/http/routePrefix")
            .and_then(Value::as_str)
            .unwrap_or("api")
            .trim_matches('/')
            .to_owned();
        let host_records_requests = json
            .get("telemetryMode")
            .and_then(Value::as_str)
            .is_some_and(|mode| mode.eq_ignore_ascii_case("OpenTelemetry"));
        Ok(Self {
            http_mode,
            route_prefix,
            host_records_requests,
        })
    }
}
