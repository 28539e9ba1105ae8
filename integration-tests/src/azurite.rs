//! Azurite, Microsoft's Azure Storage emulator (npm `azurite`), and a Storage queue client
//! for it written from the Queue service REST API — what the mini host needs to take
//! messages from a real queue as the Functions host's queue listener does, and to enqueue a
//! function's queue outputs as the host's output binding does.
//!
//! `cargo xtask test` installs Azurite into `target/emulators/azurite` and hands the tests
//! the queue endpoint of the one it runs in [`AZURITE_QUEUE_VARIABLE`]. Without it,
//! [`Azurite::start`] starts one of its own from the same place; when Azurite is not
//! installed or does not come up it fails with an error that says so — tests that need it
//! fail loudly rather than skip.
//!
//! Requests are signed with Shared Key (HMAC-SHA256 over the canonical request) with the
//! emulator's well-known development account, exactly as the Azure SDKs sign them, so
//! Azurite checks every signature.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::ReceiverError;
use crate::azure_host::exchange;
use crate::function::workspace_root;

/// The variable through which `cargo xtask test` hands the tests the queue endpoint of the
/// Azurite it runs (`http://127.0.0.1:PORT`).
pub const AZURITE_QUEUE_VARIABLE: &str = "OTEL_FAAS_AZURITE_QUEUE_ENDPOINT";

/// Azurite's development storage account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";

/// The development account's key, published in Azurite's README (not a secret).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The Queue service version the client speaks.
const VERSION: &str = "2021-12-02";

/// Where `cargo xtask test` installs Azurite.
pub fn azurite_install() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("emulators")
        .join("azurite")
}

/// An Azurite queue service for a test: the one `cargo xtask test` runs, or one of its own,
/// stopped (and its data removed) when dropped.
pub struct Azurite {
    child: Option<Child>,
    queue: SocketAddr,
    data: Option<PathBuf>,
    log: PathBuf,
}

impl Azurite {
    /// The Azurite `cargo xtask test` runs (see [`AZURITE_QUEUE_VARIABLE`]), or Azurite
    /// started on free ports; either way, its queue service answers before this returns.
    pub fn start() -> Result<Self, ReceiverError> {
        if let Ok(endpoint) = std::env::var(AZURITE_QUEUE_VARIABLE) {
            let queue = endpoint
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse::<SocketAddr>()
                .map_err(|e| {
                    ReceiverError::Start(format!("{AZURITE_QUEUE_VARIABLE}={endpoint}: {e}"))
                })?;
            let azurite = Self {
                child: None,
                queue,
                data: None,
                log: PathBuf::new(),
            };
            if !azurite.healthy() {
                return Err(ReceiverError::Start(format!(
                    "{AZURITE_QUEUE_VARIABLE}={endpoint}, but nothing answers there"
                )));
            }
            return Ok(azurite);
        }
        Self::start_own()
    }

