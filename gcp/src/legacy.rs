//! Background (gen1, "legacy") events converted to CloudEvents, as the Functions Framework
//! conformance mapping says (functions-framework-conformance `docs/mapping.md`, and the
//! Node framework's `background_event_to_cloud_event` middleware it is tested against):
//! the event type mapped to its CloudEvent type, the resource split into the CloudEvent
//! `source` (`//<service>/<resource>`) and `subject`, Pub/Sub data nested under `message`
//! with its id and publish time, Firebase Auth metadata keys renamed, the Realtime
//! Database's location put into the source.

use serde_json::{Map, Value};

use crate::services::{
    FIREBASE, FIREBASE_AUTH, FIREBASE_DB, FIRESTORE, PUBSUB, PUBSUB_MESSAGE_TYPE, STORAGE,
};

/// A CloudEvent in its JSON (structured) form, built from a background event.
pub(crate) type StructuredEvent = Map<String, Value>;

/// Background event types and the CloudEvent types they become.
const TYPES: &[(&str, &str)] = &[
    (
        "providers/cloud.storage/eventTypes/object.change",
        "google.cloud.storage.object.v1.finalized",
    ),
    (
        "providers/cloud.pubsub/eventTypes/topic.publish",
        "google.cloud.pubsub.topic.v1.messagePublished",
    ),
    (
        "google.pubsub.topic.publish",
        "google.cloud.pubsub.topic.v1.messagePublished",
    ),
    (
        "google.storage.object.finalize",
        "google.cloud.storage.object.v1.finalized",
    ),
    (
        "google.storage.object.delete",
        "google.cloud.storage.object.v1.deleted",
    ),
    (
        "google.storage.object.archive",
        "google.cloud.storage.object.v1.archived",
    ),
    (
        "google.storage.object.metadataUpdate",
        "google.cloud.storage.object.v1.metadataUpdated",
    ),
    (
        "providers/cloud.firestore/eventTypes/document.write",
        "google.cloud.firestore.document.v1.written",
    ),
    (
        "providers/cloud.firestore/eventTypes/document.create",
        "google.cloud.firestore.document.v1.created",
    ),
    (
        "providers/cloud.firestore/eventTypes/document.update",
        "google.cloud.firestore.document.v1.updated",
    ),
    (
        "providers/cloud.firestore/eventTypes/document.delete",
        "google.cloud.firestore.document.v1.deleted",
    ),
    (
        "providers/firebase.auth/eventTypes/user.create",
        "google.firebase.auth.user.v1.created",
    ),
    (
        "providers/firebase.auth/eventTypes/user.delete",
        "google.firebase.auth.user.v1.deleted",
    ),
    (
        "providers/google.firebase.analytics/eventTypes/event.log",
        "google.firebase.analytics.log.v1.written",
    ),
    (
        "providers/google.firebase.database/eventTypes/ref.create",
        "google.firebase.database.ref.v1.created",
    ),
    (
        "providers/google.firebase.database/eventTypes/ref.write",
        "google.firebase.database.ref.v1.written",
    ),
    (
        "providers/google.firebase.database/eventTypes/ref.update",
        "google.firebase.database.ref.v1.updated",
    ),
    (
        "providers/google.firebase.database/eventTypes/ref.delete",
        "google.firebase.database.ref.v1.deleted",
    ),
];

/// Event type prefixes and the CloudEvent service they belong to.
const SERVICES: &[(&str, &str)] = &[
    ("providers/cloud.firestore/", FIRESTORE),
    ("providers/google.firebase.analytics/", FIREBASE),
    ("providers/firebase.auth/", FIREBASE_AUTH),
    ("providers/google.firebase.database/", FIREBASE_DB),
    ("providers/cloud.pubsub/", PUBSUB),
    ("providers/cloud.storage/", STORAGE),
    ("google.pubsub", PUBSUB),
    ("google.storage", STORAGE),
];

/// Why a background event could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LegacyEventError {
    /// Its event type has no CloudEvent equivalent.
    #[error("the background event type {0:?} has no CloudEvent equivalent")]
    UnknownType(String),
    /// Its resource does not have the form its service uses.
    #[error("the background event's resource {0:?} does not have the form its service uses")]
    Resource(String),
    /// A Realtime Database event without a valid `domain`.
    #[error(
        "a Realtime Database event needs a domain (firebaseio.com or <location>.firebasedatabase.app), got {0:?}"
    )]
    Domain(String),
}

/// Whether `body` is a background event: `data`, and an `eventType` and a `resource` at the
/// top level or under `context`.
pub(crate) fn is_background_event(body: &Map<String, Value>) -> bool {
    let context = body
        .get("context")
        .and_then(Value::as_object)
        .unwrap_or(body);
    body.contains_key("data")
        && context.contains_key("eventType")
        && context.contains_key("resource")
}

