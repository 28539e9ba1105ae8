//! Cold start: the first invocation a process serves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// Tracks whether the next invocation is the cold one.
///
/// The engine asks once per invocation; exactly one invocation of a [`ColdStart`] — the
/// first — sees `true`, even when many start at once. Platforms that initialise a process
/// before any request reaches it (provisioned or pre-warmed instances, snapshot restore)
/// start from [`ColdStart::pre_initialized`] instead, because their first request does not
/// pay the start-up cost.
///
/// ```
/// use otel_faas_core::engine::ColdStart;
///
/// let cold = ColdStart::new();
/// assert!(cold.take());
/// assert!(!cold.take());
///
/// let warm = ColdStart::pre_initialized();
/// assert!(!warm.take());
/// ```
#[derive(Debug, Clone)]
pub struct ColdStart {
    pending: Arc<AtomicBool>,
    /// When the process was restored from a snapshot, until the cold invocation takes it.
    restored_at: Arc<Mutex<Option<SystemTime>>>,
}

impl ColdStart {
    /// The first invocation is cold.
    pub fn new() -> Self {
        Self {
            pending: Arc::new(AtomicBool::new(true)),
            restored_at: Arc::default(),
        }
    }

    /// No invocation is cold: the platform initialised the process ahead of traffic.
    pub fn pre_initialized() -> Self {
        Self {
            pending: Arc::new(AtomicBool::new(false)),
            restored_at: Arc::default(),
        }
    }

    /// Whether the calling invocation is the cold one; `true` at most once.
    pub fn take(&self) -> bool {
        self.pending.swap(false, Ordering::AcqRel)
    }

    /// Records that the process was restored from a snapshot at `at`:
    /// the next invocation is cold again, and the engine gives it a `restore` span from `at`
    /// to its start, where a fresh process gets an `init` span.
    ///
    /// ```
    /// use otel_faas_core::engine::ColdStart;
    ///
    /// let cold = ColdStart::pre_initialized();
    /// cold.restored(std::time::SystemTime::now());
    /// assert!(cold.take());
    /// assert!(!cold.take());
    /// ```
    pub fn restored(&self, at: SystemTime) {
        *self
            .restored_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(at);
        self.pending.store(true, Ordering::Release);
    }

    /// The restore the cold invocation reports, once.
    pub(crate) fn take_restore(&self) -> Option<SystemTime> {
        self.restored_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Marks the process warm without an invocation, for a platform hook that learns late
    /// that the process was pre-initialised.
    pub fn mark_warm(&self) {
        self.pending.store(false, Ordering::Release);
    }
}

impl Default for ColdStart {
    fn default() -> Self {
        Self::new()
    }
}
