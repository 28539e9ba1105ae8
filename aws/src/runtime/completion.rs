//! Which invocations have finished, for the after-response extension to wait on.
//!
//! The engine tells every [`InvocationObserver`] when an invocation ends, whichever way it
//! ends (returned, failed, panicked, timed out, dropped); [`CompletionObserver`] records the
//! Lambda request id, and the extension, woken by Lambda's INVOKE event for that id, waits
//! for it before flushing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use otel_faas_core::InvocationObserver;
use otel_faas_core::engine::InvocationRecord;
use tokio::sync::Notify;

/// Invocations that have finished. Bounded: an id nobody waits for (a flush policy change,
/// an uninstrumented request) does not accumulate.
#[derive(Clone, Default)]
pub(crate) struct Completions {
    finished: Arc<Mutex<VecDeque<String>>>,
    notify: Arc<Notify>,
}

pub(crate) const REMEMBERED_COMPLETIONS: usize = 256;

impl Completions {
    pub(crate) fn finish(&self, request_id: String) {
        {
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            if finished.len() == REMEMBERED_COMPLETIONS {
                finished.pop_front();
            }
            finished.push_back(request_id);
        }
        self.notify.notify_waiters();
    }

    pub(crate) fn take(&self, request_id: &str) -> bool {
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        match finished.iter().position(|id| id == request_id) {
            Some(index) => {
                finished.remove(index);
                true
            }
            None => false,
        }
    }

    /// Waits until `request_id` has finished, or the deadline has passed.
    pub(crate) async fn wait(&self, request_id: &str, deadline: Option<SystemTime>) {
        loop {
            let notified = self.notify.notified();
            if self.take(request_id) {
                return;
            }
            let left = deadline.map(|d| {
                d.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            });
            match left {
                Some(left) if left.is_zero() => return,
                Some(left) => {
                    if tokio::time::timeout(left, notified).await.is_err() {
                        return;
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Marks each ended invocation's request id finished.
pub(crate) struct CompletionObserver(pub(crate) Completions);

impl InvocationObserver for CompletionObserver {
    fn on_end(&self, record: &InvocationRecord) {
        if let Some(id) = record.invocation_id() {
            self.0.finish(id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_completion_before_the_wait_is_not_missed() {
        let completions = Completions::default();
        completions.finish("a".into());
        completions.wait("a", None).await;
        assert!(!completions.take("a"), "taken once");
    }

    #[tokio::test]
    async fn a_wait_ends_at_the_deadline_without_a_completion() {
        let completions = Completions::default();
        let deadline = SystemTime::now() + Duration::from_millis(50);
        let started = std::time::Instant::now();
        completions.wait("never", Some(deadline)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn remembered_completions_are_bounded() {
        let completions = Completions::default();
        for i in 0..(REMEMBERED_COMPLETIONS + 10) {
            completions.finish(i.to_string());
        }
        assert!(!completions.take("0"));
        assert!(completions.take(&(REMEMBERED_COMPLETIONS + 9).to_string()));
    }
}
