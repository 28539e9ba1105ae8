//! Ports, readiness and HTTP status for the processes xtask starts: a leaf every command
//! shares (the demo, the emulators, LocalStack), needing no HTTP client library.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A port nothing listens on now.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until `GET path` on `address` answers 200, at most `timeout`.
pub(crate) fn wait_until_ready(
    address: SocketAddr,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if request(address, "GET", path, None).is_ok_and(|status| status == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "nothing answered 200 on http://{address}{path} within {} s",
        timeout.as_secs()
    )
}

/// The status of `method path` on `address`: a health check that needs no client library.
pub(crate) fn http_status(address: SocketAddr, method: &str, path: &str) -> anyhow::Result<u16> {
    request(address, method, path, None)
}

/// A minimal HTTP/1.1 request, with a `traceparent` when given: its status.
pub(crate) fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    traceparent: Option<&str>,
) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: otel-faas-demo\r\nContent-Length: 0\r\nConnection: close\r\n"
    );
    if let Some(traceparent) = traceparent {
        head.push_str(&format!("traceparent: {traceparent}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // Read only up to the status line: some servers keep the connection open regardless.
    let mut response = Vec::new();
    let mut chunk = [0_u8; 512];
    while !response.windows(2).any(|w| w == b"\r\n") {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..read]);
    }
    let response = String::from_utf8_lossy(&response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response: {response:?}"))
}

/// `count` distinct ports nothing listens on now.
pub(crate) fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    // Hold every listener until all ports are chosen, so they differ.
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("finding free ports on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}
