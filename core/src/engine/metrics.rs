//! The FaaS metrics of the semantic conventions (`docs/faas/faas-metrics.md`, v1.44), as an
//! observer of the engine.
//!
//! | Instrument | Kind | Unit | Recorded |
//! |---|---|---|---|
//! | `faas.invocations` | counter | `{invocation}` | every invocation that ended |
//! | `faas.errors` | counter | `{error}` | invocations that failed, errored, panicked or were cancelled |
//! | `faas.timeouts` | counter | `{timeout}` | invocations the deadline ended |
//! | `faas.coldstarts` | counter | `{coldstart}` | the process's cold invocation, when it starts |
//! | `faas.invoke_duration` | histogram | `s` | every invocation's duration |
//! | `faas.init_duration` | histogram | `s` | the cold invocation's wait for the process's initialisation or restore, when the engine knows when it began |
//!
//! Each point has `faas.trigger`; the resource (`faas.name`, `cloud.*`) comes with the
//! export. The histogram uses the conventions' advisory boundaries for durations in
//! seconds. A timeout counts in `faas.timeouts` only, as the conventions list it apart from
//! errors. `faas.init_duration` is what the engine saw: from
//! [`EngineBuilder::init_started`](crate::engine::EngineBuilder::init_started) (or a
//! snapshot restore) to the start of the cold invocation, the same interval as its `init`
//! or `restore` span; the process's start before that instant is the platform's to report.
//! The meter provider is flushed with the invocation under the engine's budget,
//! so the points of a function frozen after its response are not lost.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry_semantic_conventions::attribute::FAAS_TRIGGER;
use opentelemetry_semantic_conventions::metric::{
    FAAS_COLDSTARTS, FAAS_ERRORS, FAAS_INIT_DURATION, FAAS_INVOCATIONS, FAAS_INVOKE_DURATION,
    FAAS_TIMEOUTS,
};

use super::observer::{InvocationObserver, InvocationRecord, InvocationStart, InvocationStatus};

/// The advisory bucket boundaries of the conventions for durations in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Records the FaaS metrics of every invocation; see the module.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use opentelemetry::metrics::MeterProvider as _;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use otel_faas_core::engine::FaasMetrics;
/// use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
/// use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, TriggerAdapter};
///
/// struct Job;
/// impl TriggerAdapter<(), ()> for Job {
///     fn invocation_spec(&self, _: &(), _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
///         InvocationSpec::new(FaasTrigger::Timer, SpanSpec::server("job"))
///     }
/// }
///
/// let meters = SdkMeterProvider::builder().build();
/// let engine = InvocationEngine::builder(&SdkTracerProvider::builder().build())
///     .observer(FaasMetrics::new(&meters.meter("otel-faas")))
///     .build();
/// engine.invocation(&Job, ()).run(|_| async { Ok::<_, std::convert::Infallible>(()) }).await.unwrap();
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FaasMetrics {
    invocations: Counter<u64>,
    errors: Counter<u64>,
    timeouts: Counter<u64>,
    coldstarts: Counter<u64>,
    invoke_duration: Histogram<f64>,
    init_duration: Histogram<f64>,
}

impl FaasMetrics {
    /// The instruments, created on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            invocations: meter
                .u64_counter(FAAS_INVOCATIONS)
                .with_unit("{invocation}")
                .with_description("Number of invocation attempts.")
                .build(),
            errors: meter
                .u64_counter(FAAS_ERRORS)
                .with_unit("{error}")
                .with_description("Number of invocation errors.")
                .build(),
            timeouts: meter
                .u64_counter(FAAS_TIMEOUTS)
                .with_unit("{timeout}")
                .with_description("Number of invocation timeouts.")
                .build(),
            coldstarts: meter
                .u64_counter(FAAS_COLDSTARTS)
                .with_unit("{coldstart}")
                .with_description("Number of invocation cold starts.")
                .build(),
            invoke_duration: meter
                .f64_histogram(FAAS_INVOKE_DURATION)
                .with_unit("s")
                .with_description("Measures the duration of the function's logic execution.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            init_duration: meter
                .f64_histogram(FAAS_INIT_DURATION)
                .with_unit("s")
                .with_description(
                    "Measures the duration of the function's initialization, such as a cold start.",
                )
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
        }
    }
}

impl InvocationObserver for FaasMetrics {
    fn on_start(&self, start: &InvocationStart) {
        if start.cold_start() {
            let attributes = [KeyValue::new(FAAS_TRIGGER, start.trigger().as_str())];
            self.coldstarts.add(1, &attributes);
            if let Some(phase) = start.init_phase() {
                self.init_duration
                    .record(phase.duration().as_secs_f64(), &attributes);
            }
        }
    }

    fn on_end(&self, record: &InvocationRecord) {
        let attributes = [KeyValue::new(FAAS_TRIGGER, record.trigger().as_str())];
        self.invocations.add(1, &attributes);
        match record.status() {
            InvocationStatus::Succeeded => {}
            InvocationStatus::TimedOut => self.timeouts.add(1, &attributes),
            _ => self.errors.add(1, &attributes),
        }
        self.invoke_duration
            .record(record.duration().as_secs_f64(), &attributes);
    }
}
