//! A mini Azure Functions host: what the real host does to a custom handler, over HTTP on
//! loopback — wait for readiness (any answer to `GET /`), then `POST /<function>` with the
//! `{Data, Metadata}` envelope and the host's headers — written from the host's source
//! (`src/WebJobs.Script/Workers/Http/`), so tests can drive a real handler process.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ReceiverError;

/// The host version the mini host announces.
pub const MINI_HOST_VERSION: &str = "4.1037.0.0";

/// A handler's answer.
#[derive(Debug, Clone)]
pub struct HostResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl HostResponse {
    /// The body as JSON (the reply envelope).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Talks to one custom handler at `address`.
#[derive(Debug, Clone, Copy)]
pub struct MiniHost {
    address: SocketAddr,
}

impl MiniHost {
    /// A host for the handler listening on `address`.
    pub fn new(address: SocketAddr) -> Self {
        Self { address }
    }

    /// The handler's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Polls `GET /` as the host does until the handler answers, at most `timeout`.
    pub fn wait_until_ready(&self, timeout: Duration) -> Result<HostResponse, ReceiverError> {
        let started = Instant::now();
        loop {
            match self.send("GET", "/", &[], None, false) {
                Ok(response) => return Ok(response),
                Err(error) if started.elapsed() > timeout => {
                    return Err(ReceiverError::Start(format!(
                        "the handler did not answer on {} within {timeout:?}: {error}",
                        self.address
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Invokes `function` as the host does in the default mode: `POST /<function>` with
    /// `{"Data": data, "Metadata": metadata}`, `X-Azure-Functions-InvocationId`,
    /// `X-Azure-Functions-HostVersion`, the host's `User-Agent` and `extra` headers (the
    /// host's `traceparent`). `chunked` sends the body with `Transfer-Encoding: chunked`,
    /// as the host's client does, without a `Content-Length`.
    pub fn invoke(
        &self,
        function: &str,
        invocation_id: &str,
        data: &Value,
        metadata: &Value,
        extra: &[(&str, &str)],
        chunked: bool,
    ) -> Result<HostResponse, ReceiverError> {
        let body = serde_json::json!({"Data": data, "Metadata": metadata}).to_string();
        self.invoke_raw(function, invocation_id, body.as_bytes(), extra, chunked)
    }

    /// As [`invoke`](Self::invoke), with a body of the test's choosing.
    pub fn invoke_raw(
        &self,
        function: &str,
        invocation_id: &str,
        body: &[u8],
        extra: &[(&str, &str)],
        chunked: bool,
    ) -> Result<HostResponse, ReceiverError> {
        let user_agent = format!("Azure-Functions-Host/{MINI_HOST_VERSION}");
        let mut headers: Vec<(&str, &str)> = vec![
            ("X-Azure-Functions-HostVersion", MINI_HOST_VERSION),
            ("X-Azure-Functions-InvocationId", invocation_id),
            ("User-Agent", &user_agent),
            ("Content-Type", "application/json; charset=utf-8"),
        ];
        headers.extend_from_slice(extra);
        self.send(
            "POST",
            &format!("/{function}"),
            &headers,
            Some(body),
            chunked,
        )
        .map_err(|e| ReceiverError::Start(format!("POST /{function}: {e}")))
    }

    /// One HTTP/1.1 request with `Connection: close`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        chunked: bool,
    ) -> std::io::Result<HostResponse> {
        exchange(self.address, method, path, headers, body, chunked)
    }
}

/// One HTTP/1.1 request to `address` with `Connection: close`; `chunked` sends the body
/// with `Transfer-Encoding: chunked` and no `Content-Length`.
pub(crate) fn exchange(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    chunked: bool,
) -> std::io::Result<HostResponse> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\nconnection: close\r\n",
        address.port()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or_default();
    if chunked {
        request.push_str("transfer-encoding: chunked\r\n\r\n");
        stream.write_all(request.as_bytes())?;
        // Several chunks, as a streaming client sends them.
        for chunk in body.chunks(7) {
            stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            stream.write_all(chunk)?;
            stream.write_all(b"\r\n")?;
        }
        stream.write_all(b"0\r\n\r\n")?;
    } else {
        request.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        stream.write_all(request.as_bytes())?;
        stream.write_all(body)?;
    }
    parse_response(&read_response(&mut stream)?)
}

/// Reads one response: up to its `Content-Length`, or its last chunk, or the end of the
/// stream — some servers (the Pub/Sub emulator) keep the connection open despite
/// `Connection: close`.
fn read_response(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0_u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let body = raw.len() - end - 4;
            let length = head.lines().find_map(|line| {
                line.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            let chunked = head
                .lines()
                .any(|line| line.starts_with("transfer-encoding:") && line.contains("chunked"));
            let complete = match length {
                Some(length) => body >= length,
                None if chunked => raw.ends_with(b"0\r\n\r\n"),
                // 1xx, 204 and 304 have no body.
                None => head.starts_with("http/1.1 204") || head.starts_with("http/1.1 304"),
            };
            if complete {
                return Ok(raw);
            }
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&chunk[..read]);
    }
}

fn parse_response(raw: &[u8]) -> std::io::Result<HostResponse> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no response head"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(HostResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
