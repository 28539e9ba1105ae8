//! The platform's own figures, from the Lambda Telemetry API.
//!
//! Lambda measures what a function cannot see from inside: the whole initialisation (the
//! runtime's start included), the restore from a SnapStart snapshot, the billed duration and
//! the most memory the environment used. It reports them as `platform.initReport`,
//! `platform.restoreReport` and `platform.report` events to extensions subscribed to the
//! [Telemetry API](https://docs.aws.amazon.com/lambda/latest/dg/telemetry-api.html). The
//! reference asks a subscriber only for the identifier the Extensions API returned at
//! registration, which our internal extension has, and for the init phase; it does not
//! restrict subscriptions to external extensions. (Checked against the reference and a
//! local emulator written from it, not on Lambda itself.) Lambda then POSTs batches of
//! events to a listener of ours.
//!
//! What this means for the figures, honestly:
//!
//! * `platform.report` is written once the invocation is over *and* every extension is back
//!   at `next`: after the invocation span has ended and been exported, in either flush mode.
//!   Lambda then freezes the environment, so the report reaches the listener when the
//!   environment is thawed — during the next invocation (or at shutdown). Its figures are
//!   therefore recorded one invocation late: as metrics (exported with the next flush), and
//!   as a `platform.report` child span of the invocation span, spanning from `platform.start`
//!   to the report, carrying the figures as attributes. The invocation span itself cannot
//!   carry them — it is exported before they exist.
//! * The last invocation before a shutdown has its report delivered, if at all, while the
//!   environment shuts down; the shutdown flush exports what arrived by then.
//! * On Lambda Managed Instances, which never freeze the environment, the subscription uses
//!   the schema version they require (2025-01-29); how soon reports arrive there has not
//!   been observed.
//!
//! The listener is an HTTP/1 server on an ephemeral port; Lambda sends to
//! `http://sandbox.localdomain:{port}`, the sandbox's own address, so it listens on every
//! interface of the sandbox by default (`OTEL_FAAS_LAMBDA_TELEMETRY_LISTEN`, for tests and
//! emulators that reach it on loopback). A subscription Lambda (or an emulator without the
//! Telemetry API) refuses is a warning: the function runs, without these figures.
//!
//! The events are read with types of our own rather than `lambda_extension`'s telemetry
//! enum: that enum has no variant for the `platform.restore*` events nor for the
//! `lambda-managed-instances` initialisation type, and one unknown event fails its whole
//! batch. Here each event is read on its own and an unknown one is skipped.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute::{ERROR_TYPE, FAAS_INVOCATION_ID, FAAS_TRIGGER};
use opentelemetry_semantic_conventions::metric::FAAS_MEM_USAGE;
use otel_faas_core::Environment;
use otel_faas_core::engine::{
    CurrentInvocation, DURATION_BUCKETS, InvocationObserver, InvocationStart,
};
use otel_faas_core::env::{ConfigWarning, report_once};
use serde::Deserialize;

/// `OTEL_FAAS_LAMBDA_PLATFORM_TELEMETRY`: `true` subscribes to the Telemetry API.
pub const PLATFORM_TELEMETRY_VARIABLE: &str = "OTEL_FAAS_LAMBDA_PLATFORM_TELEMETRY";
/// `OTEL_FAAS_LAMBDA_TELEMETRY_LISTEN`: where the Telemetry API listener binds.
pub const TELEMETRY_LISTEN_VARIABLE: &str = "OTEL_FAAS_LAMBDA_TELEMETRY_LISTEN";
/// `OTEL_FAAS_LAMBDA_COST_ESTIMATE`: `true` records an estimated cost per invocation.
pub const COST_ESTIMATE_VARIABLE: &str = "OTEL_FAAS_LAMBDA_COST_ESTIMATE";
/// `OTEL_FAAS_LAMBDA_PRICE_PER_GB_SECOND`: the price of one GB-second, in USD.
pub const PRICE_PER_GB_SECOND_VARIABLE: &str = "OTEL_FAAS_LAMBDA_PRICE_PER_GB_SECOND";
/// `OTEL_FAAS_LAMBDA_PRICE_PER_REQUEST`: the price of one request, in USD.
pub const PRICE_PER_REQUEST_VARIABLE: &str = "OTEL_FAAS_LAMBDA_PRICE_PER_REQUEST";

