//! `cargo xtask test --aws-endpoint localstack`: the AWS emulator suite on LocalStack.
//!
//! The tests take their endpoint from one variable, so the same tests that run on moto run
//! here. Which services LocalStack serves depends on how it runs (on the host it has no
//! DynamoDB here), so the endpoint is probed first, every test the served services allow is
//! run, one service at a time, and the report says per service what ran and what did not,
//! and why — nothing is left out silently.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::emulators::{self, Emulator, StopOnDrop};
use crate::{cargo, test_step, workspace_root};

/// The AWS emulator tests, by the service each one exercises, and the services it needs.
const TESTS: &[(&str, &str, &[&str])] = &[
    (
        "sqs",
        "sqs_messages_from_moto_link_to_their_aws_trace_header_producer_only",
        &["sqs"],
    ),
    (
        "sqs",
        "a_message_sent_with_the_sdk_links_its_consumer_to_the_producer_span",
        &["sqs"],
    ),
    (
        "sqs",
        "a_message_that_already_has_ten_attributes_is_sent_unchanged_and_the_span_says_why",
        &["sqs"],
    ),
    (
        "sqs",
        "a_batch_send_carries_the_context_in_every_entry",
        &["sqs"],
    ),
    (
        "sqs",
        "a_batch_with_a_refused_entry_is_a_partial_failure_and_the_rest_is_sent",
        &["sqs"],
    ),
    (
        "sqs",
        "sqs_calls_carry_the_queue_and_a_missing_queue_is_an_error",
        &["sqs"],
    ),
    (
        "s3",
        "s3_notifications_from_moto_name_the_bucket_and_the_decoded_key",
        &["s3", "sqs"],
    ),
    (
        "s3",
        "s3_calls_name_bucket_and_key_and_a_missing_key_is_an_error",
        &["s3"],
    ),
    (
        "sns",
        "sns_notifications_from_moto_link_to_the_publisher_with_and_without_raw_delivery",
        &["sns", "sqs"],
    ),
    (
        "sns",
        "an_sns_publish_links_sqs_consumers_with_and_without_raw_delivery",
        &["sns", "sqs"],
    ),
    (
        "events",
        "eventbridge_events_from_moto_carry_their_id_source_and_type",
        &["events", "sqs"],
    ),
    (
        "events",
        "put_events_with_context_in_detail_links_the_sqs_consumer_to_the_producer",
        &["events", "sqs"],
    ),
    (
        "dynamodb",
        "dynamodb_stream_records_read_from_moto_are_one_span_each_and_the_remove_fails",
        &["dynamodb", "dynamodbstreams"],
    ),
    (
        "dynamodb",
        "dynamodb_calls_are_client_spans_with_tables_capacity_and_failures",
        &["dynamodb"],
    ),
];

/// Tests that need something only moto offers.
const MOTO_ONLY: &[(&str, &str)] = &[(
    "put_events_carries_the_producer_context_in_the_trace_header",
    "reads the sent TraceHeader back through moto's request recorder, which LocalStack lacks",
)];

/// What happened to one service's tests.
#[derive(Default)]
struct ServiceReport {
    runnable: Vec<&'static str>,
    not_run: Vec<String>,
    passed: Option<bool>,
}

fn healthy(endpoint: &str) -> bool {
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    address
        .parse::<SocketAddr>()
        .ok()
        .and_then(|address| crate::process::http_status(address, "GET", "/_localstack/health").ok())
        .is_some_and(|status| status == 200)
}

