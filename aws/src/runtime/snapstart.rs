//! SnapStart: what the telemetry must redo when Lambda restores an environment from a
//! snapshot, through `lambda_runtime`'s SnapStart hooks.
//!
//! Every environment restored from one snapshot starts with the same memory: the same id
//! generator state (so the same trace and span ids), the same exporter connections (dead
//! after the restore) and a process that already served its "cold" start at publish time.
//! [`LambdaSnapStart`] fixes the three:
//!
//! * before the snapshot, it exports what the init phase recorded, within the budget, and
//!   drops (and counts) what it could not send: kept, it would be in the snapshot and sent
//!   again by every restored environment;
//! * after the restore, it reseeds the id generators from the operating system
//!   (`otel_faas_core::ids::reseed_ids`), rebuilds every OTLP/HTTP exporter's client
//!   (`reconnect_exporters`), and marks the next invocation cold with a `restore` span from
//!   the moment of the restore to its start — where a fresh process has its `init` span.

use std::time::{Duration, SystemTime};

use lambda_runtime::{BoxFuture, SnapStartResource};
use otel_faas_core::engine::{ColdStart, Flusher};

/// The SnapStart hooks of a [`LambdaTelemetry`](super::LambdaTelemetry); register them with
/// `lambda_runtime::Runtime::register_snapstart_resource` (see
/// [`LambdaTelemetry::snapstart`](super::LambdaTelemetry::snapstart)). Outside SnapStart the
/// runtime never calls them.
pub struct LambdaSnapStart {
    pub(crate) flusher: Flusher,
    pub(crate) cold_start: ColdStart,
    pub(crate) budget: Duration,
}

impl std::fmt::Debug for LambdaSnapStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaSnapStart")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl SnapStartResource for LambdaSnapStart {
    fn before_snapshot(&self) -> BoxFuture<'_, Result<(), lambda_runtime::Error>> {
        Box::pin(async move {
            if let Err(error) = self.flusher.before_snapshot(self.budget).await {
                tracing::debug!(target: "otel_faas", %error, "flush before the snapshot incomplete");
            }
            Ok(())
        })
    }

    fn after_restore(&self) -> BoxFuture<'_, Result<(), lambda_runtime::Error>> {
        Box::pin(async move {
            let restored_at = SystemTime::now();
            otel_faas_core::ids::reseed_ids();
            // Building clients blocks (each on a thread of its own): off the executor.
            let rebuilt =
                tokio::task::spawn_blocking(otel_faas_core::pipeline::reconnect_exporters)
                    .await
                    .unwrap_or_default();
            tracing::debug!(target: "otel_faas", rebuilt, "exporter clients rebuilt after the restore");
            self.cold_start.restored(restored_at);
            Ok(())
        })
    }
}
