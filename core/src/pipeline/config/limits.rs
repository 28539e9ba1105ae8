//! How much is kept and how it is batched: attribute and span limits (`OTEL_ATTRIBUTE_*`,
//! `OTEL_SPAN_*_LIMIT`, `OTEL_EVENT_*`, `OTEL_LINK_*`) and the batch processors
//! (`OTEL_BSP_*`, `OTEL_BLRP_*`).

use std::time::Duration;

use super::values::{read_count, read_millis};
use crate::env::Environment;
use crate::warning::ConfigWarning;

/// Attribute and span limits (`OTEL_ATTRIBUTE_*`, `OTEL_SPAN_*_LIMIT`, `OTEL_EVENT_*`,
/// `OTEL_LINK_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest string attribute value, in characters; `None` for no limit (the default).
    pub attribute_value_length: Option<usize>,
    /// Most attributes per span.
    pub span_attribute_count: u32,
    /// Most events per span.
    pub span_event_count: u32,
    /// Most links per span.
    pub span_link_count: u32,
    /// Most attributes per event.
    pub event_attribute_count: u32,
    /// Most attributes per link.
    pub link_attribute_count: u32,
}

/// Batch processor settings (`OTEL_BSP_*` for spans, `OTEL_BLRP_*` for log records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Delay between two consecutive exports.
    pub schedule_delay: Duration,
    /// Most records kept waiting; more are dropped.
    pub max_queue_size: usize,
    /// Most records per export.
    pub max_export_batch_size: usize,
}

pub(super) fn read_limits(env: &dyn Environment, w: &mut Vec<ConfigWarning>) -> Limits {
    let attribute_value_length = env
        .get_non_empty("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")
        .map(|_| read_count(env, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", u64::MAX, w))
        .filter(|limit| *limit != u64::MAX)
        .map(|limit| usize::try_from(limit).unwrap_or(usize::MAX));
    let general = read_count(env, "OTEL_ATTRIBUTE_COUNT_LIMIT", 128, w);
    let count = |var: &str, default: u64, w: &mut Vec<ConfigWarning>| {
        u32::try_from(read_count(env, var, default, w)).unwrap_or(u32::MAX)
    };
    Limits {
        attribute_value_length,
        span_attribute_count: count("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", general, w),
        span_event_count: count("OTEL_SPAN_EVENT_COUNT_LIMIT", 128, w),
        span_link_count: count("OTEL_SPAN_LINK_COUNT_LIMIT", 128, w),
        event_attribute_count: count("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", general, w),
        link_attribute_count: count("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", general, w),
    }
}

pub(super) fn read_batch(
    env: &dyn Environment,
    prefix: &str,
    delay: u64,
    w: &mut Vec<ConfigWarning>,
) -> BatchSettings {
    let var = |name: &str| format!("{prefix}{name}");
    let usize_of = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).max(1);
    let max_queue_size = usize_of(read_count(env, &var("MAX_QUEUE_SIZE"), 2048, w));
    let mut max_export_batch_size =
        usize_of(read_count(env, &var("MAX_EXPORT_BATCH_SIZE"), 512, w));
    if max_export_batch_size > max_queue_size {
        // The spec: the batch size must be at most the queue size.
        w.push(ConfigWarning::new(
            var("MAX_EXPORT_BATCH_SIZE"),
            max_export_batch_size.to_string(),
            format!("at most {}MAX_QUEUE_SIZE ({max_queue_size})", prefix),
            max_queue_size.to_string(),
        ));
        max_export_batch_size = max_queue_size;
    }
    BatchSettings {
        schedule_delay: read_millis(env, &var("SCHEDULE_DELAY"), delay, w),
        max_queue_size,
        max_export_batch_size,
    }
}