/// `otel_faas.lambda.billed_duration` (histogram, `s`): the duration Lambda billed.
pub const BILLED_DURATION_METRIC: &str = "otel_faas.lambda.billed_duration";
/// `otel_faas.lambda.init_duration` (histogram, `s`): the whole initialisation as Lambda
/// measured it (`platform.initReport`), the runtime's start included.
pub const PLATFORM_INIT_DURATION_METRIC: &str = "otel_faas.lambda.init_duration";
/// `otel_faas.lambda.restore_duration` (histogram, `s`): a SnapStart restore
/// (`platform.restoreReport`).
pub const RESTORE_DURATION_METRIC: &str = "otel_faas.lambda.restore_duration";
/// `otel_faas.lambda.cost` (counter, `{USD}`): the estimated cost of the invocations.
pub const COST_METRIC: &str = "otel_faas.lambda.cost";

/// The name of the span that carries an invocation's `platform.report`.
pub const REPORT_SPAN_NAME: &str = "platform.report";
/// Billed duration in milliseconds (int), on the report span.
pub const BILLED_DURATION_ATTRIBUTE: &str = "otel_faas.lambda.billed_duration_ms";
/// Duration Lambda measured, in milliseconds (double), on the report span.
pub const DURATION_ATTRIBUTE: &str = "otel_faas.lambda.duration_ms";
/// Memory configured, in MB (int), on the report span.
pub const MEMORY_SIZE_ATTRIBUTE: &str = "otel_faas.lambda.memory_size_mb";
/// The most memory used, in MB (int), on the report span.
pub const MAX_MEMORY_USED_ATTRIBUTE: &str = "otel_faas.lambda.max_memory_used_mb";
/// The initialisation Lambda measured for a cold invocation, in milliseconds (double).
pub const INIT_DURATION_ATTRIBUTE: &str = "otel_faas.lambda.init_duration_ms";
/// The restore Lambda measured for a restored invocation, in milliseconds (double).
pub const RESTORE_DURATION_ATTRIBUTE: &str = "otel_faas.lambda.restore_duration_ms";
/// The invocation's status in the report (`success`, `error`, `failure`, `timeout`).
pub const REPORT_STATUS_ATTRIBUTE: &str = "otel_faas.lambda.status";
/// The estimated cost of the invocation in USD (double), when estimates are on.
pub const COST_ATTRIBUTE: &str = "otel_faas.lambda.estimated_cost_usd";
/// The initialisation type of `platform.initReport` (`on-demand`, `provisioned-concurrency`,
/// `snap-start`, `lambda-managed-instances`), on the init-duration metric.
pub const INIT_TYPE_ATTRIBUTE: &str = "otel_faas.lambda.init_type";

/// How many recent invocations are remembered to join a late report to its invocation.
const REMEMBERED_INVOCATIONS: usize = 64;
/// The largest batch read: Lambda buffers at most 1 MiB of events per batch.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// How long the subscription request may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The price of Lambda's compute, for the cost estimate.
///
/// The defaults are the public on-demand list prices of us-east-1 for the first pricing tier
/// when this was written (x86_64 0.0000166667 USD and arm64 0.0000133334 USD per GB-second,
/// 0.20 USD per million requests): set your region's and your tier's with
/// `OTEL_FAAS_LAMBDA_PRICE_PER_GB_SECOND` and `OTEL_FAAS_LAMBDA_PRICE_PER_REQUEST`. Free
/// tiers, savings plans and provisioned concurrency are not modelled: an estimate to compare
/// functions and versions, not a bill.
///
/// ```
/// use otel_faas_aws::lambda::LambdaPricing;
///
/// let arm = LambdaPricing::arm64();
/// // 100 ms billed at 1,024 MB: 0.1 GB-s plus one request.
/// let cost = arm.invocation_cost(100, 1024);
/// assert!((cost - (0.1 * 0.000_013_333_4 + 0.000_000_2)).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambdaPricing {
    /// USD per GB-second of billed duration × configured memory.
    pub per_gb_second: f64,
    /// USD per request.
    pub per_request: f64,
}

