//! The telemetry pipeline — traces, metrics and logs — configured from the standard
//! `OTEL_*` variables.
//!
//! [`Pipeline::install`] reads the [SDK environment
//! variables](https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/)
//! once at start-up, once per signal, without any network I/O, and never fails: an invalid
//! value produces one [`ConfigWarning`](crate::env::ConfigWarning) naming the variable and the accepted values, and the
//! spec default is used instead; an `OTEL_*` variable that is set but that nothing here
//! reads gets one warning too. A function must not stop because its telemetry is
//! misconfigured, and no setting silently does nothing.
//!
//! | variable | accepted | default |
//! |---|---|---|
//! | `OTEL_SDK_DISABLED` | `true`, `false` | `false` |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | see [`crate::resource::build_resource`] | |
//! | `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` | `otlp`, `console`, `none` (comma-separated); for metrics also the names platform crates register ([`MetricSink`]) | `otlp` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL` | `http/protobuf`, `http/json`, `grpc` (feature `otlp-grpc`) | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT` | an `http` or `https` URL (https: feature `tls`, on by default; with gRPC, feature `otlp-grpc-tls`) | `http://localhost:4318` (4317 for gRPC) |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]HEADERS` | `key=value` pairs, values percent-encoded | none |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT` | milliseconds | `10000` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]COMPRESSION` | `gzip`, `none` | `none` |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE` | a PEM file of CAs trusted beside the webpki roots | |
//! | `OTEL_EXPORTER_OTLP_[SIGNAL_]CLIENT_KEY`, `…CLIENT_CERTIFICATE` | PEM files, for mutual TLS | |
//! | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative`, `delta`, `lowmemory` | `cumulative` |
//! | `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_METRIC_EXPORT_TIMEOUT` | milliseconds | `60000`, `30000` |
//! | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` | `parentbased_always_on` |
//! | `OTEL_TRACES_SAMPLER_ARG` | a ratio in `[0, 1]` | `1.0` |
//! | `OTEL_FAAS_UNSAMPLED_REMOTE_PARENTS` | `honor`, `decide_locally` (see [`UnsampledRemoteParents`](crate::sampling::UnsampledRemoteParents)) | the platform's: `honor` unless a cloud crate says otherwise |
//! | `OTEL_FAAS_SAMPLING_RULES` | a rules document, or the path of its file (see [`SamplingRules`](crate::sampling::SamplingRules)); replaces the root sampler | none |
//! | `OTEL_FAAS_TAIL_SAMPLING_RATIO`, `…_SLOW_MS`, `…_KEEP_COLD_STARTS`, `…_MAX_SPANS` | see [`TailSampling`](crate::sampling::TailSampling) | off |
//! | `OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN` | `logs`, `logs/dup` (see [`ExceptionSignal`](crate::engine::ExceptionSignal)) | exceptions as span events |
//! | `OTEL_PROPAGATORS` | the names in the [`PropagatorRegistry`](crate::propagation::PropagatorRegistry) | `tracecontext,baggage` |
//! | `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` | characters | no limit |
//! | `OTEL_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_{ATTRIBUTE,EVENT,LINK}_COUNT_LIMIT`, `OTEL_{EVENT,LINK}_ATTRIBUTE_COUNT_LIMIT` | counts | `128` |
//! | `OTEL_BSP_{SCHEDULE_DELAY,MAX_QUEUE_SIZE,MAX_EXPORT_BATCH_SIZE}` | ms, counts: the spans' export path — how often its thread exports on its own, the most spans queued (and, again, the most held for retry), the most per request | `5000`, `2048`, `512` |
//! | `OTEL_BSP_EXPORT_TIMEOUT` | ms: the longest one export from the spans' exporter thread takes (each request is also bounded by the exporter's timeout; an invocation's flush by its budget) | `30000` |
//! | `OTEL_BLRP_{SCHEDULE_DELAY,MAX_QUEUE_SIZE,MAX_EXPORT_BATCH_SIZE}` | ms, counts | `1000`, `2048`, `512` |
//!
//! `OTEL_BLRP_EXPORT_TIMEOUT` is not supported (the SDK's batch log processor has no such
//! setting; the exporter timeout bounds each export) and warns when set.
//!
//! The signal-specific variable (`TRACES_`, `METRICS_`, `LOGS_`) wins over the general one,
//! as the spec says. Recording never blocks a request, and [`Telemetry`]'s flusher flushes
//! all three signals within one budget:
//!
//! - **Spans** go through an export path built for functions instead of the SDK's batch
//!   processor (whose flush took two thread hops and back): an ended span joins a bounded
//!   queue, and the flush at the end of an invocation encodes and sends it on the
//!   invocation's own task with async I/O. The exporter does not retry inside an
//!   invocation; an OTLP/HTTP batch the collector did not take (refused, reset, timed out,
//!   429, 502, 503, 504) is kept as bytes — `OTEL_BSP_MAX_QUEUE_SIZE` spans at most, the
//!   oldest dropped first — and sent with the next flush. After a failure a circuit breaker
//!   keeps flushes off the network (microseconds each) for a back-off (1 s doubling to 60 s,
//!   or the collector's `Retry-After`), and one probe from the path's single exporter thread
//!   decides when to send again; a collector that answers only after the flush budget is
//!   sent to from that thread, off the response path. Every span dropped is counted —
//!   [`Telemetry::export_stats`], the self-metric `otel.sdk.processor.span.processed` with
//!   `error.type` (`queue_full`, `retry_buffer_full`, `rejected`, `export_failed`,
//!   `shutdown`, `snapshot`), one line on stderr a minute at most. Delivery is at least
//!   once: a batch cut by the budget may have arrived and is sent again. Console, gRPC and exporters
//!   given in code share the queue, circuit and counters; as the SDK's exporters take spans
//!   by value, a batch they fail is counted as dropped rather than kept.
//! - **Metrics** are exported by a periodic reader and **log records** by the SDK's batch
//!   processor, each on its own thread; the flusher flushes them on tokio's blocking pool,
//!   and only when the signal is exported at all.
//!
//! An export that fails is reported once per signal — through `tracing` when a subscriber
//! is installed, on standard error otherwise — with the endpoint stripped of user
//! information and query, never a header value; every failure is counted and
//! [`Telemetry::shutdown`] returns an error if there were any. A flush cut by its budget is
//! not a failure: its spans are kept (and a budget under 250 ms that runs out does not open
//! the circuit: it tells nothing of the collector).

mod client;
mod config;
mod custom;
mod destination;
pub(crate) mod direct;
mod error;
mod export;
mod flush;
mod late;
mod signing;
mod sink;
mod span_adapter;
mod stdout;
#[cfg(feature = "tls")]
mod tls;

pub use client::reconnect_exporters;
#[cfg(feature = "exporter-client")]
pub use client::{ExporterClient, ExporterClientError};
pub use config::{
    BatchSettings, Compression, Exporter, Headers, Limits, OtlpProtocol, PipelineConfig,
    SamplerConfig, Signal, SignalConfig, TemporalityPreference, TlsFiles,
};
pub use custom::SpanDestination;
pub use destination::{DefaultWhen, LogDestination, MetricDestination};
pub use direct::ExportStats;
pub use late::LateResource;
pub use signing::{RequestSigner, SignerFactory, SigningError};
pub use sink::MetricSink;
pub use span_adapter::{OtlpSpanAdapter, OtlpSpanAdapterFactory};

mod builder;
mod install;
mod telemetry;

pub use builder::Pipeline;
pub use telemetry::Telemetry;