    fn start_own() -> Result<Self, ReceiverError> {
        let install = azurite_install();
        let binary = install.join("node_modules/.bin/azurite-queue");
        if !binary.exists() {
            return Err(ReceiverError::Start(format!(
                "Azurite is not installed at {}: run `cargo xtask emulators up azurite` (or \
                 `cargo xtask test`), which installs it with npm (Node.js and npm needed)",
                binary.display()
            )));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| ReceiverError::Start(e.to_string()))?
            .port();
        let data = install.with_file_name(format!("azurite-queue-{port}"));
        std::fs::create_dir_all(&data).map_err(|e| ReceiverError::Start(e.to_string()))?;
        let log = install.with_file_name(format!("azurite-queue-{port}.log"));
        let output =
            std::fs::File::create(&log).map_err(|e| ReceiverError::Start(e.to_string()))?;
        let child = Command::new(&binary)
            .args(["--silent", "--skipApiVersionCheck", "--location"])
            .arg(&data)
            .args(["--queueHost", "127.0.0.1", "--queuePort", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(output)
            .spawn()
            .map_err(|e| ReceiverError::Start(format!("{}: {e}", binary.display())))?;
        let mut azurite = Self {
            child: Some(child),
            queue: SocketAddr::from(([127, 0, 0, 1], port)),
            data: Some(data),
            log,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(Ok(Some(status))) = azurite.child.as_mut().map(Child::try_wait) {
                return Err(ReceiverError::Start(format!(
                    "Azurite exited with {status}: {}",
                    azurite.log()
                )));
            }
            if azurite.healthy() {
                return Ok(azurite);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(ReceiverError::Start(format!(
            "Azurite did not answer on http://{} within 30 s: {}",
            azurite.queue,
            azurite.log()
        )))
    }

    /// Azurite answers any request, even an unsigned one (with 4xx): it is up.
    fn healthy(&self) -> bool {
        exchange(self.queue, "GET", "/", &[], None, false).is_ok()
    }

    /// The queue service's endpoint, `http://127.0.0.1:PORT` (the account follows in paths).
    pub fn queue_endpoint(&self) -> String {
        format!("http://{}", self.queue)
    }

    /// The queue `name` of the development account (not created until
    /// [`StorageQueue::create`]).
    pub fn queue(&self, name: &str) -> StorageQueue {
        StorageQueue {
            address: self.queue,
            name: name.to_owned(),
        }
    }

    /// What the Azurite started here wrote to its log (empty for the shared one).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(data) = self.data.take() {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}

/// One message as Get Messages or Peek Messages returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// `MessageId`.
    pub id: String,
    /// `PopReceipt` (empty for a peeked message).
    pub pop_receipt: String,
    /// `InsertionTime`, as the service writes it (RFC 1123).
    pub insertion_time: String,
    /// `ExpirationTime` (RFC 1123).
    pub expiration_time: String,
    /// `TimeNextVisible` (RFC 1123; empty for a peeked message).
    pub next_visible_time: String,
    /// `DequeueCount`: 1 on the first delivery.
    pub dequeue_count: u32,
    /// `MessageText`, as stored (base64 when written by a base64-encoding client).
    pub text: String,
}

/// A Storage queue on Azurite.
#[derive(Debug, Clone)]
pub struct StorageQueue {
    address: SocketAddr,
    name: String,
}

impl StorageQueue {
    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Create Queue; an existing queue is fine.
    pub fn create(&self) -> Result<(), ReceiverError> {
        self.call("PUT", "", "", None, &[201, 204]).map(|_| ())
    }

    /// Put Message with `text` as the message text, stored as given (the Functions host's
    /// output binding and the SDKs with base64 encoding write base64: see
    /// [`put_base64`](Self::put_base64)).
    pub fn put(&self, text: &str) -> Result<(), ReceiverError> {
        let body = format!(
            "<QueueMessage><MessageText>{}</MessageText></QueueMessage>",
            xml_escape(text)
        );
        self.call("POST", "/messages", "", Some(&body), &[201])
            .map(|_| ())
    }

    /// Put Message with `content` base64-encoded, as the Functions host's queue output
    /// binding (and the SDKs with `QueueMessageEncoding.Base64`) write it.
    pub fn put_base64(&self, content: &[u8]) -> Result<(), ReceiverError> {
        self.put(&BASE64.encode(content))
    }

    /// Get Messages: up to `max` (1–32) visible messages, hidden for `visibility`.
    pub fn receive(
        &self,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<StoredMessage>, ReceiverError> {
        let query = format!(
            "numofmessages={max}&visibilitytimeout={}",
            visibility.as_secs().max(1)
        );
        let body = self.call("GET", "/messages", &query, None, &[200])?;
        Ok(parse_messages(&body))
    }

    /// Peek Messages: up to `max` visible messages, left visible.
    pub fn peek(&self, max: u32) -> Result<Vec<StoredMessage>, ReceiverError> {
        let query = format!("numofmessages={max}&peekonly=true");
        let body = self.call("GET", "/messages", &query, None, &[200])?;
        Ok(parse_messages(&body))
    }

    /// Delete Message (the host's completion of a message it processed).
    pub fn delete(&self, message: &StoredMessage) -> Result<(), ReceiverError> {
        let query = format!("popreceipt={}", url_encode(&message.pop_receipt));
        self.call(
            "DELETE",
            &format!("/messages/{}", message.id),
            &query,
            None,
            &[204],
        )
        .map(|_| ())
    }

    /// Update Message with a new visibility timeout (the host's release of a message whose
    /// invocation failed: visible again after `visibility`, its text unchanged).
    pub fn release(
        &self,
        message: &StoredMessage,
        visibility: Duration,
    ) -> Result<(), ReceiverError> {
        let query = format!(
            "popreceipt={}&visibilitytimeout={}",
            url_encode(&message.pop_receipt),
            visibility.as_secs()
        );
        let body = format!(
            "<QueueMessage><MessageText>{}</MessageText></QueueMessage>",
            xml_escape(&message.text)
        );
        self.call(
            "PUT",
            &format!("/messages/{}", message.id),
            &query,
            Some(&body),
            &[204],
        )
        .map(|_| ())
    }

    /// One signed request under `/<account>/<queue><path>`; the body when the status is
    /// one of `expected`.
    fn call(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&str>,
        expected: &[u16],
    ) -> Result<String, ReceiverError> {
        let path = format!("/{AZURITE_ACCOUNT}/{}{path}", self.name);
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let length = body.map_or(0, str::len);
        let content_type = if body.is_some() {
            "application/xml"
        } else {
            ""
        };
        let authorization = shared_key(method, &path, query, length, content_type, &date);
        let mut headers = vec![
            ("x-ms-date", date.as_str()),
            ("x-ms-version", VERSION),
            ("authorization", authorization.as_str()),
        ];
        if body.is_some() {
            headers.push(("content-type", content_type));
        }
        let target = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        let response = exchange(
            self.address,
            method,
            &target,
            &headers,
            body.map(str::as_bytes),
            false,
        )
        .map_err(|e| ReceiverError::Start(format!("{method} {target} on Azurite: {e}")))?;
        if !expected.contains(&response.status) {
            return Err(ReceiverError::Start(format!(
                "{method} {target} on Azurite answered {}: {}",
                response.status, response.body
            )));
        }
        Ok(response.body)
    }
}

/// The `Authorization` header of the Shared Key scheme for the Queue service. Azurite
/// serves path-style URLs (`/<account>/<queue>`), so the canonical resource names the
/// account twice: once as the signer, once in the path.
fn shared_key(
    method: &str,
    path: &str,
    query: &str,
    length: usize,
    content_type: &str,
    date: &str,
) -> String {
    let length = if length == 0 {
        String::new()
    } else {
        length.to_string()
    };
    let mut resource = format!("/{AZURITE_ACCOUNT}{path}");
    let mut parameters: Vec<(String, &str)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    parameters.sort();
    for (name, value) in parameters {
        resource.push_str(&format!("\n{name}:{}", url_decode(value)));
    }
    let string_to_sign = format!(
        "{method}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{VERSION}\n{resource}"
    );
    let key = BASE64.decode(AZURITE_KEY).unwrap_or_default();
    let signature = match Hmac::<Sha256>::new_from_slice(&key) {
        Ok(mut mac) => {
            mac.update(string_to_sign.as_bytes());
            BASE64.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!("SharedKey {AZURITE_ACCOUNT}:{signature}")
}

/// The `QueueMessage` elements of a Get/Peek Messages answer.
fn parse_messages(xml: &str) -> Vec<StoredMessage> {
    xml.split("<QueueMessage>")
        .skip(1)
        .map(|message| StoredMessage {
            id: element(message, "MessageId"),
            pop_receipt: element(message, "PopReceipt"),
            insertion_time: element(message, "InsertionTime"),
            expiration_time: element(message, "ExpirationTime"),
            next_visible_time: element(message, "TimeNextVisible"),
            dequeue_count: element(message, "DequeueCount").parse().unwrap_or(0),
            text: element(message, "MessageText"),
        })
        .collect()
}

/// The unescaped text of `<name>…</name>` in `xml` (empty when absent).
fn element(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    xml.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map(|(text, _)| xml_unescape(text))
        .unwrap_or_default()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Percent-encodes a query value (pop receipts are base64: `+`, `/`, `=`).
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn url_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(byte) = value
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_from_the_services_xml() {
        let xml = "<?xml version=\"1.0\"?><QueueMessagesList><QueueMessage><MessageId>7d6f</MessageId>\
            <InsertionTime>Sun, 29 Nov 2026 19:50:53 GMT</InsertionTime><ExpirationTime>Sun, 06 Dec 2026 19:50:53 GMT</ExpirationTime>\
            <PopReceipt>Mjl+b3Y=</PopReceipt><TimeNextVisible>Sun, 29 Nov 2026 19:51:23 GMT</TimeNextVisible>\
            <DequeueCount>2</DequeueCount><MessageText>a &amp;lt; b</MessageText></QueueMessage></QueueMessagesList>";
        let messages = parse_messages(xml);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].id, "7d6f");
        assert_eq!(messages[0].pop_receipt, "Mjl+b3Y=");
        assert_eq!(messages[0].dequeue_count, 2);
        assert_eq!(messages[0].text, "a &lt; b", "unescaped once, not twice");
        assert_eq!(url_encode("Mjl+b3Y="), "Mjl%2Bb3Y%3D");
        assert_eq!(url_decode("Mjl%2Bb3Y%3D"), "Mjl+b3Y=");
    }
}
