//! A checker of CloudWatch Embedded Metric Format documents, written from the
//! specification (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
//! CloudWatch_Embedded_Metric_Format_Specification.html) and the limits AWS's own
//! libraries enforce (aws-embedded-metrics: 30 dimensions per set, 100 metrics per
//! document, 100 values per metric, namespace and dimension rules) — independent of the
//! writer it checks.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The units a `MetricDefinition` may name.
pub const EMF_UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// One metric as a checked document defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfMetric {
    /// The CloudWatch namespace.
    pub namespace: String,
    /// The metric name.
    pub name: String,
    /// The unit, if the definition has one.
    pub unit: Option<String>,
    /// Its values on this line.
    pub values: Vec<f64>,
    /// The dimension sets, each as name → value.
    pub dimensions: Vec<BTreeMap<String, String>>,
}

/// A document that passed every rule.
#[derive(Debug, Clone)]
pub struct EmfDocument {
    /// The whole line as JSON.
    pub root: Map<String, Value>,
    /// `_aws.Timestamp`, milliseconds since the epoch.
    pub timestamp: u64,
    /// Every metric every directive defines.
    pub metrics: Vec<EmfMetric>,
}

/// Checks one log line against the specification; says which rule it breaks.
pub fn validate_emf(line: &str) -> Result<EmfDocument, String> {
    // "The LogEvent message MUST be a valid JSON object with no additional data at the
    // beginning or end of the LogEvent message string."
    let root: Value = serde_json::from_str(line).map_err(|e| format!("not one JSON value: {e}"))?;
    let Value::Object(root) = root else {
        return Err("the document is not a JSON object".into());
    };
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("the root has no `_aws` object")?;
    for key in aws.keys() {
        if ![
            "Timestamp",
            "CloudWatchMetrics",
            "LogGroupName",
            "LogStreamName",
        ]
        .contains(&key.as_str())
        {
            return Err(format!("`_aws` has an unknown member {key:?}"));
        }
    }
    let timestamp = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("`_aws.Timestamp` is not a non-negative integer of milliseconds")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as u64;
    // CloudWatch refuses metrics older than two weeks or more than two hours ahead.
    if timestamp + 14 * 24 * 3_600_000 < now || timestamp > now + 2 * 3_600_000 {
        return Err(format!(
            "timestamp {timestamp} is outside CloudWatch's window"
        ));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("`_aws.CloudWatchMetrics` is not an array")?;
    if directives.is_empty() {
        return Err("`CloudWatchMetrics` is empty".into());
    }
    let mut metrics = Vec::new();
    for directive in directives {
        let directive = directive
            .as_object()
            .ok_or("a MetricDirective is not an object")?;
        for key in directive.keys() {
            if !["Namespace", "Dimensions", "Metrics"].contains(&key.as_str()) {
                return Err(format!("a MetricDirective has an unknown member {key:?}"));
            }
        }
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or("a MetricDirective has no string Namespace")?;
        if namespace.is_empty()
            || namespace.len() > 256
            || !namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._#:/-".contains(c))
        {
            return Err(format!("namespace {namespace:?} is not valid"));
        }
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("`Dimensions` is not an array")?;
        let mut dimension_sets = Vec::new();
        for set in sets {
            let set = set.as_array().ok_or("a DimensionSet is not an array")?;
            if set.len() > 30 {
                return Err(format!(
                    "a DimensionSet has {} dimensions (most 30)",
                    set.len()
                ));
            }
            let mut resolved = BTreeMap::new();
            for name in set {
                let name = name
                    .as_str()
                    .ok_or("a dimension reference is not a string")?;
                if name.is_empty() || name.len() > 250 || !name.is_ascii() || name.starts_with(':')
                {
                    return Err(format!("dimension name {name:?} is not valid"));
                }
                // "Dimension values MUST be string values" of a member of the root.
                let value = root
                    .get(name)
                    .ok_or_else(|| format!("dimension {name:?} has no member at the root"))?
                    .as_str()
                    .ok_or_else(|| format!("dimension {name:?} is not a string"))?;
                if value.trim().is_empty() || value.len() > 1024 || !value.is_ascii() {
                    return Err(format!(
                        "dimension value {value:?} of {name:?} is not valid"
                    ));
                }
                if resolved.insert(name.to_owned(), value.to_owned()).is_some() {
                    return Err(format!("dimension {name:?} twice in one set"));
                }
            }
            dimension_sets.push(resolved);
        }
        let definitions = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or("`Metrics` is not an array")?;
        if definitions.len() > 100 {
            return Err(format!(
                "a MetricDirective defines {} metrics (most 100)",
                definitions.len()
            ));
        }
        let mut names = Vec::new();
        for definition in definitions {
            let definition = definition
                .as_object()
                .ok_or("a MetricDefinition is not an object")?;
            for key in definition.keys() {
                if !["Name", "Unit", "StorageResolution"].contains(&key.as_str()) {
                    return Err(format!("a MetricDefinition has an unknown member {key:?}"));
                }
            }
            let name = definition
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("a MetricDefinition has no string Name")?;
            if name.trim().is_empty() || name.len() > 1024 {
                return Err(format!("metric name {name:?} is not valid"));
            }
            if names.contains(&name) {
                return Err(format!("metric {name:?} defined twice in one directive"));
            }
            names.push(name);
            let unit = match definition.get("Unit") {
                None => None,
                Some(Value::String(unit)) if EMF_UNITS.contains(&unit.as_str()) => {
                    Some(unit.clone())
                }
                Some(other) => return Err(format!("unit {other} of {name:?} is not valid")),
            };
            match definition.get("StorageResolution") {
                None => {}
                Some(resolution) if resolution == 1 || resolution == 60 => {}
                Some(other) => return Err(format!("storage resolution {other} is not 1 or 60")),
            }
            // "Target members MUST be a number or an array of numbers."
            let values = match root.get(name) {
                Some(Value::Number(n)) => vec![n.as_f64().ok_or("a value is not finite")?],
                Some(Value::Array(values)) => {
                    if values.len() > 100 {
                        return Err(format!("{name:?} has {} values (most 100)", values.len()));
                    }
                    values
                        .iter()
                        .map(|v| v.as_f64().ok_or(format!("{name:?} has a non-number value")))
                        .collect::<Result<Vec<_>, _>>()?
                }
                Some(other) => return Err(format!("{name:?} is {other}, not a number")),
                None => return Err(format!("metric {name:?} has no member at the root")),
            };
            metrics.push(EmfMetric {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                unit,
                values,
                dimensions: dimension_sets.clone(),
            });
        }
    }
    Ok(EmfDocument {
        root,
        timestamp,
        metrics,
    })
}

/// The lines of `output` that are EMF documents (they have `_aws` at the root), each
/// checked; the first line that breaks a rule is an error naming it.
pub fn emf_documents(output: &str) -> Result<Vec<EmfDocument>, String> {
    output
        .lines()
        .filter(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .is_some_and(|v| v.get("_aws").is_some())
        })
        .map(|line| validate_emf(line).map_err(|e| format!("{e}\nin: {line}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    fn line(metrics: &str, extra: &str) -> String {
        format!(
            r#"{{"_aws":{{"Timestamp":{},"CloudWatchMetrics":[{{"Namespace":"shop","Dimensions":[["service"]],"Metrics":{metrics}}}]}},"service":"orders"{extra}}}"#,
            now()
        )
    }

    #[test]
    fn the_specification_example_passes() {
        let document = validate_emf(&line(
            r#"[{"Name":"time","Unit":"Milliseconds","StorageResolution":60}]"#,
            r#","time":[100,120]"#,
        ))
        .unwrap();
        assert_eq!(document.metrics[0].values, [100.0, 120.0]);
        assert_eq!(document.metrics[0].dimensions[0]["service"], "orders");
    }

    #[test]
    fn each_rule_is_checked() {
        let too_many: Vec<String> = (0..101).map(|i| format!(r#"{{"Name":"m{i}"}}"#)).collect();
        let too_many_values: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        for (metrics, extra, rule) in [
            (
                r#"[{"Name":"t","Unit":"Millis"}]"#.to_owned(),
                r#","t":1"#.to_owned(),
                "unit",
            ),
            (
                r#"[{"Name":"t"}]"#.to_owned(),
                r#","t":"1""#.to_owned(),
                "not a number",
            ),
            (r#"[{"Name":"t"}]"#.to_owned(), String::new(), "no member"),
            (
                r#"[{"Name":"t","Extra":1}]"#.to_owned(),
                r#","t":1"#.to_owned(),
                "unknown member",
            ),
            (
                format!("[{}]", too_many.join(",")),
                String::new(),
                "most 100",
            ),
            (
                r#"[{"Name":"t"}]"#.to_owned(),
                format!(r#","t":[{}]"#, too_many_values.join(",")),
                "most 100",
            ),
        ] {
            let error = validate_emf(&line(&metrics, &extra)).unwrap_err();
            assert!(error.contains(rule), "{rule}: {error}");
        }
        let dims: Vec<String> = (0..31).map(|i| format!(r#""d{i}""#)).collect();
        let members: String = (0..31).map(|i| format!(r#","d{i}":"v""#)).collect();
        let wide = format!(
            r#"{{"_aws":{{"Timestamp":{},"CloudWatchMetrics":[{{"Namespace":"shop","Dimensions":[[{}]],"Metrics":[]}}]}}{members}}}"#,
            now(),
            dims.join(",")
        );
        assert!(validate_emf(&wide).unwrap_err().contains("most 30"));
        let old = r#"{"_aws":{"Timestamp":1000,"CloudWatchMetrics":[{"Namespace":"shop","Dimensions":[],"Metrics":[]}]}}"#;
        assert!(validate_emf(old).unwrap_err().contains("window"));
        let bad_namespace = line("[]", "").replace("\"shop\"", "\"a shop\"");
        assert!(
            validate_emf(&bad_namespace)
                .unwrap_err()
                .contains("namespace")
        );
    }
}
