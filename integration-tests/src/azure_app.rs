//! A function app hosted as the Functions host hosts it, on top of [`MiniHost`]: the app's
//! `host.json` and `function.json` files read, HTTP requests turned into invocations of the
//! function whose route matches, queue outputs written to Azurite, and queue triggers fed
//! from Azurite queues — taken, completed, released or moved to the poison queue as the
//! host's queue listener does (azure-webjobs-sdk `QueueListener` and `QueueProcessor`).
//!
//! The Storage queue behaviour copied from the host:
//! * Get Messages in batches (16 by default, `extensions.queues.batchSize`), hidden for
//!   10 minutes while the function runs.
//! * The message text base64-decoded (the default `messageEncoding`; `none` keeps it as
//!   stored); a text that is not base64 goes straight to the poison queue.
//! * The envelope as real captures have it: the text JSON-encoded a second time under the
//!   trigger's binding name; `Id` and `PopReceipt` likewise; `DequeueCount` as a string;
//!   times in ISO 8601 with `+00:00`.
//! * A 2xx reply deletes the message; any other fails the invocation and releases the
//!   message (visible again at once, `extensions.queues.visibilityTimeout` = 0) until its
//!   dequeue count reaches `maxDequeueCount` (5): then it is copied to `<queue>-poison` and
//!   deleted.
//! * Queue outputs: the host base64-decodes every string output it can (the handler
//!   encodes deliberately), and enqueues the bytes base64-encoded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::ReceiverError;
use crate::azure_host::{HostResponse, MiniHost};
use crate::azurite::{Azurite, StorageQueue, StoredMessage};

/// How long a taken message stays hidden while its function runs (the host's default).
const PROCESSING_VISIBILITY: Duration = Duration::from_secs(600);

/// One function of the app: its name and `function.json` bindings.
#[derive(Debug, Clone)]
pub struct HostedFunction {
    /// The function's name (its folder).
    pub name: String,
    /// Its bindings, as written.
    pub bindings: Vec<Value>,
}

impl HostedFunction {
    fn trigger(&self) -> Option<&Value> {
        self.bindings.iter().find(|b| {
            b["direction"].as_str() == Some("in")
                && b["type"]
                    .as_str()
                    .is_some_and(|t| t.to_ascii_lowercase().ends_with("trigger"))
        })
    }

    fn trigger_type(&self) -> Option<String> {
        self.trigger()
            .and_then(|b| b["type"].as_str())
            .map(str::to_ascii_lowercase)
    }

    fn trigger_name(&self) -> String {
        self.trigger()
            .and_then(|b| b["name"].as_str())
            .unwrap_or("input")
            .to_owned()
    }

    /// The queue a `queueTrigger` function listens to.
    pub fn trigger_queue(&self) -> Option<&str> {
        if self.trigger_type().as_deref() != Some("queuetrigger") {
            return None;
        }
        self.trigger().and_then(|b| b["queueName"].as_str())
    }
}

/// What happened to one message taken from a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOutcome {
    /// The function succeeded; the message was deleted.
    Completed,
    /// The function failed; the message is visible again for another try.
    Released,
    /// The function failed on the last allowed try, or the text could not be decoded: the
    /// message was copied to `<queue>-poison` and deleted.
    Poisoned,
}

/// One delivery of a queue message to a function.
#[derive(Debug, Clone)]
pub struct QueueDelivery {
    /// The function invoked (none when the message was poisoned undecoded).
    pub function: String,
    /// The message id.
    pub message_id: String,
    /// The dequeue count of this delivery.
    pub dequeue_count: u32,
    /// The handler's answer (`None` when it was not invoked).
    pub response: Option<HostResponse>,
    /// What the host did with the message.
    pub outcome: QueueOutcome,
}

/// How the host hands HTTP requests to the handler (`customHandler` in host.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpForwarding {
    /// The request inside the `{Data, Metadata}` envelope.
    Envelope,
    /// `enableForwardingHttpRequest`: the request itself, at its own path.
    Forwarding,
    /// `enableProxyingHttpRequest`: the request itself, with `x-ms-invocation-id`.
    Proxying,
}

