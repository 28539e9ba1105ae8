//! `function.json`: what each function's bindings are.
//!
//! The host tells the handler which function to run (the path) but not what triggered it;
//! that is written in `<app root>/<function>/function.json`, read once at start-up. The app
//! root is `FUNCTIONS_APP_ROOT_PATH` when the host sets it, else the working directory (the
//! host starts the handler there).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::value;

/// A binding's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// A trigger or an input binding.
    In,
    /// An output binding (`$return` included).
    Out,
    /// Both (rare; some extensions use it).
    InOut,
}

/// One entry of `bindings` in `function.json`.
///
/// ```
/// use otel_faas_azure::function_json::{Binding, Direction};
///
/// let binding = Binding::from_json(&serde_json::json!({
///     "type": "queueTrigger", "name": "order", "direction": "in", "queueName": "orders"
/// })).unwrap();
/// assert_eq!(binding.binding_type(), "queueTrigger");
/// assert_eq!(binding.direction(), Direction::In);
/// assert_eq!(binding.setting("queueName"), Some("orders"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    binding_type: String,
    name: String,
    direction: Direction,
    settings: Map<String, Value>,
}

impl Binding {
    /// Reads one binding; `None` when `type` or `name` is missing.
    pub fn from_json(value: &Value) -> Option<Self> {
        let settings = value.as_object()?.clone();
        let binding_type = value::member(&settings, "type")?.as_str()?.to_owned();
        let name = value::member(&settings, "name")?.as_str()?.to_owned();
        let direction = match value::member(&settings, "direction").and_then(Value::as_str) {
            Some(direction) if direction.eq_ignore_ascii_case("out") => Direction::Out,
            Some(direction) if direction.eq_ignore_ascii_case("inout") => Direction::InOut,
            _ => Direction::In,
        };
        Some(Self {
            binding_type,
            name,
            direction,
            settings,
        })
    }

    /// `type`, as written (`queueTrigger`, `http`, …).
    pub fn binding_type(&self) -> &str {
        &self.binding_type
    }
    /// `name`: the key of this binding in `Data` (inputs) or `Outputs` (outputs).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `direction`.
    pub fn direction(&self) -> Direction {
        self.direction
    }
    /// A string setting (`queueName`, `schedule`, `route`, …), looked up ignoring case as
    /// the host does.
    pub fn setting(&self, key: &str) -> Option<&str> {
        value::member(&self.settings, key).and_then(Value::as_str)
    }
    /// A list setting (`methods`), its strings in order.
    pub fn setting_list(&self, key: &str) -> Option<Vec<&str>> {
        value::member(&self.settings, key)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
    }
    /// Whether `cardinality` is `many`: the trigger delivers a batch.
    pub fn is_batch(&self) -> bool {
        self.setting("cardinality")
            .is_some_and(|c| c.eq_ignore_ascii_case("many"))
    }
    /// Whether this is the function's trigger (`…Trigger`, direction in).
    pub fn is_trigger(&self) -> bool {
        self.direction != Direction::Out
            && self.binding_type.len() > "Trigger".len()
            && self.binding_type.to_ascii_lowercase().ends_with("trigger")
    }
}

/// The kind of trigger a function has, from its trigger binding's `type`.
///
/// ```
/// use otel_faas_azure::function_json::{FunctionJson, TriggerKind};
///
/// let cosmos = FunctionJson::parse("f", br#"{"bindings":[{"type":"cosmosDBTrigger","name":"docs","direction":"in"}]}"#).unwrap();
/// assert_eq!(cosmos.trigger_kind(), TriggerKind::Other("cosmosDBTrigger".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TriggerKind {
    /// `httpTrigger`.
    Http,
    /// `queueTrigger` (Storage queues).
    Queue,
    /// `timerTrigger`.
    Timer,
    /// `serviceBusTrigger`.
    ServiceBus,
    /// `eventHubTrigger`.
    EventHubs,
    /// `blobTrigger`.
    Blob,
    /// Any other trigger (Cosmos DB, Event Grid, …), or none known: traced as
    /// `faas.trigger=other`. Holds the binding type, empty when unknown.
    Other(String),
}

impl TriggerKind {
    fn of(binding_type: &str) -> Self {
        match binding_type.to_ascii_lowercase().as_str() {
            "httptrigger" => Self::Http,
            "queuetrigger" => Self::Queue,
            "timertrigger" => Self::Timer,
            "servicebustrigger" => Self::ServiceBus,
            "eventhubtrigger" => Self::EventHubs,
            "blobtrigger" => Self::Blob,
            _ => Self::Other(binding_type.to_owned()),
        }
    }
}

/// One function's `function.json`.
///
/// ```
/// use otel_faas_azure::function_json::{FunctionJson, TriggerKind};
///
/// // Some files start with a UTF-8 byte order mark; it is skipped.
/// let text = "\u{feff}{\"bindings\":[{\"type\":\"timerTrigger\",\"name\":\"timer\",\"direction\":\"in\",\"schedule\":\"0 */5 * * * *\"}]}";
/// let function = FunctionJson::parse("nightly", text.as_bytes()).unwrap();
/// assert_eq!(function.trigger_kind(), TriggerKind::Timer);
/// assert_eq!(function.trigger().unwrap().setting("schedule"), Some("0 */5 * * * *"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionJson {
    name: String,
    bindings: Vec<Binding>,
}

