//! `OTEL_TRACES_EXPORTER=awsxray`: spans as X-Ray segment documents, sent over UDP to the
//! X-Ray daemon — the one Lambda runs itself when active tracing is on, or a sidecar on
//! ECS, EKS and EC2. No collector, no credentials, no round trip: a datagram per span.
//!
//! The name is the OpenTelemetry Collector's for the same destination (`awsxray`), as
//! `awsemf` is for metrics. The translation into segment documents is `opentelemetry-aws`'s
//! (`SegmentTranslator`: SERVER spans become segments, the others subsegments; `http`,
//! `aws`, `sql`, `cause`, annotations and metadata from the attributes). What this module
//! adds around it:
//!
//! - **The daemon's address** from `AWS_XRAY_DAEMON_ADDRESS` in every form the X-Ray SDKs
//!   accept — `host:port`, `[v6]:port`, and `udp:host:port tcp:host:port` (the UDP one is
//!   used) — else `127.0.0.1:2000`. A value that does not parse is a warning at start-up and
//!   the exporter is not built (spans go to the other listed exporters), never a failed
//!   invocation. Host names are resolved on the first export, asynchronously: building the
//!   pipeline never touches the network, and no executor thread waits for DNS.
//! - **The 64 KiB datagram limit, and X-Ray's own.** A document that would not fit, or a
//!   span the translator refuses (a URL over X-Ray's 250 characters), is translated again
//!   from a cut copy of its span — long string values shortened to 1 KiB, then 250 bytes,
//!   then events and links left out, then every attribute — so it is sent whole, never
//!   broken (`opentelemetry-aws`'s own client sends it and fails the rest of the batch).
//! - **Metadata in namespaces.** The translator writes metadata flat (`"metadata":
//!   {"key": 47}`); X-Ray's segment document schema wants each metadata value to be an
//!   object (a namespace), as X-Ray's SDKs and the Collector's exporter write it, so flat
//!   values are put into the `default` namespace. The integration tests validate every
//!   document against that schema.
//! - **Every datagram is tried**: one that fails does not stop the others; the export then
//!   fails, so the pipeline counts the batch in [`ExportStats`](otel_faas_core::pipeline::ExportStats)
//!   (`dropped_export_failed`) and its circuit spares the invocations a daemon that is gone.
//!
//! X-Ray takes only trace ids whose first 8 hex digits are epoch seconds of the last 30
//! days, and `opentelemetry-aws` refuses to translate others: this destination's own ids
//! are such (X-Ray ids), and so are Lambda's, but a W3C parent from a caller that uses
//! random ids makes the spans of its trace untranslatable — they are counted as dropped
//! (`dropped_export_failed`) and the failure says so, never sent half-formed.
//!
//! Unsampled spans are never exported (the SDK does not hand them to any exporter). On
//! Lambda, with `awsxray` selected, `xray-lambda` honours Lambda's `Sampled=0` (the daemon
//! runs only with active tracing on, so the decision is X-Ray's): an invocation Lambda did
//! not sample sends nothing.
//!
//! **One trace with Lambda's.** On Lambda, with `awsxray` selected, the invocation span's
//! parent is Lambda's own `AWS::Lambda::Function` segment (the `Parent` of the invocation's
//! trace header), with nothing to configure: an unset `OTEL_PROPAGATORS` means
//! [`DEFAULT_PROPAGATORS`] (`tracecontext,baggage,xray-lambda`), and `xray-lambda` keeps
//! Lambda's segment as the parent even when a caller sent a W3C `traceparent` or an
//! `X-Amzn-Trace-Id` of another trace — that context becomes a **link** of the invocation
//! span ([`XrayLambdaPropagator::lambda_parent`](crate::xray::XrayLambdaPropagator::lambda_parent)).
//! Why not the caller's context as parent, as the propagator does without this destination:
//! Lambda's segment is already in X-Ray under Lambda's trace id, and a W3C caller's random
//! trace id is one X-Ray refuses, so the function's spans would be split from Lambda's or
//! lost. An `OTEL_PROPAGATORS` that is set is used as given (without `xray-lambda` in it,
//! the invocation starts its own trace).

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry::{KeyValue, Value};
use opentelemetry_aws::xray_exporter::{SegmentDocument, SegmentTranslator};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use otel_faas_core::env::Environment;
use otel_faas_core::pipeline::SpanDestination;

