//! # otel-faas-azure
//!
//! Azure Functions custom handlers for otel-faas: a server speaking the host's protocol,
//! trigger adapters and the Azure resource detector, on `otel-faas-core`.
//!
//! **In progress.** What exists today is [`AzureFunctionsResourceDetector`]; the
//! custom-handler server, the trigger adapters and log correlation come next (issue 11 of
//! the tracker). Nothing else here pretends to work.
//!
//! ## Why each dependency is here
//!
//! * `otel-faas-core`: the `ResourceDetector` trait and the environment abstraction.
//! * `opentelemetry`, `opentelemetry_sdk`, `opentelemetry-semantic-conventions`: the resource
//!   and its attribute keys.

#![warn(missing_docs)]

mod resource;

pub use resource::{AzureFunctionsResourceDetector, RESOURCE_GROUP_ATTRIBUTE};
