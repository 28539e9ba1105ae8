//! A stand-in for the X-Ray daemon: a UDP socket on 127.0.0.1 that reads every datagram as
//! the daemon does — the header line `{"format": "json", "version": 1}`, a newline, one
//! segment document — and checks each document against the X-Ray segment document schema
//! the developer guide publishes (`fixtures/xray/`) and the rules its "Segment documents"
//! page adds in text (recorded as violations, never dropped silently).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The header line every datagram starts with.
pub const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}";

/// What the fake daemon received.
#[derive(Debug, Default)]
pub struct Received {
    /// The documents, in arrival order.
    pub documents: Vec<Value>,
    /// Each datagram's size in bytes.
    pub sizes: Vec<usize>,
    /// What was wrong with a datagram or a document.
    pub violations: Vec<String>,
}

/// The fake daemon; stops when dropped.
#[derive(Debug)]
pub struct FakeXrayDaemon {
    address: std::net::SocketAddr,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeXrayDaemon {
    /// Listens on a free UDP port of 127.0.0.1. Panics (the test fails loudly) when it cannot.
    pub async fn start() -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("the fake X-Ray daemon binds a UDP port on 127.0.0.1");
        let address = socket.local_addr().expect("its address");
        let received = Arc::new(Mutex::new(Received::default()));
        let sink = Arc::clone(&received);
        let task = tokio::spawn(async move {
            // The daemon's own buffer: 64 KiB; anything longer would be cut.
            let mut buffer = vec![0_u8; 65_536];
            loop {
                let Ok(length) = socket.recv(&mut buffer).await else {
                    return;
                };
                let mut received = sink.lock().expect("the record");
                received.sizes.push(length);
                match read_datagram(&buffer[..length]) {
                    Ok(document) => {
                        received
                            .violations
                            .extend(check_segment_document(&document));
                        received.documents.push(document);
                    }
                    Err(violation) => received.violations.push(violation),
                }
            }
        });
        Self {
            address,
            received,
            task,
        }
    }

    /// `AWS_XRAY_DAEMON_ADDRESS` for it.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Waits until `count` documents arrived, or `timeout`; returns what arrived.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let documents = self.documents();
            if documents.len() >= count || started.elapsed() > timeout {
                return documents;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The documents so far.
    pub fn documents(&self) -> Vec<Value> {
        self.received.lock().expect("the record").documents.clone()
    }

    /// The datagrams' sizes so far.
    pub fn sizes(&self) -> Vec<usize> {
        self.received.lock().expect("the record").sizes.clone()
    }

    /// What was wrong so far.
    pub fn violations(&self) -> Vec<String> {
        self.received.lock().expect("the record").violations.clone()
    }
}

impl Drop for FakeXrayDaemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The document of one datagram, or what is wrong with it.
fn read_datagram(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let (header, body) = text
        .split_once('\n')
        .ok_or_else(|| format!("no header line: {text:.80}"))?;
    if header != DAEMON_HEADER {
        return Err(format!("header line {header:?}, not {DAEMON_HEADER:?}"));
    }
    serde_json::from_str(body).map_err(|e| format!("not one JSON document ({e}): {body:.200}"))
}

/// `1-{8 hex}-{24 hex}`.
fn is_xray_trace_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 3
        && parts[0] == "1"
        && parts[1].len() == 8
        && parts[2].len() == 24
        && parts[1..].iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
}

