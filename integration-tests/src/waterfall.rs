//! Traces as a terminal waterfall: the span tree, kinds, durations on a shared time axis,
//! the attributes that matter, and links.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use crate::span::{ReceivedSpan, StatusCode};

/// The attributes worth a glance, in the order shown.
const KEY_ATTRIBUTES: [&str; 13] = [
    "faas.trigger",
    "faas.coldstart",
    "faas.invocation_id",
    "http.route",
    "url.path",
    "url.full",
    "http.response.status_code",
    "client.address",
    "messaging.system",
    "messaging.destination.name",
    "error.type",
    "code.function.name",
    "app.order_id",
];

const BAR_WIDTH: usize = 32;

/// One trace laid out for display: spans in tree order, with the drawing of the tree.
struct TraceLayout<'a> {
    trace_id: &'a str,
    start: u64,
    total: u64,
    rows: Vec<Row<'a>>,
}

/// One span of a [`TraceLayout`].
struct Row<'a> {
    span: &'a ReceivedSpan,
    /// The tree drawn before the name, e.g. `│  └─ `.
    branch: String,
    /// The indentation under the name, for the span's details.
    detail: String,
    /// Nesting depth, 0 for a root.
    depth: usize,
    /// Set on a root whose parent was not received (the caller's process).
    remote_parent: Option<&'a str>,
}

/// Groups `spans` by trace, traces in the order their first span started, each in tree
/// order with children by start time.
fn layout(spans: &[ReceivedSpan]) -> Vec<TraceLayout<'_>> {
    let mut traces: BTreeMap<&str, Vec<&ReceivedSpan>> = BTreeMap::new();
    for span in spans {
        traces.entry(&span.trace_id).or_default().push(span);
    }
    let mut ordered: Vec<Vec<&ReceivedSpan>> = traces.into_values().collect();
    ordered.sort_by_key(|trace| trace.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0));
    ordered
        .into_iter()
        .map(|trace| {
            let start = trace.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0);
            let end = trace
                .iter()
                .map(|s| s.end_unix_nanos)
                .max()
                .unwrap_or(start);
            let ids: HashSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
            let mut roots: Vec<&ReceivedSpan> = trace
                .iter()
                .copied()
                .filter(|s| !ids.contains(s.parent_span_id.as_str()))
                .collect();
            roots.sort_by_key(|s| s.start_unix_nanos);
            let mut rows = Vec::new();
            for (index, root) in roots.iter().enumerate() {
                let remote =
                    (!root.parent_span_id.is_empty()).then_some(root.parent_span_id.as_str());
                push_rows(
                    &mut rows,
                    &trace,
                    root,
                    "  ",
                    index + 1 == roots.len(),
                    0,
                    remote,
                );
            }
            TraceLayout {
                trace_id: trace
                    .first()
                    .map(|s| s.trace_id.as_str())
                    .unwrap_or_default(),
                start,
                total: end.saturating_sub(start).max(1),
                rows,
            }
        })
        .collect()
}

fn push_rows<'a>(
    rows: &mut Vec<Row<'a>>,
    spans: &[&'a ReceivedSpan],
    span: &'a ReceivedSpan,
    prefix: &str,
    last: bool,
    depth: usize,
    remote_parent: Option<&'a str>,
) {
    let detail = format!("{prefix}{}", if last { "   " } else { "│  " });
    rows.push(Row {
        span,
        branch: format!("{prefix}{}", if last { "└─ " } else { "├─ " }),
        detail: detail.clone(),
        depth,
        remote_parent,
    });
    let mut children: Vec<&ReceivedSpan> = spans
        .iter()
        .copied()
        .filter(|s| s.parent_span_id == span.span_id)
        .collect();
    children.sort_by_key(|s| s.start_unix_nanos);
    for (index, child) in children.iter().enumerate() {
        let last = index + 1 == children.len();
        push_rows(rows, spans, child, &detail, last, depth + 1, None);
    }
}

/// Renders every trace in `spans` as an indented waterfall, one block per trace, traces in
/// the order their first span started.
pub fn render_waterfall(spans: &[ReceivedSpan]) -> String {
    let mut out = String::new();
    for trace in layout(spans) {
        let count = trace.rows.len();
        let _ = writeln!(
            out,
            "trace {}  {count} span{}  {}",
            trace.trace_id,
            if count == 1 { "" } else { "s" },
            millis(trace.total)
        );
        for row in &trace.rows {
            render_row(&mut out, row, trace.start, trace.total);
        }
        out.push('\n');
    }
    out
}

