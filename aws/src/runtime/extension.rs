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

use otel_faas_core::env::report_once;

use super::EXTENSION_NAME;
use super::completion::Completions;
use super::platform::{PlatformFigures, subscribe};
use crate::event::deadline_time;

/// What the extension does.
pub(crate) struct ExtensionPlan {
    /// Wait for each request's end (after-response mode, not on Managed Instances).
    pub(crate) completions: Option<Completions>,
    /// Flush after each event within this budget (after-response mode); `None` returns to
    /// `next` at once (the extension is there for the Telemetry API only).
    pub(crate) flush: Option<(Flusher, Duration)>,
    /// On Lambda Managed Instances: SHUTDOWN only.
    pub(crate) managed_instances: bool,
    /// Subscribe to the Telemetry API and record the platform's figures.
    pub(crate) platform: Option<PlatformFigures>,
}

/// Registers the extension and runs it in the background.
///
/// It subscribes to INVOKE and, with completions, flushes after each request is over.
/// On Lambda Managed Instances, which refuse INVOKE subscriptions, run several invocations
/// at once and never freeze the environment, it subscribes to SHUTDOWN only and flushes what
/// is left then; between invocations the export path's thread exports on its schedule.
///
/// With the platform's figures asked for, it subscribes to the Telemetry API before its
/// first `next` (subscriptions close with the init phase); a refusal is a warning.
pub(crate) async fn register(plan: ExtensionPlan) -> Result<(), lambda_extension::Error> {
    let ExtensionPlan {
        completions,
        flush,
        managed_instances,
        platform,
    } = plan;
    let events: &[&str] = if managed_instances {
        &["SHUTDOWN"]
    } else {
        &["INVOKE"]
    };
    let processor = tower::service_fn(move |event: lambda_extension::LambdaEvent| {
        let completions = completions.clone();
        let flush = flush.clone();
        async move {
            let Some((flusher, budget)) = flush else {
                return Ok::<(), std::convert::Infallible>(());
            };
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
            Ok(())
        }
    });
    let registered = lambda_extension::Extension::new()
        .with_extension_name(EXTENSION_NAME)
        .with_events(events)
        .with_events_processor(processor)
        .register()
        .await?;
    if let Some(platform) = platform {
        subscribe_to_platform_events(&platform, &registered.extension_id, managed_instances).await;
    }
    tokio::spawn(async move {
        if let Err(error) = registered.run().await {
            tracing::warn!(target: "otel_faas", %error, "the otel-faas extension stopped");
        }
    });
    Ok(())
}

/// Starts the listener and subscribes; a failure is reported, never fatal.
async fn subscribe_to_platform_events(
    platform: &PlatformFigures,
    extension_id: &str,
    managed_instances: bool,
) {
    let Ok(runtime_api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        report_once(
            "lambda-telemetry-subscribe",
            "AWS_LAMBDA_RUNTIME_API is not set: the platform's figures are not recorded",
        );
        return;
    };
    let result = match platform.listen().await {
        Ok(port) => subscribe(&runtime_api, extension_id, port, managed_instances)
            .await
            .map_err(|error| error.to_string()),
        Err(error) => Err(format!(
            "the Telemetry API listener could not bind: {error}"
        )),
    };
    if let Err(error) = result {
        report_once(
            "lambda-telemetry-subscribe",
            &format!(
                "{error}; the platform's figures (billed duration, memory, init) are not recorded"
            ),
        );
    }
}
