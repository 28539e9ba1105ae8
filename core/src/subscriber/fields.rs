//! An event's fields as JSON, for the platforms' structured log lines.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};

/// Collects a `tracing` event's `message` and its other fields as JSON values (numbers and
/// booleans stay typed; anything else is its `Debug` text), in the order written.
///
/// ```
/// use otel_faas_core::subscriber::JsonFields;
/// use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
///
/// struct Check;
/// impl<S: tracing::Subscriber> Layer<S> for Check {
///     fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
///         let fields = JsonFields::of(event);
///         assert_eq!(fields.message, "low stock");
///         assert_eq!(fields.values["order"], 42);
///         assert_eq!(fields.values["sku"], "A-1");
///     }
/// }
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(Check), || {
///     tracing::warn!(order = 42, sku = "A-1", "low stock");
/// });
/// ```
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JsonFields {
    /// The `message` field, empty when the event has none.
    pub message: String,
    /// Every other field.
    pub values: Map<String, Value>,
}

impl JsonFields {
    /// The fields of `event`.
    pub fn of(event: &tracing::Event<'_>) -> Self {
        let mut fields = Self::default();
        event.record(&mut fields);
        fields
    }

    /// Appends the fields other than the message to `line` as ` key=value`, in the order
    /// written: text quoted as Rust writes a string (so a value with spaces or `=` reads
    /// back unambiguously), numbers and booleans bare — the text lines of Lambda and of the
    /// Azure host's `Logs`.
    ///
    /// ```
    /// use otel_faas_core::subscriber::JsonFields;
    /// use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
    ///
    /// struct Check;
    /// impl<S: tracing::Subscriber> Layer<S> for Check {
    ///     fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
    ///         let mut line = String::from("low stock");
    ///         JsonFields::of(event).write_key_values(&mut line);
    ///         assert_eq!(line, r#"low stock sku="A 1" order=42 urgent=true"#);
    ///     }
    /// }
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(Check), || {
    ///     tracing::warn!(sku = "A 1", order = 42, urgent = true, "low stock");
    /// });
    /// ```
    pub fn write_key_values(&self, line: &mut String) {
        for (key, value) in &self.values {
            let _ = match value {
                Value::String(text) => write!(line, " {key}={text:?}"),
                other => write!(line, " {key}={other}"),
            };
        }
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.values
                .insert(field.name().to_owned(), Value::String(value.to_owned()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.values.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.values.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.values.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.values.insert(field.name().to_owned(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.values
                .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
        }
    }
}
