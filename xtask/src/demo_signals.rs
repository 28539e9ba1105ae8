//! The demo's metrics and logs: the FaaS metrics each function exported, and the log
//! records, each shown with the trace it belongs to — checked, so that a record pointing at
//! a trace that never arrived fails the demo.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::bail;
use otel_faas_integration_tests::{
    AttrValue, FunctionProcess, ReceivedLog, ReceivedMetric, ReceivedSpan,
};

/// Stops a long-lived function as its platform does (SIGTERM), so that its shutdown flush
/// exports what is left of every signal — its metrics are exported periodically otherwise,
/// long after the demo.
pub(crate) fn stop_gracefully(mut function: FunctionProcess, name: &str) -> anyhow::Result<()> {
    function.terminate()?;
    match function.wait_for_exit(std::time::Duration::from_secs(10)) {
        Some(true) => Ok(()),
        Some(false) => bail!(
            "{name} exited with an error
log:
{}",
            function.log()
        ),
        None => bail!(
            "{name} did not stop within 10 s of SIGTERM
log:
{}",
            function.log()
        ),
    }
}

/// The totals of one function's FaaS metrics for one trigger.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct FaasTotals {
    pub(crate) invocations: f64,
    pub(crate) errors: f64,
    pub(crate) timeouts: f64,
    pub(crate) coldstarts: f64,
    /// (count, sum in seconds) of `faas.invoke_duration`.
    pub(crate) duration: (f64, f64),
}

fn text(value: Option<&AttrValue>) -> String {
    value.and_then(AttrValue::as_str).unwrap_or("?").to_owned()
}

/// The totals by (service, trigger). The exports are cumulative, so the last point of each
/// series holds its total.
pub(crate) fn faas_totals(metrics: &[ReceivedMetric]) -> BTreeMap<(String, String), FaasTotals> {
    let mut last: BTreeMap<(String, String, String), (f64, f64)> = BTreeMap::new();
    for metric in metrics.iter().filter(|m| m.name.starts_with("faas.")) {
        let service = text(metric.resource.get("service.name"));
        for (index, (value, attributes)) in metric.points.iter().enumerate() {
            let trigger = text(attributes.get("faas.trigger"));
            let sum = metric.sums.get(index).copied().unwrap_or_default();
            last.insert(
                (service.clone(), trigger, metric.name.clone()),
                (*value, sum),
            );
        }
    }
    let mut totals: BTreeMap<(String, String), FaasTotals> = BTreeMap::new();
    for ((service, trigger, name), (value, sum)) in last {
        let entry = totals.entry((service, trigger)).or_default();
        match name.as_str() {
            "faas.invocations" => entry.invocations = value,
            "faas.errors" => entry.errors = value,
            "faas.timeouts" => entry.timeouts = value,
            "faas.coldstarts" => entry.coldstarts = value,
            "faas.invoke_duration" => entry.duration = (value, sum),
            _ => {}
        }
    }
    totals
}

/// The metrics table.
pub(crate) fn render_metrics(metrics: &[ReceivedMetric]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<16} {:<10} {:>11} {:>7} {:>9} {:>11} {:>14}",
        "service", "trigger", "invocations", "errors", "timeouts", "cold starts", "mean duration"
    );
    for ((service, trigger), totals) in faas_totals(metrics) {
        let mean = if totals.duration.0 > 0.0 {
            format!("{:.1} ms", totals.duration.1 / totals.duration.0 * 1000.0)
        } else {
            "-".to_owned()
        };
        let _ = writeln!(
            out,
            "  {service:<16} {trigger:<10} {:>11} {:>7} {:>9} {:>11} {mean:>14}",
            totals.invocations, totals.errors, totals.timeouts, totals.coldstarts
        );
    }
    out
}

