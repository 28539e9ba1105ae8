//! The exporter thread: one per export path, started with the first span, with a
//! current-thread tokio runtime of its own.
//!
//! It does what must not happen on an invocation's response path: the export of a full
//! batch while a long invocation is still creating spans, the scheduled export
//! (`OTEL_BSP_SCHEDULE_DELAY`) for long-lived servers that never flush, the circuit's
//! probes, and the synchronous `force_flush` and `shutdown` of the SDK's `SpanProcessor`.
//! Whatever the collector does there is one such thread, and it sends one request at a
//! time.

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Caller, Shared};
use crate::engine::FlushError;

pub(crate) enum Command {
    /// Export what is queued and held (a full batch, or a due probe).
    Wake,
    /// `force_flush`: export, and say how it went.
    Flush(std::sync::mpsc::SyncSender<Result<(), FlushError>>),
    /// Export within the budget, count what is left as dropped, and stop.
    Shutdown(Duration, std::sync::mpsc::SyncSender<()>),
    /// Stop: the path was shut down from a task.
    Stop,
}

/// The handle of a running exporter thread.
#[derive(Debug)]
pub(crate) struct Worker {
    commands: mpsc::UnboundedSender<Command>,
    /// A wake-up is queued and not yet taken: further ones would be redundant.
    wake_pending: AtomicBool,
}

impl Worker {
    /// Starts the thread for `shared`. The thread holds it weakly: it stops when the
    /// export path is dropped (its command channel closes).
    pub(crate) fn start(
        shared: Weak<Shared>,
        schedule_delay: Duration,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        let (commands, mut receiver) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("otel-faas-export".to_owned())
            .spawn(move || {
                super::super::client::mark_exporter_thread();
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        crate::warning::report_once(
                            "otel-faas-exporter-thread",
                            &format!(
                                "the exporter thread could not start its runtime ({error}); \
                                 spans are exported by invocations' flushes only"
                            ),
                        );
                        return;
                    }
                };
                runtime.block_on(async move {
                    loop {
                        let command = tokio::select! {
                            command = receiver.recv() => command,
                            () = tokio::time::sleep(schedule_delay) => Some(Command::Wake),
                        };
                        let (Some(command), Some(shared)) = (command, shared.upgrade()) else {
                            break;
                        };
                        match command {
                            Command::Wake => {
                                if let Some(worker) = shared.worker.get() {
                                    worker.wake_pending.store(false, Ordering::Release);
                                }
                                // Failures are counted and reported by the path itself.
                                let _ = shared.export(Caller::ExporterThread, timeout).await;
                            }
                            Command::Flush(reply) => {
                                let result = shared.export(Caller::ExporterThread, timeout).await;
                                let _ = reply.send(result);
                            }
                            Command::Shutdown(budget, reply) => {
                                shared.shut_down(budget).await;
                                let _ = reply.send(());
                                break;
                            }
                            Command::Stop => break,
                        }
                    }
                });
            })?;
        Ok(Self {
            commands,
            wake_pending: AtomicBool::new(false),
        })
    }

    /// Asks for an export soon; never blocks.
    pub(crate) fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            let _ = self.commands.send(Command::Wake);
        }
    }

    /// Sends a command; `false` when the thread has stopped.
    pub(crate) fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}
