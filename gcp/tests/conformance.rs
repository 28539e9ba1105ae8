//! Every event of the shared fixtures decoded as the server decodes it, compared with what
//! the fixtures say the function must see: the Functions Framework conformance vectors
//! (legacy and CloudEvent inputs, in structured and binary mode), the extra conformance
//! cases (Firebase, Firestore), the Node framework's own test vectors (binary and
//! structured with `traceparent`, raw Pub/Sub pushes), the CloudEvents spec's JSON-format
//! examples in both modes, and the Pub/Sub push bodies from the docs.

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use cloudevents::{AttributesReader as _, Data, Event};
use otel_faas_core::server::Envelope;
use otel_faas_gcp::CloudEventRequest;
use otel_faas_gcp::events::{EventError, EventFormat};
use serde_json::{Map, Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode(
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<CloudEventRequest, EventError> {
    let mut request = http::Request::post(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    CloudEventRequest::decode(&parts, Bytes::copy_from_slice(body))
}

/// The event as JSON (structured form), with `data` as JSON whatever form the SDK holds.
fn as_json(event: &Event) -> Map<String, Value> {
    let mut json = match serde_json::to_value(event).unwrap() {
        Value::Object(json) => json,
        other => panic!("not an object: {other}"),
    };
    if let Some(data) = event.data() {
        json.remove("data_base64");
        let value = match data {
            Data::Json(value) => value.clone(),
            Data::String(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
            Data::Binary(bytes) => serde_json::from_slice(bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())),
        };
        json.insert("data".into(), value);
    }
    json
}

/// Compares what the function sees with the expected output, field by field as the
/// conformance validator does (id, source, type, subject, datacontenttype, data; time as an
/// instant). `subscription` in a Pub/Sub event's data is allowed beyond the expected
/// output: it is kept on purpose (see the crate docs).
fn assert_same_event(case: &str, got: &Map<String, Value>, want: &Value) {
    for field in [
        "id",
        "source",
        "type",
        "subject",
        "datacontenttype",
        "specversion",
    ] {
        assert_eq!(
            got.get(field),
            want.get(field),
            "{case}: {field}\n got {got:?}"
        );
    }
    let instant = |v: Option<&Value>| {
        v.and_then(Value::as_str).map(|t| {
            chrono::DateTime::parse_from_rfc3339(t).unwrap_or_else(|e| panic!("{case}: {t}: {e}"))
        })
    };
    assert_eq!(
        instant(got.get("time")),
        instant(want.get("time")),
        "{case}: time"
    );
    let mut data = got.get("data").cloned().unwrap_or(Value::Null);
    if want["data"].get("subscription").is_none()
        && let Some(object) = data.as_object_mut()
    {
        object.remove("subscription");
    }
    assert_eq!(data, want["data"], "{case}: data");
}

/// The conformance cases: `<name>-legacy-input.json`, `<name>-cloudevent-input.json` and
/// `<name>-cloudevent-output.json` in `dir`.
fn cases(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix("-cloudevent-output.json")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_conformance_vector_reaches_the_function_as_the_expected_cloudevent() {
    let mut checked = 0;
    for dir in [
        fixtures().join("gcp-functions-conformance"),
        fixtures().join("gcp-events/conformance-extra"),
    ] {
        for name in cases(&dir) {
            let want = read_json(&dir.join(format!("{name}-cloudevent-output.json")));
            let legacy = dir.join(format!("{name}-legacy-input.json"));
            if legacy.exists() {
                let body = std::fs::read(&legacy).unwrap();
                let request = decode("/", &[("content-type", "application/json")], &body)
                    .unwrap_or_else(|e| panic!("{name} legacy: {e}"));
                assert_eq!(request.format(), EventFormat::Background, "{name}");
                assert_same_event(&format!("{name} legacy"), &as_json(request.event()), &want);
                checked += 1;
            }
            let ce = dir.join(format!("{name}-cloudevent-input.json"));
            if ce.exists() {
                let input = read_json(&ce);
                // Structured mode.
                let request = decode(
                    "/",
                    &[("content-type", "application/cloudevents+json")],
                    &serde_json::to_vec(&input).unwrap(),
                )
                .unwrap_or_else(|e| panic!("{name} structured: {e}"));
                assert_eq!(request.format(), EventFormat::Structured);
                assert_same_event(
                    &format!("{name} structured"),
                    &as_json(request.event()),
                    &want,
                );
                // Binary mode: the attributes as ce- headers, data as the body.
                let mut headers: Vec<(String, String)> = Vec::new();
                for (key, value) in input.as_object().unwrap() {
                    match key.as_str() {
                        "data" => {}
                        "datacontenttype" => {
                            headers.push(("content-type".into(), value.as_str().unwrap().into()))
                        }
                        _ => headers.push((format!("ce-{key}"), value.as_str().unwrap().into())),
                    }
                }
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let request = decode("/", &headers, &serde_json::to_vec(&input["data"]).unwrap())
                    .unwrap_or_else(|e| panic!("{name} binary: {e}"));
                assert_eq!(request.format(), EventFormat::Binary);
                assert_same_event(&format!("{name} binary"), &as_json(request.event()), &want);
                checked += 2;
            }
        }
    }
    assert!(checked >= 40, "only {checked} inputs checked");
}

#[test]
fn the_node_frameworks_vectors_decode_as_it_expects() {
    let dir = fixtures().join("gcp-events/functions-framework-nodejs");
    for file in [
        "cloudevent-binary.json",
        "cloudevent-structured.json",
        "cloudevent-binary-traceparent.json",
        "cloudevent-structured-traceparent.json",
    ] {
        let case = read_json(&dir.join(file));
        let headers: Vec<(&str, &str)> = case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        let request = decode("/", &headers, &serde_json::to_vec(&case["body"]).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = as_json(request.event());
        assert_same_event(file, &got, &case["expectedCloudEvent"]);
        assert_eq!(
            got.get("traceparent"),
            case["expectedCloudEvent"].get("traceparent"),
            "{file}: the transport's traceparent becomes the event's"
        );
        if case["expectedCloudEvent"].get("traceparent").is_some() {
            assert_eq!(
                request.event_traceparent(),
                None,
                "{file}: the event had none of its own"
            );
        }
    }
}

#[test]
fn raw_pubsub_pushes_become_message_published_events() {
    let dir = fixtures().join("gcp-events/functions-framework-nodejs");
    let emulator = read_json(&dir.join("pubsub-emulator-raw-push.json"));
    let before = chrono::Utc::now();
    let request = decode(
        "/",
        &[("content-type", "application/json")],
        &serde_json::to_vec(&emulator["body"]).unwrap(),
    )
    .unwrap();
    assert_eq!(request.format(), EventFormat::PubSubPush);
    let got = as_json(request.event());
    // The emulator sends no publish time: the arrival time stands in ("TIME" in the vector).
    let time = got["time"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(time).unwrap();
    assert!(parsed >= before - chrono::Duration::seconds(1), "{time}");
    let mut want = emulator["expectedCloudEvent"].clone();
    want["time"] = json!(time);
    want["data"]["message"]["publishTime"] = json!(time);
    assert_same_event("emulator push", &got, &want);
    assert_eq!(
        got["data"]["subscription"],
        "projects/FOO/subscriptions/BAR_SUB"
    );

    // A push endpoint that names the topic in its path.
    let legacy = read_json(&dir.join("pubsub-raw-push-legacy-middleware.json"));
    let request = decode(
        "/projects/FOO/topics/BAR_TOPIC?pubsub_trigger=true",
        &[("content-type", "application/json")],
        &serde_json::to_vec(&legacy["body"]).unwrap(),
    )
    .unwrap();
    let got = as_json(request.event());
    assert_eq!(
        got["source"],
        "//pubsub.googleapis.com/projects/FOO/topics/BAR_TOPIC"
    );
    assert_eq!(got["id"], legacy["expectedBody"]["context"]["eventId"]);
    assert_eq!(
        got["data"]["message"]["data"],
        legacy["expectedBody"]["data"]["data"]
    );
    assert_eq!(
        got["data"]["message"]["attributes"],
        legacy["expectedBody"]["data"]["attributes"]
    );

    // The push bodies of the docs: message_id (snake case) and messageId.
    for file in [
        "wrapped.cloud-google-docs-push-legacy.json",
        "wrapped.ff-nodejs-docs-mockPubsub.json",
        "wrapped.google-cloudevents-duplicatedFields.json",
    ] {
        let body = std::fs::read(fixtures().join("gcp-events/pubsub-push").join(file)).unwrap();
        let request = decode("/", &[("content-type", "application/json")], &body)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = as_json(request.event());
        let body: Value = serde_json::from_slice(&body).unwrap();
        let id = body["message"]
            .get("messageId")
            .or_else(|| body["message"].get("message_id"))
            .unwrap();
        assert_eq!(&got["id"], id, "{file}");
        assert_eq!(got["type"], "google.cloud.pubsub.topic.v1.messagePublished");
        assert_eq!(got["data"]["message"]["messageId"], *id, "{file}");
        assert_eq!(got["data"]["subscription"], body["subscription"], "{file}");
    }
}

/// `headers\n\nbody` as the spec's examples write them.
fn split_example(text: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let headers = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    (headers, body.trim_end_matches('\n').as_bytes().to_vec())
}

#[test]
fn the_cloudevents_spec_examples_decode_alike_in_both_modes() {
    let dir = fixtures().join("gcp-events/cloudevents-http");
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".structured.json")
                .map(str::to_owned)
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "{cases:?}");
    for case in cases {
        let structured = std::fs::read(dir.join(format!("{case}.structured.json"))).unwrap();
        let binary =
            std::fs::read_to_string(dir.join(format!("{case}.binary-headers-and-body.txt")))
                .unwrap();
        let (headers, body) = split_example(&binary);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let from_binary =
            decode("/", &headers, &body).unwrap_or_else(|e| panic!("{case} binary: {e}"));
        let from_structured = decode(
            "/",
            &[("content-type", "application/cloudevents+json")],
            &structured,
        );
        let from_structured = match from_structured {
            Ok(request) => request,
            // Example A's data_base64 is a placeholder ("... base64 encoded string ..."), not
            // base64: refused with the reason, as a malformed event must be.
            Err(EventError::Malformed(reason)) if case.contains(".A") => {
                assert!(!reason.is_empty());
                continue;
            }
            Err(e) => panic!("{case} structured: {e}"),
        };
        let (b, s) = (from_binary.event(), from_structured.event());
        assert_eq!(b.id(), s.id(), "{case}");
        assert_eq!(b.ty(), s.ty(), "{case}");
        assert_eq!(b.source(), s.source(), "{case}");
        assert_eq!(b.time(), s.time(), "{case}");
        for (name, value) in s.iter_extensions() {
            assert_eq!(
                b.extension(name).map(ToString::to_string),
                Some(value.to_string()),
                "{case}: extension {name}"
            );
        }
        assert_eq!(
            as_json(b).get("data"),
            as_json(s).get("data"),
            "{case}: data"
        );
    }
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let missing_id = decode(
        "/",
        &[
            ("ce-specversion", "1.0"),
            ("ce-type", "t"),
            ("ce-source", "/s"),
        ],
        b"{}",
    )
    .unwrap_err();
    assert!(
        matches!(missing_id, EventError::Malformed(_)),
        "{missing_id}"
    );
    let bad_version = decode(
        "/",
        &[
            ("ce-specversion", "9.9"),
            ("ce-id", "1"),
            ("ce-type", "t"),
            ("ce-source", "/s"),
        ],
        b"",
    )
    .unwrap_err();
    assert!(
        matches!(bad_version, EventError::Malformed(_)),
        "{bad_version}"
    );
    assert!(matches!(
        decode("/", &[], b"not json").unwrap_err(),
        EventError::NotJson(_)
    ));
    assert!(matches!(
        decode("/", &[], br#"{"hello": "world"}"#).unwrap_err(),
        EventError::Unrecognised
    ));
    assert!(matches!(
        decode("/", &[], b"[1, 2]").unwrap_err(),
        EventError::Unrecognised
    ));
    assert!(matches!(
        decode(
            "/",
            &[("content-type", "application/cloudevents-batch+json")],
            b"[]"
        )
        .unwrap_err(),
        EventError::Batch
    ));
    let unknown_type = decode(
        "/",
        &[],
        br#"{"eventType": "providers/x/eventTypes/y", "resource": "r", "data": {}}"#,
    )
    .unwrap_err();
    assert!(
        matches!(unknown_type, EventError::Legacy(_)),
        "{unknown_type}"
    );
    let structured_without_source = decode(
        "/",
        &[("content-type", "application/cloudevents+json")],
        br#"{"specversion": "1.0", "id": "1", "type": "t"}"#,
    )
    .unwrap_err();
    assert!(matches!(
        structured_without_source,
        EventError::Malformed(_)
    ));
}
