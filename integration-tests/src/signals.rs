//! Decoded metrics, log records and export requests, in shapes tests can assert on.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};

use crate::span::{AttrValue, decode_attributes};

/// One export request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// `/v1/traces`, `/v1/metrics`, `/v1/logs`, or the gRPC method.
    pub path: String,
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Encoding`, empty when absent.
    pub content_encoding: String,
    /// Every header, names in lower case.
    pub headers: BTreeMap<String, String>,
}

impl ReceivedRequest {
    pub(crate) fn new(path: &str, headers: &HeaderMap) -> Self {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            path: path.to_owned(),
            content_type: header("content-type"),
            content_encoding: header("content-encoding"),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        }
    }

    /// A gRPC call to `method`, with its metadata as the headers.
    pub(crate) fn grpc(method: &str, metadata: &tonic::metadata::MetadataMap) -> Self {
        let headers = metadata.clone().into_headers();
        Self {
            path: method.to_owned(),
            content_type: "application/grpc".to_owned(),
            content_encoding: String::new(),
            headers: headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
        }
    }
}

/// One metric of one export: its name, unit, resource and the values of its points (sums
/// and gauges as numbers, histograms as their counts).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMetric {
    /// The instrument name.
    pub name: String,
    /// The unit.
    pub unit: String,
    /// The instrumentation scope.
    pub scope: String,
    /// Resource attributes.
    pub resource: BTreeMap<String, AttrValue>,
    /// One value per data point, with the point's attributes (a histogram point's value is
    /// its count).
    pub points: Vec<(f64, BTreeMap<String, AttrValue>)>,
    /// A histogram's sum per data point, in the order of `points`; empty for other kinds.
    pub sums: Vec<f64>,
}

impl ReceivedMetric {
    pub(crate) fn decode_all(request: &ExportMetricsServiceRequest) -> Vec<Self> {
        let mut out = Vec::new();
        for resource_metrics in &request.resource_metrics {
            let resource = resource_metrics
                .resource
                .as_ref()
                .map(|r| decode_attributes(&r.attributes))
                .unwrap_or_default();
            for scope_metrics in &resource_metrics.scope_metrics {
                let scope = scope_metrics
                    .scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                for metric in &scope_metrics.metrics {
                    let number =
                        |points: &[opentelemetry_proto::tonic::metrics::v1::NumberDataPoint]| {
                            points
                                .iter()
                                .map(|p| {
                                    let value = match p.value {
                                        Some(number_data_point::Value::AsDouble(d)) => d,
                                        Some(number_data_point::Value::AsInt(i)) => i as f64,
                                        None => f64::NAN,
                                    };
                                    (value, decode_attributes(&p.attributes))
                                })
                                .collect()
                        };
                    let sums = match &metric.data {
                        Some(metric::Data::Histogram(histogram)) => histogram
                            .data_points
                            .iter()
                            .map(|p| p.sum.unwrap_or(f64::NAN))
                            .collect(),
                        _ => Vec::new(),
                    };
                    let points = match &metric.data {
                        Some(metric::Data::Sum(sum)) => number(&sum.data_points),
                        Some(metric::Data::Gauge(gauge)) => number(&gauge.data_points),
                        Some(metric::Data::Histogram(histogram)) => histogram
                            .data_points
                            .iter()
                            .map(|p| (p.count as f64, decode_attributes(&p.attributes)))
                            .collect(),
                        _ => Vec::new(),
                    };
                    out.push(Self {
                        name: metric.name.clone(),
                        unit: metric.unit.clone(),
                        scope: scope.clone(),
                        resource: resource.clone(),
                        points,
                        sums,
                    });
                }
            }
        }
        out
    }
}

/// One log record as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedLog {
    /// The body, as text.
    pub body: String,
    /// The severity number.
    pub severity_number: i32,
    /// The severity text.
    pub severity_text: String,
    /// Trace id in hex, empty when none.
    pub trace_id: String,
    /// Span id in hex, empty when none.
    pub span_id: String,
    /// The record's attributes.
    pub attributes: BTreeMap<String, AttrValue>,
    /// Resource attributes.
    pub resource: BTreeMap<String, AttrValue>,
    /// The event name, empty for a plain log record.
    pub event_name: String,
    /// The instrumentation scope's name.
    pub scope: String,
}

impl ReceivedLog {
    pub(crate) fn decode_all(request: &ExportLogsServiceRequest) -> Vec<Self> {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut out = Vec::new();
        for resource_logs in &request.resource_logs {
            let resource = resource_logs
                .resource
                .as_ref()
                .map(|r| decode_attributes(&r.attributes))
                .unwrap_or_default();
            for scope_logs in &resource_logs.scope_logs {
                let scope = scope_logs
                    .scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                for record in &scope_logs.log_records {
                    let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
                        Some(
                            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                                s,
                            ),
                        ) => s.clone(),
                        Some(other) => format!("{other:?}"),
                        None => String::new(),
                    };
                    out.push(Self {
                        body,
                        severity_number: record.severity_number,
                        severity_text: record.severity_text.clone(),
                        trace_id: hex(&record.trace_id),
                        span_id: hex(&record.span_id),
                        attributes: decode_attributes(&record.attributes),
                        resource: resource.clone(),
                        event_name: record.event_name.clone(),
                        scope: scope.clone(),
                    });
                }
            }
        }
        out
    }
}
