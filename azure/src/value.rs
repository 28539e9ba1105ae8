//! The host's JSON, as the handler means it.
//!
//! The host serialises each binding value with Newtonsoft: an object becomes a JSON object,
//! but anything `JObject.FromObject` refuses — a string, a number, an array — is written with
//! `JsonConvert.SerializeObject` and then stored as a *string*. So a queue message `hello`
//! arrives as `"\"hello\""`, a dequeue count `1` as `"1"`, and a batch or an input document
//! list as the JSON text of an array. Byte arrays arrive base64. These helpers undo exactly
//! one such layer, and leave anything else as it came.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::Value;

/// A string value with one layer of JSON string encoding removed: `"\"hello\""` →
/// `hello`; `"{\"a\":1}"` (JSON text, but not of a string) stays as it is; a number or a
/// boolean is written out; `null`, an object or an array is `None`.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(raw) => Some(match serde_json::from_str::<Value>(raw) {
            Ok(Value::String(inner)) => inner,
            _ => raw.clone(),
        }),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Object(_) | Value::Array(_) => None,
    }
}

/// An integer sent as a number, as a string (`"1"`), or as a JSON-encoded string.
pub(crate) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        _ => text(value).and_then(|text| text.trim().parse().ok()),
    }
}

/// A value with its string layer removed when the string holds JSON: `"[1,2]"` → `[1, 2]`,
/// `"\"a\""` → `"a"`; any other value as it is.
pub(crate) fn json(value: &Value) -> Value {
    match value {
        Value::String(raw) => serde_json::from_str(raw).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

/// The elements of a batch (`cardinality: many`): an array, or the JSON text of one.
/// Anything else is one element.
pub(crate) fn elements(value: &Value) -> Vec<Value> {
    match json(value) {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        _ => vec![value.clone()],
    }
}

/// An object of properties as strings (Service Bus application properties, Event Hubs
/// properties): string values with their string layer removed, numbers and booleans
/// written out; nested values as JSON text. An object sent as the JSON text of an object is
/// read too.
pub(crate) fn string_map(value: &Value) -> HashMap<String, String> {
    match json(value) {
        Value::Object(map) => map
            .iter()
            .filter_map(|(key, value)| {
                let text = match value {
                    Value::Object(_) | Value::Array(_) => Some(value.to_string()),
                    other => text(other),
                };
                text.map(|text| (key.clone(), text))
            })
            .collect(),
        _ => HashMap::new(),
    }
}

/// The bytes of a value: a base64 string decoded (the host's encoding of byte arrays),
/// else the text itself, else the JSON text of the value.
pub(crate) fn bytes(value: &Value) -> Vec<u8> {
    if let Value::String(raw) = value
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(raw.trim())
    {
        return decoded;
    }
    body(value)
}

/// A message body: its text (string layer undone), the JSON text of an object or array,
/// nothing for `null`.
pub(crate) fn body(value: &Value) -> Vec<u8> {
    match text(value) {
        Some(text) => text.into_bytes(),
        None if value.is_null() => Vec::new(),
        None => value.to_string().into_bytes(),
    }
}

/// A member of an object, looked up as the host's .NET dictionaries do: exactly, then
/// ignoring ASCII case.
pub(crate) fn member<'a>(
    object: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn one_layer_of_string_encoding_is_removed_and_no_more() {
        assert_eq!(text(&json!("\"aaaaa\"")).as_deref(), Some("aaaaa"));
        // A message whose text is itself quoted keeps its quotes.
        assert_eq!(text(&json!("\"\\\"q\\\"\"")).as_deref(), Some("\"q\""));
        assert_eq!(
            text(&json!("{\"message\":\"hello\"}")).as_deref(),
            Some("{\"message\":\"hello\"}")
        );
        assert_eq!(text(&json!("plain")).as_deref(), Some("plain"));
        assert_eq!(text(&json!(7)).as_deref(), Some("7"));
        assert_eq!(text(&json!(null)), None);
    }

    #[test]
    fn integers_arrive_as_numbers_or_strings() {
        assert_eq!(integer(&json!("1")), Some(1));
        assert_eq!(integer(&json!("\"12\"")), Some(12));
        assert_eq!(integer(&json!(3)), Some(3));
        assert_eq!(integer(&json!("many")), None);
        assert_eq!(integer(&json!(1.5)), None);
    }

    #[test]
    fn batches_arrive_as_arrays_or_as_the_text_of_one() {
        assert_eq!(elements(&json!("[\"a\",\"b\"]")).len(), 2);
        assert_eq!(elements(&json!(["a"])).len(), 1);
        assert_eq!(elements(&json!("single")), vec![json!("single")]);
        assert!(elements(&json!(null)).is_empty());
    }

    #[test]
    fn bytes_are_base64_or_text() {
        assert_eq!(
            bytes(&json!("aGVsbG8gZnJvbSBieXRlCg==")),
            b"hello from byte\n"
        );
        assert_eq!(bytes(&json!("not base64!")), b"not base64!");
        assert_eq!(bytes(&json!({"a": 1})), b"{\"a\":1}");
    }

    #[test]
    fn properties_are_strings() {
        let map =
            string_map(&json!({"traceparent": "00-x", "n": 2, "nested": {"a": 1}, "gone": null}));
        assert_eq!(map["traceparent"], "00-x");
        assert_eq!(map["n"], "2");
        assert_eq!(map["nested"], "{\"a\":1}");
        assert!(!map.contains_key("gone"));
        assert_eq!(string_map(&json!("{\"k\":\"v\"}"))["k"], "v");
    }

    #[test]
    fn members_are_found_ignoring_case() {
        let object = json!({"DequeueCount": "2"});
        let object = object.as_object().unwrap();
        assert!(member(object, "dequeuecount").is_some());
        assert!(member(object, "Id").is_none());
    }
}
