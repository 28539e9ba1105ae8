//! Metrics as CloudWatch Embedded Metric Format lines on standard output: no network, no
//! extension, nothing at cold start — Lambda sends standard output to CloudWatch Logs,
//! which extracts the metrics.
//!
//! Selected with `OTEL_METRICS_EXPORTER=awsemf` (the name the AWS Distro for
//! OpenTelemetry gives its EMF exporter), alone or beside `otlp`. Every metric of the
//! pipeline goes through it: the engine's FaaS metrics and your own from the
//! `opentelemetry` meter API. Lines are written when the invocation flushes (and every
//! `OTEL_METRIC_EXPORT_INTERVAL`), with delta temporality, as CloudWatch adds up what each
//! line reports.
//!
//! ## The document ([specification](https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html))
//!
//! ```json
//! {"_aws":{"Timestamp":1732924800000,"CloudWatchMetrics":[{"Namespace":"orders",
//!   "Dimensions":[["faas.trigger","service.name"]],
//!   "Metrics":[{"Name":"faas.invocations","Unit":"Count"},{"Name":"faas.invoke_duration","Unit":"Seconds"}]}]},
//!  "faas.trigger":"http","service.name":"orders","faas.invocations":1,"faas.invoke_duration":0.012}
//! ```
//!
//! * **Namespace**: `OTEL_FAAS_EMF_NAMESPACE`, else the resource's `service.name` when it is
//!   a valid namespace (1–256 of `a-z A-Z 0-9 . _ # : / -`), else `otel-faas`.
//! * **Dimensions**: one dimension set per line — the point's attributes plus
//!   `service.name`. Points with the same attributes share a line. A dimension must be
//!   ASCII, its name 1–250 characters not starting with `:`, its value 1–1024 characters;
//!   an attribute that breaks these rules, and any beyond the 30 a set may hold, is still
//!   written as a property of the line (searchable in Logs Insights) but is not a dimension.
//! * **Values**: a counter's or up-down counter's delta, a gauge's value; a histogram's
//!   point becomes an array of `count` values that keeps its count, sum, minimum and
//!   maximum exact (`[min, max, mean of the rest …]`), as the format has no bucket form.
//!   Non-finite values are left out. Exponential histograms are not written (a view would
//!   have to ask for them) and are reported once.
//! * **Limits**: at most 100 metrics per line and 100 values per metric; more make more
//!   lines.
//! * **Units**: UCUM units mapped to CloudWatch's (`s` → `Seconds`, `ms` →
//!   `Milliseconds`, `By` → `Bytes`, `{invocation}` → `Count`, `1` → `None`, …; unknown →
//!   `None`).
//! * **`ColdStart`**: on a cold invocation, a line with the metric `ColdStart` = 1 (`Count`)
//!   by `function_name` and `service`, as Powertools for AWS Lambda writes it, so its
//!   dashboards and alarms work unchanged.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, Histogram, Metric, MetricData, ResourceMetrics,
};
use opentelemetry_semantic_conventions::metric::FAAS_COLDSTARTS;
use otel_faas_core::Environment;
use otel_faas_core::pipeline::MetricSink;
use serde_json::{Map, Value as Json, json};

/// The name that selects the writer in `OTEL_METRICS_EXPORTER`.
pub const EMF_EXPORTER_NAME: &str = "awsemf";

/// The variable naming the CloudWatch namespace.
pub const EMF_NAMESPACE_VARIABLE: &str = "OTEL_FAAS_EMF_NAMESPACE";

/// The most metrics one line may define.
pub const MAX_METRICS_PER_LINE: usize = 100;
/// The most values one metric may have on one line.
pub const MAX_VALUES_PER_METRIC: usize = 100;
/// The most dimensions one dimension set may hold.
pub const MAX_DIMENSIONS: usize = 30;

const FALLBACK_NAMESPACE: &str = "otel-faas";
const SERVICE_NAME: &str = "service.name";

