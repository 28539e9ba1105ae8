//! The Lambda Telemetry API of [`LocalRuntimeApi`](crate::LocalRuntimeApi): subscriptions
//! and the delivery of platform events, as the reference documents them
//! (<https://docs.aws.amazon.com/lambda/latest/dg/telemetry-api-reference.html>,
//! `telemetry-api.html`, `telemetry-schema-reference.html`).
//!
//! * `PUT /2022-07-01/telemetry` with the `Lambda-Extension-Identifier` of a registered
//!   extension, during the init phase only (afterwards `403 Telemetry.SubscriptionClosed`);
//!   the body is validated as the reference states: `schemaVersion` (2022-07-01, 2022-12-13,
//!   2025-01-29), non-empty `types` among platform/function/extension, `destination` with
//!   protocol HTTP and a URI on `sandbox.localdomain` with a port, and `buffering` within its
//!   bounds (maxItems 1,000–10,000, maxBytes 262,144–1,048,576, timeoutMs 25–30,000).
//! * Events are POSTed as JSON arrays to `sandbox.localdomain:{port}`, which is 127.0.0.1
//!   here, after `timeoutMs` or once `maxItems` are buffered — and, as on Lambda, only while
//!   the environment is thawed: between an invocation's end (every extension back at `next`)
//!   and the next invocation, nothing is delivered, so an invocation's `platform.report`
//!   reaches the extension during the following invocation.

use std::time::Duration;

use serde_json::Value;

/// The schema versions the reference accepts.
const SCHEMA_VERSIONS: [&str; 3] = ["2022-07-01", "2022-12-13", "2025-01-29"];

/// One accepted subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    /// The port on 127.0.0.1 that `sandbox.localdomain:{port}` means.
    pub(crate) port: u16,
    /// The event types asked for: `platform`, `function`, `extension`.
    pub(crate) types: Vec<String>,
    pub(crate) max_items: usize,
    pub(crate) timeout: Duration,
    /// How many of the platform events have been delivered.
    pub(crate) delivered: usize,
}

/// Validates a subscription request body; the error is the reference's `ValidationError`
/// message.
pub(crate) fn parse_subscription(body: &[u8]) -> Result<Subscription, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|error| format!("body is not JSON: {error}"))?;
    let schema = request
        .get("schemaVersion")
        .and_then(Value::as_str)
        .ok_or("schemaVersion is required")?;
    if !SCHEMA_VERSIONS.contains(&schema) {
        return Err(format!("schemaVersion {schema} is not supported"));
    }
    let types: Vec<String> = request
        .get("types")
        .and_then(Value::as_array)
        .ok_or("types is required")?
        .iter()
        .map(|t| t.as_str().map(str::to_owned).ok_or("types must be strings"))
        .collect::<Result<_, _>>()?;
    if types.is_empty() {
        return Err("types should not be empty".to_owned());
    }
    if let Some(bad) = types
        .iter()
        .find(|t| !["platform", "function", "extension"].contains(&t.as_str()))
    {
        return Err(format!("type {bad} is not valid"));
    }
    let destination = request
        .get("destination")
        .ok_or("destination is required")?;
    if destination.get("protocol").and_then(Value::as_str) != Some("HTTP") {
        return Err("only the HTTP protocol is served here".to_owned());
    }
    let uri = destination
        .get("URI")
        .and_then(Value::as_str)
        .ok_or("destination.URI is required")?;
    let port = uri
        .strip_prefix("http://sandbox.localdomain:")
        .map(|rest| rest.trim_end_matches('/'))
        .and_then(|port| port.parse::<u16>().ok())
        .filter(|port| *port != 0)
        .ok_or_else(|| {
            format!("URI {uri} must be http://sandbox.localdomain with a port (URI port is not provided)")
        })?;
    let buffering = request.get("buffering");
    let bounded = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, String> {
        match buffering.and_then(|b| b.get(name)) {
            None => Ok(default),
            Some(value) => value
                .as_u64()
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(|| format!("buffering.{name} must be between {min} and {max}")),
        }
    };
    let max_items = bounded("maxItems", 1000, 1000, 10_000)?;
    bounded("maxBytes", 262_144, 262_144, 1_048_576)?;
    let timeout_ms = bounded("timeoutMs", 1000, 25, 30_000)?;
    Ok(Subscription {
        port,
        types,
        max_items: usize::try_from(max_items).unwrap_or(1000),
        timeout: Duration::from_millis(timeout_ms),
        delivered: 0,
    })
}

/// One platform event as the Telemetry API sends it.
pub(crate) fn event(kind: &str, record: Value) -> Value {
    serde_json::json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "type": kind,
        "record": record,
    })
}

/// POSTs one batch to 127.0.0.1:`port`; the error says why it was not accepted.
pub(crate) async fn deliver(port: u16, batch: &[Value]) -> Result<(), String> {
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;
    let body = Value::Array(batch.to_vec()).to_string();
    let send = async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|error| format!("connect: {error}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|error| format!("handshake: {error}"))?;
        tokio::spawn(connection);
        let request = hyper::Request::post(format!("http://sandbox.localdomain:{port}/"))
            .header("host", format!("sandbox.localdomain:{port}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| error.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| format!("request: {error}"))?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the listener answered {status}"))
        }
    };
    tokio::time::timeout(Duration::from_secs(5), send)
        .await
        .unwrap_or_else(|_| Err("the listener did not answer within 5 s".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_validated_as_the_reference_says() {
        let good = serde_json::json!({
            "schemaVersion": "2022-12-13",
            "types": ["platform"],
            "buffering": {"maxItems": 1000, "maxBytes": 262_144, "timeoutMs": 25},
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:8080"},
        });
        let subscription = parse_subscription(good.to_string().as_bytes()).expect("valid");
        assert_eq!(subscription.port, 8080);
        assert_eq!(subscription.timeout, Duration::from_millis(25));
        for (field, value) in [
            ("schemaVersion", serde_json::json!("2021-01-01")),
            ("types", serde_json::json!([])),
            ("types", serde_json::json!(["logs"])),
            ("buffering", serde_json::json!({"timeoutMs": 10})),
            ("buffering", serde_json::json!({"maxItems": 5})),
            (
                "destination",
                serde_json::json!({"protocol": "HTTP", "URI": "http://127.0.0.1:8080"}),
            ),
            (
                "destination",
                serde_json::json!({"protocol": "HTTP", "URI": "http://sandbox.localdomain"}),
            ),
            (
                "destination",
                serde_json::json!({"protocol": "TCP", "URI": "http://sandbox.localdomain:1"}),
            ),
        ] {
            let mut bad = good.clone();
            bad[field] = value.clone();
            assert!(
                parse_subscription(bad.to_string().as_bytes()).is_err(),
                "{field} = {value} was accepted"
            );
        }
    }
}
