//! `OTEL_TRACES_SAMPLER=xray`: X-Ray's centralized sampling rules, polled from a stand-in
//! for the X-Ray daemon's proxy that serves the official sample documents
//! (`fixtures/xray/sampling`, the OpenTelemetry Python sampler's test data). The rules
//! decide, X-Ray's targets change them, the counts reported are what the X-Ray API takes
//! (botocore's service model), a rule change is picked up, and an unreachable proxy leaves
//! the local rules deciding with one warning — in the ECS example, run as ECS runs it.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry_sdk::trace::ShouldSample;
use otel_faas_aws::xray::sampling::{XRAY_SAMPLER, XrayRemoteSampler, XraySamplingOptions};
use otel_faas_core::env::MapEnvironment;
use otel_faas_core::{Pipeline, Telemetry};
use otel_faas_integration_tests::{
    ExampleService, FakeXraySampling, OtlpReceiver, SamplingRequest, build_binary, moto_venv,
    workspace_root, xray_sampling_fixture,
};
use serde_json::Value;

/// A pipeline whose root sampler is the X-Ray remote sampler polling `endpoint` quickly
/// (targets every 200 ms until X-Ray says otherwise), with `local_rules` as the fallback.
/// Also returns a clone of the sampler, to watch it.
fn telemetry(endpoint: &str, local_rules: &str) -> (Telemetry, XrayRemoteSampler) {
    let options = XraySamplingOptions::new(endpoint)
        .rules_interval(Duration::from_secs(60))
        .targets_interval(Duration::from_millis(200));
    let handle: std::sync::Arc<std::sync::Mutex<Option<XrayRemoteSampler>>> = Default::default();
    let slot = std::sync::Arc::clone(&handle);
    let telemetry = Pipeline::with_environment(MapEnvironment::from([
        ("OTEL_SERVICE_NAME", "orders"),
        ("OTEL_TRACES_SAMPLER", XRAY_SAMPLER),
        ("OTEL_FAAS_SAMPLING_RULES", local_rules),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ]))
    .with_root_sampler(
        XRAY_SAMPLER,
        Box::new(move |input| {
            let fallback = input
                .local_rules
                .map(|rules| Box::new(rules) as Box<dyn ShouldSample>);
            let sampler = XrayRemoteSampler::start(options, input.resource, fallback);
            *slot.lock().unwrap() = Some(sampler.clone());
            Box::new(sampler)
        }),
    )
    .install();
    assert!(
        telemetry.warnings().is_empty(),
        "{:?}",
        telemetry.warnings()
    );
    let sampler = handle.lock().unwrap().take().expect("the factory ran");
    (telemetry, sampler)
}