/// Writes metrics as Embedded Metric Format lines; see the [module](self).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use otel_faas_aws::emf::{EMF_EXPORTER_NAME, EmfWriter};
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::Pipeline;
///
/// # #[derive(Clone, Default)] struct Shared(Arc<Mutex<Vec<u8>>>);
/// # impl std::io::Write for Shared {
/// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
/// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// # }
/// let lines = Shared::default(); // standard output, in a function: `EmfWriter::stdout()`
/// let env = MapEnvironment::from([
///     ("OTEL_METRICS_EXPORTER", "awsemf"),
///     ("OTEL_SERVICE_NAME", "orders"),
///     ("OTEL_TRACES_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]);
/// let telemetry = otel_faas_core::Pipeline::with_environment(env)
///     .with_metric_exporter(EMF_EXPORTER_NAME, EmfWriter::to_writer(lines.clone()))
///     .install();
/// telemetry.meter("orders").u64_counter("orders.placed").build().add(3, &[]);
/// telemetry.meter_provider().force_flush().unwrap();
///
/// let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
/// let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
/// assert_eq!(line["orders.placed"], 3);
/// assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "orders");
/// ```
pub struct EmfWriter {
    namespace: Option<String>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for EmfWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmfWriter")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl EmfWriter {
    /// Writes to standard output, where Lambda collects it.
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout())
    }

    /// Writes to `out` (each line in one `write_all`).
    pub fn to_writer(out: impl Write + Send + 'static) -> Self {
        Self {
            namespace: None,
            out: Mutex::new(Box::new(out)),
        }
    }

    /// Uses `namespace` for every metric, instead of the service name.
    ///
    /// ```
    /// use otel_faas_aws::emf::EmfWriter;
    ///
    /// let writer = EmfWriter::stdout().namespace("shop/orders");
    /// # drop(writer);
    /// ```
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Reads `OTEL_FAAS_EMF_NAMESPACE` from `env`; an invalid namespace is reported once
    /// and the default used.
    #[must_use]
    pub fn with_environment(self, env: &dyn Environment) -> Self {
        match env.get_non_empty(EMF_NAMESPACE_VARIABLE) {
            Some(namespace) if valid_namespace(&namespace) => self.namespace(namespace),
            Some(namespace) => {
                otel_faas_core::env::ConfigWarning::new(
                    EMF_NAMESPACE_VARIABLE,
                    namespace,
                    "1 to 256 of a-z A-Z 0-9 . _ # : / -",
                    "the service name",
                )
                .emit();
                self
            }
            None => self,
        }
    }

    fn write_line(&self, document: &Json) -> OTelSdkResult {
        let mut line = serde_json::to_vec(document)
            .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))?;
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(&line)
            .and_then(|()| out.flush())
            .map_err(|error| {
                OTelSdkError::InternalFailure(format!("EMF line not written: {error}"))
            })
    }
}

impl MetricSink for EmfWriter {
    fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let resource = metrics.resource();
        let service = resource
            .get(&Key::from_static_str(SERVICE_NAME))
            .map(|value| value.to_string());
        let namespace = match (&self.namespace, &service) {
            (Some(namespace), _) => namespace.clone(),
            (None, Some(service)) if valid_namespace(service) => service.clone(),
            _ => FALLBACK_NAMESPACE.to_owned(),
        };
        let mut groups: BTreeMap<Vec<(String, String)>, Group> = BTreeMap::new();
        let mut timestamp = 0;
        let mut cold_starts = 0.0;
        for scope in metrics.scope_metrics() {
            for metric in scope.metrics() {
                for point in points(metric) {
                    timestamp = timestamp.max(point.timestamp);
                    if metric.name() == FAAS_COLDSTARTS {
                        cold_starts += point.values.iter().sum::<f64>();
                    }
                    let mut attributes = point.attributes;
                    if let Some(service) = &service {
                        attributes.push((SERVICE_NAME.to_owned(), service.clone()));
                    }
                    attributes.sort();
                    attributes.dedup_by(|a, b| a.0 == b.0);
                    groups.entry(attributes).or_default().metrics.push(Values {
                        name: metric.name().to_owned(),
                        unit: cloudwatch_unit(metric.unit()),
                        values: point.values,
                    });
                }
            }
        }
        let mut result = Ok(());
        for (attributes, group) in groups {
            for document in group.documents(&namespace, timestamp, &attributes) {
                result = result.and(self.write_line(&document));
            }
        }
        if cold_starts > 0.0 {
            let function = resource
                .get(&Key::from_static_str("faas.name"))
                .map_or_else(String::new, |value| value.to_string());
            result = result.and(self.write_line(&cold_start_document(
                &namespace,
                timestamp,
                &function,
                service.as_deref().unwrap_or_default(),
            )));
        }
        result
    }
}

