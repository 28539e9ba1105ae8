//! OTLP/HTTP for the spans' export path: spans are encoded once, on the task that flushes
//! them, and kept as bytes, so that a batch the collector did not take is sent again with
//! the next flush without re-encoding or copying a span.
//!
//! Status codes are read as the [OTLP/HTTP
//! specification](https://opentelemetry.io/docs/specs/otlp/#failures-1) says: 429, 502,
//! 503 and 504 are retryable (with `Retry-After` when given, in seconds or as an HTTP
//! date); every other 4xx and 5xx is final and the batch is dropped and counted. Connection
//! errors and timeouts are retryable. A success whose body reports a partial success counts
//! the rejected spans as dropped.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use prost::Message as _;

use super::super::client::AsyncClients;
use super::super::config::{Compression, OtlpProtocol, SignalConfig};
use super::super::error::BuildError;
use super::super::export::truncate_span;
use super::super::late::{LateResource, merged};

/// Spans encoded as one OTLP request body (uncompressed).
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub(crate) body: Bytes,
    pub(crate) spans: usize,
}

/// Why a send did not succeed.
#[derive(Debug)]
pub(crate) struct SendError {
    /// Sending the same bytes later may succeed.
    pub(crate) retryable: bool,
    /// The collector's `Retry-After`.
    pub(crate) retry_after: Option<Duration>,
    /// For the diagnostics: never a header value.
    pub(crate) message: String,
}

/// What the collector answered to a successful send.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// Spans the collector reported as rejected in a partial success.
    pub(crate) rejected: usize,
}

/// The OTLP/HTTP transport of one pipeline.
#[derive(Debug)]
pub(crate) struct OtlpHttp {
    endpoint: String,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    json: bool,
    gzip: bool,
    value_length: Option<usize>,
    resource: RwLock<ResourceState>,
    late: Option<LateResource>,
    clients: Arc<AsyncClients>,
    /// Signs each request just before it is sent, over the bytes sent.
    signer: Option<Arc<dyn super::super::RequestSigner>>,
    /// Changes each span for the endpoint before it is encoded.
    adapter: Option<Arc<dyn super::super::OtlpSpanAdapter>>,
}

#[derive(Debug)]
struct ResourceState {
    base: Resource,
    encoded: Arc<ResourceAttributesWithSchema>,
    late_applied: bool,
}

