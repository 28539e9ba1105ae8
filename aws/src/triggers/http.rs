//! What the four HTTP triggers (REST API, HTTP API, Function URL, ALB) share.

use aws_lambda_events::query_map::QueryMap;
use http::HeaderMap;
use otel_faas_core::{
    InvocationSpec, Propagation,
    http::HttpServerAttributes,
    propagation::{Carrier, Chained},
    trigger::InvocationContext,
};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Characters escaped when a query string is rebuilt from decoded parameters.
const QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'&')
    .add(b'=')
    .add(b'+')
    .add(b'<')
    .add(b'>');

/// A header from the single-value map, else the first of the multi-value map. Event
/// sources fill one or the other (ALB depending on its multi-value setting).
pub(crate) fn header<'a>(
    single: &'a HeaderMap,
    multi: &'a HeaderMap,
    name: &str,
) -> Option<&'a str> {
    single
        .get(name)
        .or_else(|| multi.get(name))
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// The pairs of a query map. Read through serde rather than `QueryMap::iter`, which panics
/// on a parameter with an empty list of values (`"key": []`), something a client can send.
fn query_pairs(map: &QueryMap) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(map) else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for (key, values) in map {
        match values {
            serde_json::Value::Array(values) => {
                pairs.extend(
                    values
                        .iter()
                        .filter_map(|v| v.as_str())
                        .map(|v| (key.clone(), v.to_owned())),
                );
            }
            serde_json::Value::String(value) => pairs.push((key, value)),
            _ => {}
        }
    }
    pairs
}

/// Rebuilds a query string from decoded parameters, in a stable order, for event sources
/// that do not pass the raw query string (REST API, ALB).
pub(crate) fn query_string(single: &QueryMap, multi: &QueryMap) -> String {
    let source = if multi.is_empty() { single } else { multi };
    let mut pairs = query_pairs(source);
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(key, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(key, QUERY),
                utf8_percent_encode(value, QUERY)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The attributes from the forwarding headers every AWS HTTP front door sets.
pub(crate) fn forwarded(
    mut attributes: HttpServerAttributes,
    single: &HeaderMap,
    multi: &HeaderMap,
    default_scheme: &str,
) -> HttpServerAttributes {
    let scheme = header(single, multi, "x-forwarded-proto")
        .and_then(|p| p.split(',').next())
        .map(str::trim)
        .unwrap_or(default_scheme);
    attributes = attributes.scheme(scheme);
    if let Some(port) = header(single, multi, "x-forwarded-port").and_then(|p| p.parse().ok()) {
        attributes = attributes.server_port(port);
    }
    attributes
}

/// The HTTP spec with its parent: the request headers first, then what the platform
/// delivered beside the event (the Lambda trace header).
pub(crate) fn spec_with_parent(
    attributes: HttpServerAttributes,
    single: &HeaderMap,
    multi: &HeaderMap,
    context: &InvocationContext,
    propagation: &dyn Propagation,
) -> InvocationSpec {
    let carrier = Chained::new([single as &dyn Carrier, multi, context.carrier()]);
    attributes
        .into_spec()
        .with_parent(propagation.extract_from(&carrier))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_parameter_without_values_is_skipped_not_a_panic() {
        let multi = QueryMap::from(HashMap::from([
            ("empty".to_owned(), Vec::new()),
            ("a".to_owned(), vec!["1".to_owned()]),
        ]));
        assert_eq!(query_string(&QueryMap::default(), &multi), "a=1");
    }

    #[test]
    fn rebuilt_queries_are_stable_and_escaped() {
        let multi = QueryMap::from(HashMap::from([
            (
                "b".to_owned(),
                vec!["two words".to_owned(), "x&y".to_owned()],
            ),
            ("a".to_owned(), vec!["1".to_owned()]),
        ]));
        assert_eq!(
            query_string(&QueryMap::default(), &multi),
            "a=1&b=two%20words&b=x%26y"
        );
    }
}
