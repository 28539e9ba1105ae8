//! # otel-faas-messaging — placeholder
//!
//! Trace context across queues, topics and buses (SQS, SNS, EventBridge, Pub/Sub, Service
//! Bus, Event Hubs), consumer and producer side, built on the `Carrier` and `Propagation`
//! traits of `otel-faas-core`.
//!
//! **Nothing is implemented yet.** This crate exists so that the workspace has the shape
//! of the design; it exports no items, and nothing here pretends to work. Its issue
//! ("Messaging: one trace across queues and topics") fills it in.
