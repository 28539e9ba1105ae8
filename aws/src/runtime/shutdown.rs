//! The shutdown flush: Lambda sends SIGTERM before it stops an environment that has an
//! extension registered; we export what is left within the budget, then exit.

use std::time::Duration;

use otel_faas_core::engine::Flusher;

/// Spawns the task that waits for SIGTERM or SIGINT, shuts the pipeline down within
/// `budget` and exits the process.
pub(crate) fn spawn_shutdown_flush(flusher: Flusher, budget: Duration) {
    tokio::spawn(async move {
        wait_for_termination().await;
        if let Err(error) = flusher.shutdown(budget).await {
            eprintln!("otel-faas: shutdown flush incomplete: {error}");
        }
        std::process::exit(0);
    });
}

#[cfg(unix)]
pub(crate) async fn wait_for_termination() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
pub(crate) async fn wait_for_termination() {
    let _ = tokio::signal::ctrl_c().await;
}
