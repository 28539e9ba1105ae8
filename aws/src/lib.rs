//! # otel-faas-aws — placeholder
//!
//! AWS Lambda for otel-faas: the Lambda resource detector, X-Ray propagation, one trigger
//! adapter per event source, lambda_runtime integration and partial batch failures, all on
//! the traits and engine of `otel-faas-core`.
//!
//! **Nothing is implemented yet.** This crate exports no items and nothing here pretends
//! to work; its issue ("AWS Lambda: resource, X-Ray, every trigger…") fills it in.