/// The name `OTEL_TRACES_EXPORTER` selects this destination by.
pub const XRAY_EXPORTER_NAME: &str = "awsxray";

/// The variable naming the daemon's address.
pub const DAEMON_ADDRESS_VARIABLE: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// What an unset `OTEL_PROPAGATORS` means on Lambda with this destination: W3C trace
/// context and baggage, and `xray-lambda` making Lambda's segment the invocation's parent.
pub const DEFAULT_PROPAGATORS: &str = "tracecontext,baggage,xray-lambda";

/// Where the daemon listens when nothing says otherwise.
pub const DEFAULT_DAEMON_ADDRESS: &str = "127.0.0.1:2000";

/// The header line of every datagram, as the daemon expects it.
const DAEMON_HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";

/// The largest UDP payload over IPv4: a datagram (header line included) never exceeds it.
pub const MAX_DATAGRAM: usize = 65_507;

/// The daemon's UDP address as `AWS_XRAY_DAEMON_ADDRESS` gives it: a host (a name or an IP
/// literal) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonAddress {
    host: String,
    port: u16,
}

/// Why a daemon address does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the X-Ray daemon address `{value}` does not parse ({reason}); expected `host:port` or \
     `udp:host:port tcp:host:port`, such as `127.0.0.1:2000`"
)]
pub struct DaemonAddressError {
    value: String,
    reason: &'static str,
}

