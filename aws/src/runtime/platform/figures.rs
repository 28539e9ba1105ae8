//! The figures themselves: the reports remembered per invocation, turned into metrics and
//! the `platform.report` span, and the observer that ties them to invocations.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::wire::*;
use super::*;
use http_body_util::{Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute::{ERROR_TYPE, FAAS_INVOCATION_ID, FAAS_TRIGGER};
use opentelemetry_semantic_conventions::metric::FAAS_MEM_USAGE;
use otel_faas_core::engine::{
    CurrentInvocation, DURATION_BUCKETS, InvocationObserver, InvocationStart,
};
use otel_faas_core::env::report_once;

/// One recent invocation, to join its late report to it.
pub(super) struct Recent {
    pub(super) request_id: String,
    pub(super) invocation: CurrentInvocation,
    pub(super) started_at: SystemTime,
    /// `platform.start`'s time, once it arrived.
    pub(super) platform_start: Option<SystemTime>,
}

pub(super) struct Instruments {
    pub(super) mem_usage: Histogram<u64>,
    pub(super) billed_duration: Histogram<f64>,
    pub(super) init_duration: Histogram<f64>,
    pub(super) restore_duration: Histogram<f64>,
    pub(super) cost: Counter<f64>,
}

pub(super) struct Inner {
    pub(super) recent: Mutex<VecDeque<Recent>>,
    pub(super) instruments: Instruments,
    pub(super) tracer: SdkTracer,
    pub(super) pricing: Option<LambdaPricing>,
    pub(super) listen: SocketAddr,
}

/// Records the platform's figures as they arrive; cheap to clone.
#[derive(Clone)]
pub(crate) struct PlatformFigures {
    pub(super) inner: Arc<Inner>,
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

    pub(super) fn recent(&self) -> std::sync::MutexGuard<'_, VecDeque<Recent>> {
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

    pub(super) fn record(&self, event: PlatformEvent) -> bool {
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

    pub(super) fn record_report(
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

    pub(super) async fn receive(
        &self,
        request: hyper::Request<Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
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

pub(super) fn saturating_i64(value: u64) -> i64 {
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
