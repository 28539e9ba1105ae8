//! Raw Pub/Sub push requests (a push subscription pointed straight at the service, or the
//! Pub/Sub emulator) converted to the `messagePublished` CloudEvent that Eventarc would
//! have delivered, as the Node Functions Framework converts them.
//!
//! The body is `{"message": {data, attributes, messageId|message_id, publishTime|
//! publish_time, orderingKey}, "subscription": "...", "deliveryAttempt": n}`. The event:
//! `id` = the message id, `time` = its publish time (the time of arrival when the emulator
//! leaves it out), `source` = `//pubsub.googleapis.com/<topic>` (the topic from the request
//! path `/projects/<p>/topics/<t>` when the push endpoint names it, as the Node framework
//! reads it; else empty), `data` = `{"message": {... with "@type", messageId and
//! publishTime}, "subscription": ...}`.
//!
//! Unwrapped pushes (`--push-no-wrapper-write-metadata`) carry the message's data as the
//! body and its metadata in headers (`x-goog-pubsub-message-id`, `-publish-time`,
//! `-subscription-name`, `-ordering-key`, and one header per attribute); they become the
//! same event. Without `write-metadata` nothing marks a request as a push: such a body is
//! refused as not a CloudEvent.
//!
//! One deliberate difference from the Node framework: `subscription` stays in `data`, where
//! Eventarc's own `messagePublished` events carry it (`MessagePublishedData.subscription`),
//! because it names the subscription the spans report. `deliveryAttempt` is not part of
//! the event; the request keeps it
//! ([`CloudEventRequest::delivery_attempt`](crate::CloudEventRequest::delivery_attempt)).

use serde_json::{Map, Value};

use crate::legacy::{StructuredEvent, pubsub_message_type};
use crate::services::{PUBSUB, PUBSUB_MESSAGE_PUBLISHED};

/// Whether `body` is a raw push request: a `message` object, and no background event keys.
pub(crate) fn is_push(body: &Map<String, Value>) -> bool {
    body.get("message").is_some_and(Value::is_object)
        && !body.contains_key("context")
        && !body.contains_key("eventType")
}