impl LambdaPricing {
    /// x86_64 list prices (us-east-1, first tier).
    pub const fn x86_64() -> Self {
        Self {
            per_gb_second: 0.000_016_666_7,
            per_request: 0.000_000_2,
        }
    }

    /// arm64 (Graviton) list prices (us-east-1, first tier).
    pub const fn arm64() -> Self {
        Self {
            per_gb_second: 0.000_013_333_4,
            per_request: 0.000_000_2,
        }
    }

    /// The list prices of the architecture this binary was built for: a Lambda function runs
    /// on the architecture of its binary.
    pub const fn for_this_architecture() -> Self {
        if cfg!(target_arch = "aarch64") {
            Self::arm64()
        } else {
            Self::x86_64()
        }
    }

    /// The estimated cost of one invocation billed `billed_ms` with `memory_mb` configured.
    pub fn invocation_cost(&self, billed_ms: u64, memory_mb: u64) -> f64 {
        // Lambda bills memory in GB of 1,024 MB.
        #[allow(clippy::cast_precision_loss)] // far below 2^52
        let gb_seconds = (billed_ms as f64 / 1000.0) * (memory_mb as f64 / 1024.0);
        gb_seconds * self.per_gb_second + self.per_request
    }
}

/// Whether to record the platform's figures, and what they cost.
///
/// Off by default: it registers the internal extension (also in before-response mode, where
/// it costs each invocation one more round trip to the Runtime API) and runs a listener.
///
/// ```
/// use otel_faas_aws::{lambda::{LambdaPricing, PlatformTelemetry}};
///
/// let figures = PlatformTelemetry::enabled().cost_estimate(LambdaPricing::arm64());
/// assert!(figures.is_enabled());
/// assert_eq!(figures.pricing(), Some(LambdaPricing::arm64()));
/// assert!(!PlatformTelemetry::default().is_enabled());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlatformTelemetry {
    enabled: bool,
    pricing: Option<LambdaPricing>,
    listen: Option<SocketAddr>,
}

impl PlatformTelemetry {
    /// The figures recorded, without a cost estimate.
    pub fn enabled() -> Self {
        Self {
            enabled: true,
            ..Self::default()
        }
    }

    /// Also records an estimated cost per invocation at `pricing`.
    #[must_use]
    pub fn cost_estimate(mut self, pricing: LambdaPricing) -> Self {
        self.pricing = Some(pricing);
        self
    }

    /// Whether the figures are recorded.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The pricing of the cost estimate, when it is on.
    pub fn pricing(&self) -> Option<LambdaPricing> {
        self.pricing
    }

    /// Applies the `OTEL_FAAS_LAMBDA_*` variables (see the README) over `self`: invalid values
    /// warn and keep what was set in code.
    ///
    /// ```
    /// use otel_faas_aws::lambda::PlatformTelemetry;
    /// use otel_faas_core::env::MapEnvironment;
    ///
    /// let env = MapEnvironment::from([
    ///     ("OTEL_FAAS_LAMBDA_PLATFORM_TELEMETRY", "true"),
    ///     ("OTEL_FAAS_LAMBDA_PRICE_PER_GB_SECOND", "0.00002"),
    /// ]);
    /// let figures = PlatformTelemetry::default().with_environment(&env);
    /// assert!(figures.is_enabled());
    /// assert_eq!(figures.pricing().map(|p| p.per_gb_second), Some(0.00002));
    /// ```
    #[must_use]
    pub fn with_environment(mut self, env: &dyn Environment) -> Self {
        if let Some(value) = read_bool(env, PLATFORM_TELEMETRY_VARIABLE, self.enabled) {
            self.enabled = value;
        }
        let mut pricing = self.pricing;
        if let Some(on) = read_bool(env, COST_ESTIMATE_VARIABLE, pricing.is_some()) {
            pricing = on.then(|| pricing.unwrap_or_else(LambdaPricing::for_this_architecture));
        }
        let price = |variable: &str, current: f64| -> Option<f64> {
            let raw = env.get_non_empty(variable)?;
            match raw.trim().parse::<f64>() {
                Ok(value) if value.is_finite() && value >= 0.0 => Some(value),
                _ => {
                    ConfigWarning::new(
                        variable,
                        raw,
                        "a price in USD, a number ≥ 0",
                        current.to_string(),
                    )
                    .emit();
                    None
                }
            }
        };
        let base = pricing.unwrap_or_else(LambdaPricing::for_this_architecture);
        let per_gb_second = price(PRICE_PER_GB_SECOND_VARIABLE, base.per_gb_second);
        let per_request = price(PRICE_PER_REQUEST_VARIABLE, base.per_request);
        if per_gb_second.is_some() || per_request.is_some() {
            // A price set is an estimate asked for.
            pricing = Some(LambdaPricing {
                per_gb_second: per_gb_second.unwrap_or(base.per_gb_second),
                per_request: per_request.unwrap_or(base.per_request),
            });
        }
        self.pricing = pricing;
        if let Some(raw) = env.get_non_empty(TELEMETRY_LISTEN_VARIABLE) {
            match raw.trim().parse::<SocketAddr>() {
                Ok(address) => self.listen = Some(address),
                Err(_) => ConfigWarning::new(
                    TELEMETRY_LISTEN_VARIABLE,
                    raw,
                    "an address and port, such as 127.0.0.1:0",
                    "0.0.0.0:0",
                )
                .emit(),
            }
        }
        self
    }