/// One point of one metric, ready to write.
struct Point {
    attributes: Vec<(String, String)>,
    values: Vec<f64>,
    timestamp: u128,
}

/// The metrics of one attribute set.
#[derive(Default)]
struct Group {
    metrics: Vec<Values>,
}

struct Values {
    name: String,
    unit: &'static str,
    values: Vec<f64>,
}

impl Group {
    /// The lines of this group: each at most 100 metrics of at most 100 values.
    fn documents(
        mut self,
        namespace: &str,
        timestamp: u128,
        attributes: &[(String, String)],
    ) -> Vec<Json> {
        let dimensions = dimension_names(attributes);
        // A metric may not take a dimension's (or the metadata's) name at the root.
        self.metrics.retain(|metric| {
            let clashes = metric.name == "_aws"
                || attributes.iter().any(|(name, _)| *name == metric.name)
                || metric.name.is_empty()
                || metric.name.len() > 1024;
            if clashes {
                otel_faas_core::env::report_once(
                    "emf-metric-name",
                    &format!(
                        "metric {:?} is not written as EMF: its name is empty, too long, or \
                         the name of one of its attributes",
                        metric.name
                    ),
                );
            }
            !clashes
        });
        // Several points of one metric with the same attributes (a counter seen by two
        // readers cannot happen; views could) are merged.
        let mut merged: Vec<Values> = Vec::new();
        for metric in self.metrics {
            match merged.iter_mut().find(|m| m.name == metric.name) {
                Some(existing) => existing.values.extend(metric.values),
                None => merged.push(metric),
            }
        }
        let mut queues: Vec<(Values, usize)> = merged
            .into_iter()
            .filter(|m| !m.values.is_empty())
            .map(|m| (m, 0))
            .collect();
        let mut documents = Vec::new();
        while !queues.is_empty() {
            // The metrics with the most values left go first, so that they are not the ones
            // left over for lines of their own.
            queues.sort_by_key(|(metric, taken)| std::cmp::Reverse(metric.values.len() - taken));
            let mut root = Map::new();
            let mut definitions = Vec::new();
            for (metric, taken) in queues.iter_mut().take(MAX_METRICS_PER_LINE) {
                let end = (*taken + MAX_VALUES_PER_METRIC).min(metric.values.len());
                let chunk = &metric.values[*taken..end];
                *taken = end;
                root.insert(
                    metric.name.clone(),
                    match chunk {
                        [one] => number(*one),
                        many => Json::Array(many.iter().copied().map(number).collect()),
                    },
                );
                definitions.push(json!({"Name": metric.name, "Unit": metric.unit}));
            }
            queues.retain(|(metric, taken)| *taken < metric.values.len());
            // Every attribute is a member; those that cannot be dimensions are properties.
            for (name, value) in attributes {
                root.insert(name.clone(), Json::String(value.clone()));
            }
            root.insert(
                "_aws".to_owned(),
                metadata(namespace, timestamp, &dimensions, definitions),
            );
            documents.push(Json::Object(root));
        }
        documents
    }
}

