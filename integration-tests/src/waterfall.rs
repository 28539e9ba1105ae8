//! Traces as a terminal waterfall: the span tree, kinds, durations on a shared time axis,
//! the attributes that matter, and links.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use crate::span::{ReceivedSpan, StatusCode};

/// The attributes worth a glance, in the order shown.
const KEY_ATTRIBUTES: [&str; 12] = [
    "faas.trigger",
    "faas.coldstart",
    "faas.invocation_id",
    "http.route",
    "url.path",
    "http.response.status_code",
    "client.address",
    "messaging.system",
    "messaging.destination.name",
    "error.type",
    "code.function.name",
    "app.order_id",
];

const BAR_WIDTH: usize = 32;

/// Renders every trace in `spans` as an indented waterfall, one block per trace, traces in
/// the order their first span started.
pub fn render_waterfall(spans: &[ReceivedSpan]) -> String {
    let mut traces: BTreeMap<&str, Vec<&ReceivedSpan>> = BTreeMap::new();
    for span in spans {
        traces.entry(&span.trace_id).or_default().push(span);
    }
    let mut ordered: Vec<Vec<&ReceivedSpan>> = traces.into_values().collect();
    ordered.sort_by_key(|trace| trace.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0));

    let mut out = String::new();
    for trace in ordered {
        render_trace(&mut out, &trace);
        out.push('\n');
    }
    out
}

fn render_trace(out: &mut String, spans: &[&ReceivedSpan]) {
    let start = spans.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0);
    let end = spans
        .iter()
        .map(|s| s.end_unix_nanos)
        .max()
        .unwrap_or(start);
    let total = end.saturating_sub(start).max(1);
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let trace_id = spans
        .first()
        .map(|s| s.trace_id.as_str())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "trace {trace_id}  {} span{}  {}",
        spans.len(),
        if spans.len() == 1 { "" } else { "s" },
        millis(total)
    );
    let mut roots: Vec<&ReceivedSpan> = spans
        .iter()
        .copied()
        .filter(|s| !ids.contains(s.parent_span_id.as_str()))
        .collect();
    roots.sort_by_key(|s| s.start_unix_nanos);
    for (index, root) in roots.iter().enumerate() {
        if !root.parent_span_id.is_empty() {
            let _ = writeln!(
                out,
                "  (parent {} is in the caller's process)",
                root.parent_span_id
            );
        }
        render_span(
            out,
            spans,
            root,
            "  ",
            index + 1 == roots.len(),
            start,
            total,
        );
    }
}

fn render_span(
    out: &mut String,
    spans: &[&ReceivedSpan],
    span: &ReceivedSpan,
    prefix: &str,
    last: bool,
    trace_start: u64,
    total: u64,
) {
    let branch = if last { "└─ " } else { "├─ " };
    let label = format!("{prefix}{branch}{}", span.name);
    let offset = span.start_unix_nanos.saturating_sub(trace_start);
    let lead = scale(offset, total).min(BAR_WIDTH - 1);
    let width = scale(span.duration_nanos(), total).clamp(1, BAR_WIDTH - lead);
    let bar = format!(
        "{}{}{}",
        " ".repeat(lead),
        "█".repeat(width),
        " ".repeat(BAR_WIDTH - lead - width)
    );
    let status = match span.status {
        StatusCode::Error => " ERROR",
        StatusCode::Ok => " OK",
        StatusCode::Unset => "",
    };
    let _ = writeln!(
        out,
        "{label:<48} {:<8} {:>9} |{bar}|{status}",
        format!("{:?}", span.kind).to_uppercase(),
        millis(span.duration_nanos()),
    );
    let detail_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
    let attributes: Vec<String> = KEY_ATTRIBUTES
        .iter()
        .filter_map(|key| span.attr(key).map(|value| format!("{key}={value}")))
        .collect();
    if !attributes.is_empty() {
        let _ = writeln!(out, "{detail_prefix}   {}", attributes.join("  "));
    }
    if span.status == StatusCode::Error && !span.status_message.is_empty() {
        let _ = writeln!(out, "{detail_prefix}   status: {}", span.status_message);
    }
    for link in &span.links {
        let _ = writeln!(
            out,
            "{detail_prefix}   ↪ link to trace {} span {}",
            link.trace_id, link.span_id
        );
    }
    let mut children: Vec<&ReceivedSpan> = spans
        .iter()
        .copied()
        .filter(|s| s.parent_span_id == span.span_id)
        .collect();
    children.sort_by_key(|s| s.start_unix_nanos);
    for (index, child) in children.iter().enumerate() {
        render_span(
            out,
            spans,
            child,
            &detail_prefix,
            index + 1 == children.len(),
            trace_start,
            total,
        );
    }
}

fn scale(nanos: u64, total: u64) -> usize {
    let cells = (u128::from(nanos) * BAR_WIDTH as u128) / u128::from(total);
    usize::try_from(cells).unwrap_or(BAR_WIDTH)
}

fn millis(nanos: u64) -> String {
    format!("{:.2} ms", nanos as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::span::SpanKind;

    fn span(id: &str, parent: &str, name: &str, start: u64, end: u64) -> ReceivedSpan {
        ReceivedSpan {
            trace_id: "t1".into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            name: name.into(),
            kind: SpanKind::Server,
            start_unix_nanos: start,
            end_unix_nanos: end,
            attributes: BTreeMap::new(),
            resource: BTreeMap::new(),
            scope: String::new(),
            status: StatusCode::Unset,
            status_message: String::new(),
            events: Vec::new(),
            links: Vec::new(),
            received_at: Instant::now(),
        }
    }

    #[test]
    fn children_nest_under_parents_and_bars_share_one_axis() {
        let spans = [
            span("a", "remote", "GET /orders", 0, 10_000_000),
            span("b", "a", "load", 5_000_000, 10_000_000),
        ];
        let text = render_waterfall(&spans);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("trace t1  2 spans  10.00 ms"),
            "{text}"
        );
        assert!(lines[1].contains("parent remote"), "{text}");
        assert!(lines[2].contains("└─ GET /orders"), "{text}");
        let child = lines
            .iter()
            .find(|l| l.contains("load"))
            .expect("child rendered");
        assert!(child.contains("   └─ load"), "{text}");
        // The child starts half-way along the axis.
        let bar = child.split('|').nth(1).expect("bar");
        assert_eq!(
            bar.chars().take_while(|c| *c == ' ').count(),
            BAR_WIDTH / 2,
            "{text}"
        );
    }
}