/// The CloudEvent a background event becomes.
pub(crate) fn to_cloud_event(
    mut body: Map<String, Value>,
) -> Result<StructuredEvent, LegacyEventError> {
    let mut data = body.remove("data").unwrap_or(Value::Null);
    let domain = body
        .get("domain")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let context = match body.remove("context") {
        Some(Value::Object(context)) => context,
        _ => body,
    };
    let text = |key: &str| context.get(key).and_then(Value::as_str).unwrap_or_default();
    let event_type = text("eventType");
    let ce_type = TYPES
        .iter()
        .find(|(background, _)| *background == event_type)
        .map(|(_, ce)| *ce)
        .ok_or_else(|| LegacyEventError::UnknownType(event_type.to_owned()))?;
    let (service, mut resource, mut subject) = split_resource(&context, event_type)?;

    if service == PUBSUB
        && let Value::Object(message) = &mut data
    {
        if !message.contains_key("publishTime") {
            message.insert(
                "publishTime".into(),
                Value::String(text("timestamp").to_owned()),
            );
        }
        if !message.contains_key("messageId") {
            message.insert(
                "messageId".into(),
                Value::String(text("eventId").to_owned()),
            );
        }
        let mut wrapped = Map::new();
        wrapped.insert("message".into(), data);
        data = Value::Object(wrapped);
    }
    if service == FIREBASE_AUTH
        && let Value::Object(user) = &mut data
        && let Some(Value::Object(metadata)) = user.remove("metadata")
    {
        let renamed: Map<String, Value> = metadata
            .into_iter()
            .map(|(key, value)| {
                let key = match key.as_str() {
                    "createdAt" => "createTime".to_owned(),
                    "lastSignedInAt" => "lastSignInTime".to_owned(),
                    _ => key,
                };
                (key, value)
            })
            .collect();
        user.insert("metadata".into(), Value::Object(renamed));
        if let Some(uid) = user.get("uid").and_then(Value::as_str) {
            subject = format!("users/{uid}");
        }
    }
    if service == FIREBASE_DB {
        let domain = domain.unwrap_or_default();
        let location = if domain == "firebaseio.com" {
            "us-central1".to_owned()
        } else {
            domain
                .strip_suffix(".firebasedatabase.app")
                .filter(|l| {
                    !l.is_empty()
                        && l.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                })
                .map(str::to_owned)
                .ok_or_else(|| LegacyEventError::Domain(domain.clone()))?
        };
        resource = format!("projects/_/locations/{location}/{resource}");
    }

    let mut event = Map::new();
    event.insert("specversion".into(), "1.0".into());
    event.insert("type".into(), ce_type.into());
    event.insert("source".into(), format!("//{service}/{resource}").into());
    if !subject.is_empty() {
        event.insert("subject".into(), subject.into());
    }
    event.insert("id".into(), text("eventId").into());
    event.insert("time".into(), text("timestamp").into());
    event.insert("datacontenttype".into(), "application/json".into());
    event.insert("data".into(), data);
    Ok(event)
}

