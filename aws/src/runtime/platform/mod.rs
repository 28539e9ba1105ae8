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

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt as _;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use otel_faas_core::Environment;
use otel_faas_core::env::ConfigWarning;

mod figures;
mod subscription;
mod wire;

pub(crate) use figures::PlatformFigures;
pub(crate) use subscription::subscribe;

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
