//! An axum app served on 127.0.0.1 from a thread of its own, so that synchronous callers
//! (the demo) and tests on any runtime flavour can use it alike.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;

use crate::ReceiverError;

/// A running server; dropping it stops the server and joins its thread.
#[derive(Debug)]
pub(crate) struct BackgroundServer {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundServer {
    /// Serves `app` on an ephemeral port of 127.0.0.1, on a runtime of `worker_threads`
    /// threads in a thread named `name`.
    pub(crate) fn start(
        name: &str,
        worker_threads: usize,
        app: Router,
    ) -> Result<Self, ReceiverError> {
        Self::start_with(name, worker_threads, |listener, stop| async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await;
        })
    }

    /// Binds an ephemeral port of 127.0.0.1 and runs `serve` with the listener, on a runtime
    /// of `worker_threads` threads in a thread named `name`; `serve` returns when the
    /// receiver it is given fires (the server is dropped).
    pub(crate) fn start_with<F, Fut>(
        name: &str,
        worker_threads: usize,
        serve: F,
    ) -> Result<Self, ReceiverError>
    where
        F: FnOnce(tokio::net::TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(worker_threads)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                        Ok(listener) => listener,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(listener.local_addr().map_err(|e| e.to_string()));
                    serve(listener, stop_rx).await;
                });
            })
            .map_err(|error| ReceiverError::Start(error.to_string()))?;
        let address = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|error| ReceiverError::Start(error.to_string()))?
            .map_err(ReceiverError::Start)?;
        Ok(Self {
            address,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
