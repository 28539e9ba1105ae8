//! The Google Cloud Pub/Sub emulator (`gcloud beta emulators pubsub start`), driven over
//! its REST API: topics, push subscriptions to a test's server, publishing.
//!
//! `cargo xtask test` starts one for the run and hands its address in
//! [`PUBSUB_EMULATOR_VARIABLE`]; without it [`PubSubEmulator::start`] starts one of its own
//! (stopped with its whole process group when dropped: the launcher runs a Java process).
//! When `gcloud` or its emulator component is missing, it fails saying so.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ReceiverError;
use crate::azure_host::exchange;

/// The variable through which `cargo xtask test` hands the tests the emulator it runs
/// (`127.0.0.1:PORT`, as `PUBSUB_EMULATOR_HOST` is written).
pub const PUBSUB_EMULATOR_VARIABLE: &str = "OTEL_FAAS_PUBSUB_EMULATOR_HOST";

/// A Pub/Sub emulator for a test.
pub struct PubSubEmulator {
    child: Option<Child>,
    address: SocketAddr,
    data: Option<PathBuf>,
}

impl PubSubEmulator {
    /// The emulator `cargo xtask test` runs, or one started on a free port; it answers
    /// before this returns.
    pub fn start() -> Result<Self, ReceiverError> {
        if let Ok(host) = std::env::var(PUBSUB_EMULATOR_VARIABLE) {
            let address = host
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse::<SocketAddr>()
                .map_err(|e| {
                    ReceiverError::Start(format!("{PUBSUB_EMULATOR_VARIABLE}={host}: {e}"))
                })?;
            let emulator = Self {
                child: None,
                address,
                data: None,
            };
            if !emulator.healthy() {
                return Err(ReceiverError::Start(format!(
                    "{PUBSUB_EMULATOR_VARIABLE}={host}, but the emulator does not answer there"
                )));
            }
            return Ok(emulator);
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| ReceiverError::Start(e.to_string()))?
            .port();
        let data = std::env::temp_dir().join(format!("otel-faas-pubsub-{port}"));
        std::fs::create_dir_all(&data).map_err(|e| ReceiverError::Start(e.to_string()))?;
        let child = Command::new("gcloud")
            .args(["beta", "emulators", "pubsub", "start", "--quiet"])
            .arg(format!("--host-port=127.0.0.1:{port}"))
            .arg(format!("--data-dir={}", data.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                ReceiverError::Start(format!(
                    "the Pub/Sub emulator needs the Google Cloud CLI (`gcloud`) with the \
                     pubsub-emulator component: {e}"
                ))
            })?;
        let mut emulator = Self {
            child: Some(child),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            data: Some(data),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Some(Ok(Some(status))) = emulator.child.as_mut().map(Child::try_wait) {
                return Err(ReceiverError::Start(format!(
                    "the Pub/Sub emulator exited with {status}; is the pubsub-emulator \
                     component installed (`gcloud components install pubsub-emulator beta`)?"
                )));
            }
            if emulator.healthy() {
                return Ok(emulator);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(ReceiverError::Start(format!(
            "the Pub/Sub emulator did not answer on {} within 120 s",
            emulator.address
        )))
    }

    fn healthy(&self) -> bool {
        exchange(self.address, "GET", "/", &[], None, false).is_ok_and(|r| r.status == 200)
    }

    /// `host:port`, as `PUBSUB_EMULATOR_HOST` is written.
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Result<Value, ReceiverError> {
        let body = body.to_string();
        let response = exchange(
            self.address,
            method,
            path,
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
            false,
        )
        .map_err(|e| ReceiverError::Start(format!("{method} {path} on the emulator: {e}")))?;
        if !(200..300).contains(&response.status) {
            return Err(ReceiverError::Start(format!(
                "{method} {path} on the emulator answered {}: {}",
                response.status, response.body
            )));
        }
        Ok(response.json())
    }

    /// Creates `projects/<project>/topics/<topic>`.
    pub fn create_topic(&self, project: &str, topic: &str) -> Result<(), ReceiverError> {
        self.call(
            "PUT",
            &format!("/v1/projects/{project}/topics/{topic}"),
            &json!({}),
        )
        .map(|_| ())
    }

    /// Creates a push subscription delivering `topic`'s messages to `endpoint`.
    pub fn create_push_subscription(
        &self,
        project: &str,
        subscription: &str,
        topic: &str,
        endpoint: &str,
    ) -> Result<(), ReceiverError> {
        self.subscribe(
            project,
            subscription,
            topic,
            json!({"pushEndpoint": endpoint}),
        )
    }

    /// Creates an unwrapped push subscription (`--push-no-wrapper-write-metadata`): the
    /// message's data as the body, its metadata and attributes as headers.
    pub fn create_unwrapped_push_subscription(
        &self,
        project: &str,
        subscription: &str,
        topic: &str,
        endpoint: &str,
    ) -> Result<(), ReceiverError> {
        self.subscribe(
            project,
            subscription,
            topic,
            json!({"pushEndpoint": endpoint, "noWrapper": {"writeMetadata": true}}),
        )
    }

    fn subscribe(
        &self,
        project: &str,
        subscription: &str,
        topic: &str,
        push_config: Value,
    ) -> Result<(), ReceiverError> {
        self.call(
            "PUT",
            &format!("/v1/projects/{project}/subscriptions/{subscription}"),
            &json!({
                "topic": format!("projects/{project}/topics/{topic}"),
                "pushConfig": push_config,
                "ackDeadlineSeconds": 10,
            }),
        )
        .map(|_| ())
    }

    /// Publishes one message; its id.
    pub fn publish(
        &self,
        project: &str,
        topic: &str,
        data: &[u8],
        attributes: &[(&str, &str)],
    ) -> Result<String, ReceiverError> {
        use base64::Engine as _;
        let attributes: serde_json::Map<String, Value> = attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        let answer = self.call(
            "POST",
            &format!("/v1/projects/{project}/topics/{topic}:publish"),
            &json!({"messages": [{
                "data": base64::engine::general_purpose::STANDARD.encode(data),
                "attributes": attributes,
            }]}),
        )?;
        answer["messageIds"][0]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ReceiverError::Start(format!("publish answered {answer}")))
    }
}

impl Drop for PubSubEmulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The launcher and the Java process it runs: the whole group.
            let _ = Command::new("kill")
                .args(["-s", "TERM", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
        }
        if let Some(data) = self.data.take() {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}
