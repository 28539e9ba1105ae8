//! # otel-faas-gcp — placeholder
//!
//! Google Cloud Run functions (gen2) for otel-faas: a Functions-Framework-compatible server,
//! CloudEvents, Pub/Sub push and the GCP resource detector, on `otel-faas-core`.
//!
//! **Nothing is implemented yet.** This crate exports no items and nothing here pretends
//! to work.