    fn listen_address(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}

fn read_bool(env: &dyn Environment, variable: &str, current: bool) -> Option<bool> {
    let raw = env.get_non_empty(variable)?;
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            ConfigWarning::new(variable, raw, "true, false", current.to_string()).emit();
            None
        }
    }
}

/// One recent invocation, to join its late report to it.
struct Recent {
    request_id: String,
    invocation: CurrentInvocation,
    started_at: SystemTime,
    /// `platform.start`'s time, once it arrived.
    platform_start: Option<SystemTime>,
}

struct Instruments {
    mem_usage: Histogram<u64>,
    billed_duration: Histogram<f64>,
    init_duration: Histogram<f64>,
    restore_duration: Histogram<f64>,
    cost: Counter<f64>,
}

struct Inner {
    recent: Mutex<VecDeque<Recent>>,
    instruments: Instruments,
    tracer: SdkTracer,
    pricing: Option<LambdaPricing>,
    listen: SocketAddr,
}

/// Records the platform's figures as they arrive; cheap to clone.
#[derive(Clone)]
pub(crate) struct PlatformFigures {
    inner: Arc<Inner>,
}

impl fmt::Debug for PlatformFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformFigures")
            .field("pricing", &self.inner.pricing)
            .field("listen", &self.inner.listen)
            .finish_non_exhaustive()
    }
}

