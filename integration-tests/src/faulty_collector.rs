//! A collector that fails on purpose: a TCP front on 127.0.0.1 for an [`OtlpReceiver`],
//! which forwards each connection to the receiver when healthy and otherwise fails it the
//! way a real collector or network does — refusing connections, never answering, answering
//! 500, 503 or 429 with `Retry-After`, resetting the connection in the middle of the request
//! body, answering only after a delay, or flapping (down, then up, again and again, on its
//! own clock). Tests switch the fault between invocations ([`FaultyCollector::set_fault`])
//! and read what got through from [`FaultyCollector::receiver`].
//!
//! It works below HTTP on purpose: a refused connection must be a refused TCP connection and
//! a reset a real RST, which no HTTP framework produces. It runs on its own thread and
//! runtime, so that it keeps failing (or answering) whatever the code under test does to its
//! own executor.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::receiver::{OtlpReceiver, ReceiverError};
use crate::server::BackgroundServer;

/// A trigger for invocations that are just a number: each invocation span is named
/// `invocation-{n}`, so that a test can tell which invocations' spans got through
/// ([`invocation_number`]).
///
/// ```
/// use otel_faas_integration_tests::{NumberedInvocation, invocation_number};
///
/// # let _ = NumberedInvocation;
/// assert_eq!(invocation_number("invocation-42"), Some(42));
/// assert_eq!(invocation_number("something else"), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NumberedInvocation;

impl otel_faas_core::TriggerAdapter<u32, ()> for NumberedInvocation {
    fn invocation_spec(
        &self,
        invocation: &u32,
        _: &otel_faas_core::trigger::InvocationContext,
        _: &dyn otel_faas_core::Propagation,
    ) -> otel_faas_core::InvocationSpec {
        otel_faas_core::InvocationSpec::new(
            otel_faas_core::trigger::FaasTrigger::Other,
            otel_faas_core::trigger::SpanSpec::server(format!("invocation-{invocation}")),
        )
    }
}

/// The number of a [`NumberedInvocation`]'s span, from its name.
pub fn invocation_number(span_name: &str) -> Option<u32> {
    span_name.strip_prefix("invocation-")?.parse().ok()
}

/// How the collector fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwards every request to the receiver.
    Healthy,
    /// Nothing listens on the port: connections are refused.
    Refuse,
    /// Accepts, reads, and never answers.
    Hang,
    /// Reads the request and answers this status (500, 503, …) with an empty body.
    Status(u16),
    /// Reads the request and answers 429 with `Retry-After` in seconds.
    TooManyRequests {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u32,
    },
    /// Reads the headers and part of the body, then resets the connection (RST).
    ResetMidBody,
    /// Forwards each request to the receiver, and its answer back only after this delay
    /// (one request per connection, so that every request waits).
    Slow(Duration),
    /// Refuses connections for `down`, then forwards for `up`, and again, from the moment
    /// it is set; connections open when it goes down are closed.
    Flapping {
        /// How long each outage lasts.
        down: Duration,
        /// How long it answers between two outages.
        up: Duration,
    },
}

struct Shared {
    fault: Mutex<Fault>,
    /// When the fault was set: a flapping collector's clock.
    since: Mutex<tokio::time::Instant>,
    changed: Notify,
    /// Connections accepted (each an export attempt, or a keep-alive connection's first).
    connections: AtomicU64,
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fault in force now — a flapping collector's current phase — and when it next
    /// changes on its own.
    fn effective(&self) -> (Fault, Option<tokio::time::Instant>) {
        match self.fault() {
            Fault::Flapping { down, up } => {
                let since = *self.since.lock().unwrap_or_else(PoisonError::into_inner);
                let period = (down + up).max(Duration::from_millis(1));
                let elapsed = since.elapsed();
                let cycles = elapsed.as_nanos() / period.as_nanos();
                let cycle_start = since + period * u32::try_from(cycles).unwrap_or(u32::MAX);
                let into = elapsed.saturating_sub(cycle_start - since);
                if into < down {
                    (Fault::Refuse, Some(cycle_start + down))
                } else {
                    (Fault::Healthy, Some(cycle_start + period))
                }
            }
            fault => (fault, None),
        }
    }
}

/// Waits until `at`, or forever.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A running faulty collector; dropping it stops it. See the module documentation.
pub struct FaultyCollector {
    receiver: OtlpReceiver,
    address: SocketAddr,
    shared: Arc<Shared>,
    /// Dropping it stops the front.
    _server: BackgroundServer,
}

