//! The reply: `{"Outputs": {…}, "Logs": […], "ReturnValue": …}`.

use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::function_json::FunctionJson;
use crate::http_messages::HttpResponse;

/// What a function returns: output binding values, a return value, and for an HTTP
/// function its response. Log lines are added by the app (see
/// [`FunctionApp`](crate::FunctionApp)), never written by hand.
///
/// The host tries to base64-decode every string output (unless the binding's `dataType`
/// is `binary`): a string that happens to be valid base64 (`"abcd"`) would reach the queue
/// as other bytes. So string outputs are base64-encoded here, deliberately, and the host's
/// decoding gives back exactly the text written.
///
/// ```
/// use otel_faas_azure::{HttpResponse, Reply};
///
/// let reply = Reply::new()
///     .output("message", serde_json::json!({"id": 1005}))
///     .output_text("audit", "abcd")
///     .http(HttpResponse::ok("Order enqueued"));
/// # drop(reply);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Reply {
    outputs: Map<String, Value>,
    texts: Vec<String>,
    return_value: Option<Value>,
    http: Option<HttpResponse>,
    pub(crate) logs: Vec<String>,
}

impl Reply {
    /// A reply with nothing set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets output binding `name` to `value` (a JSON object or array is sent as it is; a
    /// JSON string is sent as text, see [`output_text`](Self::output_text)).
    #[must_use]
    pub fn output(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        match value.into() {
            Value::String(text) => return self.output_text(name, text),
            value => {
                self.outputs.insert(name, value);
            }
        }
        self
    }

    /// Sets output binding `name` to `text`, encoded so the host delivers exactly it.
    #[must_use]
    pub fn output_text(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        let name = name.into();
        self.outputs
            .insert(name.clone(), Value::String(text.into()));
        self.texts.push(name);
        self
    }

    /// Sets `ReturnValue` (the `$return` binding).
    #[must_use]
    pub fn return_value(mut self, value: impl Into<Value>) -> Self {
        self.return_value = Some(value.into());
        self
    }

    /// Sets the HTTP response of an HTTP function (its `http` output binding, or `$return`).
    #[must_use]
    pub fn http(mut self, response: HttpResponse) -> Self {
        self.http = Some(response);
        self
    }

    /// The HTTP response, if set.
    pub fn http_response(&self) -> Option<&HttpResponse> {
        self.http.as_ref()
    }

    /// Takes the HTTP response out (forwarding and proxying modes answer with it directly).
    pub(crate) fn take_http(&mut self) -> Option<HttpResponse> {
        self.http.take()
    }

    /// The envelope the host reads, for `function`.
    pub(crate) fn to_envelope(&self, function: &FunctionJson) -> Value {
        let binary = |name: &str| {
            function.outputs().any(|b| {
                b.name() == name
                    && b.setting("dataType")
                        .is_some_and(|t| t.eq_ignore_ascii_case("binary"))
            })
        };
        let encode = |name: &str, value: &Value| match value {
            Value::String(text) if !binary(name) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(text))
            }
            other => other.clone(),
        };
        let mut outputs = Map::new();
        for (name, value) in &self.outputs {
            let value = if self.texts.iter().any(|t| t == name) {
                encode(name, value)
            } else {
                value.clone()
            };
            outputs.insert(name.clone(), value);
        }
        let mut return_value = self
            .return_value
            .as_ref()
            .map(|value| encode("$return", value));
        if let Some(response) = &self.http {
            match function.http_output() {
                Some("$return") => return_value = Some(response.to_host_json()),
                Some(name) => {
                    outputs.insert(name.to_owned(), response.to_host_json());
                }
                // No http output in function.json: `res` is the name every sample uses.
                None => {
                    outputs.insert("res".to_owned(), response.to_host_json());
                }
            }
        }
        serde_json::json!({
            "Outputs": outputs,
            "Logs": self.logs,
            "ReturnValue": return_value,
        })
    }
}

/// What a handler may return: a [`Reply`], an [`HttpResponse`], `()`, or a `String` /
/// JSON value as the return value.
///
/// ```
/// use otel_faas_azure::{IntoReply, Reply};
///
/// /// A handler's own result type, turned into output bindings.
/// struct Receipt { order: u64 }
///
/// impl IntoReply for Receipt {
///     fn into_reply(self) -> Reply {
///         Reply::new().output("receipts", serde_json::json!({"order": self.order}))
///     }
/// }
/// # drop(Receipt { order: 1 }.into_reply());
/// ```
pub trait IntoReply {
    /// The reply.
    fn into_reply(self) -> Reply;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

impl IntoReply for () {
    fn into_reply(self) -> Reply {
        Reply::new()
    }
}

impl IntoReply for HttpResponse {
    fn into_reply(self) -> Reply {
        Reply::new().http(self)
    }
}

impl IntoReply for String {
    fn into_reply(self) -> Reply {
        Reply::new().return_value(self)
    }
}

impl IntoReply for Value {
    fn into_reply(self) -> Reply {
        Reply::new().return_value(self)
    }
}

/// A reply ready to send: the envelope, or (forwarding and proxying modes) the plain
/// HTTP response.
#[derive(Debug)]
pub(crate) enum Encoded {
    Envelope(Value, Option<u16>),
    Http(HttpResponse),
}

impl IntoResponse for Encoded {
    fn into_response(self) -> Response {
        match self {
            Self::Envelope(envelope, _) => (
                [(
                    http::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )],
                envelope.to_string(),
            )
                .into_response(),
            Self::Http(response) => response.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_encoded_for_the_hosts_decoding_and_http_goes_where_function_json_says() {
        let function = FunctionJson::parse(
            "order",
            br#"{"bindings":[{"type":"httpTrigger","name":"req","direction":"in"},{"type":"http","name":"res","direction":"out"},{"type":"queue","name":"message","direction":"out"},{"type":"blob","name":"raw","direction":"out","dataType":"binary"}]}"#,
        )
        .unwrap();
        let mut reply = Reply::new()
            .output("message", "abcd")
            .output("raw", "abcd")
            .output("many", serde_json::json!(["a", "b"]))
            .http(HttpResponse::new(201).body("made"));
        reply.logs.push("line".to_owned());
        let envelope = reply.to_envelope(&function);
        assert_eq!(envelope["Outputs"]["message"], "YWJjZA==");
        assert_eq!(envelope["Outputs"]["raw"], "abcd");
        assert_eq!(envelope["Outputs"]["many"], serde_json::json!(["a", "b"]));
        assert_eq!(envelope["Outputs"]["res"]["statusCode"], "201");
        assert_eq!(envelope["Logs"][0], "line");
        assert!(envelope["ReturnValue"].is_null());

        let returning = FunctionJson::parse(
            "f",
            br#"{"bindings":[{"type":"httpTrigger","name":"req","direction":"in"},{"type":"http","name":"$return","direction":"out"}]}"#,
        )
        .unwrap();
        let envelope = Reply::new()
            .http(HttpResponse::ok("hi"))
            .to_envelope(&returning);
        assert_eq!(envelope["ReturnValue"]["body"], "hi");
        assert!(envelope["Outputs"].as_object().unwrap().is_empty());
    }
}