impl DaemonAddress {
    /// Reads an address in the forms the X-Ray SDKs accept: `host:port`, `[v6]:port`, or
    /// the UDP and TCP addresses together (`udp:127.0.0.1:2000 tcp:127.0.0.1:2001`, either
    /// order), of which the UDP one is taken.
    ///
    /// ```
    /// use otel_faas_aws::xray::daemon::DaemonAddress;
    ///
    /// assert_eq!(DaemonAddress::parse("169.254.79.129:2000").unwrap().to_string(), "169.254.79.129:2000");
    /// assert_eq!(
    ///     DaemonAddress::parse("tcp:xray:2001 udp:xray:2000").unwrap().to_string(),
    ///     "xray:2000"
    /// );
    /// assert!(DaemonAddress::parse("localhost").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, DaemonAddressError> {
        let fail = |reason| DaemonAddressError {
            value: value.to_owned(),
            reason,
        };
        let trimmed = value.trim();
        let parts: Vec<&str> = trimmed.split_whitespace().collect();
        let udp = match parts.as_slice() {
            [single] if !has_scheme(single) => *single,
            [single] => single
                .strip_prefix("udp:")
                .ok_or_else(|| fail("a single address with a scheme must be the udp one"))?,
            [first, second] => {
                let mut udp = None;
                let mut tcp = false;
                for part in [first, second] {
                    if let Some(address) = part.strip_prefix("udp:") {
                        udp = Some(address);
                    } else if part.starts_with("tcp:") {
                        tcp = true;
                    }
                }
                match (udp, tcp) {
                    (Some(address), true) => address,
                    _ => return Err(fail("two addresses must be one udp: and one tcp:")),
                }
            }
            [] => return Err(fail("it is empty")),
            _ => return Err(fail("more than two addresses")),
        };
        let (host, port) = udp.rsplit_once(':').ok_or_else(|| fail("no port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| fail("the port is not a number up to 65535"))?;
        if port == 0 {
            return Err(fail("port 0"));
        }
        let host = match host.strip_prefix('[') {
            Some(v6) => v6
                .strip_suffix(']')
                .filter(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok())
                .ok_or_else(|| fail("an IPv6 address must be written [address]:port"))?,
            None if host.contains(':') => {
                return Err(fail("an IPv6 address must be written [address]:port"));
            }
            None => host,
        };
        if host.is_empty() {
            return Err(fail("no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// `AWS_XRAY_DAEMON_ADDRESS` of `env`, else [`DEFAULT_DAEMON_ADDRESS`].
    pub fn from_env(env: &dyn Environment) -> Result<Self, DaemonAddressError> {
        Self::parse(
            env.get_non_empty(DAEMON_ADDRESS_VARIABLE)
                .as_deref()
                .unwrap_or(DEFAULT_DAEMON_ADDRESS),
        )
    }
}

/// Whether `OTEL_TRACES_EXPORTER` of `env` names this destination.
pub(crate) fn selected(env: &dyn Environment) -> bool {
    env.get_non_empty("OTEL_TRACES_EXPORTER")
        .is_some_and(|names| {
            names
                .split(',')
                .any(|name| name.trim().eq_ignore_ascii_case(XRAY_EXPORTER_NAME))
        })
}

/// Whether an address part starts with a scheme (`udp:`, `tcp:`), not a host.
fn has_scheme(part: &str) -> bool {
    part.starts_with("udp:") || part.starts_with("tcp:")
}

impl fmt::Display for DaemonAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Sends spans to the X-Ray daemon as segment documents (see the [module
/// documentation](self)); usually selected with `OTEL_TRACES_EXPORTER=awsxray` through
/// [`xray_daemon_destination`]. Given in code, with a translation of your own:
///
/// ```
/// use opentelemetry_aws::xray_exporter::SegmentTranslator;
/// use otel_faas_aws::xray::daemon::{DaemonAddress, XrayDaemonExporter};
/// use otel_faas_core::{Pipeline, env::MapEnvironment};
///
/// let exporter = XrayDaemonExporter::with_translator(
///     DaemonAddress::parse("127.0.0.1:2000").unwrap(),
///     SegmentTranslator::new().with_indexed_attr("order.id".to_owned()),
/// );
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_TRACES_EXPORTER", "none"),
///     ("OTEL_METRICS_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .with_span_exporter(exporter)
/// .install();
/// # drop(telemetry);
/// ```
pub struct XrayDaemonExporter {
    address: DaemonAddress,
    translator: SegmentTranslator,
    /// Bound and connected on the first export.
    socket: tokio::sync::OnceCell<tokio::net::UdpSocket>,
}

impl fmt::Debug for XrayDaemonExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XrayDaemonExporter")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl XrayDaemonExporter {
    /// An exporter to the daemon at `address`, with `opentelemetry-aws`'s default
    /// translation.
    pub fn new(address: DaemonAddress) -> Self {
        Self::with_translator(address, SegmentTranslator::new())
    }

    /// An exporter to the daemon at `address`, translating with `translator` (indexed
    /// attributes, log groups…).
    pub fn with_translator(address: DaemonAddress, translator: SegmentTranslator) -> Self {
        Self {
            address,
            translator,
            socket: tokio::sync::OnceCell::new(),
        }
    }

    /// The socket, bound and connected to the daemon (the host name resolved) once.
    async fn socket(&self) -> std::io::Result<&tokio::net::UdpSocket> {
        self.socket
            .get_or_try_init(|| async {
                let target: SocketAddr =
                    tokio::net::lookup_host((self.address.host.as_str(), self.address.port))
                        .await?
                        .next()
                        .ok_or_else(|| {
                            std::io::Error::new(
                                std::io::ErrorKind::NotFound,
                                format!("{} resolves to no address", self.address),
                            )
                        })?;
                let local: SocketAddr = if target.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket = tokio::net::UdpSocket::bind(local).await?;
                socket.connect(target).await?;
                Ok(socket)
            })
            .await
    }

    /// The datagram of each span — header line and document, cut to fit when needed — and
    /// how many spans the translator refused.
    fn datagrams(&self, batch: &[SpanData]) -> (Vec<Vec<u8>>, usize) {
        let mut datagrams = Vec::with_capacity(batch.len());
        let mut refused = 0;
        for span in batch {
            if super::annotations::annotation_count(&span.attributes)
                > super::annotations::MAX_ANNOTATIONS
            {
                otel_faas_core::env::report_once(
                    "xray-annotations-limit",
                    &format!(
                        "the span `{}` has more than X-Ray's {} annotations per segment: \
                         the rest are sent as metadata, not indexed",
                        span.name,
                        super::annotations::MAX_ANNOTATIONS
                    ),
                );
            }
            let span = as_xray_reads_it(span);
            let mut datagram = None;
            for cut in 0..=CUTS {
                let candidate: Cow<'_, SpanData> = match cut {
                    0 => Cow::Borrowed(span.as_ref()),
                    level => Cow::Owned(cut_span(&span, level)),
                };
                let documents = self
                    .translator
                    .translate_spans(std::slice::from_ref(candidate.as_ref()));
                // The translator leaves out a span it cannot translate — a URL over X-Ray's
                // 250 characters, for one: a cut copy may pass.
                let Some(document) = documents.into_iter().next() else {
                    continue;
                };
                let bytes = encode(&document);
                if bytes.len() <= MAX_DATAGRAM {
                    datagram = Some(bytes);
                    break;
                }
            }
            match datagram {
                Some(datagram) => datagrams.push(datagram),
                None => refused += 1,
            }
        }
        (datagrams, refused)
    }
}

/// The span as the Collector's `awsxray` exporter would translate it, where
/// `opentelemetry-aws` 0.21 reads it otherwise (a copy only then):
///
/// - a span without a parent becomes a segment whatever its kind: `opentelemetry-aws` makes
///   a segment of SERVER spans only and refuses a subsegment without a parent, so a root
///   INTERNAL or CONSUMER span (a scheduled job, start-up work) would be lost;
/// - a CLIENT or PRODUCER span is named after the service it calls (`peer.service`, else
///   `server.address`), which X-Ray's service map shows as the remote node — named after
///   the HTTP method it would read `GET`;
/// - `server.address` becomes the `sql` URL only for a database call (`db.system.name` or
///   `db.system`): `opentelemetry-aws` writes it into `sql` for every subsegment, which makes
///   X-Ray show an HTTP call as a SQL database;
/// - a SERVER span whose remote parent is Lambda's own `AWS::Lambda::Function` segment (the
///   `Parent` of the invocation's Lambda trace header, which `xray-lambda` made the parent
///   and remembered) becomes a subsegment of that segment, as X-Ray's SDKs record a function's work: one node for the
///   function in X-Ray's service map, not a second segment of the same function beside
///   Lambda's; it carries Lambda's request id as `aws.request_id` (the function's ARN is on
///   Lambda's segment). A SERVER span under a caller's span (a W3C or X-Ray caller, ECS, EKS,
///   EC2, Lambda without active tracing) is a segment, as X-Ray records a service called by
///   another;
/// - a SERVER span that answered 4xx is X-Ray's `error` (429 also `throttle`), as the
///   developer guide defines them: the HTTP conventions leave such a span's status unset,
///   and `opentelemetry-aws` sets the flags only on a span in error. 5xx is `fault`.
fn as_xray_reads_it(span: &SpanData) -> Cow<'_, SpanData> {
    use opentelemetry::trace::{SpanId, SpanKind, Status};
    let value = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str())
    };
    let root = span.parent_span_id == SpanId::INVALID && span.span_kind != SpanKind::Server;
    // On Lambda a remote parent is Lambda's own function segment: the invocation is a
    // subsegment of it, as X-Ray's SDKs record it, not a second segment of the function.
    let under_lambda = span.span_kind == SpanKind::Server
        && span.parent_span_is_remote
        && super::is_lambda_segment(span.parent_span_id);
    let calls_out = matches!(span.span_kind, SpanKind::Client | SpanKind::Producer);
    let remote_name = if calls_out {
        value("peer.service").or_else(|| value("server.address"))
    } else {
        None
    };
    let database = value("db.system.name").is_some() || value("db.system").is_some();
    // Only subsegments get the `sql` block; a segment keeps its address for its URL.
    let address_as_sql = !database
        && !root
        && (span.span_kind != SpanKind::Server || under_lambda)
        && value("server.address").is_some();
    // X-Ray's `error` is a 4xx answer, `throttle` a 429; the translator sets them only on
    // a span in error, and the HTTP conventions leave a server's 4xx unset.
    let client_error = span.span_kind == SpanKind::Server
        && !matches!(span.status, Status::Error { .. })
        && span.attributes.iter().any(|kv| {
            kv.key.as_str() == "http.response.status_code"
                && matches!(kv.value, Value::I64(400..=499))
        });
    if !root && !under_lambda && !client_error && remote_name.is_none() && !address_as_sql {
        return Cow::Borrowed(span);
    }
    let mut copy = span.clone();
    if root {
        copy.span_kind = SpanKind::Server;
    }
    if under_lambda {
        copy.span_kind = SpanKind::Internal;
        // Lambda's request id, which X-Ray shows and searches on the subsegment.
        if let Some(request_id) = value("faas.invocation_id") {
            let request_id = request_id.into_owned();
            copy.attributes
                .push(KeyValue::new("aws.request_id", request_id));
        }
    }
    if client_error {
        copy.status = Status::error("");
    }
    if let Some(name) = remote_name.filter(|name| !name.is_empty()) {
        copy.name = Cow::Owned(name.into_owned());
    }
    if address_as_sql {
        copy.attributes
            .retain(|kv| !matches!(kv.key.as_str(), "server.address" | "server.port"));
    }
    Cow::Owned(copy)
}

/// How many ever smaller cuts are tried before the bare span.
const CUTS: u8 = 4;

/// The header line and the document.
fn encode(document: &SegmentDocument<'_>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1024);
    bytes.extend_from_slice(DAEMON_HEADER);
    document.to_writer(&mut bytes);
    if bytes.windows(METADATA_KEY.len()).any(|w| w == METADATA_KEY) {
        metadata_in_namespaces(&mut bytes);
    }
    bytes
}

const METADATA_KEY: &[u8] = b"\"metadata\":";

/// The namespace X-Ray's SDKs put metadata in when none is named.
const DEFAULT_METADATA_NAMESPACE: &str = "default";

/// Puts metadata the translator wrote flat (`"metadata": {"key": 47}`) into the `default`
/// namespace (`"metadata": {"default": {"key": 47}}`), as X-Ray's segment document schema
/// requires (each metadata value an object: a namespace), as X-Ray's SDKs and the
/// collector's X-Ray exporter write it. Values that are objects already stay namespaces.
/// Only documents with metadata are read back — most have none.
fn metadata_in_namespaces(bytes: &mut Vec<u8>) {
    use serde_json::{Map, Value as Json};
    let Ok(mut document) = serde_json::from_slice::<Json>(&bytes[DAEMON_HEADER.len()..]) else {
        return;
    };
    let Some(metadata) = document.get_mut("metadata").and_then(Json::as_object_mut) else {
        return;
    };
    if metadata.values().all(Json::is_object) {
        return;
    }
    let mut namespaces = Map::new();
    let mut flat = Map::new();
    for (key, value) in std::mem::take(metadata) {
        if value.is_object() {
            namespaces.insert(key, value);
        } else {
            flat.insert(key, value);
        }
    }
    // Only objects are in `namespaces`, so the default namespace is one.
    if let Json::Object(default) = namespaces
        .entry(DEFAULT_METADATA_NAMESPACE)
        .or_insert_with(|| Json::Object(Map::new()))
    {
        for (key, value) in flat {
            default.entry(key).or_insert(value);
        }
    }
    *metadata = namespaces;
    // Were writing to refuse (it cannot, into a Vec), the document stays as translated.
    if let Ok(body) = serde_json::to_vec(&document) {
        bytes.truncate(DAEMON_HEADER.len());
        bytes.extend_from_slice(&body);
    }
}

/// A copy of `span` cut to fit a datagram or X-Ray's limits: level 1 shortens string values
/// to 1 KiB, level 2 to 250 bytes (X-Ray's limit for the `http` fields), level 3 to 128
/// and leaves out events and links, level 4 leaves out every attribute too.
fn cut_span(span: &SpanData, level: u8) -> SpanData {
    let mut cut = span.clone();
    let limit = match level {
        1 => 1024,
        2 => 250,
        _ => 128,
    };
    let shorten = |attributes: &mut Vec<KeyValue>| {
        for attribute in attributes.iter_mut() {
            if let Value::String(text) = &attribute.value
                && text.as_str().len() > limit
            {
                let text = text.as_str();
                let mut end = limit;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                attribute.value = Value::from(text[..end].to_owned());
            }
        }
    };
    shorten(&mut cut.attributes);
    for event in &mut cut.events.events {
        shorten(&mut event.attributes);
    }
    if level >= 3 {
        cut.events.dropped_count = cut
            .events
            .dropped_count
            .saturating_add(u32::try_from(cut.events.events.len()).unwrap_or(u32::MAX));
        cut.events.events.clear();
        cut.links.dropped_count = cut
            .links
            .dropped_count
            .saturating_add(u32::try_from(cut.links.links.len()).unwrap_or(u32::MAX));
        cut.links.links.clear();
    }
    if level >= 4 {
        cut.dropped_attributes_count = cut
            .dropped_attributes_count
            .saturating_add(u32::try_from(cut.attributes.len()).unwrap_or(u32::MAX));
        cut.attributes.clear();
    }
    cut
}

impl SpanExporter for XrayDaemonExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let (datagrams, refused) = self.datagrams(&batch);
        let mut failed = 0;
        let mut last_error = None;
        if !datagrams.is_empty() {
            let socket = self.socket().await.map_err(|error| {
                OTelSdkError::InternalFailure(format!("X-Ray daemon at {}: {error}", self.address))
            })?;
            for datagram in &datagrams {
                // Non-blocking: a full socket buffer waits here, on the task, never on a
                // thread.
                if let Err(error) = socket.send(datagram).await {
                    failed += 1;
                    last_error = Some(error);
                }
            }
        }
        // The pipeline counts a failed export's spans as dropped: the whole batch, the
        // sent ones too (it cannot tell them apart). Loud rather than silent.
        match (last_error, refused) {
            (None, 0) => Ok(()),
            (Some(error), _) => Err(OTelSdkError::InternalFailure(format!(
                "{failed} of {} segment documents not sent to the X-Ray daemon at {}: {error}",
                datagrams.len(),
                self.address
            ))),
            (None, refused) => Err(OTelSdkError::InternalFailure(format!(
                "{refused} of {} spans could not be translated into segment documents",
                batch.len()
            ))),
        }
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.translator.set_resource(resource);
    }
}