fn render_row(out: &mut String, row: &Row<'_>, trace_start: u64, total: u64) {
    let span = row.span;
    if let Some(parent) = row.remote_parent {
        let _ = writeln!(out, "  (parent {parent} is in the caller's process)");
    }
    let label = format!("{}{}", row.branch, span.name);
    let offset = span.start_unix_nanos.saturating_sub(trace_start);
    let lead = scale(offset, total).min(BAR_WIDTH - 1);
    let width = scale(span.duration_nanos(), total).clamp(1, BAR_WIDTH - lead);
    let bar = format!(
        "{}{}{}",
        " ".repeat(lead),
        "█".repeat(width),
        " ".repeat(BAR_WIDTH - lead - width)
    );
    let _ = writeln!(
        out,
        "{label:<48} {:<8} {:>9} |{bar}|{}",
        kind_label(span),
        millis(span.duration_nanos()),
        status_label(span)
            .map(|s| format!(" {s}"))
            .unwrap_or_default(),
    );
    let detail = &row.detail;
    let attributes = key_attributes(span);
    if !attributes.is_empty() {
        let _ = writeln!(out, "{detail}   {}", attributes.join("  "));
    }
    if span.status == StatusCode::Error && !span.status_message.is_empty() {
        let _ = writeln!(out, "{detail}   status: {}", span.status_message);
    }
    for link in &span.links {
        let _ = writeln!(
            out,
            "{detail}   ↪ link to trace {} span {}",
            link.trace_id, link.span_id
        );
    }
}

fn kind_label(span: &ReceivedSpan) -> String {
    format!("{:?}", span.kind).to_uppercase()
}

fn status_label(span: &ReceivedSpan) -> Option<&'static str> {
    match span.status {
        StatusCode::Error => Some("ERROR"),
        StatusCode::Ok => Some("OK"),
        StatusCode::Unset => None,
    }
}

fn key_attributes(span: &ReceivedSpan) -> Vec<String> {
    KEY_ATTRIBUTES
        .iter()
        .filter_map(|key| span.attr(key).map(|value| format!("{key}={value}")))
        .collect()
}

