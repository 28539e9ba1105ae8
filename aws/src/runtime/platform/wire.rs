//! The Telemetry API's events as they arrive: read one by one, an unknown one skipped.

use serde::Deserialize;

/// One Telemetry API event as sent: its time, type and record, the record read by type.
#[derive(Debug, Deserialize)]
pub(super) struct RawEvent {
    pub(super) time: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) record: serde_json::Value,
}

/// One event this module reads: its time and its record.
#[derive(Debug)]
pub(super) struct PlatformEvent {
    pub(super) time: Option<chrono::DateTime<chrono::Utc>>,
    pub(super) record: Record,
}

impl PlatformEvent {
    /// Reads an event: `Record::Other` for the types not read here, an error for a known
    /// type whose record is malformed.
    pub(super) fn from_value(value: serde_json::Value) -> Result<Self, serde_json::Error> {
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
pub(super) enum Record {
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
pub(super) struct StartRecord {
    pub(super) request_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReportRecord {
    pub(super) request_id: String,
    pub(super) status: String,
    #[serde(default)]
    pub(super) error_type: Option<String>,
    pub(super) metrics: ReportMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InitReportRecord {
    #[serde(default)]
    pub(super) initialization_type: Option<String>,
    pub(super) metrics: DurationMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RestoreReportRecord {
    #[serde(default)]
    pub(super) metrics: Option<DurationMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReportMetrics {
    pub(super) duration_ms: f64,
    pub(super) billed_duration_ms: u64,
    #[serde(rename = "memorySizeMB")]
    pub(super) memory_size_mb: u64,
    #[serde(rename = "maxMemoryUsedMB")]
    pub(super) max_memory_used_mb: u64,
    #[serde(default)]
    pub(super) init_duration_ms: Option<f64>,
    #[serde(default)]
    pub(super) restore_duration_ms: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DurationMetrics {
    pub(super) duration_ms: f64,
}