/// The `awsxray` destination for [`Pipeline::with_span_destination`](otel_faas_core::Pipeline::with_span_destination):
/// built from `AWS_XRAY_DAEMON_ADDRESS` when `OTEL_TRACES_EXPORTER` names it, with X-Ray
/// trace ids (their first 4 bytes the epoch seconds, as X-Ray requires; fresh after a
/// SnapStart restore) unless the pipeline was given ids in code. On Lambda the log group
/// (`AWS_LAMBDA_LOG_GROUP_NAME`) is named in each segment, so X-Ray links the logs.
///
/// ```
/// use otel_faas_core::{Pipeline, env::MapEnvironment};
/// use otel_faas_aws::xray::daemon::xray_daemon_destination;
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_TRACES_EXPORTER", "awsxray"),
///     ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"),
///     ("OTEL_METRICS_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .with_span_destination(xray_daemon_destination())
/// .install();
/// assert!(telemetry.warnings().is_empty());
/// ```
pub fn xray_daemon_destination() -> SpanDestination {
    SpanDestination::new(XRAY_EXPORTER_NAME, |env, _traces| {
        let address = DaemonAddress::from_env(env).map_err(|error| error.to_string())?;
        let mut translator = SegmentTranslator::new();
        if let Some(group) = env.get_non_empty("AWS_LAMBDA_LOG_GROUP_NAME") {
            translator = translator.with_log_group_name(group);
        }
        Ok(XrayDaemonExporter::with_translator(address, translator))
    })
    .with_id_generator(otel_faas_core::ids::FreshIds::epoch_prefixed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespaced(document: &str) -> serde_json::Value {
        let mut bytes = DAEMON_HEADER.to_vec();
        bytes.extend_from_slice(document.as_bytes());
        metadata_in_namespaces(&mut bytes);
        assert!(bytes.starts_with(DAEMON_HEADER));
        serde_json::from_slice(&bytes[DAEMON_HEADER.len()..]).unwrap()
    }

    /// A SERVER span under `parent`.
    fn invocation_span(parent: u64, remote_parent: bool) -> SpanData {
        use opentelemetry::trace::{
            SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
        };
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(0x6b17_0915_bd86_2e3f_e1be_46a9_9427_2793_u128),
                SpanId::from(0x614d_8783_9481_9512_u64),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: remote_parent,
            span_kind: SpanKind::Server,
            name: "GET /orders".into(),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: vec![KeyValue::new("server.address", "api.example.com")],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        }
    }

    /// The invocation under Lambda's segment (a parent `xray-lambda` took from the Lambda
    /// trace header) is a subsegment, and its address no `sql` block; under a caller's
    /// span, or a local parent, a SERVER span stays a segment.
    #[test]
    fn a_server_span_under_lambdas_segment_is_a_subsegment() {
        use opentelemetry::trace::SpanKind;
        let lambdas = 0x5399_5c3f_42cd_8ad8_u64;
        super::super::remember_lambda_segment(opentelemetry::trace::SpanId::from(lambdas));
        let under_lambda = invocation_span(lambdas, true);
        let read = as_xray_reads_it(&under_lambda);
        assert_eq!(read.span_kind, SpanKind::Internal);
        assert!(
            !read
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == "server.address")
        );
        let under_a_caller = invocation_span(0x0000_0000_0000_0bad, true);
        assert_eq!(
            as_xray_reads_it(&under_a_caller).span_kind,
            SpanKind::Server
        );
        let local = invocation_span(lambdas, false);
        assert_eq!(as_xray_reads_it(&local).span_kind, SpanKind::Server);
    }

    /// The document the exporter would send for `span`.
    fn document(span: SpanData) -> serde_json::Value {
        let exporter = XrayDaemonExporter::new(DaemonAddress::parse("127.0.0.1:2000").unwrap());
        let (datagrams, refused) = exporter.datagrams(&[span]);
        assert_eq!(refused, 0);
        serde_json::from_slice(&datagrams[0][DAEMON_HEADER.len()..]).unwrap()
    }

    fn answered(status: i64) -> SpanData {
        let mut span = invocation_span(0x0000_0000_0000_0c11, false);
        span.attributes = vec![KeyValue::new("http.response.status_code", status)];
        span
    }

    /// X-Ray's flags from the status a server answered: 4xx `error`, 429 also `throttle`,
    /// 5xx `fault`, 2xx none.
    #[test]
    fn a_servers_answer_sets_xrays_error_throttle_and_fault() {
        let flags = |document: &serde_json::Value| {
            ["error", "throttle", "fault"]
                .map(|flag| document.get(flag) == Some(&serde_json::json!(true)))
        };
        assert_eq!(flags(&document(answered(404))), [true, false, false]);
        assert_eq!(flags(&document(answered(429))), [true, true, false]);
        let mut failed = answered(503);
        failed.status = opentelemetry::trace::Status::error("");
        assert_eq!(flags(&document(failed)), [false, false, true]);
        assert_eq!(flags(&document(answered(200))), [false, false, false]);
    }

    /// The invocation under Lambda's segment names Lambda's request id.
    #[test]
    fn the_invocation_under_lambdas_segment_has_the_request_id() {
        let lambdas = 0x0000_0000_1a3b_d000_u64;
        super::super::remember_lambda_segment(opentelemetry::trace::SpanId::from(lambdas));
        let mut span = invocation_span(lambdas, true);
        span.attributes.push(KeyValue::new(
            "faas.invocation_id",
            "c6af9ac6-7b61-11e6-9a41-93e812345678",
        ));
        let document = document(span);
        assert_eq!(document["type"], "subsegment");
        assert_eq!(
            document["aws"]["request_id"], "c6af9ac6-7b61-11e6-9a41-93e812345678",
            "{document:#}"
        );
    }

    /// Flat metadata goes into the `default` namespace; namespaces stay; a `default`
    /// namespace already there gets the flat values beside its own, its own winning.
    #[test]
    fn flat_metadata_goes_into_the_default_namespace() {
        assert_eq!(
            namespaced(r#"{"name":"a","metadata":{"extra_47":47,"note":"x"}}"#),
            serde_json::json!({"name":"a","metadata":{"default":{"extra_47":47,"note":"x"}}})
        );
        assert_eq!(
            namespaced(r#"{"metadata":{"debug":{"a":1},"default":{"b":2,"c":3},"c":4,"d":[5]}}"#),
            serde_json::json!({"metadata":{"debug":{"a":1},"default":{"b":2,"c":3,"d":[5]}}})
        );
        // Nothing to do, or not JSON: the bytes stay as they were.
        let untouched = r#"{"metadata":{"debug":{"a":1}}}"#;
        assert_eq!(
            namespaced(untouched),
            serde_json::json!({"metadata":{"debug":{"a":1}}})
        );
        let mut broken = DAEMON_HEADER.to_vec();
        broken.extend_from_slice(b"{\"metadata\":");
        let before = broken.clone();
        metadata_in_namespaces(&mut broken);
        assert_eq!(broken, before);
    }

    fn parsed(value: &str) -> Result<String, DaemonAddressError> {
        DaemonAddress::parse(value).map(|address| address.to_string())
    }

    #[test]
    fn addresses_in_every_form_the_sdks_accept() {
        assert_eq!(parsed("127.0.0.1:2000").unwrap(), "127.0.0.1:2000");
        assert_eq!(parsed(" xray-daemon:3000 ").unwrap(), "xray-daemon:3000");
        assert_eq!(parsed("[::1]:2000").unwrap(), "[::1]:2000");
        assert_eq!(parsed("udp:10.0.0.1:2000").unwrap(), "10.0.0.1:2000");
        assert_eq!(
            parsed("udp:10.0.0.1:2000 tcp:10.0.0.1:2001").unwrap(),
            "10.0.0.1:2000"
        );
        assert_eq!(
            parsed("tcp:10.0.0.1:2001 udp:10.0.0.2:2002").unwrap(),
            "10.0.0.2:2002"
        );
    }

    #[test]
    fn addresses_that_do_not_parse_say_why() {
        for (value, reason) in [
            ("", "it is empty"),
            ("localhost", "no port"),
            ("localhost:http", "the port is not a number up to 65535"),
            ("localhost:70000", "the port is not a number up to 65535"),
            ("localhost:0", "port 0"),
            (":2000", "no host"),
            ("::1:2000", "an IPv6 address must be written [address]:port"),
            (
                "[nonsense]:2000",
                "an IPv6 address must be written [address]:port",
            ),
            (
                "tcp:10.0.0.1:2001",
                "a single address with a scheme must be the udp one",
            ),
            (
                "udp:a:1 udp:b:2",
                "two addresses must be one udp: and one tcp:",
            ),
            ("a:1 b:2 c:3", "more than two addresses"),
        ] {
            let error = DaemonAddress::parse(value).unwrap_err();
            assert_eq!(error.reason, reason, "{value:?}");
            assert!(
                error.to_string().contains("expected `host:port`"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_default_address_when_the_variable_is_unset_or_empty() {
        let unset = otel_faas_core::env::MapEnvironment::default();
        assert_eq!(
            DaemonAddress::from_env(&unset).unwrap().to_string(),
            "127.0.0.1:2000"
        );
        let empty = otel_faas_core::env::MapEnvironment::from([(DAEMON_ADDRESS_VARIABLE, "  ")]);
        assert_eq!(
            DaemonAddress::from_env(&empty).unwrap().to_string(),
            "127.0.0.1:2000"
        );
    }
}