impl PlatformFigures {
    pub(crate) fn new(config: &PlatformTelemetry, meter: &Meter, tracer: SdkTracer) -> Self {
        let seconds = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build()
        };
        let instruments = Instruments {
            mem_usage: meter
                .u64_histogram(FAAS_MEM_USAGE)
                .with_unit("By")
                .with_description("Distribution of max memory usage per invocation")
                .build(),
            billed_duration: seconds(BILLED_DURATION_METRIC, "The duration Lambda billed"),
            init_duration: seconds(
                PLATFORM_INIT_DURATION_METRIC,
                "The initialisation as Lambda measured it",
            ),
            restore_duration: seconds(
                RESTORE_DURATION_METRIC,
                "A SnapStart restore as Lambda measured it",
            ),
            cost: meter
                .f64_counter(COST_METRIC)
                .with_unit("{USD}")
                .with_description("The estimated cost of the invocations")
                .build(),
        };
        Self {
            inner: Arc::new(Inner {
                recent: Mutex::default(),
                instruments,
                tracer,
                pricing: config.pricing,
                listen: config.listen_address(),
            }),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, VecDeque<Recent>> {
        self.inner
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The observer that remembers each invocation, so that its report finds it.
    pub(crate) fn observer(&self) -> PlatformObserver {
        PlatformObserver(self.clone())
    }

    /// Records every event of one batch the Telemetry API sent; returns how many events were
    /// understood. A body that is not a JSON array is an error; an event of a type not read
    /// here, or malformed, is skipped.
    pub(crate) fn record_batch(&self, body: &[u8]) -> Result<usize, serde_json::Error> {
        let events: Vec<serde_json::Value> = serde_json::from_slice(body)?;
        let mut understood = 0;
        for event in events {
            match PlatformEvent::from_value(event) {
                Ok(event) => {
                    if self.record(event) {
                        understood += 1;
                    }
                }
                Err(error) => report_once(
                    "lambda-telemetry-event",
                    &format!(
                        "a Lambda Telemetry API event could not be read and was skipped: {error}"
                    ),
                ),
            }
        }
        Ok(understood)
    }

    fn record(&self, event: PlatformEvent) -> bool {
        let time = event.time.map_or_else(SystemTime::now, SystemTime::from);
        match event.record {
            Record::Start { request_id } => {
                if let Some(recent) = self
                    .recent()
                    .iter_mut()
                    .rev()
                    .find(|recent| recent.request_id == request_id)
                {
                    recent.platform_start = Some(time);
                }
                true
            }
            Record::Report {
                request_id,
                status,
                error_type,
                metrics,
            } => {
                self.record_report(&request_id, &status, error_type, &metrics, time);
                true
            }
            Record::InitReport {
                initialization_type,
                metrics,
            } => {
                let mut attributes = Vec::new();
                if let Some(kind) = initialization_type {
                    attributes.push(KeyValue::new(INIT_TYPE_ATTRIBUTE, kind));
                }
                self.inner
                    .instruments
                    .init_duration
                    .record(metrics.duration_ms / 1000.0, &attributes);
                true
            }
            Record::RestoreReport { metrics } => {
                if let Some(metrics) = metrics {
                    self.inner
                        .instruments
                        .restore_duration
                        .record(metrics.duration_ms / 1000.0, &[]);
                }
                true
            }
            Record::Other => false,
        }
    }

    fn record_report(
        &self,
        request_id: &str,
        status: &str,
        error_type: Option<String>,
        metrics: &ReportMetrics,
        reported_at: SystemTime,
    ) {
        let invocation = {
            let recent = self.recent();
            recent
                .iter()
                .rev()
                .find(|recent| recent.request_id == request_id)
                .map(|recent| {
                    (
                        recent.invocation.clone(),
                        recent.platform_start.unwrap_or(recent.started_at),
                    )
                })
        };
        let trigger = invocation
            .as_ref()
            .map(|(invocation, _)| KeyValue::new(FAAS_TRIGGER, invocation.trigger().as_str()));
        let attributes: Vec<KeyValue> = trigger.into_iter().collect();
        let instruments = &self.inner.instruments;
        instruments.mem_usage.record(
            metrics.max_memory_used_mb.saturating_mul(1024 * 1024),
            &attributes,
        );
        #[allow(clippy::cast_precision_loss)] // milliseconds, far below 2^52
        instruments
            .billed_duration
            .record(metrics.billed_duration_ms as f64 / 1000.0, &attributes);
        let cost = self.inner.pricing.map(|pricing| {
            pricing.invocation_cost(metrics.billed_duration_ms, metrics.memory_size_mb)
        });
        if let Some(cost) = cost {
            instruments.cost.add(cost, &attributes);
        }
        let Some((invocation, started_at)) = invocation else {
            // A request the engine never saw (an event the runtime refused) or forgotten:
            // the metrics stand, there is no span to join.
            return;
        };
        if !invocation.span_context().is_sampled() {
            return;
        }
        let mut span_attributes = vec![
            KeyValue::new(FAAS_INVOCATION_ID, request_id.to_owned()),
            KeyValue::new(REPORT_STATUS_ATTRIBUTE, status.to_owned()),
            KeyValue::new(DURATION_ATTRIBUTE, metrics.duration_ms),
            KeyValue::new(
                BILLED_DURATION_ATTRIBUTE,
                saturating_i64(metrics.billed_duration_ms),
            ),
            KeyValue::new(
                MEMORY_SIZE_ATTRIBUTE,
                saturating_i64(metrics.memory_size_mb),
            ),
            KeyValue::new(
                MAX_MEMORY_USED_ATTRIBUTE,
                saturating_i64(metrics.max_memory_used_mb),
            ),
        ];
        if let Some(init) = metrics.init_duration_ms {
            span_attributes.push(KeyValue::new(INIT_DURATION_ATTRIBUTE, init));
        }
        if let Some(restore) = metrics.restore_duration_ms {
            span_attributes.push(KeyValue::new(RESTORE_DURATION_ATTRIBUTE, restore));
        }
        if let Some(cost) = cost {
            span_attributes.push(KeyValue::new(COST_ATTRIBUTE, cost));
        }
        if let Some(error_type) = error_type.filter(|_| status != "success") {
            span_attributes.push(KeyValue::new(ERROR_TYPE, error_type));
        }
        // The invocation span is the parent, and the invocation is in the context, so that a
        // tail sampler keeps or drops the report with its invocation.
        let parent = Context::new()
            .with_remote_span_context(invocation.span_context().clone())
            .with_value(invocation);
        let tracer = &self.inner.tracer;
        let span = tracer
            .span_builder(REPORT_SPAN_NAME)
            .with_kind(SpanKind::Internal)
            .with_start_time(started_at.min(reported_at))
            .with_attributes(span_attributes)
            .start_with_context(tracer, &parent);
        opentelemetry::trace::Span::end_with_timestamp(&mut { span }, reported_at);
    }

    /// Binds the listener and serves it in the background; returns the port.
    pub(crate) async fn listen(&self) -> std::io::Result<u16> {
        let listener = tokio::net::TcpListener::bind(self.inner.listen).await?;
        let port = listener.local_addr()?.port();
        let figures = self.clone();
        tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of descriptors, for instance: try again shortly.
                        report_once(
                            "lambda-telemetry-accept",
                            &format!("the Telemetry API listener could not accept: {error}"),
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let figures = figures.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let figures = figures.clone();
                        async move { Ok::<_, Infallible>(figures.receive(request).await) }
                    });
                    // A connection Lambda drops is nothing to report.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(port)
    }

    async fn receive(&self, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
        let status = match Limited::new(request.into_body(), MAX_BATCH_BYTES)
            .collect()
            .await
        {
            Ok(body) => match self.record_batch(&body.to_bytes()) {
                Ok(_) => http::StatusCode::OK,
                Err(error) => {
                    report_once(
                        "lambda-telemetry-batch",
                        &format!(
                            "a Lambda Telemetry API batch is not a JSON array of events: {error}"
                        ),
                    );
                    http::StatusCode::BAD_REQUEST
                }
            },
            Err(_) => http::StatusCode::PAYLOAD_TOO_LARGE,
        };
        let mut response = hyper::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        response
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Remembers each invocation as it starts.
pub(crate) struct PlatformObserver(PlatformFigures);

impl fmt::Debug for PlatformObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PlatformObserver").finish()
    }
}

impl InvocationObserver for PlatformObserver {
    fn on_start(&self, start: &InvocationStart) {
        let Some(request_id) = start.invocation_id() else {
            return;
        };
        let mut recent = self.0.recent();
        if recent.len() == REMEMBERED_INVOCATIONS {
            recent.pop_front();
        }
        recent.push_back(Recent {
            request_id: request_id.to_owned(),
            invocation: start.current_invocation(),
            started_at: start.started_at(),
            platform_start: None,
        });
    }
}

/// Why the subscription failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubscribeError {
    #[error("cannot reach the Telemetry API at {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("the Telemetry API request failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("the Telemetry API request could not be built: {0}")]
    Request(#[from] http::Error),
    #[error("the Telemetry API did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the Telemetry API refused the subscription ({status}): {body}")]
    Refused { status: u16, body: String },
}

/// Subscribes extension `extension_id` to platform events, sent to `port`. Lambda Managed
/// Instances require schema 2025-01-29, which Lambda accepts everywhere; elsewhere
/// 2022-12-13 is asked for, the version emulators know.
pub(crate) async fn subscribe(
    runtime_api: &str,
    extension_id: &str,
    port: u16,
    managed_instances: bool,
) -> Result<(), SubscribeError> {
    let schema = if managed_instances {
        "2025-01-29"
    } else {
        "2022-12-13"
    };
    let body = serde_json::json!({
        "schemaVersion": schema,
        "types": ["platform"],
        // The shortest wait Lambda allows: the figures arrive as soon as the environment
        // runs again.
        "buffering": {"maxItems": 1000, "maxBytes": 262_144, "timeoutMs": 25},
        "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{port}")},
    });
    // `host:port` on Lambda; `http://host:port/prefix` under cargo-lambda's emulator, which
    // lambda_runtime accepts too.
    let base = runtime_api
        .strip_prefix("http://")
        .unwrap_or(runtime_api)
        .trim_end_matches('/');
    let authority = base.split('/').next().unwrap_or(base);
    let request = async {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|source| SubscribeError::Connect {
                address: runtime_api.to_owned(),
                source,
            })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = hyper::Request::put(format!("http://{base}/2022-07-01/telemetry"))
            .header(http::header::HOST, authority)
            .header("Lambda-Extension-Identifier", extension_id)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status.is_success() {
            Ok(())
        } else {
            Err(SubscribeError::Refused {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            })
        }
    };
    tokio::time::timeout(SUBSCRIBE_TIMEOUT, request)
        .await
        .unwrap_or(Err(SubscribeError::Timeout(SUBSCRIBE_TIMEOUT)))
}