/// A function app, hosted.
pub struct FunctionAppHost {
    host: MiniHost,
    root: PathBuf,
    functions: Vec<HostedFunction>,
    route_prefix: String,
    http_mode: HttpForwarding,
    batch_size: u32,
    max_dequeue_count: u32,
    base64_messages: bool,
    queues: Option<String>,
    azurite: Option<Azurite>,
    invocations: AtomicU64,
}

impl FunctionAppHost {
    /// Reads the app at `root` (its `host.json` and every `<function>/function.json`); the
    /// handler answers on `host`. Queue bindings use `azurite` (without it, a queue output
    /// or trigger is an error).
    pub fn load(
        root: &Path,
        host: MiniHost,
        azurite: Option<Azurite>,
    ) -> Result<Self, ReceiverError> {
        let read = |path: &Path| -> Result<Value, ReceiverError> {
            let text = std::fs::read(path)
                .map_err(|e| ReceiverError::Start(format!("{}: {e}", path.display())))?;
            // Some function.json files start with a UTF-8 BOM, which the host accepts.
            let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
            serde_json::from_slice(text)
                .map_err(|e| ReceiverError::Start(format!("{}: {e}", path.display())))
        };
        let host_json = read(&root.join("host.json"))?;
        let mut functions = Vec::new();
        let entries = std::fs::read_dir(root)
            .map_err(|e| ReceiverError::Start(format!("{}: {e}", root.display())))?;
        for entry in entries.filter_map(Result::ok) {
            let file = entry.path().join("function.json");
            if file.is_file() {
                let json = read(&file)?;
                functions.push(HostedFunction {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    bindings: json["bindings"].as_array().cloned().unwrap_or_default(),
                });
            }
        }
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        let queues = &host_json["extensions"]["queues"];
        let handler = &host_json["customHandler"];
        let http_mode = if handler["enableProxyingHttpRequest"].as_bool() == Some(true) {
            HttpForwarding::Proxying
        } else if handler["enableForwardingHttpRequest"].as_bool() == Some(true) {
            HttpForwarding::Forwarding
        } else {
            HttpForwarding::Envelope
        };
        Ok(Self {
            http_mode,
            host,
            root: root.to_owned(),
            functions,
            route_prefix: host_json["extensions"]["http"]["routePrefix"]
                .as_str()
                .unwrap_or("api")
                .trim_matches('/')
                .to_owned(),
            batch_size: queues["batchSize"]
                .as_u64()
                .map_or(16, |n| n.clamp(1, 32) as u32),
            max_dequeue_count: queues["maxDequeueCount"]
                .as_u64()
                .map_or(5, |n| n.max(1) as u32),
            base64_messages: !queues["messageEncoding"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case("none")),
            queues: azurite.as_ref().map(Azurite::queue_endpoint),
            azurite,
            invocations: AtomicU64::new(0),
        })
    }

    /// The app's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The functions read from the app.
    pub fn functions(&self) -> &[HostedFunction] {
        &self.functions
    }

    /// How HTTP requests reach the handler.
    pub fn http_mode(&self) -> HttpForwarding {
        self.http_mode
    }

    /// The route prefix (`extensions.http.routePrefix`, `api` by default).
    pub fn route_prefix(&self) -> &str {
        &self.route_prefix
    }

    /// The handler's transport.
    pub fn mini_host(&self) -> MiniHost {
        self.host
    }

    /// The Azurite queue endpoint in use, if any.
    pub fn queue_endpoint(&self) -> Option<&str> {
        self.queues.as_deref()
    }

    fn queue(&self, name: &str) -> Result<StorageQueue, ReceiverError> {
        let azurite = self.azurite.as_ref().ok_or_else(|| {
            ReceiverError::Start(format!(
                "queue {name:?} is bound, but the mini host runs without Azurite"
            ))
        })?;
        let queue = azurite.queue(name);
        queue.create()?;
        Ok(queue)
    }

    fn next_invocation_id(&self) -> String {
        let n = self.invocations.fetch_add(1, Ordering::Relaxed);
        format!("00000000-0000-4000-8000-{n:012x}")
    }

    fn sys(&self, function: &str) -> Value {
        let now = chrono::Utc::now();
        json!({
            "MethodName": function,
            "UtcNow": now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "RandGuid": self.next_invocation_id(),
        })
    }