impl FaultyCollector {
    /// Starts a receiver and the faulty front before it, failing with `fault`.
    pub fn start(fault: Fault) -> Result<Self, ReceiverError> {
        let receiver = OtlpReceiver::start()?;
        let upstream = receiver.address();
        let shared = Arc::new(Shared {
            fault: Mutex::new(fault),
            since: Mutex::new(tokio::time::Instant::now()),
            changed: Notify::new(),
            connections: AtomicU64::new(0),
        });
        let state = Arc::clone(&shared);
        // The port is chosen once and kept: a refusing collector closes its listener, a
        // recovering one binds the same port again.
        let server = BackgroundServer::start_with(
            "faulty-collector",
            1,
            move |listener, stop| async move {
                let Ok(address) = listener.local_addr() else {
                    return;
                };
                tokio::select! {
                    () = serve(listener, address, upstream, state) => {}
                    _ = stop => {}
                }
            },
        )?;
        Ok(Self {
            receiver,
            address: server.address(),
            shared,
            _server: server,
        })
    }

    /// The base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Fails from now on with `fault` (connections in progress keep the fault they began
    /// with).
    pub fn set_fault(&self, fault: Fault) {
        *self
            .shared
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fault;
        *self
            .shared
            .since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = tokio::time::Instant::now();
        self.shared.changed.notify_waiters();
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.shared.fault()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The receiver behind: what got through.
    pub fn receiver(&self) -> &OtlpReceiver {
        &self.receiver
    }
}

/// Accepts while the fault lets it; closes the listener while the collector refuses, and
/// binds the same port again when it stops refusing.
async fn serve(
    listener: TcpListener,
    address: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
) {
    let mut listener = Some(listener);
    loop {
        let changed = shared.changed.notified();
        let (fault, switch) = shared.effective();
        if fault == Fault::Refuse {
            listener = None;
            tokio::select! {
                () = changed => {}
                () = until(switch) => {}
            }
            continue;
        }
        let current = match listener.take() {
            Some(current) => current,
            None => match TcpListener::bind(address).await {
                Ok(bound) => bound,
                Err(_) => {
                    // The port is in TIME_WAIT or taken: try again shortly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = current.accept() => {
                if let Ok((stream, _)) = accepted {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    let (fault, _) = shared.effective();
                    tokio::spawn(handle(stream, fault, upstream, Arc::clone(&shared)));
                }
            }
            () = changed => {}
            () = until(switch) => {}
        }
        listener = Some(current);
    }
}

/// Fails (or forwards) one connection.
async fn handle(mut stream: TcpStream, fault: Fault, upstream: SocketAddr, shared: Arc<Shared>) {
    match fault {
        // `effective` never yields `Flapping`: it is resolved to its phase.
        Fault::Healthy | Fault::Flapping { .. } => forward(stream, upstream, fault, &shared).await,
        Fault::Slow(delay) => answer_slowly(stream, upstream, delay).await,
        // A refusing collector accepts nothing; a connection that raced the switch is
        // closed unanswered.
        Fault::Refuse => {}
        Fault::Hang => {
            let mut sink = [0u8; 8192];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            // The client closed; never answer.
        }
        Fault::Status(code) => {
            if read_request(&mut stream).await.is_ok() {
                let response = format!(
                    "HTTP/1.1 {code} {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    reason(code)
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        }
        Fault::TooManyRequests { retry_after_secs } => {
            if read_request(&mut stream).await.is_ok() {
                let response = format!(
                    "HTTP/1.1 429 Too Many Requests\r\nretry-after: {retry_after_secs}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        }
        Fault::ResetMidBody => {
            let Ok((_, content_length, body_read)) = read_head(&mut stream).await else {
                return;
            };
            // Read a little of the body when the head did not bring it, then reset.
            if body_read < content_length.min(1) {
                let mut some = [0u8; 64];
                let _ = stream.read(&mut some).await;
            }
            // A zero linger makes the close an RST (and never blocks: nothing is left to send).
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    }
}

/// Copies the connection both ways to the receiver until the fault changes: then the
/// connection is closed, as a collector that goes down closes its connections — otherwise
/// an exporter's keep-alive connection, opened while healthy, would carry on through any
/// later fault.
async fn forward(mut stream: TcpStream, upstream: SocketAddr, fault: Fault, shared: &Shared) {
    let Ok(mut receiver) = TcpStream::connect(upstream).await else {
        return;
    };
    let fault_changed = async {
        loop {
            let changed = shared.changed.notified();
            let (now, switch) = shared.effective();
            if now != fault {
                return;
            }
            tokio::select! {
                () = changed => {}
                () = until(switch) => {}
            }
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut stream, &mut receiver) => {}
        () = fault_changed => {}
    }
}

/// Reads a request's head; returns it, its `content-length` and how many body bytes came
/// with it.
/// Reads one request, forwards it (asking the receiver to close after answering), and
/// writes the answer back after `delay`; then closes the connection.
async fn answer_slowly(mut stream: TcpStream, upstream: SocketAddr, delay: Duration) {
    let Ok(request) = read_whole_request(&mut stream).await else {
        return;
    };
    let Ok(mut receiver) = TcpStream::connect(upstream).await else {
        return;
    };
    if receiver.write_all(&request).await.is_err() {
        return;
    }
    let mut answer = Vec::new();
    if receiver.read_to_end(&mut answer).await.is_err() {
        return;
    }
    tokio::time::sleep(delay).await;
    let _ = stream.write_all(&answer).await;
    let _ = stream.shutdown().await;
}

/// One whole request, its head rewritten to ask for `connection: close`.
async fn read_whole_request(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let (mut buffer, head_end, content_length) = read_until_body(stream).await?;
    let mut chunk = [0u8; 8192];
    while buffer.len() < head_end + 4 + content_length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let head: Vec<u8> = String::from_utf8_lossy(&buffer[..head_end])
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    let mut request = head;
    request.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    request.extend_from_slice(&buffer[head_end + 4..]);
    Ok(request)
}

/// Reads until the end of the head: the bytes read, where the head ends (before its blank
/// line), and the `content-length`.
async fn read_until_body(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, usize, usize)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let content_length = String::from_utf8_lossy(&buffer[..end])
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse().ok())
                .unwrap_or(0);
            return Ok((buffer, end, content_length));
        }
        if buffer.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<(String, usize, usize)> {
    let (buffer, end, content_length) = read_until_body(stream).await?;
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    Ok((head, content_length, buffer.len() - end - 4))
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<()> {
    let (_, content_length, mut read) = read_head(stream).await?;
    let mut chunk = [0u8; 8192];
    while read < content_length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        read += n;
    }
    Ok(())
}

fn reason(code: u16) -> &'static str {
    match code {
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One POST of `body` to the collector; the status line, or the I/O error.
    async fn post(address: SocketAddr, body: &[u8], timeout: Duration) -> std::io::Result<String> {
        let exchange = async {
            let mut stream = TcpStream::connect(address).await?;
            let head = format!(
                "POST /v1/traces HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body).await?;
            let mut response = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                response.extend_from_slice(&chunk[..n]);
                if response.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&response).into_owned();
            Ok(text)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_fault_fails_as_it_says_and_recovery_forwards_again() {
        let collector = FaultyCollector::start(Fault::Healthy).expect("collector");
        let address = collector.address;
        let body = vec![0u8; 2048];
        let wait = Duration::from_secs(3);

        // Healthy: the receiver answers (an empty protobuf body is a valid empty export).
        let answer = post(address, b"", wait).await.expect("healthy");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

        // A connection opened while healthy is closed when the collector goes down.
        let mut kept = TcpStream::connect(address).await.expect("connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
        collector.set_fault(Fault::Refuse);
        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(wait, kept.read(&mut byte)).await;
        assert!(
            matches!(closed, Ok(Ok(0) | Err(_))),
            "the kept connection is closed: {closed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = post(address, &body, wait).await.expect_err("refused");
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

        collector.set_fault(Fault::Status(503));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let answer = post(address, &body, wait).await.expect("503");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

        collector.set_fault(Fault::TooManyRequests {
            retry_after_secs: 7,
        });
        let answer = post(address, &body, wait).await.expect("429");
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        assert!(answer.contains("retry-after: 7"), "{answer}");

        collector.set_fault(Fault::Hang);
        let hung = post(address, &body, Duration::from_millis(300))
            .await
            .expect_err("hang");
        assert_eq!(hung.kind(), std::io::ErrorKind::TimedOut);

        collector.set_fault(Fault::ResetMidBody);
        let reset = post(address, &body, wait).await;
        assert!(
            matches!(&reset, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
                || matches!(&reset, Ok(text) if text.is_empty()),
            "a reset, not an answer: {reset:?}"
        );

        collector.set_fault(Fault::Slow(Duration::from_millis(400)));
        let started = std::time::Instant::now();
        let answer = post(address, b"", wait).await.expect("slow");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(started.elapsed() >= Duration::from_millis(400));

        // Flapping: refused while down, forwarded while up, on its own clock.
        collector.set_fault(Fault::Flapping {
            down: Duration::from_millis(300),
            up: Duration::from_millis(300),
        });
        let refused = post(address, &body, wait).await;
        assert!(refused.is_err(), "down first: {refused:?}");
        tokio::time::sleep(Duration::from_millis(350)).await;
        let answered = post(address, b"", wait).await.expect("up after `down`");
        assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(post(address, &body, wait).await.is_err(), "down again");
        collector.set_fault(Fault::Healthy);
        // It listens again once its loop has seen the change.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let answer = post(address, b"", wait).await.expect("recovered");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(collector.connections() >= 6);
    }
}