/// Whether a new root span named `name` with `attributes` is sampled.
fn sampled(telemetry: &Telemetry, name: &'static str, attributes: Vec<KeyValue>) -> bool {
    let tracer = telemetry.tracer("test");
    let span = tracer
        .span_builder(name)
        .with_attributes(attributes)
        .start(&tracer);
    let sampled = span.span_context().is_sampled();
    drop(span);
    sampled
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn abc() -> Vec<KeyValue> {
    vec![KeyValue::new("abc", "1234")]
}

/// Keeps nothing: what decides when no remote rule does.
const KEEP_NOTHING: &str = r#"{"version": 2, "default": {"fixed_target": 0, "rate": 0.0}}"#;

/// The requests, each validated against botocore's model of the X-Ray API; panics with
/// botocore's report when one is not what the API takes.
fn validate_with_botocore(requests: &[SamplingRequest]) {
    let python = moto_venv().join("bin/python");
    assert!(
        python.is_file(),
        "botocore (with moto) is not installed at {}: run `cargo xtask test`, which installs it",
        python.display()
    );
    let lines: String = requests
        .iter()
        .map(|request| {
            serde_json::json!({"operation": request.operation, "body": request.body}).to_string()
                + "\n"
        })
        .collect();
    let mut child = Command::new(python)
        .arg(workspace_root().join("integration-tests/oracle/validate_xray_sampling_request.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the validator");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "botocore refuses: {report}");
}

/// The statistics documents of every `GetSamplingTargets` so far, for `rule`: (requests,
/// sampled, borrowed) summed.
fn reported(requests: &[SamplingRequest], rule: &str) -> (u64, u64, u64) {
    let mut sum = (0, 0, 0);
    for request in requests
        .iter()
        .filter(|r| r.operation == "GetSamplingTargets")
    {
        for document in request.body["SamplingStatisticsDocuments"]
            .as_array()
            .expect("a list of statistics")
        {
            if document["RuleName"] == rule {
                let count = |key: &str| document[key].as_u64().expect(key);
                sum.0 += count("RequestCount");
                sum.1 += count("SampledCount");
                sum.2 += count("BorrowCount");
            }
        }
    }
    sum
}

#[test]
fn the_rules_decide_the_targets_change_them_and_the_counts_reach_x_ray() {
    let proxy = FakeXraySampling::start(
        xray_sampling_fixture("test-remote-sampler_sampling-rules-response-sample.json"),
        // No targets yet: X-Ray has not assigned this instance anything.
        serde_json::json!({"SamplingTargetDocuments": [], "UnprocessedStatistics": []}),
    )
    .expect("the stand-in proxy");
    let (telemetry, sampler) = telemetry(&proxy.endpoint(), KEEP_NOTHING);
    wait_until("the rules arrive", Duration::from_secs(10), || {
        sampler.remote_rules() == 2
    });

    // `Default` (rate 1.0) keeps every span; `test` (priority 20, rate 0, no reservoir)
    // drops those with abc=1234 — the local rules (keep nothing) decide neither.
    assert!(sampled(&telemetry, "GET /orders", vec![]));
    assert!(!sampled(&telemetry, "GET /orders", abc()));
    assert!(!sampled(&telemetry, "GET /orders", abc()));

    // The next report counts exactly these three decisions, each where it was made.
    wait_until("the counts are reported", Duration::from_secs(10), || {
        let requests = proxy.requests();
        reported(&requests, "test") == (2, 0, 0) && reported(&requests, "Default") == (1, 1, 0)
    });

    // X-Ray assigns `test` a quota of 100,000 a second (TTL far ahead): now kept.
    proxy.set_targets(xray_sampling_fixture(
        "test-remote-sampler_sampling-targets-response-sample.json",
    ));
    wait_until("the targets apply", Duration::from_secs(10), || {
        sampled(&telemetry, "GET /orders", abc())
    });

    let requests = proxy.requests();
    let client_ids: std::collections::HashSet<&str> = requests
        .iter()
        .filter(|r| r.operation == "GetSamplingTargets")
        .flat_map(|r| r.body["SamplingStatisticsDocuments"].as_array().unwrap())
        .map(|d| d["ClientID"].as_str().unwrap())
        .collect();
    assert_eq!(
        client_ids.len(),
        1,
        "one client id per instance: {client_ids:?}"
    );
    let client_id = client_ids.into_iter().next().unwrap();
    assert!(
        client_id.len() == 24 && client_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{client_id}"
    );
    // And each body is what the X-Ray API takes.
    validate_with_botocore(&requests);
}

#[test]
fn a_rule_change_x_ray_announces_is_fetched_and_applied() {
    let proxy = FakeXraySampling::start(
        xray_sampling_fixture("test-remote-sampler_sampling-rules-response-sample.json"),
        serde_json::json!({"SamplingTargetDocuments": [], "UnprocessedStatistics": []}),
    )
    .expect("the stand-in proxy");
    let (telemetry, sampler) = telemetry(&proxy.endpoint(), KEEP_NOTHING);
    wait_until("the rules arrive", Duration::from_secs(10), || {
        sampler.remote_rules() == 2
    });
    assert!(
        sampled(&telemetry, "GET /orders", vec![]),
        "`Default` keeps all"
    );
    let fetches = || {
        proxy
            .requests()
            .iter()
            .filter(|r| r.operation == "GetSamplingRules")
            .count()
    };
    assert_eq!(fetches(), 1, "rules are polled every 60 s here");

    // The second official set: `Default` now needs foo=bar and abc=1234, so a span
    // without them matches no rule and the local rules (keep nothing) decide. X-Ray
    // announces it in the targets' `LastRuleModification` — the sample's is from 2024,
    // before this run's fetch, so it is set to now.
    proxy.set_rules(xray_sampling_fixture(
        "get-sampling-rules-response-sample-2.json",
    ));
    let mut targets = xray_sampling_fixture("get-sampling-targets-response-sample.json");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    targets["LastRuleModification"] = Value::from(now + 1.0);
    proxy.set_targets(targets);
    wait_until("the new rules are fetched", Duration::from_secs(10), || {
        fetches() >= 2
    });
    wait_until("the new rules decide", Duration::from_secs(10), || {
        !sampled(&telemetry, "GET /orders", vec![])
    });
    // Spans with both attributes match the new `Default` … or the new `test` rule first
    // (priority 20, abc=1234), whose target keeps 30 a second.
    let both = vec![KeyValue::new("foo", "bar"), KeyValue::new("abc", "1234")];
    assert!(sampled(&telemetry, "GET /orders", both));
}

/// The ECS example with `OTEL_TRACES_SAMPLER=xray` and no daemon listening: the local
/// rules decide every trace, and the service says so once, however many polls fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_daemon_leaves_the_local_rules_deciding_with_one_warning() {
    let receiver = OtlpReceiver::start().expect("the OTLP receiver");
    let binary = build_binary("example-ecs-service", "ecs-service").expect("the example");
    let nothing_listens = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Both streams: the first poll may fail before the service installs its subscriber,
    // and a warning then goes to standard error.
    let log = std::env::temp_dir().join(format!("otel-faas-xray-sampling-{nothing_listens}.log"));
    let log_file = std::fs::File::create(&log).unwrap();
    let argument = format!("endpoint=http://127.0.0.1:{nothing_listens},polling_interval=1");
    let service = ExampleService::start(
        binary,
        &[
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("OTEL_TRACES_SAMPLER", "xray"),
            ("OTEL_TRACES_SAMPLER_ARG", &argument),
            (
                "OTEL_FAAS_SAMPLING_RULES",
                r#"{"version": 2, "rules": [{"url_path": "/orders/1*", "fixed_target": 0, "rate": 0.0}],
                    "default": {"fixed_target": 0, "rate": 1.0}}"#,
            ),
        ],
        &receiver,
        Stdio::from(log_file.try_clone().unwrap()),
        Stdio::from(log_file),
    );
    service.wait_ready().await;
    // Three polls fail (one a second).
    tokio::time::sleep(Duration::from_millis(3500)).await;
    for path in ["/orders/7", "/orders/13", "/orders/42"] {
        assert_eq!(service.get(path).await, 200, "{path}");
    }
    receiver
        .wait_for_spans(2, Duration::from_secs(10))
        .await
        .expect("the sampled requests' spans");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paths: std::collections::BTreeSet<String> = receiver
        .spans()
        .iter()
        .filter(|s| s.name == "GET /orders/{id}")
        .filter_map(|s| match s.attributes.get("url.path") {
            Some(otel_faas_integration_tests::AttrValue::Str(path)) => Some(path.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        paths,
        ["/orders/42", "/orders/7"].map(String::from).into(),
        "the local rules never trace /orders/1*"
    );
    let output = std::fs::read_to_string(&log).unwrap();
    let warnings = output
        .lines()
        .filter(|line| line.contains("X-Ray sampling rules could not be fetched"))
        .count();
    assert_eq!(
        warnings, 1,
        "one warning for all the failed polls:\n{output}"
    );
    assert!(
        output.contains(&format!("127.0.0.1:{nothing_listens}")),
        "the warning names the endpoint:\n{output}"
    );
}