/// The log records written inside invocations, each with its trace and span; an error if
/// there is none, or if one names a trace that no received span belongs to.
pub(crate) fn render_correlated_logs(
    logs: &[ReceivedLog],
    spans: &[ReceivedSpan],
    at_most: usize,
) -> anyhow::Result<String> {
    let traces: BTreeSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    let names: BTreeMap<&str, &str> = spans
        .iter()
        .map(|s| (s.span_id.as_str(), s.name.as_str()))
        .collect();
    let correlated: Vec<&ReceivedLog> = logs.iter().filter(|l| !l.trace_id.is_empty()).collect();
    if correlated.is_empty() {
        bail!(
            "no log record carried a trace id ({} records received)",
            logs.len()
        );
    }
    let mut out = String::new();
    for record in correlated.iter().take(at_most) {
        if !traces.contains(record.trace_id.as_str()) {
            bail!(
                "the log record {:?} names trace {}, which no received span belongs to",
                record.body,
                record.trace_id
            );
        }
        let _ = writeln!(
            out,
            "  {:<16} {:<5} {:<40} trace {}… span {:?}",
            text(record.resource.get("service.name")),
            record.severity_text,
            record.body,
            record.trace_id.get(..8).unwrap_or(&record.trace_id),
            names.get(record.span_id.as_str()).copied().unwrap_or("?"),
        );
    }
    if correlated.len() > at_most {
        let _ = writeln!(out, "  … and {} more", correlated.len() - at_most);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(
        name: &str,
        service: &str,
        points: Vec<(f64, &str)>,
        sums: Vec<f64>,
    ) -> ReceivedMetric {
        ReceivedMetric {
            name: name.to_owned(),
            unit: String::new(),
            scope: "otel-faas".to_owned(),
            resource: BTreeMap::from([(
                "service.name".to_owned(),
                AttrValue::Str(service.to_owned()),
            )]),
            points: points
                .into_iter()
                .map(|(value, trigger)| {
                    (
                        value,
                        BTreeMap::from([(
                            "faas.trigger".to_owned(),
                            AttrValue::Str(trigger.to_owned()),
                        )]),
                    )
                })
                .collect(),
            sums,
        }
    }

    #[test]
    fn the_last_cumulative_point_is_the_total() {
        let metrics = vec![
            metric("faas.invocations", "api", vec![(1.0, "http")], vec![]),
            metric("faas.invocations", "api", vec![(3.0, "http")], vec![]),
            metric("faas.errors", "api", vec![(1.0, "http")], vec![]),
            metric(
                "faas.invoke_duration",
                "api",
                vec![(3.0, "http")],
                vec![0.06],
            ),
            metric("faas.invocations", "worker", vec![(2.0, "pubsub")], vec![]),
        ];
        let totals = faas_totals(&metrics);
        let api = &totals[&("api".to_owned(), "http".to_owned())];
        assert_eq!(api.invocations, 3.0);
        assert_eq!(api.errors, 1.0);
        assert_eq!(api.duration, (3.0, 0.06));
        assert_eq!(
            totals[&("worker".to_owned(), "pubsub".to_owned())].invocations,
            2.0
        );
        let table = render_metrics(&metrics);
        assert!(table.contains("20.0 ms"), "{table}");
    }

    fn log(trace: &str, span: &str) -> ReceivedLog {
        ReceivedLog {
            body: "order placed".to_owned(),
            severity_number: 9,
            severity_text: "INFO".to_owned(),
            trace_id: trace.to_owned(),
            span_id: span.to_owned(),
            attributes: BTreeMap::new(),
            resource: BTreeMap::new(),
            event_name: String::new(),
            scope: String::new(),
        }
    }

    fn span(trace: &str, id: &str) -> ReceivedSpan {
        ReceivedSpan::new(
            trace,
            id,
            "",
            "handle",
            otel_faas_integration_tests::SpanKind::Server,
        )
    }

    #[test]
    fn records_must_point_at_received_traces() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let spans = [span(trace, "00f067aa0ba902b7")];
        let shown = render_correlated_logs(&[log(trace, "00f067aa0ba902b7")], &spans, 5).unwrap();
        assert!(shown.contains("trace 4bf92f35… span \"handle\""), "{shown}");
        let stray =
            render_correlated_logs(&[log("ffffffffffffffffffffffffffffffff", "1")], &spans, 5);
        assert!(stray.unwrap_err().to_string().contains("no received span"));
        assert!(render_correlated_logs(&[log("", "")], &spans, 5).is_err());
    }
}
