//! The internal extension that flushes after each response.
//!
//! Lambda starts the next invocation (or freezes the environment) only once the runtime
//! has posted the response *and* every extension is back at `next`. The extension is woken
//! by INVOKE, waits until the engine has ended that request's invocation (the
//! [`CompletionObserver`](super::completion::CompletionObserver) tells it), flushes within
//! the budget and the deadline, then returns to `next`: the caller never waits for
//! telemetry, and nothing is frozen half-exported.

use std::time::{Duration, SystemTime};

use otel_faas_core::engine::Flusher;

use super::EXTENSION_NAME;
use super::completion::Completions;
use crate::lambda::deadline_time;

/// Registers the extension and runs it in the background.
pub(crate) async fn register(
    completions: Completions,
    flusher: Flusher,
    budget: Duration,
) -> Result<(), lambda_extension::Error> {
    let processor = tower::service_fn(move |event: lambda_extension::LambdaEvent| {
        let completions = completions.clone();
        let flusher = flusher.clone();
        async move {
            if let lambda_extension::NextEvent::Invoke(invoke) = event.next {
                let deadline = deadline_time(invoke.deadline_ms);
                completions.wait(&invoke.request_id, deadline).await;
                let left = deadline
                    .and_then(|d| d.duration_since(SystemTime::now()).ok())
                    .map_or(budget, |left| left.min(budget));
                if let Err(error) = flusher.flush(left).await {
                    tracing::debug!(target: "otel_faas", %error, "after-response flush incomplete");
                }
            }
            Ok::<(), std::convert::Infallible>(())
        }
    });
    let registered = lambda_extension::Extension::new()
        .with_extension_name(EXTENSION_NAME)
        .with_events(&["INVOKE"])
        .with_events_processor(processor)
        .register()
        .await?;
    tokio::spawn(async move {
        if let Err(error) = registered.run().await {
            tracing::warn!(target: "otel_faas", %error, "the otel-faas extension stopped");
        }
    });
    Ok(())
}
