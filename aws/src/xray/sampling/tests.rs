use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceId;
use otel_faas_core::env::MapEnvironment;

use super::rules::{Applier, Facts, RemoteRule, RulesPage, Target, appliers};
use super::*;

/// An official `GetSamplingRules` answer (see `integration-tests/fixtures/xray/sampling`).
fn official_rules(file: &str) -> Vec<RemoteRule> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../integration-tests/fixtures/xray/sampling")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let page: RulesPage = serde_json::from_str(&text).expect("an X-Ray rules document");
    page.sampling_rule_records
        .into_iter()
        .filter_map(|record| record.sampling_rule)
        .collect()
}

fn facts<'a>(service: &'a str, service_type: &'a str, attributes: &'a [KeyValue]) -> Facts<'a> {
    Facts {
        service_name: service,
        service_type,
        resource_arn: "arn:aws:ecs:us-west-2:123456789000:container/orders/1",
        attributes,
    }
}

fn first_match<'a>(appliers: &'a [Applier], facts: &Facts<'_>) -> Option<&'a str> {
    appliers
        .iter()
        .find(|applier| applier.matches(facts))
        .map(|applier| applier.rule.rule_name.as_str())
}

#[test]
fn the_official_rules_are_tried_by_priority_and_matched_as_xray_matches() {
    let appliers = appliers(
        official_rules("get-sampling-rules-response-sample.json"),
        &[],
    );
    let names: Vec<&str> = appliers.iter().map(|a| a.rule.rule_name.as_str()).collect();
    assert_eq!(
        names,
        ["Rule2", "Rule1", "Default"],
        "priority 1, 1000, 10000"
    );

    let get_foo_bar = [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.path", "/foo/bar"),
    ];
    assert_eq!(
        first_match(&appliers, &facts("FooBar", "", &get_foo_bar)),
        Some("Rule2")
    );
    // Another service, another method (the match is case-sensitive), another path.
    assert_eq!(
        first_match(&appliers, &facts("Orders", "", &get_foo_bar)),
        Some("Default")
    );
    let lowercase = [
        KeyValue::new("http.request.method", "get"),
        KeyValue::new("url.path", "/foo/bar"),
    ];
    assert_eq!(
        first_match(&appliers, &facts("FooBar", "", &lowercase)),
        Some("Default")
    );
    // Rule1: its service type and both of its attributes.
    let both = [KeyValue::new("foo", "bar"), KeyValue::new("doo", "baz")];
    assert_eq!(
        first_match(&appliers, &facts("Orders", "AWS::Foo::Bar", &both)),
        Some("Rule1")
    );
    let one = [KeyValue::new("foo", "bar")];
    assert_eq!(
        first_match(&appliers, &facts("Orders", "AWS::Foo::Bar", &one)),
        Some("Default"),
        "every attribute of the rule is needed"
    );
    assert_eq!(
        first_match(&appliers, &facts("Orders", "AWS::ECS::Container", &both)),
        Some("Default"),
        "another service type"
    );
}

#[test]
fn a_rule_with_a_reservoir_borrows_one_a_second_until_x_ray_assigns_a_quota() {
    // The `test` rule of the second official set: reservoir 1, rate 0.11.
    let rules = official_rules("get-sampling-rules-response-sample-2.json");
    let applier = Applier::new(rules.into_iter().find(|r| r.rule_name == "test").unwrap());
    // Trace ids whose ratio decision at 0.11 is "drop" (high low-63 bits).
    let dropped = TraceId::from(u128::MAX);
    assert!(applier.sample(dropped), "the borrowed one of this second");
    assert!(!applier.sample(dropped), "one a second only; then the rate");
    let statistics = applier.take_statistics("0123456789abcdef01234567", SystemTime::now());
    assert_eq!(
        (
            statistics.rule_name.as_str(),
            statistics.request_count,
            statistics.sampled_count,
            statistics.borrow_count
        ),
        ("test", 2, 1, 1)
    );
    // The counts were reset by the report.
    assert_eq!(
        applier
            .take_statistics("c", SystemTime::now())
            .request_count,
        0
    );

    // X-Ray assigns 3 a second for the next minutes and rate 0: three, then none, and none
    // counted as borrowed.
    let target = Target {
        rule_name: "test".to_owned(),
        fixed_rate: Some(0.0),
        reservoir_quota: Some(3),
        reservoir_quota_ttl: Some(super::epoch_seconds(SystemTime::now()) + 600.0),
        interval: Some(10),
    };
    let assigned = applier.with_target(&target);
    let kept = (0..10).filter(|_| assigned.sample(dropped)).count();
    // The loop may straddle a second: 3 or 6.
    assert!(kept == 3 || kept == 6, "{kept}");
    let statistics = assigned.take_statistics("c", SystemTime::now());
    assert_eq!(statistics.borrow_count, 0);
    assert_eq!(statistics.request_count, 10);

    // A quota whose TTL has passed is not used: the rate decides.
    let expired = applier.with_target(&Target {
        reservoir_quota_ttl: Some(1.0),
        ..target
    });
    assert!(!expired.sample(dropped));
}

