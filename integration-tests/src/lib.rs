//! Test support for otel-faas: an OTLP receiver on loopback that decodes what exporters
//! really send (with `opentelemetry-proto`), and a renderer that prints traces as a
//! waterfall.
//!
//! Tests assert on spans only after they have crossed the wire as OTLP, so that what is
//! checked is what a collector would see.

#![warn(missing_docs)]

mod app_insights;
mod azure_app;
mod azure_front;
mod azure_host;
mod azurite;
mod cargo_lambda;
mod emf;
mod example_service;
mod fake_aws;
mod faulty_collector;
mod front_log;
mod function;
mod gcp_metadata;
mod http_api_front;
mod lambda_api;
mod moto;
mod otlp_lines;
mod pubsub_emulator;
mod receiver;
mod server;
mod signals;
mod sigv4_verifier;
mod span;
mod telemetry_api;
mod tls;
mod waterfall;
mod xray_daemon;
mod xray_sampling;

pub use app_insights::{
    FakeIngestion, TEST_INSTRUMENTATION_KEY, azure_monitor_venv, validate_envelopes,
};
pub use azure_app::{FunctionAppHost, HostedFunction, HttpForwarding, QueueDelivery, QueueOutcome};
pub use azure_front::AzureHttpFront;
pub use azure_host::{HostResponse, MINI_HOST_VERSION, MiniHost};
pub use azurite::{
    AZURITE_ACCOUNT, AZURITE_QUEUE_VARIABLE, Azurite, StorageQueue, StoredMessage, azurite_install,
};
pub use cargo_lambda::CargoLambdaWatch;
pub use emf::{EMF_UNITS, EmfDocument, EmfMetric, emf_documents, validate_emf};
pub use example_service::ExampleService;
pub use fake_aws::{AwsCall, FakeAwsEndpoint};
pub use faulty_collector::{Fault, FaultyCollector, NumberedInvocation, invocation_number};
pub use front_log::FrontRequest;
pub use function::{
    FunctionProcess, build_binary, cargo_command, lambda_environment, target_dir,
    without_cargo_run_environment, workspace_root,
};
pub use gcp_metadata::{FakeMetadataServer, TEST_PROJECT};
pub use http_api_front::HttpApiFront;
pub use lambda_api::{DEFAULT_ARN, Invoke, Invoked, LocalRuntimeApi, RESTORE_MS};
pub use moto::{AWS_EMULATOR_VARIABLE, AWS_ENDPOINT_VARIABLE, Moto, moto_venv};
pub use otlp_lines::{OtlpLines, decode_otlp_lines};
pub use pubsub_emulator::{PUBSUB_EMULATOR_VARIABLE, PubSubEmulator};
pub use receiver::{OtlpReceiver, ReceiverError};
pub use signals::{ReceivedLog, ReceivedMetric, ReceivedRequest};
pub use sigv4_verifier::{SigV4Verifier, SignedRequest};
pub use span::{AttrValue, ReceivedEvent, ReceivedLink, ReceivedSpan, SpanKind, StatusCode};
pub use tls::TestCertificate;
pub use waterfall::{render_waterfall, render_waterfall_html};
pub use xray_daemon::{FakeXrayDaemon, check_segment_document, render_segment_tree};
pub use xray_sampling::{FakeXraySampling, SamplingRequest, xray_sampling_fixture};

/// The workspace README's quick starts (cloud-free, Lambda, Azure, Cloud Run), compiled as
/// doctests of this crate — the one that depends on every other — so that they keep
/// compiling as written.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
