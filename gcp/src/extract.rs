//! What a CloudEvent function takes: read from the decoded request, as axum's
//! `FromRequest` reads a handler's arguments.

use crate::{CloudEventRequest, PubSubMessage, StorageObject};

/// A CloudEvent function's argument, read from the request.
///
/// ```
/// use otel_faas_gcp::{CloudEventRequest, FromCloudEvent};
///
/// /// Only the event's id.
/// struct EventId(String);
///
/// impl FromCloudEvent for EventId {
///     fn from_cloud_event(request: CloudEventRequest) -> Result<Self, String> {
///         use otel_faas_gcp::events::AttributesReader as _;
///         Ok(EventId(request.event().id().to_owned()))
///     }
/// }
/// ```
pub trait FromCloudEvent: Sized {
    /// Reads the argument; the error says what the event lacks.
    fn from_cloud_event(request: CloudEventRequest) -> Result<Self, String>;
}

impl FromCloudEvent for CloudEventRequest {
    fn from_cloud_event(request: CloudEventRequest) -> Result<Self, String> {
        Ok(request)
    }
}

impl FromCloudEvent for cloudevents::Event {
    fn from_cloud_event(request: CloudEventRequest) -> Result<Self, String> {
        Ok(request.into_event())
    }
}

impl FromCloudEvent for PubSubMessage {
    fn from_cloud_event(request: CloudEventRequest) -> Result<Self, String> {
        PubSubMessage::from_request(&request)
    }
}

impl FromCloudEvent for StorageObject {
    fn from_cloud_event(request: CloudEventRequest) -> Result<Self, String> {
        StorageObject::from_request(&request)
    }
}