fn probe(endpoint: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let python = emulators::dir().join("moto-venv/bin/python");
    let output = Command::new(&python)
        .arg(workspace_root().join("integration-tests/emulators/probe_services.py"))
        .arg(endpoint)
        .output()
        .with_context(|| format!("running the service probe with {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "the service probe failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

pub(crate) fn run(_lint: bool) -> anyhow::Result<()> {
    // boto3 for the probe and the event captures comes with moto's venv.
    emulators::install(Emulator::Moto)?;
    let configured =
        std::env::var("LOCALSTACK_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".to_owned());
    let (endpoint, _stop) = if healthy(&configured) {
        println!("==> using the LocalStack that answers at {configured}");
        (configured, StopOnDrop(Vec::new()))
    } else {
        println!("==> no LocalStack answers at {configured}: starting LocalStack on the host");
        let running = emulators::up(Emulator::LocalStack)?;
        crate::stop_on_ctrl_c(vec![Emulator::LocalStack]);
        (running.endpoint(), StopOnDrop(vec![Emulator::LocalStack]))
    };
    let services = probe(&endpoint)?;
    println!("\nservices at {endpoint}:");
    for (service, result) in &services {
        println!("  {service:<16} {result}");
    }
    let served = |service: &str| services.get(service).is_some_and(|r| r == "ok");

    let mut report: BTreeMap<&str, ServiceReport> = BTreeMap::new();
    for (service, test, needs) in TESTS {
        let entry = report.entry(service).or_default();
        match needs.iter().find(|need| !served(need)) {
            None => entry.runnable.push(test),
            Some(missing) => entry
                .not_run
                .push(format!("{test}: {missing} is not served here")),
        }
    }
    let mut totals = crate::Totals::default();
    let mut failed = Vec::new();
    for (service, entry) in report.iter_mut() {
        let (runnable, outcome) = (&entry.runnable, &mut entry.passed);
        if runnable.is_empty() {
            continue;
        }
        let mut command = cargo();
        command
            .args([
                "test",
                "-p",
                "otel-faas-integration-tests",
                "--test",
                "aws_sdk_over_moto",
                "--test",
                "aws_moto_events",
                "--",
                "--exact",
            ])
            .args(runnable.iter())
            .env("OTEL_FAAS_AWS_ENDPOINT", &endpoint)
            .env("OTEL_FAAS_AWS_EMULATOR", "localstack");
        match test_step(&format!("{service} tests on LocalStack"), command) {
            Ok(result) => {
                totals.merge(result);
                *outcome = Some(true);
            }
            Err(error) => {
                // A failed step counts too: the closing line must not hide it.
                totals.failed += 1;
                failed.push(format!("{service}: {error:#}"));
                *outcome = Some(false);
            }
        }
    }

    println!("\nLocalStack results by service:");
    for (service, entry) in &report {
        let (ran, not_run) = (&entry.runnable, &entry.not_run);
        let verdict = match entry.passed {
            Some(true) => "passed",
            Some(false) => "FAILED",
            None => "not run",
        };
        println!("  {service:<9} {verdict:<8} {} test(s) run", ran.len());
        for reason in not_run {
            println!("            not run: {reason}");
        }
    }
    println!("  moto only");
    for (test, reason) in MOTO_ONLY {
        println!("            not run: {test}: {reason}");
    }
    println!(
        "tests: {} passed, {} failed, {} ignored",
        totals.passed, totals.failed, totals.ignored
    );
    if !failed.is_empty() {
        bail!("the AWS suite failed on LocalStack:\n{}", failed.join("\n"));
    }
    if totals.passed == 0 {
        bail!("no AWS test could run on {endpoint}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new emulator test missing from [`TESTS`] would never run on LocalStack, silently.
    #[test]
    fn every_emulator_test_is_classified() {
        let dir = workspace_root().join("integration-tests/tests");
        let mut found = Vec::new();
        for file in ["aws_sdk_over_moto.rs", "aws_moto_events.rs"] {
            let source = std::fs::read_to_string(dir.join(file)).unwrap();
            let mut lines = source.lines();
            while let Some(line) = lines.next() {
                if line.trim_start().starts_with("#[tokio::test") {
                    let function = lines.next().unwrap_or_default();
                    let name = function
                        .trim_start()
                        .trim_start_matches("async fn ")
                        .split('(')
                        .next()
                        .unwrap_or_default();
                    found.push(name.to_owned());
                }
            }
        }
        assert!(found.len() >= 10, "the tests were not found: {found:?}");
        for name in &found {
            let listed = TESTS.iter().any(|(_, test, _)| test == name)
                || MOTO_ONLY.iter().any(|(test, _)| test == name);
            assert!(listed, "{name} is in neither TESTS nor MOTO_ONLY");
        }
        for (_, test, _) in TESTS {
            assert!(found.iter().any(|n| n == test), "{test} no longer exists");
        }
    }
}