/// One Telemetry API event as sent: its time, type and record, the record read by type.
#[derive(Debug, Deserialize)]
struct RawEvent {
    time: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    record: serde_json::Value,
}

/// One event this module reads: its time and its record.
#[derive(Debug)]
struct PlatformEvent {
    time: Option<chrono::DateTime<chrono::Utc>>,
    record: Record,
}

impl PlatformEvent {
    /// Reads an event: `Record::Other` for the types not read here, an error for a known
    /// type whose record is malformed.
    fn from_value(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        let raw: RawEvent = serde_json::from_value(value)?;
        let record = match raw.kind.as_str() {
            "platform.start" => {
                serde_json::from_value::<StartRecord>(raw.record).map(|r| Record::Start {
                    request_id: r.request_id,
                })?
            }
            "platform.report" => {
                let r: ReportRecord = serde_json::from_value(raw.record)?;
                Record::Report {
                    request_id: r.request_id,
                    status: r.status,
                    error_type: r.error_type,
                    metrics: r.metrics,
                }
            }
            "platform.initReport" => {
                let r: InitReportRecord = serde_json::from_value(raw.record)?;
                Record::InitReport {
                    initialization_type: r.initialization_type,
                    metrics: r.metrics,
                }
            }
            "platform.restoreReport" => {
                let r: RestoreReportRecord = serde_json::from_value(raw.record)?;
                Record::RestoreReport { metrics: r.metrics }
            }
            _ => Record::Other,
        };
        Ok(Self {
            time: raw.time,
            record,
        })
    }
}

