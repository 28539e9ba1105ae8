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
///
/// With `completions`, it subscribes to INVOKE and flushes after each request is over.
/// Without, as Lambda Managed Instances require (they refuse INVOKE subscriptions, run
/// several invocations at once and never freeze the environment), it subscribes to
/// SHUTDOWN only and flushes what is left then; between invocations the batch processor
/// exports on its schedule.
pub(crate) async fn register(
    completions: Option<Completions>,
    flusher: Flusher,
    budget: Duration,
) -> Result<(), lambda_extension::Error> {
    let events: &[&str] = if completions.is_some() {
        &["INVOKE"]
    } else {
        &["SHUTDOWN"]
    };
    let processor = tower::service_fn(move |event: lambda_extension::LambdaEvent| {
        let completions = completions.clone();
        let flusher = flusher.clone();
        async move {
            let deadline = match event.next {
                lambda_extension::NextEvent::Invoke(invoke) => {
                    let deadline = deadline_time(invoke.deadline_ms);
                    if let Some(completions) = &completions {
                        completions.wait(&invoke.request_id, deadline).await;
                    }
                    deadline
                }
                lambda_extension::NextEvent::Shutdown(shutdown) => {
                    deadline_time(shutdown.deadline_ms)
                }
            };
            let left = deadline
                .and_then(|d| d.duration_since(SystemTime::now()).ok())
                .map_or(budget, |left| left.min(budget));
            if let Err(error) = flusher.flush(left).await {
                tracing::debug!(target: "otel_faas", %error, "extension flush incomplete");
            }
            Ok::<(), std::convert::Infallible>(())
        }
    });
    let registered = lambda_extension::Extension::new()
        .with_extension_name(EXTENSION_NAME)
        .with_events(events)
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