/// Why a `function.json` could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FunctionJsonError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not the JSON the host expects.
    #[error("{path} is not a valid function.json: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl FunctionJson {
    /// A function with no `function.json`: no bindings, traced as `faas.trigger=other`.
    pub fn unknown(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            bindings: Vec::new(),
        }
    }

    /// Parses the text of `function.json` for function `name`.
    pub fn parse(name: impl Into<String>, text: &[u8]) -> Result<Self, String> {
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        let json: Value = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let object = json
            .as_object()
            .ok_or_else(|| "the file is not a JSON object".to_owned())?;
        let bindings = value::member(object, "bindings")
            .and_then(Value::as_array)
            .ok_or_else(|| "it has no \"bindings\" array".to_owned())?;
        let bindings = bindings
            .iter()
            .enumerate()
            .map(|(index, binding)| {
                Binding::from_json(binding)
                    .ok_or_else(|| format!("binding {index} has no \"type\" or no \"name\""))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            name: name.into(),
            bindings,
        })
    }

    /// Reads `<root>/<name>/function.json`.
    pub fn read(root: &Path, name: &str) -> Result<Self, FunctionJsonError> {
        let path = root.join(name).join("function.json");
        let text = std::fs::read(&path).map_err(|source| FunctionJsonError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(name, &text).map_err(|reason| FunctionJsonError::Invalid { path, reason })
    }

    /// The same function with `%Name%` references in its settings replaced by app settings
    /// (environment variables), as the host resolves `"eventHubName": "%HubName%"`. A
    /// reference to a setting that is not set is left as written.
    ///
    /// ```
    /// use otel_faas_azure::function_json::FunctionJson;
    /// use otel_faas_core::env::MapEnvironment;
    ///
    /// let text = br#"{"bindings":[{"type":"eventHubTrigger","name":"e","eventHubName":"%Hub%"}]}"#;
    /// let function = FunctionJson::parse("f", text).unwrap()
    ///     .resolved(&MapEnvironment::from([("Hub", "telemetry")]));
    /// assert_eq!(function.trigger().unwrap().setting("eventHubName"), Some("telemetry"));
    /// ```
    #[must_use]
    pub fn resolved(mut self, env: &dyn otel_faas_core::Environment) -> Self {
        for binding in &mut self.bindings {
            for value in binding.settings.values_mut() {
                if let Value::String(text) = value
                    && let Some(resolved) = resolve_references(text, env)
                {
                    *text = resolved;
                }
            }
        }
        self
    }

    /// The function's name (its directory).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Every binding, in file order.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }
    /// The trigger binding.
    pub fn trigger(&self) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.is_trigger())
    }
    /// The kind of trigger.
    pub fn trigger_kind(&self) -> TriggerKind {
        self.trigger()
            .map_or(TriggerKind::Other(String::new()), |b| {
                TriggerKind::of(b.binding_type())
            })
    }
    /// The output bindings (`$return` included).
    pub fn outputs(&self) -> impl Iterator<Item = &Binding> {
        self.bindings
            .iter()
            .filter(|b| b.direction() != Direction::In)
    }
    /// The name of the HTTP output binding (`res`, or `$return`), for HTTP functions.
    pub fn http_output(&self) -> Option<&str> {
        self.outputs()
            .find(|b| b.binding_type().eq_ignore_ascii_case("http"))
            .map(Binding::name)
    }
}

/// `text` with each `%Name%` replaced by the setting `Name`; `None` when nothing changed.
fn resolve_references(text: &str, env: &dyn otel_faas_core::Environment) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else { break };
        let name = &after[..end];
        match env.get_non_empty(name) {
            Some(value) if !name.is_empty() => {
                out.push_str(&rest[..start]);
                out.push_str(&value);
                changed = true;
            }
            _ => out.push_str(&rest[..start + end + 2]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Vec<u8> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/azure-custom-handler");
        std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_samples_read_as_their_triggers() {
        let cases = [
            (
                "host-samples/Node/QueueTrigger/function.json",
                TriggerKind::Queue,
                false,
            ),
            (
                "host-samples/Node/ServiceBusQueueTrigger/function.json",
                TriggerKind::ServiceBus,
                false,
            ),
            (
                "host-samples/Node/ServiceBusTopicTrigger/function.json",
                TriggerKind::ServiceBus,
                false,
            ),
            (
                "host-samples/Node/EventHubTrigger/function.json",
                TriggerKind::EventHubs,
                true,
            ),
            (
                "host-samples/TestScripts-Node/EventHubTrigger/function.json",
                TriggerKind::EventHubs,
                false,
            ),
            (
                "host-samples/Node/BlobTrigger/function.json",
                TriggerKind::Blob,
                false,
            ),
            (
                "host-samples/Node/TimerTrigger/function.json",
                TriggerKind::Timer,
                false,
            ),
            ("docs/order/function.json", TriggerKind::Http, false),
            (
                "functions-custom-handlers/go/BlobTrigger/function.json",
                TriggerKind::Blob,
                false,
            ),
        ];
        for (path, kind, batch) in cases {
            let function =
                FunctionJson::parse("f", &fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(function.trigger_kind(), kind, "{path}");
            assert_eq!(function.trigger().unwrap().is_batch(), batch, "{path}");
        }
        let order = FunctionJson::parse("order", &fixture("docs/order/function.json")).unwrap();
        assert_eq!(order.http_output(), Some("res"));
        assert_eq!(order.outputs().count(), 2);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        assert!(
            FunctionJson::parse("f", b"[]")
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(
            FunctionJson::parse("f", b"{}")
                .unwrap_err()
                .contains("bindings")
        );
        assert!(
            FunctionJson::parse("f", b"{\"bindings\":[{\"type\":\"x\"}]}")
                .unwrap_err()
                .contains("binding 0")
        );
        assert!(FunctionJson::parse("f", b"{").is_err());
        let missing = FunctionJson::read(Path::new("/nonexistent"), "f").unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/f/function.json"),
            "{missing}"
        );
        assert_eq!(
            FunctionJson::unknown("f").trigger_kind(),
            TriggerKind::Other(String::new())
        );
    }
}