/// The event a push request becomes; `now` is the arrival time (RFC 3339), used when the
/// message has no publish time. `path` is the request's path.
pub(crate) fn to_cloud_event(
    mut body: Map<String, Value>,
    path: &str,
    now: &str,
) -> (StructuredEvent, Option<i64>) {
    let delivery_attempt = body.get("deliveryAttempt").and_then(Value::as_i64);
    let mut message = match body.remove("message") {
        Some(Value::Object(message)) => message,
        _ => Map::new(),
    };
    let text = |message: &Map<String, Value>, camel: &str, snake: &str| {
        message
            .get(camel)
            .or_else(|| message.get(snake))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let id = text(&message, "messageId", "message_id").unwrap_or_default();
    let publish_time =
        text(&message, "publishTime", "publish_time").unwrap_or_else(|| now.to_owned());
    message.entry("@type").or_insert_with(pubsub_message_type);
    message.insert("messageId".into(), Value::String(id.clone()));
    message.insert("publishTime".into(), Value::String(publish_time.clone()));
    let mut data = Map::new();
    data.insert("message".into(), Value::Object(message));
    if let Some(subscription) = body.remove("subscription") {
        data.insert("subscription".into(), subscription);
    }
    let topic = topic_in_path(path).unwrap_or_default();
    let mut event = Map::new();
    event.insert("specversion".into(), "1.0".into());
    event.insert("type".into(), PUBSUB_MESSAGE_PUBLISHED.into());
    event.insert("source".into(), format!("//{PUBSUB}/{topic}").into());
    event.insert("id".into(), id.into());
    event.insert("time".into(), publish_time.into());
    event.insert("datacontenttype".into(), "application/json".into());
    event.insert("data".into(), Value::Object(data));
    (event, delivery_attempt)
}

/// `projects/<p>/topics/<t>` when the path is exactly that (with a leading slash).
fn topic_in_path(path: &str) -> Option<&str> {
    let topic = path.trim_start_matches('/');
    let segments: Vec<&str> = topic.split('/').collect();
    (segments.len() == 4
        && segments[0] == "projects"
        && segments[2] == "topics"
        && segments.iter().all(|s| !s.is_empty()))
    .then_some(topic)
}

/// Headers of the transport, never message attributes, in an unwrapped push.
const TRANSPORT_HEADERS: &[&str] = &[
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "connection",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "authorization",
    "traceparent",
    "tracestate",
    "baggage",
    "x-cloud-trace-context",
    "forwarded",
    "via",
    "function-execution-id",
    "upgrade-insecure-requests",
];

/// Header prefixes of the platform, never message attributes.
const TRANSPORT_PREFIXES: &[&str] = &["x-goog-", "x-forwarded-", "x-cloud-", "x-envoy-", "ce-"];

/// Whether the request is an unwrapped push (`--push-no-wrapper-write-metadata`): the
/// message's metadata in `x-goog-pubsub-*` headers, its data as the body.
pub(crate) fn is_unwrapped_push(headers: &http::HeaderMap) -> bool {
    headers.contains_key("x-goog-pubsub-message-id")
}

/// The event an unwrapped push becomes: the same `messagePublished` event as a wrapped
/// one. Attributes arrive as headers of their own names; every header that is not the
/// transport's or the platform's (see `TRANSPORT_HEADERS`, `TRANSPORT_PREFIXES`) is taken
/// as one.
pub(crate) fn unwrapped_to_cloud_event(
    headers: &http::HeaderMap,
    body: &[u8],
    path: &str,
    now: &str,
) -> (StructuredEvent, Option<i64>) {
    use base64::Engine as _;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let attributes: Map<String, Value> = headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !TRANSPORT_HEADERS.contains(&name)
                && !TRANSPORT_PREFIXES
                    .iter()
                    .any(|prefix| name.starts_with(prefix))
        })
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_owned(),
                Value::String(value.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    let mut message = Map::new();
    message.insert(
        "data".into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
    );
    if !attributes.is_empty() {
        message.insert("attributes".into(), Value::Object(attributes));
    }
    if let Some(id) = header("x-goog-pubsub-message-id") {
        message.insert("messageId".into(), Value::String(id));
    }
    if let Some(time) = header("x-goog-pubsub-publish-time") {
        message.insert("publishTime".into(), Value::String(time));
    }
    if let Some(key) = header("x-goog-pubsub-ordering-key").filter(|k| !k.is_empty()) {
        message.insert("orderingKey".into(), Value::String(key));
    }
    let mut wrapped = Map::new();
    wrapped.insert("message".into(), Value::Object(message));
    if let Some(subscription) = header("x-goog-pubsub-subscription-name") {
        wrapped.insert("subscription".into(), Value::String(subscription));
    }
    to_cloud_event(wrapped, path, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topic_comes_from_a_path_that_names_it() {
        assert_eq!(
            topic_in_path("/projects/FOO/topics/BAR_TOPIC"),
            Some("projects/FOO/topics/BAR_TOPIC")
        );
        assert_eq!(topic_in_path("/"), None);
        assert_eq!(topic_in_path("/projects/FOO/subscriptions/S"), None);
    }

    #[test]
    fn unwrapped_pushes_read_their_headers() {
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            ("x-goog-pubsub-message-id", "2"),
            ("x-goog-pubsub-publish-time", "2026-11-29T21:06:05.780Z"),
            (
                "x-goog-pubsub-subscription-name",
                "projects/demo/subscriptions/no-wrapper",
            ),
            ("x-goog-pubsub-ordering-key", "k"),
            (
                "googclient_traceparent",
                "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01",
            ),
            ("kind", "order"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("user-agent", "Java/17.0.15"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        ] {
            headers.insert(
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        assert!(is_unwrapped_push(&headers));
        let (event, _) = unwrapped_to_cloud_event(&headers, b"hello", "/", "now");
        let message = &event["data"]["message"];
        assert_eq!(message["data"], "aGVsbG8=");
        assert_eq!(message["messageId"], "2");
        assert_eq!(message["orderingKey"], "k");
        assert_eq!(
            message["attributes"],
            serde_json::json!({"googclient_traceparent": "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01", "kind": "order"}),
            "attributes only, not the transport's headers"
        );
        assert_eq!(
            event["data"]["subscription"],
            "projects/demo/subscriptions/no-wrapper"
        );
        assert_eq!(event["id"], "2");
        assert_eq!(event["time"], "2026-11-29T21:06:05.780Z");
    }

    #[test]
    fn snake_case_ids_and_the_delivery_attempt_are_read() {
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"message": {"data": "aGk=", "message_id": "7", "publish_time": "2021-02-26T19:13:55.749Z"},
                "subscription": "projects/p/subscriptions/s", "deliveryAttempt": 3}"#,
        )
        .unwrap();
        let (event, attempt) = to_cloud_event(body, "/", "2026-01-01T00:00:00Z");
        assert_eq!(attempt, Some(3));
        assert_eq!(event["id"], "7");
        assert_eq!(event["time"], "2021-02-26T19:13:55.749Z");
        assert_eq!(event["source"], "//pubsub.googleapis.com/");
        assert_eq!(event["data"]["message"]["messageId"], "7");
        assert_eq!(event["data"]["subscription"], "projects/p/subscriptions/s");
    }
}