/// The CloudEvent service, resource and subject of a background event's `resource` (a
/// string, or `{service, name}`).
fn split_resource(
    context: &Map<String, Value>,
    event_type: &str,
) -> Result<(&'static str, String, String), LegacyEventError> {
    let (named_service, resource) = match context.get("resource") {
        Some(Value::String(resource)) => (None, resource.clone()),
        Some(Value::Object(resource)) => (
            resource.get("service").and_then(Value::as_str),
            resource
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        _ => (None, String::new()),
    };
    let known = |name: &str| {
        [
            FIREBASE,
            FIREBASE_AUTH,
            FIREBASE_DB,
            FIRESTORE,
            PUBSUB,
            STORAGE,
        ]
        .into_iter()
        .find(|s| *s == name)
    };
    // The Node framework takes the last matching prefix; no two prefixes here overlap.
    let service = named_service
        .and_then(known)
        .or_else(|| {
            SERVICES
                .iter()
                .rev()
                .find(|(prefix, _)| event_type.starts_with(prefix))
                .map(|(_, service)| *service)
        })
        .ok_or_else(|| LegacyEventError::UnknownType(event_type.to_owned()))?;
    let split = match service {
        FIREBASE => split_at(&resource, &["projects", "*"], "events", Some(1)),
        FIREBASE_DB => split_db(&resource),
        FIRESTORE => split_at(
            &resource,
            &["projects", "*", "databases", "(default)"],
            "documents",
            None,
        ),
        STORAGE => split_storage(&resource),
        _ => return Ok((service, resource, String::new())),
    };
    split
        .map(|(resource, subject)| (service, resource, subject))
        .ok_or(LegacyEventError::Resource(resource))
}

/// `<prefix>/<subject_head>/<rest>`: `prefix` is segments (`*` = any one non-empty
/// segment); the subject starts at `subject_head`, followed by `rest_segments` segments
/// exactly (or at least one when `None`).
fn split_at(
    resource: &str,
    prefix: &[&str],
    subject_head: &str,
    rest_segments: Option<usize>,
) -> Option<(String, String)> {
    let segments: Vec<&str> = resource.split('/').collect();
    if segments.len() < prefix.len() + 2 {
        return None;
    }
    for (segment, pattern) in segments.iter().zip(prefix) {
        if segment.is_empty() || (*pattern != "*" && segment != pattern) {
            return None;
        }
    }
    let rest = &segments[prefix.len()..];
    if rest[0] != subject_head {
        return None;
    }
    let tail = &rest[1..];
    let ok = match rest_segments {
        Some(n) => tail.len() == n && tail.iter().all(|s| !s.is_empty()),
        None => !tail.is_empty() && !tail.join("/").is_empty(),
    };
    ok.then(|| (segments[..prefix.len()].join("/"), rest.join("/")))
}

/// `projects/<one character>/instances/<instance>/refs/<path>` → (`instances/<instance>`,
/// `refs/<path>`), as the conformance mapping's pattern has it (the project is `_`).
fn split_db(resource: &str) -> Option<(String, String)> {
    let rest = resource.strip_prefix("projects/")?;
    let mut chars = rest.chars();
    let project = chars.next()?;
    if project == '/' {
        return None;
    }
    let rest = chars.as_str().strip_prefix("/instances/")?;
    let (instance, refs) = rest.split_once("/refs/")?;
    if instance.is_empty() || instance.contains('/') || refs.is_empty() {
        return None;
    }
    Some((format!("instances/{instance}"), format!("refs/{refs}")))
}

/// `projects/<one character>/buckets/<bucket>/objects/<name>` → (`projects/_/buckets/<bucket>`,
/// `objects/<name>`).
fn split_storage(resource: &str) -> Option<(String, String)> {
    let rest = resource.strip_prefix("projects/")?;
    let mut chars = rest.chars();
    let project = chars.next()?;
    if project == '/' {
        return None;
    }
    let rest = chars.as_str().strip_prefix("/buckets/")?;
    let (bucket, object) = rest.split_once("/objects/")?;
    if bucket.is_empty() || bucket.contains('/') || object.is_empty() {
        return None;
    }
    Some((
        format!("projects/{project}/buckets/{bucket}"),
        format!("objects/{object}"),
    ))
}

/// The Pub/Sub `@type` every converted message carries.
pub(crate) fn pubsub_message_type() -> Value {
    Value::String(PUBSUB_MESSAGE_TYPE.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_split_as_the_mapping_says() {
        assert_eq!(
            split_storage("projects/_/buckets/b/objects/a/b.txt"),
            Some(("projects/_/buckets/b".into(), "objects/a/b.txt".into()))
        );
        assert_eq!(
            split_storage("projects/p1/buckets/b/objects/x"),
            None,
            "one character"
        );
        assert_eq!(
            split_db("projects/_/instances/db/refs/a/b"),
            Some(("instances/db".into(), "refs/a/b".into()))
        );
        assert_eq!(
            split_at("projects/p/events/e", &["projects", "*"], "events", Some(1)),
            Some(("projects/p".into(), "events/e".into()))
        );
        assert_eq!(
            split_at(
                "projects/p/events/e/f",
                &["projects", "*"],
                "events",
                Some(1)
            ),
            None
        );
        assert_eq!(
            split_at(
                "projects/p/databases/(default)/documents/c/d",
                &["projects", "*", "databases", "(default)"],
                "documents",
                None
            ),
            Some((
                "projects/p/databases/(default)".into(),
                "documents/c/d".into()
            ))
        );
    }

    #[test]
    fn unknown_types_and_bad_resources_are_errors() {
        let unknown: Map<String, Value> = serde_json::from_str(
            r#"{"eventType": "providers/x/eventTypes/y", "resource": "r", "data": {}}"#,
        )
        .unwrap();
        assert!(matches!(
            to_cloud_event(unknown),
            Err(LegacyEventError::UnknownType(_))
        ));
        let bad: Map<String, Value> = serde_json::from_str(
            r#"{"eventType": "google.storage.object.finalize", "resource": "buckets/b", "data": {}}"#,
        )
        .unwrap();
        assert!(matches!(
            to_cloud_event(bad),
            Err(LegacyEventError::Resource(_))
        ));
        let no_domain: Map<String, Value> = serde_json::from_str(
            r#"{"eventType": "providers/google.firebase.database/eventTypes/ref.write",
                "resource": "projects/_/instances/i/refs/r", "data": {}}"#,
        )
        .unwrap();
        assert!(matches!(
            to_cloud_event(no_domain),
            Err(LegacyEventError::Domain(_))
        ));
    }
}
