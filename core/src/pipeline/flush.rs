//! The pipeline's side of a flush: its providers and export paths, as the engine's
//! [`FlushTarget`].
//!
//! A pipeline's spans are exported by its own export paths (`direct`), on the calling task
//! with async I/O — no thread hop — within the budget. Metrics and log records are exported
//! by the SDK's periodic reader and batch processor on their own threads, whose
//! `force_flush` blocks its caller until they are done, so they are flushed on tokio's
//! blocking pool, and only when those signals are exported at all.

use std::time::Duration;

use futures_util::future::BoxFuture;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::config::{Exporter, SignalConfig};
use super::direct::DirectHandle;
use super::export::printable_endpoint;
use crate::engine::FlushError;
use crate::engine::flush::{FlushTarget, on_blocking_pool};

/// The providers a flusher flushes: always the tracer provider, and the meter and logger
/// providers of a pipeline that exports those signals.
#[derive(Debug, Clone)]
pub(crate) struct Providers {
    pub(crate) tracer: SdkTracerProvider,
    pub(crate) meter: Option<SdkMeterProvider>,
    pub(crate) logger: Option<SdkLoggerProvider>,
    /// The tracer provider's export paths; when there are any, the tracer provider is
    /// flushed through them, on the task.
    pub(crate) spans: Vec<DirectHandle>,
    /// Where each signal goes (`OTLP at http://…/v1/metrics`), so that a failure says which
    /// signal failed and where it was sent.
    pub(crate) destinations: Destinations,
}

/// Where traces, metrics and logs are sent, as said in an error.
#[derive(Debug, Clone, Default)]
pub(crate) struct Destinations {
    pub(crate) traces: String,
    pub(crate) metrics: String,
    pub(crate) logs: String,
}

/// The first failure among the signals, named with its destination
/// (`metrics (OTLP at http://collector:4318/v1/metrics): …`), then how many others failed.
fn first_failure(results: [(&str, &str, OTelSdkResult); 3]) -> Result<(), String> {
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(signal, destination, result)| {
            result.err().map(|error| match destination.is_empty() {
                true => format!("{signal}: {error}"),
                false => format!("{signal} ({destination}): {error}"),
            })
        })
        .collect();
    match failures.as_slice() {
        [] => Ok(()),
        [one] => Err(one.clone()),
        many => Err(many.join("; ")),
    }
}

impl Providers {
    /// Whether a flush needs tokio's blocking pool: for the SDK's own span processors, or
    /// for metrics and logs.
    fn blocking_work(&self) -> bool {
        self.spans.is_empty() || self.meter.is_some() || self.logger.is_some()
    }

    /// Flushes the providers the blocking way — the tracer provider only when it has no
    /// export paths — each even when another failed; every failure is named.
    fn force_flush(&self) -> Result<(), String> {
        let traces = if self.spans.is_empty() {
            self.tracer.force_flush()
        } else {
            Ok(())
        };
        let metrics = self
            .meter
            .as_ref()
            .map_or(Ok(()), SdkMeterProvider::force_flush);
        let logs = self
            .logger
            .as_ref()
            .map_or(Ok(()), SdkLoggerProvider::force_flush);
        self.named(traces, metrics, logs)
    }

    fn named(
        &self,
        traces: OTelSdkResult,
        metrics: OTelSdkResult,
        logs: OTelSdkResult,
    ) -> Result<(), String> {
        let to = &self.destinations;
        first_failure([
            ("traces", &to.traces, traces),
            ("metrics", &to.metrics, metrics),
            ("logs", &to.logs, logs),
        ])
    }

    /// Shuts all three down within `budget` in all (the export paths are shut down on the
    /// task first, so the tracer provider's shutdown finds them done).
    fn shutdown_blocking(&self, budget: Duration) -> Result<(), String> {
        let started = std::time::Instant::now();
        let left = || budget.saturating_sub(started.elapsed());
        let traces = self.tracer.shutdown_with_timeout(left());
        let metrics = self
            .meter
            .as_ref()
            .map_or(Ok(()), |meter| meter.shutdown_with_timeout(left()));
        let logs = self
            .logger
            .as_ref()
            .map_or(Ok(()), |logger| logger.shutdown_with_timeout(left()));
        self.named(traces, metrics, logs)
    }
}

impl FlushTarget for Providers {
    fn flush(&self, budget: Duration) -> BoxFuture<'_, Result<(), FlushError>> {
        Box::pin(async move {
            // Spans on this task; metrics and logs (or an SDK processor) on the blocking
            // pool, at the same time.
            let blocking = async {
                if !self.blocking_work() {
                    return Ok(());
                }
                let providers = self.clone();
                on_blocking_pool(budget, move || providers.force_flush()).await
            };
            let spans = async {
                let mut result = Ok(());
                for path in &self.spans {
                    // Every path is flushed even when one fails; the first error is kept.
                    let flushed = path.flush(budget).await;
                    result = result.and(flushed);
                }
                result
            };
            let (spans, blocking) = tokio::join!(spans, blocking);
            spans.and(blocking)
        })
    }

    fn before_snapshot(&self, budget: Duration) -> Option<BoxFuture<'_, Result<(), FlushError>>> {
        if self.spans.is_empty() {
            return None;
        }
        Some(Box::pin(async move {
            let started = std::time::Instant::now();
            let mut result = Ok(());
            for path in &self.spans {
                let left = budget.saturating_sub(started.elapsed());
                result = result.and(path.before_snapshot(left).await);
            }
            result
        }))
    }

    fn shutdown(&self, budget: Duration) -> BoxFuture<'_, Result<(), FlushError>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            for path in &self.spans {
                path.shutdown(budget.saturating_sub(started.elapsed()))
                    .await;
            }
            let budget = budget.saturating_sub(started.elapsed());
            let providers = self.clone();
            on_blocking_pool(budget, move || providers.shutdown_blocking(budget)).await
        })
    }
}

/// Where a signal is sent, for error messages: `OTLP at <endpoint>`, `the console`, a
/// platform's named destination.
pub(crate) fn destination(signal: &SignalConfig) -> String {
    signal
        .exporters
        .iter()
        .map(|exporter| match exporter {
            Exporter::Otlp => format!("OTLP at {}", printable_endpoint(&signal.endpoint)),
            Exporter::Console => "the console".to_owned(),
            Exporter::OtlpStdout => "OTLP on standard output".to_owned(),
            Exporter::Named(name) => (*name).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}
