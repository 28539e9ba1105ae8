//! # otel-faas-azure — placeholder
//!
//! Azure Functions custom handlers for otel-faas: a server speaking the host's protocol,
//! trigger adapters and the Azure resource detector, on `otel-faas-core`.
//!
//! **Nothing is implemented yet.** This crate exports no items and nothing here pretends
//! to work.