/// Renders the same waterfall as [`render_waterfall`] as one self-contained HTML page (no
/// scripts, no external resources): bars on each trace's time axis, every attribute, event
/// and link of each span under its row, links clickable when the linked span is on the page.
pub fn render_waterfall_html(spans: &[ReceivedSpan], title: &str) -> String {
    let on_page: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n",
        title = escape(title)
    );
    for trace in layout(spans) {
        let count = trace.rows.len();
        let _ = writeln!(
            out,
            "<section class=\"trace\"><h2>trace <code>{}</code> · {count} span{} · {}</h2>",
            escape(trace.trace_id),
            if count == 1 { "" } else { "s" },
            millis(trace.total)
        );
        for row in &trace.rows {
            let span = row.span;
            let left = percent(
                span.start_unix_nanos.saturating_sub(trace.start),
                trace.total,
            );
            let width = percent(span.duration_nanos(), trace.total).max(0.3);
            let status = status_label(span).unwrap_or_default();
            let _ = write!(
                out,
                "<details class=\"span {kind} {status}\" id=\"span-{id}\">\
                 <summary><span class=\"name\" style=\"padding-left:{indent}em\">{remote}{name}</span>\
                 <span class=\"kind\">{kind_text}</span><span class=\"dur\">{duration}</span>\
                 <span class=\"axis\"><span class=\"bar\" style=\"left:{left:.2}%;width:{width:.2}%\">\
                 </span></span><span class=\"status\">{status}</span></summary>\n<div class=\"detail\">",
                kind = kind_label(span).to_lowercase(),
                id = escape(&span.span_id),
                indent = row.depth * 2,
                remote = if row.remote_parent.is_some() {
                    "↳ "
                } else {
                    ""
                },
                name = escape(&span.name),
                kind_text = kind_label(span),
                duration = millis(span.duration_nanos()),
            );
            if let Some(parent) = row.remote_parent {
                let _ = write!(
                    out,
                    "<p>parent <code>{}</code> is in the caller's process</p>",
                    escape(parent)
                );
            }
            if span.status == StatusCode::Error && !span.status_message.is_empty() {
                let _ = write!(
                    out,
                    "<p class=\"error\">status: {}</p>",
                    escape(&span.status_message)
                );
            }
            let _ = write!(out, "<table>");
            for (key, value) in &span.attributes {
                let _ = write!(
                    out,
                    "<tr><th>{}</th><td>{}</td></tr>",
                    escape(key),
                    escape(&value.to_string())
                );
            }
            let _ = write!(out, "</table>");
            for event in &span.events {
                let attributes: Vec<String> = event
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{}={}", escape(k), escape(&v.to_string())))
                    .collect();
                let _ = write!(
                    out,
                    "<p>event <b>{}</b> {}</p>",
                    escape(&event.name),
                    attributes.join(" ")
                );
            }
            for link in &span.links {
                let target = if on_page.contains(link.span_id.as_str()) {
                    format!("<a href=\"#span-{0}\">span {0}</a>", escape(&link.span_id))
                } else {
                    format!("span {}", escape(&link.span_id))
                };
                let _ = write!(
                    out,
                    "<p>↪ link to trace <code>{}</code> {target}</p>",
                    escape(&link.trace_id)
                );
            }
            out.push_str("</div></details>\n");
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#222}\
code{font-family:ui-monospace,monospace}\
.trace{margin-bottom:2em}.trace h2{font-size:15px;font-weight:600}\
summary{display:flex;align-items:center;gap:.8em;cursor:pointer;padding:2px 0}\
.name{flex:0 0 30em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}\
.kind{flex:0 0 6em;font-size:12px;color:#666}.dur{flex:0 0 6em;text-align:right}\
.axis{flex:1;position:relative;height:12px;background:#f1f1f1}\
.bar{position:absolute;top:0;height:12px;background:#4a7fd4}\
.server .bar{background:#2f9e63}.consumer .bar{background:#c28a1c}\
.producer .bar,.client .bar{background:#7a5cc9}.ERROR .bar{background:#d33}\
.status{flex:0 0 4em;font-size:12px;color:#d33}\
.detail{margin:.3em 0 .8em 2em;font-size:13px}.error{color:#d33}\
table{border-collapse:collapse}th,td{text-align:left;padding:1px 8px;vertical-align:top}\
th{font-weight:normal;color:#666}";

fn percent(part: u64, total: u64) -> f64 {
    part as f64 * 100.0 / total as f64
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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

    use super::*;
    use crate::span::SpanKind;

    fn span(id: &str, parent: &str, name: &str, start: u64, end: u64) -> ReceivedSpan {
        let mut span = ReceivedSpan::new("t1", id, parent, name, SpanKind::Server);
        span.start_unix_nanos = start;
        span.end_unix_nanos = end;
        span
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

    #[test]
    fn the_html_page_escapes_names_and_links_spans_on_the_page() {
        let mut child = span("b", "a", "load <order> & \"more\"", 5_000_000, 10_000_000);
        child.status = StatusCode::Error;
        child.links.push(crate::span::ReceivedLink {
            trace_id: "t1".into(),
            span_id: "a".into(),
            attributes: BTreeMap::new(),
        });
        child.attributes.insert(
            "url.path".into(),
            crate::span::AttrValue::Str("/a?<b>".into()),
        );
        let spans = [span("a", "remote", "GET /orders", 0, 10_000_000), child];
        let html = render_waterfall_html(&spans, "demo <1>");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>demo &lt;1&gt;</title>"), "{html}");
        assert!(
            html.contains("load &lt;order&gt; &amp; &quot;more&quot;"),
            "{html}"
        );
        assert!(!html.contains("<order>"), "{html}");
        assert!(html.contains("<td>/a?&lt;b&gt;</td>"), "{html}");
        assert!(html.contains("<a href=\"#span-a\">span a</a>"), "{html}");
        // The child's bar starts half-way along the trace's axis and is red.
        assert!(html.contains("left:50.00%;width:50.00%"), "{html}");
        assert!(
            html.contains("class=\"span server ERROR\" id=\"span-b\""),
            "{html}"
        );
        assert!(html.contains("parent <code>remote</code> is in the caller's process"));
        assert_eq!(html.matches("<section class=\"trace\">").count(), 1);
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "self-contained"
        );
    }
}