impl OtlpHttp {
    pub(crate) fn new(
        config: &SignalConfig,
        late: Option<LateResource>,
        value_length: Option<usize>,
        signer: Option<Arc<dyn super::super::RequestSigner>>,
        adapter: Option<Arc<dyn super::super::OtlpSpanAdapter>>,
    ) -> Result<Self, BuildError> {
        let mut headers = Vec::new();
        for (name, value) in config.headers.pairs() {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                BuildError::Header(format!("the header name {name:?} is not valid in HTTP"))
            })?;
            // The value is a credential as often as not: never in a message.
            let mut value = http::HeaderValue::from_str(value).map_err(|_| {
                BuildError::Header(format!(
                    "the value of the header {name} is not valid in HTTP"
                ))
            })?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        let resource = Resource::builder_empty().build();
        Ok(Self {
            endpoint: config.endpoint.clone(),
            headers,
            json: config.protocol == OtlpProtocol::HttpJson,
            gzip: config.compression == Some(Compression::Gzip),
            value_length,
            resource: RwLock::new(ResourceState {
                encoded: Arc::new((&resource).into()),
                base: resource,
                late_applied: false,
            }),
            late,
            clients: AsyncClients::new(config)?,
            signer,
            adapter,
        })
    }

    /// Takes the resource the provider was built with.
    pub(crate) fn set_resource(&self, resource: &Resource) {
        let mut state = self
            .resource
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        state.base = resource.clone();
        state.encoded = Arc::new(resource.into());
        state.late_applied = false;
    }

    /// The resource to encode with: the start-up one, merged with the late attributes
    /// once they are known (start-up values win).
    fn resource(&self) -> Arc<ResourceAttributesWithSchema> {
        {
            let state = self.resource.read().unwrap_or_else(PoisonError::into_inner);
            let late_pending =
                !state.late_applied && self.late.as_ref().is_some_and(|late| late.get().is_some());
            if !late_pending {
                return Arc::clone(&state.encoded);
            }
        }
        let mut state = self
            .resource
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(late) = self.late.as_ref().and_then(LateResource::get)
            && !state.late_applied
        {
            let merged = merged(&state.base, late);
            state.encoded = Arc::new((&merged).into());
            state.late_applied = true;
        }
        Arc::clone(&state.encoded)
    }

    /// Encodes `spans` as one request body.
    pub(crate) fn encode(&self, mut spans: Vec<SpanData>) -> Result<Encoded, String> {
        if let Some(adapter) = &self.adapter {
            for span in &mut spans {
                adapter.adapt(span);
            }
        }
        if let Some(limit) = self.value_length {
            for span in &mut spans {
                truncate_span(span, limit);
            }
        }
        let count = spans.len();
        let resource = self.resource();
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans, &resource),
        };
        let body = if self.json {
            serde_json::to_vec(&request)
                .map_err(|error| format!("the spans could not be encoded as JSON: {error}"))?
        } else {
            request.encode_to_vec()
        };
        Ok(Encoded {
            body: Bytes::from(body),
            spans: count,
        })
    }

    /// Whether bodies can be joined into one request: two protobuf messages of the same
    /// type concatenated are their merge (the `resource_spans` of both), JSON ones are not.
    pub(crate) fn joins_bodies(&self) -> bool {
        !self.json
    }

    /// Sends one request body made of `bodies` (several only when they join).
    pub(crate) async fn send(
        &self,
        bodies: &[Encoded],
        on_exporter_thread: bool,
    ) -> Result<Accepted, SendError> {
        let body = match bodies {
            [one] => one.body.clone(),
            many => {
                let mut joined = Vec::with_capacity(many.iter().map(|e| e.body.len()).sum());
                for encoded in many {
                    joined.extend_from_slice(&encoded.body);
                }
                Bytes::from(joined)
            }
        };
        let body = if self.gzip {
            gzip(&body).map_err(|error| SendError {
                retryable: false,
                retry_after: None,
                message: format!("the spans could not be compressed: {error}"),
            })?
        } else {
            body
        };
        let client = self.clients.get(on_exporter_thread);
        // A reference-counted handle, not a copy: the signature covers the bytes sent.
        let signed_body = body.clone();
        let mut request = client.post(&self.endpoint).body(body).header(
            http::header::CONTENT_TYPE,
            if self.json {
                "application/json"
            } else {
                "application/x-protobuf"
            },
        );
        if self.gzip {
            request = request.header(http::header::CONTENT_ENCODING, "gzip");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value.clone());
        }
        let response = match &self.signer {
            None => request.send().await,
            Some(signer) => {
                let request = self.signed(request, signer.as_ref(), &signed_body)?;
                client.execute(request).await
            }
        }
        .map_err(|error| SendError {
            retryable: true,
            retry_after: None,
            message: describe(&error),
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        if status.is_success() {
            // The body only matters for a partial success; one that cannot be read or
            // decoded still means the spans were taken. The collector controls its size:
            // at most `LONGEST_ANSWER` bytes are read, a longer answer is not decoded.
            let rejected = match read_answer(response).await {
                Some(bytes) if !self.json => ExportTraceServiceResponse::decode(bytes)
                    .ok()
                    .and_then(|answer| answer.partial_success)
                    .map_or(0, |partial| {
                        usize::try_from(partial.rejected_spans).unwrap_or(usize::MAX)
                    }),
                _ => 0,
            };
            return Ok(Accepted { rejected });
        }
        Err(SendError {
            retryable: is_retryable(status.as_u16()),
            retry_after,
            message: format!("the collector answered {status}"),
        })
    }
}

impl OtlpHttp {
    /// The request `builder` describes, signed by `signer` over `body`. A request that
    /// cannot be signed is not sent: the send fails, not retryable (credentials missing
    /// now are missing on the next try too; the batch is counted as dropped) unless the
    /// signer says they are pending (a token being fetched).
    fn signed(
        &self,
        builder: reqwest::RequestBuilder,
        signer: &dyn super::super::RequestSigner,
        body: &[u8],
    ) -> Result<reqwest::Request, SendError> {
        let refused = |message: String| SendError {
            retryable: false,
            retry_after: None,
            message,
        };
        let mut request = builder.build().map_err(|error| refused(describe(&error)))?;
        let uri: http::Uri = request
            .url()
            .as_str()
            .parse()
            .map_err(|_| refused("the endpoint is not a URI that can be signed".to_owned()))?;
        let method = request.method().clone();
        signer
            .sign(&method, &uri, request.headers_mut(), body)
            .map_err(|error| SendError {
                // Credentials on their way: the bodies are kept, as for an outage.
                retryable: error.is_pending(),
                retry_after: None,
                message: format!("the export request could not be signed: {error}"),
            })?;
        Ok(request)
    }
}

