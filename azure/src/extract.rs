//! Typed handler inputs, read from the invocation once, at the edge.

use serde_json::Value;

use crate::function_json::FunctionJson;
use crate::http_messages::HttpRequest;
use crate::request::InvocationRequest;
use crate::triggers::blob::BlobInput;
use crate::triggers::event_hubs::EventHubEvent;
use crate::triggers::queue::QueueMessage;
use crate::triggers::service_bus::ServiceBusMessage;
use crate::triggers::timer::TimerInfo;
use crate::value;

/// A handler argument read from an invocation, in the spirit of axum's `FromRequest`.
///
/// Implemented for each trigger's input ([`HttpRequest`], [`QueueMessage`], [`TimerInfo`],
/// [`ServiceBusMessage`] and `Vec<ServiceBusMessage>` for batches, [`EventHubEvent`] and
/// `Vec<EventHubEvent>`, [`BlobInput`]), for `serde_json::Value` (the trigger binding's
/// value, its string layer undone), and for [`InvocationRequest`] itself (everything the host
/// sent). An input that cannot be read fails the invocation with `error.type` =
/// `invalid_event` (core's `INVALID_EVENT_ERROR_TYPE`) and the reason.
///
/// ```
/// use otel_faas_azure::{FromInvocation, InvocationRequest, function_json::FunctionJson};
///
/// /// A handler argument of your own: the order id a queue message holds.
/// struct OrderId(u64);
///
/// impl FromInvocation for OrderId {
///     fn from_invocation(request: InvocationRequest, function: &FunctionJson) -> Result<Self, String> {
///         let binding = function.trigger().map(|b| b.name().to_owned());
///         let text = request.data_text(binding.as_deref().unwrap_or("order")).ok_or("no message")?;
///         text.trim().parse().map(OrderId).map_err(|_| format!("{text:?} is not an order id"))
///     }
/// }
/// ```
pub trait FromInvocation: Sized {
    /// Reads the input; the error says what is wrong with the invocation.
    fn from_invocation(request: InvocationRequest, function: &FunctionJson)
    -> Result<Self, String>;
}

fn binding(function: &FunctionJson) -> Option<&str> {
    function.trigger().map(|b| b.name())
}

impl FromInvocation for InvocationRequest {
    fn from_invocation(request: InvocationRequest, _: &FunctionJson) -> Result<Self, String> {
        Ok(request)
    }
}

impl FromInvocation for Value {
    fn from_invocation(
        request: InvocationRequest,
        function: &FunctionJson,
    ) -> Result<Self, String> {
        let value = match binding(function) {
            Some(binding) => value::member(request.data(), binding),
            None => request.data().values().next(),
        };
        Ok(value.map(value::json).unwrap_or(Value::Null))
    }
}

impl FromInvocation for HttpRequest {
    fn from_invocation(
        mut request: InvocationRequest,
        function: &FunctionJson,
    ) -> Result<Self, String> {
        if let Some(forwarded) = request.forwarded.take() {
            return Ok(forwarded);
        }
        let value = match binding(function) {
            Some(binding) => value::member(request.data(), binding),
            // No function.json: the one value shaped like a request.
            None => request
                .data()
                .values()
                .find(|v| v.get("Method").is_some() || v.get("Url").is_some()),
        }
        .ok_or_else(|| "Data holds no HTTP request".to_owned())?;
        HttpRequest::from_host_json(value)
    }
}

impl FromInvocation for QueueMessage {
    fn from_invocation(
        request: InvocationRequest,
        function: &FunctionJson,
    ) -> Result<Self, String> {
        QueueMessage::from_request(&request, binding(function))
    }
}

impl FromInvocation for TimerInfo {
    fn from_invocation(
        request: InvocationRequest,
        function: &FunctionJson,
    ) -> Result<Self, String> {
        Ok(TimerInfo::from_request(&request, binding(function)))
    }
}

impl FromInvocation for BlobInput {
    fn from_invocation(
        request: InvocationRequest,
        function: &FunctionJson,
    ) -> Result<Self, String> {
        Ok(BlobInput::from_request(&request, binding(function)))
    }
}

/// The one message of a single-message trigger; a batch trigger needs the `Vec` input.
fn single<T>(function: &FunctionJson, batch_input: &str, mut items: Vec<T>) -> Result<T, String> {
    if is_batch(function) {
        return Err(format!(
            "the function receives batches (cardinality many): take {batch_input}"
        ));
    }
    items
        .pop()
        .ok_or_else(|| "Data holds no message".to_owned())
}

fn is_batch(function: &FunctionJson) -> bool {
    function.trigger().is_some_and(|b| b.is_batch())
}

impl FromInvocation for Vec<ServiceBusMessage> {
    fn from_invocation(
        request: InvocationRequest,
        function: &FunctionJson,
    ) -> Result<Self, String> {
        Ok(ServiceBusMessage::batch_from_request(
            &request,
            binding(function),
            is_batch(function),
        ))
    }
}

impl FromInvocation for ServiceBusMessage {
    fn from_invocation(
        request: InvocationRequest,
        function: &FunctionJson,
    ) -> Result<Self, String> {
        single(
            function,
            "Vec<ServiceBusMessage>",
            ServiceBusMessage::batch_from_request(&request, binding(function), false),
        )
    }
}

impl FromInvocation for Vec<EventHubEvent> {
    fn from_invocation(
        request: InvocationRequest,
        function: &FunctionJson,
    ) -> Result<Self, String> {
        Ok(EventHubEvent::batch_from_request(
            &request,
            binding(function),
            is_batch(function),
        ))
    }
}

impl FromInvocation for EventHubEvent {
    fn from_invocation(
        request: InvocationRequest,
        function: &FunctionJson,
    ) -> Result<Self, String> {
        single(
            function,
            "Vec<EventHubEvent>",
            EventHubEvent::batch_from_request(&request, binding(function), false),
        )
    }
}