fn is_segment_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The developer guide's required fields and their forms: a segment has `name` (1–200
/// characters), `id` (16 lower-case hex digits), `trace_id` (`1-{8 hex}-{24 hex}`),
/// `start_time` (epoch seconds, a number) and `end_time` or `in_progress: true`; an
/// independent subsegment adds `type: "subsegment"` and `parent_id`. Annotation keys are
/// alphanumeric or underscore, values strings, numbers or booleans; `fault`, `error` and
/// `throttle` are booleans; `http.response.status` is an integer.
pub fn check_segment_document(document: &Value) -> Vec<String> {
    let mut violations: Vec<String> = segment_schema()
        .iter_errors(document)
        .map(|error| format!("schema: {error} at {} in {document}", error.instance_path()))
        .collect();
    let mut fail = |what: String| violations.push(format!("{what} in {document}"));
    let text = |key: &str| document.get(key).and_then(Value::as_str);
    match text("name") {
        Some(name) if !name.is_empty() && name.chars().count() <= 200 => {}
        other => fail(format!("name {other:?}")),
    }
    if !text("id").is_some_and(is_segment_id) {
        fail(format!("id {:?}", document.get("id")));
    }
    if !text("trace_id").is_some_and(is_xray_trace_id) {
        fail(format!("trace_id {:?}", document.get("trace_id")));
    }
    let start = document.get("start_time").and_then(Value::as_f64);
    if !start.is_some_and(|s| s > 1.0e9) {
        fail(format!("start_time {:?}", document.get("start_time")));
    }
    match (
        document.get("end_time").and_then(Value::as_f64),
        document.get("in_progress"),
    ) {
        (Some(end), None) if start.is_some_and(|s| end >= s) => {}
        (None, Some(Value::Bool(true))) => {}
        (end, in_progress) => fail(format!("end_time {end:?}, in_progress {in_progress:?}")),
    }
    if let Some(kind) = document.get("type") {
        if kind != "subsegment" {
            fail(format!("type {kind}"));
        }
        if !text("parent_id").is_some_and(is_segment_id) {
            fail(format!(
                "subsegment parent_id {:?}",
                document.get("parent_id")
            ));
        }
    } else if let Some(parent) = document.get("parent_id")
        && !parent.as_str().is_some_and(is_segment_id)
    {
        fail(format!("parent_id {parent}"));
    }
    for flag in ["fault", "error", "throttle"] {
        if let Some(value) = document.get(flag)
            && !value.is_boolean()
        {
            fail(format!("{flag} {value}"));
        }
    }
    if let Some(status) = document.pointer("/http/response/status")
        && !status.is_u64()
    {
        fail(format!("http.response.status {status}"));
    }
    if let Some(annotations) = document.get("annotations") {
        match annotations.as_object() {
            Some(map) => {
                for (key, value) in map {
                    if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        fail(format!("annotation key {key:?}"));
                    }
                    if !(value.is_string() || value.is_number() || value.is_boolean()) {
                        fail(format!("annotation {key} = {value}"));
                    }
                }
            }
            None => fail(format!("annotations {annotations}")),
        }
    }
    violations
}

/// The documents as X-Ray would show them: one block per trace, each document under the
/// one whose `id` is its `parent_id` (a parent not among them — Lambda's own segment — is
/// shown as a remote parent), with its type, name, duration and what X-Ray reads from it
/// (HTTP status, `fault`/`error`/`throttle`, annotations).
///
/// ```
/// use otel_faas_integration_tests::render_segment_tree;
///
/// let documents = vec![
///     serde_json::json!({"name": "orders", "id": "70de5b6f19ff9a0a", "trace_id": "1-581cf771-a006649127e371903a2de979",
///         "start_time": 1.0, "end_time": 1.25, "http": {"response": {"status": 200}}}),
///     serde_json::json!({"type": "subsegment", "name": "DynamoDB", "id": "53995c3f42cd8ad8", "parent_id": "70de5b6f19ff9a0a",
///         "trace_id": "1-581cf771-a006649127e371903a2de979", "start_time": 1.1, "end_time": 1.2, "fault": true}),
/// ];
/// let tree = render_segment_tree(&documents);
/// assert!(tree.contains("trace 1-581cf771-a006649127e371903a2de979"));
/// assert!(tree.contains("segment orders  250.0 ms  200"), "{tree}");
/// assert!(tree.contains("  └ subsegment DynamoDB  100.0 ms  fault"), "{tree}");
/// ```
pub fn render_segment_tree(documents: &[Value]) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    let text = |d: &Value, key: &str| d.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut traces: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for document in documents {
        traces
            .entry(text(document, "trace_id"))
            .or_default()
            .push(document);
    }
    let mut out = String::new();
    for (trace, mut members) in traces {
        members.sort_by(|a, b| {
            let start = |d: &Value| d.get("start_time").and_then(Value::as_f64).unwrap_or(0.0);
            start(a).total_cmp(&start(b))
        });
        let _ = writeln!(out, "trace {trace}");
        let ids: Vec<String> = members.iter().map(|d| text(d, "id")).collect();
        let roots: Vec<&Value> = members
            .iter()
            .copied()
            .filter(|d| !ids.contains(&text(d, "parent_id")))
            .collect();
        fn line(out: &mut String, document: &Value, depth: usize, members: &[&Value]) {
            let text = |key: &str| document.get(key).and_then(Value::as_str).unwrap_or("");
            let kind = if text("type") == "subsegment" {
                "subsegment"
            } else {
                "segment"
            };
            let duration = match (
                document.get("start_time").and_then(Value::as_f64),
                document.get("end_time").and_then(Value::as_f64),
            ) {
                (Some(start), Some(end)) => format!("{:.1} ms", (end - start) * 1000.0),
                _ => "in progress".to_owned(),
            };
            let mut notes = Vec::new();
            if let Some(status) = document.pointer("/http/response/status") {
                notes.push(status.to_string());
            }
            for flag in ["fault", "error", "throttle"] {
                if document.get(flag) == Some(&Value::Bool(true)) {
                    notes.push(flag.to_owned());
                }
            }
            if let Some(annotations) = document.get("annotations").and_then(Value::as_object) {
                for (key, value) in annotations {
                    notes.push(format!("{key}={value}"));
                }
            }
            let indent = if depth == 0 {
                String::new()
            } else {
                format!("{}└ ", "  ".repeat(depth))
            };
            let remote = if depth == 0 && !text("parent_id").is_empty() {
                format!("  (under {})", text("parent_id"))
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {indent}{kind} {}  {duration}{}{remote}",
                text("name"),
                notes.iter().map(|n| format!("  {n}")).collect::<String>()
            );
            let id = text("id");
            for child in members
                .iter()
                .filter(|d| d.get("parent_id").and_then(Value::as_str) == Some(id))
            {
                line(out, child, depth + 1, members);
            }
        }
        for root in roots {
            line(&mut out, root, 0, &members);
        }
    }
    out
}

