//! Which `OTEL_*` variables otel-faas reads, and one warning for each set variable that
//! nothing reads, so that a setting never silently does nothing.

use super::signal::Signal;
use crate::env::Environment;
use crate::warning::ConfigWarning;

/// The `OTEL_*` variables this crate reads (or that the cloud crates read: the `OTEL_FAAS_`
/// family and the semantic-convention opt-ins).
const SUPPORTED: &[&str] = &[
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_PROPAGATORS",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN",
];

/// The exporter variables, each also in its `TRACES_`, `METRICS_` and `LOGS_` form.
const EXPORTER_VARIABLES: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
];

/// Whether `name` is an `OTEL_*` variable that something in otel-faas reads.
fn is_supported(name: &str) -> bool {
    SUPPORTED.contains(&name)
        || name.starts_with("OTEL_FAAS_")
        || EXPORTER_VARIABLES.iter().any(|general| {
            name == *general
                || Signal::ALL
                    .iter()
                    .any(|signal| name == signal.specific(general))
        })
}

/// One warning per `OTEL_*` variable that is set but that nothing here reads, so that a
/// setting never silently does nothing.
pub(super) fn unsupported_variables(env: &dyn Environment, w: &mut Vec<ConfigWarning>) {
    let mut names: Vec<String> = env
        .names()
        .into_iter()
        .filter(|name| name.starts_with("OTEL_") && !is_supported(name))
        .filter(|name| env.get_non_empty(name).is_some())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let why = match name.as_str() {
            "OTEL_BLRP_EXPORT_TIMEOUT" => {
                "the SDK's batch log processor has no export timeout; \
                 OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT bounds each export"
            }
            name if name.starts_with("OTEL_EXPORTER_OTLP") && name.ends_with("INSECURE") => {
                "the endpoint's scheme (http:// or https://) decides whether TLS is used"
            }
            _ => "it has no effect",
        };
        // The value is not repeated: an unknown variable may hold anything, secrets included.
        w.push(ConfigWarning::unsupported(name, why));
    }
}