#[test]
fn unchanged_rules_keep_their_counts_and_unusable_rules_are_left_out() {
    let first = appliers(
        official_rules("get-sampling-rules-response-sample.json"),
        &[],
    );
    first[0].sample(TraceId::from(1));
    let mut again = official_rules("get-sampling-rules-response-sample.json");
    // Rule1 changes; a rule of another version and a nameless one are not used.
    again[0].fixed_rate = 0.5;
    let mut other_version = again[1].clone();
    other_version.rule_name = "v2".to_owned();
    other_version.version = 2;
    let mut nameless = again[1].clone();
    nameless.rule_name = String::new();
    again.push(other_version);
    again.push(nameless);
    let second = appliers(again, &first);
    let names: Vec<&str> = second.iter().map(|a| a.rule.rule_name.as_str()).collect();
    assert_eq!(names, ["Rule2", "Rule1", "Default"]);
    assert_eq!(
        second[0]
            .take_statistics("c", SystemTime::now())
            .request_count,
        1,
        "Rule2 did not change: its count carries over"
    );
    assert_eq!(second[1].rule.fixed_rate, 0.5);
}

#[test]
fn the_sampler_argument_and_the_daemon_address_are_read_as_the_distributions_read_them() {
    let read = |pairs: &[(&str, &str)]| {
        let env = MapEnvironment::from_iter(pairs.iter().copied());
        let mut warnings = Vec::new();
        let options = XraySamplingOptions::from_env(&env, &mut warnings);
        (options, warnings)
    };
    let (options, warnings) = read(&[]);
    assert_eq!(options.endpoint(), "http://127.0.0.1:2000");
    assert_eq!(options.rules_interval, Duration::from_secs(300));
    assert!(warnings.is_empty());

    let (options, warnings) = read(&[(
        "OTEL_TRACES_SAMPLER_ARG",
        "endpoint=http://xray-daemon:2000/, polling_interval=60",
    )]);
    assert_eq!(options.endpoint(), "http://xray-daemon:2000");
    assert_eq!(options.rules_interval, Duration::from_secs(60));
    assert!(warnings.is_empty(), "{warnings:?}");

    // The daemon's address: one for both, or `tcp:` and `udp:` apart.
    let (options, _) = read(&[("AWS_XRAY_DAEMON_ADDRESS", "169.254.1.1:2000")]);
    assert_eq!(options.endpoint(), "http://169.254.1.1:2000");
    let (options, _) = read(&[(
        "AWS_XRAY_DAEMON_ADDRESS",
        "udp:127.0.0.1:2000 tcp:xray.local:2001",
    )]);
    assert_eq!(options.endpoint(), "http://xray.local:2001");

    // What cannot be used: one warning each, and the default.
    for argument in [
        "endpoint=https://xray.us-east-1.amazonaws.com",
        "endpoint=127.0.0.1:2000",
        "polling_interval=0.2",
        "polling_interval=soon",
        "rate=0.5",
    ] {
        let (options, warnings) = read(&[("OTEL_TRACES_SAMPLER_ARG", argument)]);
        assert_eq!(warnings.len(), 1, "{argument}: {warnings:?}");
        assert_eq!(warnings[0].variable, "OTEL_TRACES_SAMPLER_ARG");
        assert_eq!(options, XraySamplingOptions::new(DEFAULT_SAMPLING_ENDPOINT));
    }
}

#[test]
fn x_rays_default_local_rule_parses() {
    let rules = SamplingRules::parse(XRAY_DEFAULT_LOCAL_RULES).expect("the constant parses");
    assert!(rules.rules().is_empty());
}

#[test]
fn the_service_type_follows_the_cloud_platform() {
    assert_eq!(service_type("aws_ecs"), Some("AWS::ECS::Container"));
    assert_eq!(service_type("aws_eks"), Some("AWS::EKS::Container"));
    assert_eq!(service_type("aws_ec2"), Some("AWS::EC2::Instance"));
    assert_eq!(service_type("aws_lambda"), Some("AWS::Lambda::Function"));
    assert_eq!(service_type("gcp_cloud_run"), None);
}
