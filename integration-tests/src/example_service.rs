//! A service example (`examples/ecs-service` and the like) run as a container platform runs
//! it: a clean environment with `PORT` and `HOST`, the OTLP receiver as its endpoint, and a
//! client that waits until `/healthz` answers. Killed when dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::OtlpReceiver;

/// The running service.
pub struct ExampleService {
    child: Child,
    port: u16,
    client: reqwest::Client,
}

impl ExampleService {
    /// Starts `binary` with only `env` and what every run needs: `PORT` (a free one),
    /// `HOST=127.0.0.1`, `OTEL_SERVICE_NAME=orders-service`, spans to `receiver` every
    /// 100 ms, no metrics nor log records. Its output goes to `stdout` and `stderr`.
    pub fn start(
        binary: impl AsRef<Path>,
        env: &[(&str, &str)],
        receiver: &OtlpReceiver,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let child = Command::new(binary.as_ref())
            .env_clear()
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("OTEL_SERVICE_NAME", "orders-service")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
            .env("OTEL_METRICS_EXPORTER", "none")
            .env("OTEL_LOGS_EXPORTER", "none")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .envs(env.iter().copied())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", binary.as_ref().display()));
        // reqwest is built without a default TLS provider here (plain HTTP all the same).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            child,
            port,
            client: reqwest::Client::new(),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until `/healthz` answers; panics after 30 s.
    pub async fn wait_ready(&self) {
        let start = Instant::now();
        while self.client.get(self.url("/healthz")).send().await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the service never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GETs `path`; its status.
    pub async fn get(&self, path: &str) -> u16 {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .status()
            .as_u16()
    }
}

impl Drop for ExampleService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
