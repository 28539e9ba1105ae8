//! Reading back what `otlp/stdout` wrote: OTLP/JSON lines, one export request each, decoded
//! with opentelemetry-proto (its serde encoding is OTLP/JSON) into the same types the
//! receiver keeps, so that a test compares both deliveries of one run.

use std::time::Instant;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::{ReceivedLog, ReceivedMetric, ReceivedSpan};

/// The signals of a run's OTLP lines.
#[derive(Debug, Default)]
pub struct OtlpLines {
    /// Every span, in line order.
    pub spans: Vec<ReceivedSpan>,
    /// Every metric, one entry per metric per line.
    pub metrics: Vec<ReceivedMetric>,
    /// Every log record.
    pub logs: Vec<ReceivedLog>,
    /// How many lines were export requests.
    pub requests: usize,
}

/// Decodes every non-empty line of `text` as an `ExportTraceServiceRequest`,
/// `ExportMetricsServiceRequest` or `ExportLogsServiceRequest` in OTLP/JSON; an error names
/// the first line that is none of them.
pub fn decode_otlp_lines(text: &str) -> Result<OtlpLines, String> {
    let mut decoded = OtlpLines::default();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("line {}: not JSON ({e}): {line}", number + 1))?;
        let keys: Vec<&str> = value
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let bad = |e: serde_json::Error| format!("line {}: {e}: {line}", number + 1);
        match keys.as_slice() {
            ["resourceSpans"] => {
                let request: ExportTraceServiceRequest =
                    serde_json::from_value(value).map_err(bad)?;
                decoded
                    .spans
                    .extend(crate::receiver::decode_spans(&request, Instant::now()));
            }
            ["resourceMetrics"] => {
                let request: ExportMetricsServiceRequest =
                    serde_json::from_value(value).map_err(bad)?;
                decoded.metrics.extend(ReceivedMetric::decode_all(&request));
            }
            ["resourceLogs"] => {
                let request: ExportLogsServiceRequest =
                    serde_json::from_value(value).map_err(bad)?;
                decoded.logs.extend(ReceivedLog::decode_all(&request));
            }
            _ => {
                return Err(format!(
                    "line {} is no OTLP export request: {line}",
                    number + 1
                ));
            }
        }
        decoded.requests += 1;
    }
    Ok(decoded)
}
