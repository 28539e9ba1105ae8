//! The Lambda runtime integration beyond [`LambdaTelemetry`](crate::LambdaTelemetry): the
//! layer and what the engine flushes when ([`LambdaFlush`]), SnapStart, the platform's own
//! figures from the Telemetry API ([`platform`]), the runtime's own span, and
//! [`LambdaEventAdapter`], a payload adapter inside the runtime's `LambdaEvent` envelope.
//!
//! A facade: each item is defined in the module of its concern and has its one public
//! path here.

pub use crate::arn::FunctionArn;
pub use crate::event::{LambdaEventAdapter, invocation_attributes, invocation_context};
pub use crate::runtime::platform;
pub use crate::runtime::{
    EXTENSION_NAME, LambdaFlush, LambdaLayer, LambdaPricing, LambdaSnapStart, PlatformTelemetry,
    RUNTIME_SPAN_NAME, SHUTDOWN_FLUSH_BUDGET, without_runtime_spans,
};