    /// The function whose HTTP trigger matches `method` and `path` (under the route
    /// prefix), with the route's parameters.
    pub fn route(&self, method: &str, path: &str) -> Option<(&HostedFunction, Map<String, Value>)> {
        let path = path.split('?').next().unwrap_or_default().trim_matches('/');
        let path = if self.route_prefix.is_empty() {
            path
        } else {
            path.strip_prefix(self.route_prefix.as_str())?
                .trim_start_matches('/')
        };
        self.functions.iter().find_map(|function| {
            if function.trigger_type().as_deref() != Some("httptrigger") {
                return None;
            }
            let trigger = function.trigger()?;
            let allowed = trigger["methods"].as_array().is_none_or(|methods| {
                methods
                    .iter()
                    .any(|m| m.as_str().is_some_and(|m| m.eq_ignore_ascii_case(method)))
            });
            if !allowed {
                return None;
            }
            let template = trigger["route"].as_str().unwrap_or(&function.name);
            match_route(template, path).map(|params| (function, params))
        })
    }

    /// One HTTP request as the host takes it. In the default mode the function whose route
    /// matches is invoked with `{Data: {<trigger>: req}, Metadata}`, its queue outputs are
    /// enqueued, and the answer is its HTTP output; in the forwarding and proxying modes an
    /// HTTP-in-and-out function gets the request itself. 404 when no route matches.
    pub fn http(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HostResponse, ReceiverError> {
        let Some((function, params)) = self.route(method, path_and_query) else {
            return Ok(HostResponse {
                status: 404,
                headers: Vec::new(),
                body: String::new(),
            });
        };
        let http_only = function.bindings.iter().all(|b| {
            b["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("httpTrigger") || t == "http")
        });
        if self.http_mode != HttpForwarding::Envelope && http_only {
            // The request itself, at its own path, answered as is.
            let invocation_id = self.next_invocation_id();
            let mut forwarded: Vec<(&str, &str)> = headers
                .iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
                .copied()
                .collect();
            if self.http_mode == HttpForwarding::Proxying {
                forwarded.push(("x-ms-invocation-id", &invocation_id));
            }
            return self
                .host
                .send(method, path_and_query, &forwarded, Some(body), false)
                .map_err(|e| ReceiverError::Start(format!("{method} {path_and_query}: {e}")));
        }
        let mut query = Map::new();
        if let Some((_, raw)) = path_and_query.split_once('?') {
            for pair in raw.split('&').filter(|p| !p.is_empty()) {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                query.insert(name.to_owned(), Value::String(value.to_owned()));
            }
        }
        let mut header_lists = Map::new();
        let mut header_values = Map::new();
        let mut host_name = "localhost".to_owned();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("host") {
                host_name = (*value).to_owned();
            }
            header_lists.insert((*name).to_owned(), json!([value]));
            header_values.insert((*name).to_owned(), Value::String((*value).to_owned()));
        }
        let request = json!({
            "Url": format!("http://{host_name}{path_and_query}"),
            "Method": method.to_ascii_uppercase(),
            "Query": query,
            "Headers": header_lists,
            "Params": params,
            "Identities": [],
            "Body": String::from_utf8_lossy(body),
        });
        let mut data = Map::new();
        data.insert(function.trigger_name(), request);
        let mut metadata = params.clone();
        metadata.insert("Query".to_owned(), Value::Object(query));
        metadata.insert("Headers".to_owned(), Value::Object(header_values));
        metadata.insert("sys".to_owned(), self.sys(&function.name));
        // The host passes its own activity's context; a caller's traceparent is in the
        // request's headers, where the handler finds it.
        let reply = self.host.invoke(
            &function.name,
            &self.next_invocation_id(),
            &Value::Object(data),
            &Value::Object(metadata),
            &[],
            true,
        )?;
        if !(200..300).contains(&reply.status) {
            // A failed invocation: the host answers 500 itself.
            return Ok(HostResponse {
                status: 500,
                headers: Vec::new(),
                body: reply.body,
            });
        }
        let envelope = reply.json();
        self.write_outputs(function, &envelope)?;
        let http_output = function
            .bindings
            .iter()
            .find(|b| b["type"].as_str() == Some("http") && b["direction"] == "out")
            .and_then(|b| b["name"].as_str())
            .unwrap_or("res");
        let response = if http_output == "$return" {
            &envelope["ReturnValue"]
        } else {
            &envelope["Outputs"][http_output]
        };
        let status = match &response["statusCode"] {
            Value::String(code) => code.parse().unwrap_or(500),
            Value::Number(code) => code.as_u64().map_or(500, |c| c as u16),
            _ => 200,
        };
        let headers = response["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(HostResponse {
            status,
            headers,
            body: response["body"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// Enqueues the reply's queue outputs as the host's output binding does.
    fn write_outputs(
        &self,
        function: &HostedFunction,
        envelope: &Value,
    ) -> Result<(), ReceiverError> {
        for binding in &function.bindings {
            if binding["type"].as_str() != Some("queue") || binding["direction"] != "out" {
                continue;
            }
            let (Some(name), Some(queue)) =
                (binding["name"].as_str(), binding["queueName"].as_str())
            else {
                continue;
            };
            let value = if name == "$return" {
                &envelope["ReturnValue"]
            } else {
                &envelope["Outputs"][name]
            };
            let values: Vec<&Value> = match value {
                Value::Null => continue,
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            let queue = self.queue(queue)?;
            for value in values {
                let bytes = match value {
                    // The host decodes every string that is valid base64.
                    Value::String(text) => BASE64
                        .decode(text)
                        .unwrap_or_else(|_| text.clone().into_bytes()),
                    other => other.to_string().into_bytes(),
                };
                queue.put_base64(&bytes)?;
            }
        }
        Ok(())
    }

    /// Runs a non-HTTP function now, as the host's admin API does
    /// (`POST /admin/functions/<name>` with `{"input": "…"}`): a timer gets a `TimerInfo`
    /// that is not past due, any other trigger `input` as its message text. `None` when
    /// the app has no such function or it is HTTP-triggered.
    pub fn run_now(&self, name: &str, input: &str) -> Option<Result<HostResponse, ReceiverError>> {
        let function = self
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))?;
        let kind = function.trigger_type()?;
        if kind == "httptrigger" {
            return None;
        }
        let value = if kind == "timertrigger" {
            json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false})
        } else {
            Value::String(Value::String(input.to_owned()).to_string())
        };
        let mut data = Map::new();
        data.insert(function.trigger_name(), value);
        let metadata = json!({"sys": self.sys(&function.name)});
        Some(
            self.host
                .invoke(
                    &function.name,
                    &self.next_invocation_id(),
                    &Value::Object(data),
                    &metadata,
                    &[],
                    true,
                )
                .and_then(|reply| {
                    if (200..300).contains(&reply.status) {
                        self.write_outputs(function, &reply.json())?;
                    }
                    Ok(reply)
                }),
        )
    }

    /// Takes the visible messages of every queue a function listens to, once, and delivers
    /// each to its function as the host does; returns what happened to each.
    pub fn poll_queues(&self) -> Result<Vec<QueueDelivery>, ReceiverError> {
        let mut deliveries = Vec::new();
        for function in &self.functions {
            let Some(queue_name) = function.trigger_queue() else {
                continue;
            };
            let queue = self.queue(queue_name)?;
            for message in queue.receive(self.batch_size, PROCESSING_VISIBILITY)? {
                deliveries.push(self.deliver(function, &queue, message)?);
            }
        }
        Ok(deliveries)
    }

    fn deliver(
        &self,
        function: &HostedFunction,
        queue: &StorageQueue,
        message: StoredMessage,
    ) -> Result<QueueDelivery, ReceiverError> {
        let text = if self.base64_messages {
            match BASE64
                .decode(message.text.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
            {
                Some(text) => text,
                None => {
                    self.poison(queue, &message)?;
                    return Ok(QueueDelivery {
                        function: function.name.clone(),
                        message_id: message.id,
                        dequeue_count: message.dequeue_count,
                        response: None,
                        outcome: QueueOutcome::Poisoned,
                    });
                }
            }
        } else {
            message.text.clone()
        };
        let encoded = |value: &str| Value::String(Value::String(value.to_owned()).to_string());
        let mut data = Map::new();
        data.insert(function.trigger_name(), encoded(&text));
        let metadata = json!({
            "DequeueCount": message.dequeue_count.to_string(),
            "ExpirationTime": iso_time(&message.expiration_time),
            "Id": encoded(&message.id),
            "InsertionTime": iso_time(&message.insertion_time),
            "NextVisibleTime": iso_time(&message.next_visible_time),
            "PopReceipt": encoded(&message.pop_receipt),
            "sys": self.sys(&function.name),
        });
        let response = self.host.invoke(
            &function.name,
            &self.next_invocation_id(),
            &Value::Object(data),
            &metadata,
            &[],
            true,
        )?;
        let outcome = if (200..300).contains(&response.status) {
            self.write_outputs(function, &response.json())?;
            queue.delete(&message)?;
            QueueOutcome::Completed
        } else if message.dequeue_count >= self.max_dequeue_count {
            self.poison(queue, &message)?;
            QueueOutcome::Poisoned
        } else {
            queue.release(&message, Duration::ZERO)?;
            QueueOutcome::Released
        };
        Ok(QueueDelivery {
            function: function.name.clone(),
            message_id: message.id,
            dequeue_count: message.dequeue_count,
            response: Some(response),
            outcome,
        })
    }

    /// Copies the message, as stored, to `<queue>-poison` and deletes it.
    fn poison(&self, queue: &StorageQueue, message: &StoredMessage) -> Result<(), ReceiverError> {
        self.queue(&format!("{}-poison", queue.name()))?
            .put(&message.text)?;
        queue.delete(message)
    }
}

/// The route parameters when `path` (without prefix) matches `template`: literal
/// segments (case-insensitive, as ASP.NET routing), `{name}`, `{name:constraint}`,
/// optional `{name?}` at the end and catch-all `{*rest}`.
fn match_route(template: &str, path: &str) -> Option<Map<String, Value>> {
    let mut params = Map::new();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut index = 0;
    for part in template
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
    {
        if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if let Some(rest) = inner.strip_prefix('*') {
                let name = rest.split(':').next().unwrap_or(rest);
                params.insert(
                    name.to_owned(),
                    Value::String(segments[index.min(segments.len())..].join("/")),
                );
                index = segments.len();
                continue;
            }
            let optional = inner.ends_with('?');
            let name = inner
                .trim_end_matches('?')
                .split(':')
                .next()
                .unwrap_or(inner);
            match segments.get(index) {
                Some(value) => {
                    params.insert(name.to_owned(), Value::String((*value).to_owned()));
                    index += 1;
                }
                None if optional => {}
                None => return None,
            }
        } else {
            if !segments.get(index)?.eq_ignore_ascii_case(part) {
                return None;
            }
            index += 1;
        }
    }
    (index == segments.len()).then_some(params)
}

/// An RFC 1123 time (as the Queue service writes it) in the host's ISO 8601 form,
/// `2022-06-20T06:00:06+00:00`; unchanged when it does not parse.
fn iso_time(rfc1123: &str) -> String {
    chrono::DateTime::parse_from_rfc2822(rfc1123)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_else(|_| rfc1123.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_as_the_host_matches_them() {
        assert!(match_route("orders", "orders").is_some());
        assert!(match_route("orders", "Orders").is_some());
        assert!(match_route("orders", "orders/1").is_none());
        let params = match_route("hello/{name?}", "hello/ada").unwrap();
        assert_eq!(params["name"], "ada");
        assert!(match_route("hello/{name?}", "hello").unwrap().is_empty());
        assert_eq!(match_route("items/{id:int}", "items/7").unwrap()["id"], "7");
        assert_eq!(
            match_route("files/{*path}", "files/a/b").unwrap()["path"],
            "a/b"
        );
        assert!(match_route("items/{id}", "items").is_none());
    }

    #[test]
    fn queue_times_take_the_hosts_form() {
        assert_eq!(
            iso_time("Sun, 06 Dec 2026 19:50:53 GMT"),
            "2026-12-06T19:50:53+00:00"
        );
        assert_eq!(iso_time(""), "");
    }
}