/// The developer guide's segment document schema, compiled once.
fn segment_schema() -> &'static jsonschema::Validator {
    static SCHEMA: std::sync::LazyLock<jsonschema::Validator> = std::sync::LazyLock::new(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/xray/xray-segmentdocument-schema-v1.0.0.json"
        );
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("the X-Ray schema at {path}: {error}"));
        let schema: Value = serde_json::from_str(&text).expect("the X-Ray schema is JSON");
        jsonschema::draft4::new(&schema).expect("the X-Ray schema compiles")
    });
    &SCHEMA
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_refuses_what_the_guide_refuses() {
        let good = serde_json::json!({
            "name": "orders", "id": "70de5b6f19ff9a0a", "trace_id": "1-581cf771-a006649127e371903a2de979",
            "start_time": 1.478293361271e9, "end_time": 1.478293361449e9,
        });
        assert_eq!(check_segment_document(&good), Vec::<String>::new());
        let cases = [
            ("/id", serde_json::json!("70DE5B6F19FF9A0A")),
            (
                "/trace_id",
                serde_json::json!("581cf771a006649127e371903a2de979"),
            ),
            ("/name", serde_json::json!("")),
            ("/start_time", serde_json::json!("1478293361.271")),
            ("/end_time", serde_json::json!(1.0e9)),
            ("/type", serde_json::json!("segment")),
            ("/fault", serde_json::json!("true")),
        ];
        for (pointer, bad) in cases {
            let mut document = good.clone();
            let key = pointer.trim_start_matches('/');
            document[key] = bad;
            assert!(
                !check_segment_document(&document).is_empty(),
                "{pointer} accepted: {document}"
            );
        }
        let mut subsegment = good.clone();
        subsegment["type"] = serde_json::json!("subsegment");
        assert!(
            !check_segment_document(&subsegment).is_empty(),
            "no parent_id"
        );
        subsegment["parent_id"] = serde_json::json!("53995c3f42cd8ad8");
        assert!(check_segment_document(&subsegment).is_empty());
        let mut annotated = good;
        annotated["annotations"] = serde_json::json!({"order-id": "7"});
        assert!(!check_segment_document(&annotated).is_empty());
        assert!(read_datagram(b"{\"format\":\"json\"}\n{}").is_err());
    }

    /// What only the guide's schema says: a URL of at most 250 characters, metadata values
    /// that are objects (namespaces), annotation strings of at most 1,000 characters, an
    /// exception id of 16 characters — each refused, naming the schema.
    #[test]
    fn the_schema_refuses_what_the_text_checks_do_not() {
        let good = serde_json::json!({
            "name": "orders", "id": "70de5b6f19ff9a0a", "trace_id": "1-581cf771-a006649127e371903a2de979",
            "start_time": 1.478293361271e9, "end_time": 1.478293361449e9,
            "http": {"request": {"url": "https://example.com/orders", "method": "GET"}},
            "metadata": {"default": {"note": "x"}},
            "annotations": {"order_id": "7"},
            "cause": {"exceptions": [{"id": "0123456789abcdef", "message": "boom"}]},
        });
        assert_eq!(check_segment_document(&good), Vec::<String>::new());
        let long_url = format!("https://example.com/{}", "a".repeat(240));
        let cases = [
            ("/http/request/url", serde_json::json!(long_url)),
            ("/metadata/default", serde_json::json!("not a namespace")),
            ("/annotations/order_id", serde_json::json!("7".repeat(1001))),
            ("/cause/exceptions/0/id", serde_json::json!("0123")),
        ];
        for (pointer, bad) in cases {
            let mut document = good.clone();
            *document.pointer_mut(pointer).unwrap() = bad;
            let violations = check_segment_document(&document);
            assert!(
                violations.iter().any(|v| v.starts_with("schema: ")),
                "{pointer}: {violations:?}"
            );
        }
    }
}