/// A value as JSON: an integer when it is one (counts read as counts), else a float.
fn number(value: f64) -> Json {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() < EXACT {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// The attributes that may be dimensions: the first 30 valid ones, in name order.
fn dimension_names(attributes: &[(String, String)]) -> Vec<String> {
    attributes
        .iter()
        .filter(|(name, value)| valid_dimension(name, value))
        .take(MAX_DIMENSIONS)
        .map(|(name, _)| name.clone())
        .collect()
}

fn valid_dimension(name: &str, value: &str) -> bool {
    let ascii = |s: &str| s.is_ascii() && !s.trim().is_empty();
    ascii(name)
        && ascii(value)
        && name.len() <= 250
        && value.len() <= 1024
        && !name.starts_with(':')
}

fn valid_namespace(namespace: &str) -> bool {
    (1..=256).contains(&namespace.len())
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._#:/-".contains(c))
}

fn timestamp_millis(timestamp: u128) -> u64 {
    let millis = if timestamp == 0 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    } else {
        timestamp
    };
    u64::try_from(millis).unwrap_or(u64::MAX)
}

/// The `_aws` member: one directive of `definitions` by one dimension set.
fn metadata(
    namespace: &str,
    timestamp: u128,
    dimensions: &[impl serde::Serialize],
    definitions: Vec<Json>,
) -> Json {
    json!({
        "Timestamp": timestamp_millis(timestamp),
        "CloudWatchMetrics": [{
            "Namespace": namespace,
            "Dimensions": [dimensions],
            "Metrics": definitions,
        }],
    })
}

fn cold_start_document(namespace: &str, timestamp: u128, function: &str, service: &str) -> Json {
    let mut dimensions = Vec::new();
    let mut root = Map::new();
    for (name, value) in [("function_name", function), ("service", service)] {
        if valid_dimension(name, value) {
            dimensions.push(name);
            root.insert(name.to_owned(), Json::String(value.to_owned()));
        }
    }
    root.insert("ColdStart".to_owned(), json!(1));
    root.insert(
        "_aws".to_owned(),
        metadata(
            namespace,
            timestamp,
            &dimensions,
            vec![json!({"Name": "ColdStart", "Unit": "Count"})],
        ),
    );
    Json::Object(root)
}

/// The points of `metric` as values, whatever its number type and kind.
fn points(metric: &Metric) -> Vec<Point> {
    match metric.data() {
        AggregatedMetrics::F64(data) => points_of(data, |v| v),
        AggregatedMetrics::U64(data) => points_of(data, |v| v as f64),
        AggregatedMetrics::I64(data) => points_of(data, |v| v as f64),
    }
}

fn points_of<T: Copy>(data: &MetricData<T>, to_f64: impl Fn(T) -> f64) -> Vec<Point> {
    let finite = |values: Vec<f64>| values.into_iter().filter(|v| v.is_finite()).collect();
    match data {
        MetricData::Sum(sum) => {
            let timestamp = millis(sum.time());
            sum.data_points()
                .map(|p| Point {
                    attributes: strings(p.attributes()),
                    values: finite(vec![to_f64(p.value())]),
                    timestamp,
                })
                .collect()
        }
        MetricData::Gauge(gauge) => {
            let timestamp = millis(gauge.time());
            gauge
                .data_points()
                .map(|p| Point {
                    attributes: strings(p.attributes()),
                    values: finite(vec![to_f64(p.value())]),
                    timestamp,
                })
                .collect()
        }
        MetricData::Histogram(histogram) => histogram_points(histogram, &to_f64)
            .into_iter()
            .map(|mut point| {
                point.values = finite(point.values);
                point
            })
            .collect(),
        MetricData::ExponentialHistogram(_) => {
            otel_faas_core::env::report_once(
                "emf-exponential-histogram",
                "exponential histograms are not written as EMF",
            );
            Vec::new()
        }
    }
}

fn histogram_points<T: Copy>(histogram: &Histogram<T>, to_f64: &impl Fn(T) -> f64) -> Vec<Point> {
    let timestamp = millis(histogram.time());
    histogram
        .data_points()
        .filter(|p| p.count() > 0)
        .map(|p| {
            let count = usize::try_from(p.count()).unwrap_or(usize::MAX);
            let sum = to_f64(p.sum());
            let min = p.min().map(to_f64);
            let max = p.max().map(to_f64);
            Point {
                attributes: strings(p.attributes()),
                values: histogram_values(count, sum, min, max),
                timestamp,
            }
        })
        .collect()
}

/// `count` values whose count, sum, minimum and maximum are the point's.
fn histogram_values(count: usize, sum: f64, min: Option<f64>, max: Option<f64>) -> Vec<f64> {
    match (count, min, max) {
        (0, _, _) => Vec::new(),
        (1, _, _) => vec![sum],
        (2, Some(min), Some(max)) => vec![min, max],
        (_, Some(min), Some(max)) => {
            let rest = count - 2;
            let mean_of_rest = (sum - min - max) / rest as f64;
            let mut values = Vec::with_capacity(count);
            values.push(min);
            values.push(max);
            values.extend(std::iter::repeat_n(mean_of_rest, rest));
            values
        }
        // Without min and max, the mean keeps count and sum.
        _ => vec![sum / count as f64; count],
    }
}

fn millis(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn strings<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> Vec<(String, String)> {
    attributes
        .map(|kv| {
            let value = match &kv.value {
                Value::String(s) => s.to_string(),
                other => other.to_string(),
            };
            (kv.key.to_string(), value)
        })
        .collect()
}

/// The CloudWatch unit of a UCUM unit (the conventions' units), `None` when there is none.
pub fn cloudwatch_unit(ucum: &str) -> &'static str {
    match ucum {
        "s" => "Seconds",
        "ms" => "Milliseconds",
        "us" => "Microseconds",
        "By" => "Bytes",
        "kBy" | "KBy" | "KiBy" => "Kilobytes",
        "MBy" | "MiBy" => "Megabytes",
        "GBy" | "GiBy" => "Gigabytes",
        "TBy" | "TiBy" => "Terabytes",
        "bit" => "Bits",
        "kbit" => "Kilobits",
        "Mbit" => "Megabits",
        "Gbit" => "Gigabits",
        "Tbit" => "Terabits",
        "%" => "Percent",
        "By/s" => "Bytes/Second",
        "kBy/s" | "KiBy/s" => "Kilobytes/Second",
        "MBy/s" | "MiBy/s" => "Megabytes/Second",
        "GBy/s" | "GiBy/s" => "Gigabytes/Second",
        "bit/s" => "Bits/Second",
        "kbit/s" => "Kilobits/Second",
        "Mbit/s" => "Megabits/Second",
        "Gbit/s" => "Gigabits/Second",
        "1/s" => "Count/Second",
        // `{request}` and the like are counts of things; `{request}/s` their rate.
        annotation if annotation.starts_with('{') && annotation.ends_with("}/s") => "Count/Second",
        annotation if annotation.starts_with('{') && annotation.ends_with('}') => "Count",
        _ => "None",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::KeyValue;
    use otel_faas_core::Pipeline;
    use otel_faas_core::env::MapEnvironment;
    use serde_json::Value as Json;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn documents(&self) -> Vec<Json> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
                .collect()
        }
    }

    fn telemetry(lines: &Lines, extra: &[(&str, &str)]) -> otel_faas_core::Telemetry {
        let mut env = vec![
            ("OTEL_METRICS_EXPORTER", "awsemf"),
            ("OTEL_SERVICE_NAME", "orders"),
            ("OTEL_RESOURCE_ATTRIBUTES", "faas.name=orders-fn"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
        ];
        env.extend_from_slice(extra);
        let env: MapEnvironment = env.into_iter().collect();
        Pipeline::with_environment(env.clone())
            .with_metric_exporter(
                EMF_EXPORTER_NAME,
                EmfWriter::to_writer(lines.clone()).with_environment(&env),
            )
            .install()
    }

    fn directive(document: &Json) -> &Json {
        &document["_aws"]["CloudWatchMetrics"][0]
    }

    fn metric_names(document: &Json) -> Vec<String> {
        directive(document)["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn counters_and_histograms_by_attributes_with_delta_values() {
        let lines = Lines::default();
        let telemetry = telemetry(&lines, &[]);
        let meter = telemetry.meter("shop");
        let placed = meter
            .u64_counter("orders.placed")
            .with_unit("{order}")
            .build();
        let latency = meter
            .f64_histogram("orders.latency")
            .with_unit("ms")
            .build();
        let card = [KeyValue::new("payment", "card")];
        placed.add(2, &card);
        placed.add(1, &[KeyValue::new("payment", "cash")]);
        for value in [5.0, 1.0, 9.0, 3.0] {
            latency.record(value, &card);
        }
        telemetry.meter_provider().force_flush().unwrap();
        placed.add(4, &card);
        telemetry.meter_provider().force_flush().unwrap();

        let documents = lines.documents();
        let by_payment = |payment: &str| -> Vec<&Json> {
            documents
                .iter()
                .filter(|d| d["payment"] == payment)
                .collect()
        };
        let card_lines = by_payment("card");
        // One line per attribute set per flush; the second flush has the delta only.
        assert_eq!(card_lines.len(), 2, "{documents:#?}");
        let first = card_lines[0];
        assert_eq!(first["orders.placed"], 2);
        assert_eq!(card_lines[1]["orders.placed"], 4);
        assert_eq!(by_payment("cash")[0]["orders.placed"], 1);
        // The histogram keeps count, sum, min and max: [min, max, mean of the rest…].
        let values: Vec<f64> = first["orders.latency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(values, [1.0, 9.0, 4.0, 4.0]);
        assert_eq!(directive(first)["Namespace"], "orders");
        assert_eq!(
            directive(first)["Dimensions"],
            serde_json::json!([["payment", "service.name"]])
        );
        assert_eq!(first["service.name"], "orders");
        let units: BTreeMap<String, String> = directive(first)["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().unwrap().to_owned(),
                    m["Unit"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(units["orders.placed"], "Count");
        assert_eq!(units["orders.latency"], "Milliseconds");
        let timestamp = first["_aws"]["Timestamp"].as_u64().expect("an integer");
        let now = u64::try_from(millis(SystemTime::now())).unwrap();
        assert!(now - timestamp < 60_000, "{timestamp} vs {now}");
    }

    #[test]
    fn more_than_a_hundred_metrics_or_values_make_more_lines() {
        let lines = Lines::default();
        let telemetry = telemetry(&lines, &[("OTEL_FAAS_EMF_NAMESPACE", "shop/orders")]);
        let meter = telemetry.meter("shop");
        for i in 0..150 {
            meter.u64_counter(format!("c{i:03}")).build().add(1, &[]);
        }
        let histogram = meter.f64_histogram("h").build();
        for i in 0..250 {
            histogram.record(f64::from(i), &[]);
        }
        telemetry.meter_provider().force_flush().unwrap();
        let documents = lines.documents();
        let mut counters = 0;
        let mut histogram_values = Vec::new();
        for document in &documents {
            let names = metric_names(document);
            assert!(names.len() <= MAX_METRICS_PER_LINE, "{}", names.len());
            assert_eq!(directive(document)["Namespace"], "shop/orders");
            counters += names.iter().filter(|n| n.starts_with('c')).count();
            if let Some(values) = document["h"].as_array() {
                assert!(values.len() <= MAX_VALUES_PER_METRIC);
                histogram_values.extend(values.iter().map(|v| v.as_f64().unwrap()));
            } else if let Some(value) = document["h"].as_f64() {
                histogram_values.push(value);
            }
        }
        assert_eq!(counters, 150);
        assert_eq!(histogram_values.len(), 250);
        assert_eq!(
            histogram_values.iter().sum::<f64>(),
            (0..250).sum::<i32>() as f64
        );
        assert_eq!(documents.len(), 3, "150 metrics, 250 values: 3 lines");
    }

    #[test]
    fn attributes_that_cannot_be_dimensions_are_properties() {
        let lines = Lines::default();
        let telemetry = telemetry(&lines, &[]);
        let mut attributes: Vec<KeyValue> = (0..35)
            .map(|i| KeyValue::new(format!("a{i:02}"), "v"))
            .collect();
        attributes.push(KeyValue::new("city", "Zürich"));
        attributes.push(KeyValue::new(":reserved", "x"));
        attributes.push(KeyValue::new("blank", " "));
        telemetry
            .meter("shop")
            .u64_counter("visits")
            .build()
            .add(1, &attributes);
        telemetry.meter_provider().force_flush().unwrap();
        let documents = lines.documents();
        let document = &documents[0];
        let dimensions = directive(document)["Dimensions"][0].as_array().unwrap();
        assert_eq!(dimensions.len(), MAX_DIMENSIONS);
        for name in ["city", ":reserved", "blank", "service.name"] {
            assert!(
                !dimensions.contains(&Json::String(name.to_owned())),
                "{name} is no dimension"
            );
        }
        // Every attribute is still on the line.
        assert_eq!(document["city"], "Zürich");
        assert_eq!(document["a34"], "v");
        assert_eq!(document["visits"], 1);
    }

    #[test]
    fn a_cold_start_writes_the_powertools_cold_start_metric() {
        let lines = Lines::default();
        let telemetry = telemetry(&lines, &[]);
        let coldstarts = telemetry
            .meter("otel-faas")
            .u64_counter("faas.coldstarts")
            .build();
        coldstarts.add(1, &[KeyValue::new("faas.trigger", "http")]);
        telemetry.meter_provider().force_flush().unwrap();
        let documents = lines.documents();
        let cold = documents
            .iter()
            .find(|d| d.get("ColdStart").is_some())
            .expect("a ColdStart line");
        assert_eq!(cold["ColdStart"], 1);
        assert_eq!(cold["function_name"], "orders-fn");
        assert_eq!(cold["service"], "orders");
        assert_eq!(
            directive(cold)["Dimensions"],
            serde_json::json!([["function_name", "service"]])
        );
        assert_eq!(
            directive(cold)["Metrics"],
            serde_json::json!([{"Name": "ColdStart", "Unit": "Count"}])
        );
        // A warm flush writes none.
        lines.0.lock().unwrap().clear();
        coldstarts.add(0, &[KeyValue::new("faas.trigger", "http")]);
        telemetry.meter_provider().force_flush().unwrap();
        assert!(
            lines
                .documents()
                .iter()
                .all(|d| d.get("ColdStart").is_none())
        );
    }

    #[test]
    fn histogram_values_keep_count_sum_min_and_max() {
        for (count, sum, min, max) in [
            (1, 7.0, Some(7.0), Some(7.0)),
            (2, 10.0, Some(3.0), Some(7.0)),
            (5, 20.0, Some(1.0), Some(9.0)),
            (3, 6.0, None, None),
        ] {
            let values = histogram_values(count, sum, min, max);
            assert_eq!(values.len(), count);
            assert!((values.iter().sum::<f64>() - sum).abs() < 1e-9);
            if let (Some(min), Some(max)) = (min, max) {
                assert_eq!(values.iter().copied().fold(f64::INFINITY, f64::min), min);
                assert_eq!(
                    values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    max
                );
            }
        }
    }

    #[test]
    fn units_map_to_cloudwatch_units() {
        for (ucum, unit) in [
            ("s", "Seconds"),
            ("ms", "Milliseconds"),
            ("By", "Bytes"),
            ("{invocation}", "Count"),
            ("{request}/s", "Count/Second"),
            ("1", "None"),
            ("", "None"),
            ("furlong", "None"),
        ] {
            assert_eq!(cloudwatch_unit(ucum), unit, "{ucum}");
        }
    }

    #[test]
    fn an_invalid_namespace_falls_back_to_the_service_name() {
        let lines = Lines::default();
        let telemetry = telemetry(&lines, &[("OTEL_FAAS_EMF_NAMESPACE", "no spaces allowed")]);
        telemetry.meter("m").u64_counter("c").build().add(1, &[]);
        telemetry.meter_provider().force_flush().unwrap();
        assert_eq!(directive(&lines.documents()[0])["Namespace"], "orders");
    }
}