#[derive(Debug)]
enum Record {
    Start {
        request_id: String,
    },
    Report {
        request_id: String,
        status: String,
        error_type: Option<String>,
        metrics: ReportMetrics,
    },
    InitReport {
        initialization_type: Option<String>,
        metrics: DurationMetrics,
    },
    RestoreReport {
        metrics: Option<DurationMetrics>,
    },
    /// Every other event type (function and extension logs, runtime-done, …).
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartRecord {
    request_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportRecord {
    request_id: String,
    status: String,
    #[serde(default)]
    error_type: Option<String>,
    metrics: ReportMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitReportRecord {
    #[serde(default)]
    initialization_type: Option<String>,
    metrics: DurationMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestoreReportRecord {
    #[serde(default)]
    metrics: Option<DurationMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportMetrics {
    duration_ms: f64,
    billed_duration_ms: u64,
    #[serde(rename = "memorySizeMB")]
    memory_size_mb: u64,
    #[serde(rename = "maxMemoryUsedMB")]
    max_memory_used_mb: u64,
    #[serde(default)]
    init_duration_ms: Option<f64>,
    #[serde(default)]
    restore_duration_ms: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DurationMetrics {
    duration_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use otel_faas_core::env::MapEnvironment;

    #[test]
    fn the_cost_estimate_and_the_listener_come_from_the_environment() {
        let env = MapEnvironment::from([
            (PLATFORM_TELEMETRY_VARIABLE, "true"),
            (PRICE_PER_GB_SECOND_VARIABLE, "0.00002"),
            (TELEMETRY_LISTEN_VARIABLE, "127.0.0.1:0"),
        ]);
        let figures = PlatformTelemetry::default().with_environment(&env);
        assert!(figures.is_enabled());
        let pricing = figures.pricing().expect("a price set asks for estimates");
        assert!((pricing.per_gb_second - 0.00002).abs() < f64::EPSILON);
        assert!(
            (pricing.per_request - LambdaPricing::for_this_architecture().per_request).abs()
                < f64::EPSILON
        );
        assert_eq!(
            figures.listen_address(),
            SocketAddr::from(([127, 0, 0, 1], 0))
        );

        let env = MapEnvironment::from([(COST_ESTIMATE_VARIABLE, "true")]);
        let figures = PlatformTelemetry::default().with_environment(&env);
        assert!(!figures.is_enabled());
        assert_eq!(
            figures.pricing(),
            Some(LambdaPricing::for_this_architecture())
        );

        // Invalid values keep what the code set.
        let env = MapEnvironment::from([
            (PLATFORM_TELEMETRY_VARIABLE, "yes please"),
            (PRICE_PER_REQUEST_VARIABLE, "-1"),
            (TELEMETRY_LISTEN_VARIABLE, "sandbox"),
        ]);
        let figures = PlatformTelemetry::enabled().with_environment(&env);
        assert_eq!(figures, PlatformTelemetry::enabled());
        assert_eq!(
            figures.listen_address(),
            SocketAddr::from(([0, 0, 0, 0], 0))
        );
    }

    #[test]
    fn the_price_follows_the_architecture() {
        let x86 = LambdaPricing::x86_64().invocation_cost(1000, 1024);
        assert!((x86 - (0.000_016_666_7 + 0.000_000_2)).abs() < 1e-15);
        let arm = LambdaPricing::arm64().invocation_cost(1000, 512);
        assert!((arm - (0.5 * 0.000_013_333_4 + 0.000_000_2)).abs() < 1e-15);
        let expected = if cfg!(target_arch = "aarch64") {
            LambdaPricing::arm64()
        } else {
            LambdaPricing::x86_64()
        };
        assert_eq!(LambdaPricing::for_this_architecture(), expected);
    }

    #[test]
    fn unknown_and_malformed_events_are_skipped_not_the_batch() {
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
        let meter = opentelemetry::metrics::MeterProvider::meter(&provider, "test");
        let tracer = opentelemetry::trace::TracerProvider::tracer(
            &opentelemetry_sdk::trace::SdkTracerProvider::builder().build(),
            "test",
        );
        let figures = PlatformFigures::new(&PlatformTelemetry::enabled(), &meter, tracer);
        let batch = serde_json::json!([
            {"time": "2026-11-30T10:00:00.000Z", "type": "platform.restoreStart", "record": {}},
            {"time": "2026-11-30T10:00:00.000Z", "type": "function", "record": "a log line"},
            {"time": "2026-11-30T10:00:00.000Z", "type": "platform.report", "record": {"requestId": 7}},
            {"time": "2026-11-30T10:00:00.000Z", "type": "platform.initReport",
             "record": {"initializationType": "lambda-managed-instances", "phase": "init", "metrics": {"durationMs": 12.5}}},
            {"time": "2026-11-30T10:00:00.100Z", "type": "platform.report",
             "record": {"requestId": "r-1", "status": "success",
                        "metrics": {"durationMs": 1.2, "billedDurationMs": 2, "memorySizeMB": 128, "maxMemoryUsedMB": 20}}},
        ]);
        assert_eq!(
            figures.record_batch(batch.to_string().as_bytes()).ok(),
            Some(2)
        );
        assert!(figures.record_batch(b"{\"not\": \"an array\"}").is_err());
        assert!(figures.record_batch(b"\xff").is_err());
    }
}
