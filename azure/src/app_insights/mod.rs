//! Application Insights without a collector: traces, metrics and logs posted to the
//! ingestion endpoint that `APPLICATIONINSIGHTS_CONNECTION_STRING` names (feature
//! `app-insights`, on by default).
//!
//! **When.** Every Function App with monitoring on has the connection string set. Where it
//! is set and no OTLP endpoint is (`OTEL_EXPORTER_OTLP_ENDPOINT` or the signal's own), the
//! default exporter of each signal is `azuremonitor` instead of `otlp`; the `OTEL_*_EXPORTER`
//! variables always win (`OTEL_TRACES_EXPORTER=azuremonitor,otlp` sends to both,
//! `=otlp` only to the collector). [`start`](crate::start) registers it;
//! [`register`] does the same for a pipeline of your own.
//!
//! **What arrives** (the mapping is `opentelemetry-application-insights`'s): SERVER and
//! CONSUMER spans become *requests*, CLIENT, PRODUCER and INTERNAL spans *dependencies*,
//! exception events *exceptions*, log records *traces* (or *exceptions*), and metrics
//! *metrics*; `operation_Id` is the trace id and `operation_ParentId` the parent span's id,
//! so the host's request and the handler's spans join in the portal's transaction view;
//! `cloud_RoleName` is `service.name` (the app, `WEBSITE_SITE_NAME`) and
//! `cloud_RoleInstance` is `service.instance.id`, else `faas.instance`
//! (`WEBSITE_INSTANCE_ID`). With `traceidratio` or `parentbased_traceidratio` below 1, each
//! span's item says the rate it was kept at (`sampleRate`), so the portal's request and
//! dependency counts are extrapolated; other samplers (rules, tail sampling) are not
//! described to it.
//!
//! **The host's own records.** The Functions host writes a request for every invocation to
//! the same Application Insights resource. With this destination the handler's HTTP
//! invocation span is therefore INTERNAL by default (a dependency under the host's
//! request), as with `"telemetryMode": "OpenTelemetry"`; and the handler's log lines are
//! not returned to the host in `Logs` when the logs go here too, since the host would
//! write each one again. [`FunctionApp::with_host_records_requests`] and
//! [`FunctionApp::with_host_logs`] override either choice.
//!
//! **Failures.** The exporter's own retries (up to 35 s) are turned off: a refused
//! connection, a throttling or a server error is one failed export, reported once with
//! its reason, counted, and the spans' circuit opens as for OTLP. The connection string is
//! checked at start-up ([`checked_connection_string`]); a bad one is a warning that says
//! what is wrong without repeating the value (it holds the instrumentation key), and that
//! signal is dropped. Nothing here can fail an invocation or block a start.
//!
//! **TLS.** The ingestion endpoint is reached over HTTPS with the pipeline's roots; the CA
//! file of `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE`, when set, is trusted too (a proxy with
//! a private CA), and `OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT` bounds each upload.
//!
//! [`FunctionApp::with_host_records_requests`]: crate::FunctionApp::with_host_records_requests
//! [`FunctionApp::with_host_logs`]: crate::FunctionApp::with_host_logs

mod client;
mod connection_string;

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_application_insights::Exporter as AppInsightsExporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use otel_faas_core::env::Environment;
use otel_faas_core::pipeline::{
    Exporter, ExporterClient, LogDestination, MetricDestination, SamplerConfig, Signal,
    SignalConfig, SpanDestination,
};
use otel_faas_core::{Pipeline, Telemetry};

pub use connection_string::{
    CONNECTION_STRING_VARIABLE, ConnectionStringError, checked_connection_string,
};

use client::{IngestionClient, LastFailure};

/// The name of the destination in `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` and
/// `OTEL_LOGS_EXPORTER` (the OpenTelemetry Collector's exporter has the same name).
///
/// ```
/// assert_eq!(otel_faas_azure::app_insights::APP_INSIGHTS_EXPORTER, "azuremonitor");
/// ```
pub const APP_INSIGHTS_EXPORTER: &str = "azuremonitor";

/// Registers the `azuremonitor` destination of the three signals on `pipeline`, and makes it
/// their default where the connection string is set and no OTLP endpoint is.
///
/// ```
/// use otel_faas_core::{Pipeline, env::MapEnvironment};
/// use otel_faas_core::pipeline::Exporter;
///
/// let telemetry = otel_faas_azure::app_insights::register(Pipeline::with_environment(
///     MapEnvironment::from([(
///         "APPLICATIONINSIGHTS_CONNECTION_STRING",
///         "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/",
///     )]),
/// ))
/// .install();
/// assert!(telemetry.warnings().is_empty(), "{:?}", telemetry.warnings());
/// assert_eq!(telemetry.config().traces.exporters, [Exporter::Named("azuremonitor")]);
/// assert!(otel_faas_azure::app_insights::exports_to_app_insights(&telemetry, otel_faas_core::pipeline::Signal::Logs));
/// ```
#[must_use]
pub fn register(pipeline: Pipeline) -> Pipeline {
    pipeline
        .with_span_destination(SpanDestination::new(
            APP_INSIGHTS_EXPORTER,
            |env, settings| Ingestion::build(env, Signal::Traces, settings),
        ))
        .with_metric_destination(MetricDestination::new(
            APP_INSIGHTS_EXPORTER,
            |env, settings| Ingestion::build(env, Signal::Metrics, settings),
        ))
        .with_log_destination(LogDestination::new(
            APP_INSIGHTS_EXPORTER,
            |env, settings| Ingestion::build(env, Signal::Logs, settings),
        ))
        .with_default_destination(APP_INSIGHTS_EXPORTER, wired_to_app_insights)
}