/// The longest answer body read: a partial success is a few dozen bytes.
const LONGEST_ANSWER: usize = 64 * 1024;

/// The answer's body, or `None` when it cannot be read or is longer than `LONGEST_ANSWER`.
async fn read_answer(mut response: reqwest::Response) -> Option<Bytes> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > LONGEST_ANSWER {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(Bytes::from(body))
}

/// The statuses the OTLP/HTTP specification calls retryable.
pub(crate) fn is_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110, 10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The error and its causes, without the URL's query (reqwest prints the URL).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut message = format!("the export {kind}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn gzip(body: &[u8]) -> std::io::Result<Bytes> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body)?;
    encoder.finish().map(Bytes::from)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    #[test]
    fn only_the_statuses_the_spec_names_are_retryable() {
        for status in [429, 502, 503, 504] {
            assert!(is_retryable(status), "{status}");
        }
        for status in [400, 401, 403, 404, 413, 500, 501] {
            assert!(!is_retryable(status), "{status}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // 2015-10-21 07:28:00 GMT, 120 s after `now`.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past: now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    /// A one-shot HTTP server on 127.0.0.1 that reads a request and answers `body` (200).
    fn answering(body: Vec<u8>) -> String {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            // Head, then the body by its content-length.
            while let Ok(n) = stream.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        format!("http://{address}/v1/traces")
    }

    /// An OTLP/HTTP transport to `endpoint`, protobuf, no compression.
    pub(in crate::pipeline::direct) fn transport_to(endpoint: String) -> OtlpHttp {
        let config = SignalConfig {
            exporters: Vec::new(),
            protocol: OtlpProtocol::HttpProtobuf,
            endpoint,
            headers: Vec::new().into(),
            timeout: Duration::from_secs(5),
            compression: None,
            tls: Default::default(),
        };
        OtlpHttp::new(&config, None, None, None, None).expect("built")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_partial_success_is_read_and_an_oversized_answer_is_not() {
        let partial = partial_bytes(2);
        let transport = transport_to(answering(partial));
        let encoded = transport
            .encode(vec![super::super::test_span("a")])
            .expect("encoded");
        let accepted = transport
            .send(std::slice::from_ref(&encoded), false)
            .await
            .expect("accepted");
        assert_eq!(accepted, Accepted { rejected: 2 });
        // An answer over the limit is not read to its end nor decoded: the spans were taken.
        // Valid protobuf all the way (concatenated messages merge), so that only the
        // limit keeps it from being decoded.
        let one = partial_bytes(7);
        let huge: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * (LONGEST_ANSWER / one.len() + 1))
            .collect();
        assert!(huge.len() > LONGEST_ANSWER);
        let transport = transport_to(answering(huge));
        let accepted = transport
            .send(std::slice::from_ref(&encoded), false)
            .await
            .expect("accepted");
        assert_eq!(accepted, Accepted { rejected: 0 });
    }

    fn partial_bytes(rejected: i64) -> Vec<u8> {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: String::new(),
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn joined_protobuf_bodies_decode_as_one_request_with_every_span() {
        let config = SignalConfig {
            exporters: Vec::new(),
            protocol: OtlpProtocol::HttpProtobuf,
            endpoint: "http://127.0.0.1:1/v1/traces".to_owned(),
            headers: Vec::new().into(),
            timeout: Duration::from_secs(1),
            compression: None,
            tls: Default::default(),
        };
        let transport = OtlpHttp::new(&config, None, None, None, None).expect("built");
        transport.set_resource(
            &Resource::builder_empty()
                .with_attribute(KeyValue::new("service.name", "orders"))
                .build(),
        );
        let span = super::super::test_span;
        let first = transport
            .encode(vec![span("a"), span("b")])
            .expect("encoded");
        let second = transport.encode(vec![span("c")]).expect("encoded");
        let mut joined = first.body.to_vec();
        joined.extend_from_slice(&second.body);
        let request = ExportTraceServiceRequest::decode(joined.as_slice()).expect("decoded");
        let names: Vec<String> = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(request.resource_spans.len(), 2);
        assert!(transport.joins_bodies());
    }
}
