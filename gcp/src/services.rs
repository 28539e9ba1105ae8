//! The CloudEvent services (the host part of a Google event's `source`).

/// Firebase (Analytics).
pub(crate) const FIREBASE: &str = "firebase.googleapis.com";
/// Firebase Authentication.
pub(crate) const FIREBASE_AUTH: &str = "firebaseauth.googleapis.com";
/// Firebase Realtime Database.
pub(crate) const FIREBASE_DB: &str = "firebasedatabase.googleapis.com";
/// Firestore.
pub(crate) const FIRESTORE: &str = "firestore.googleapis.com";
/// Pub/Sub.
pub(crate) const PUBSUB: &str = "pubsub.googleapis.com";
/// Cloud Storage.
pub(crate) const STORAGE: &str = "storage.googleapis.com";

/// The `@type` of a Pub/Sub message inside an event.
pub(crate) const PUBSUB_MESSAGE_TYPE: &str = "type.googleapis.com/google.pubsub.v1.PubsubMessage";

/// The CloudEvent type of a Pub/Sub message.
pub const PUBSUB_MESSAGE_PUBLISHED: &str = "google.cloud.pubsub.topic.v1.messagePublished";