/// Whether `signal` goes to Application Insights by default: the connection string is set
/// and no OTLP endpoint is, for all signals or this one.
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::Signal;
/// use otel_faas_azure::app_insights::wired_to_app_insights;
///
/// let env = MapEnvironment::from([
///     ("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=k"),
///     ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://collector:4318/v1/metrics"),
/// ]);
/// assert!(wired_to_app_insights(&env, Signal::Traces));
/// assert!(!wired_to_app_insights(&env, Signal::Metrics));
/// ```
pub fn wired_to_app_insights(env: &dyn Environment, signal: Signal) -> bool {
    let specific = match signal {
        Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        Signal::Logs => "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    };
    env.get_non_empty(CONNECTION_STRING_VARIABLE).is_some()
        && env.get_non_empty("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        && env.get_non_empty(specific).is_none()
}

/// Whether `telemetry` sends `signal` to Application Insights.
///
/// ```
/// use otel_faas_core::{Pipeline, env::MapEnvironment};
/// use otel_faas_core::pipeline::Signal;
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::default()).install();
/// assert!(!otel_faas_azure::app_insights::exports_to_app_insights(&telemetry, Signal::Traces));
/// ```
pub fn exports_to_app_insights(telemetry: &Telemetry, signal: Signal) -> bool {
    telemetry
        .config()
        .signal(signal)
        .exporters
        .contains(&Exporter::Named(APP_INSIGHTS_EXPORTER))
}

/// The crate's exporter, its failures named by their real reason, and the role instance
/// filled in from `faas.instance`.
#[derive(Debug)]
struct Ingestion {
    exporter: AppInsightsExporter<IngestionClient>,
    failure: LastFailure,
}

impl Ingestion {
    fn build(
        env: &dyn Environment,
        signal: Signal,
        settings: &SignalConfig,
    ) -> Result<Self, String> {
        let value = env
            .get_non_empty(CONNECTION_STRING_VARIABLE)
            .ok_or_else(|| {
                format!("{CONNECTION_STRING_VARIABLE} is not set: Application Insights needs it")
            })?;
        let connection_string = checked_connection_string(&value)
            .map_err(|error| format!("{CONNECTION_STRING_VARIABLE} cannot be used: {error}"))?;
        let client = ExporterClient::new(signal, settings).map_err(|error| error.to_string())?;
        let failure = LastFailure::default();
        let exporter = AppInsightsExporter::new_from_connection_string(
            connection_string,
            IngestionClient::new(client, failure.clone()),
        )
        // Checked above; the exporter's own words, should it still disagree.
        .map_err(|error| format!("{CONNECTION_STRING_VARIABLE} cannot be used: {error}"))?;
        // Spans kept at a ratio stand for more: the portal extrapolates its counts by it.
        let exporter = match sampled_ratio(env) {
            Some(ratio) if signal == Signal::Traces => exporter.with_sample_rate(ratio),
            _ => exporter,
        };
        Ok(Self { exporter, failure })
    }

    /// The exporter's result, with the reason the client kept for a failure.
    fn outcome(&self, result: OTelSdkResult) -> OTelSdkResult {
        let kept = self.failure.take();
        match (result, kept) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(reason)) => Err(OTelSdkError::InternalFailure(reason)),
            (Err(error), None) => Err(error),
        }
    }
}

/// The ratio of `traceidratio` and `parentbased_traceidratio` (`OTEL_TRACES_SAMPLER_ARG`),
/// when below 1.
fn sampled_ratio(env: &dyn Environment) -> Option<f64> {
    match otel_faas_core::pipeline::PipelineConfig::from_env(env).sampler {
        SamplerConfig::TraceIdRatio(ratio) | SamplerConfig::ParentBasedTraceIdRatio(ratio)
            if ratio > 0.0 && ratio < 1.0 =>
        {
            Some(ratio)
        }
        _ => None,
    }
}

/// `faas.instance` as Application Insights' role instance when the resource has no
/// `service.instance.id` (which the exporter reads).
fn with_role_instance(resource: &Resource) -> Resource {
    let has_instance = resource
        .get(&opentelemetry::Key::from_static_str("service.instance.id"))
        .is_some();
    match resource.get(&opentelemetry::Key::from_static_str("faas.instance")) {
        Some(instance) if !has_instance => Resource::builder_empty()
            .with_attributes(
                resource
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .with_attribute(KeyValue::new("ai.cloud.roleInstance", instance.to_string()))
            .build(),
        _ => resource.clone(),
    }
}

impl SpanExporter for Ingestion {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = SpanExporter::export(&self.exporter, batch).await;
        self.outcome(result)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        SpanExporter::shutdown_with_timeout(&self.exporter, timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        SpanExporter::set_resource(&mut self.exporter, &with_role_instance(resource));
    }
}

impl PushMetricExporter for Ingestion {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = PushMetricExporter::export(&self.exporter, metrics).await;
        self.outcome(result)
    }
    fn force_flush(&self) -> OTelSdkResult {
        PushMetricExporter::force_flush(&self.exporter)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        PushMetricExporter::shutdown_with_timeout(&self.exporter, timeout)
    }
    fn temporality(&self) -> Temporality {
        PushMetricExporter::temporality(&self.exporter)
    }
}

impl LogExporter for Ingestion {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let result = LogExporter::export(&self.exporter, batch).await;
        self.outcome(result)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        LogExporter::shutdown_with_timeout(&self.exporter, timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        LogExporter::set_resource(&mut self.exporter, &with_role_instance(resource));
    }
}
