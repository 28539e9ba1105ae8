//! The polling thread: `GetSamplingRules` and `GetSamplingTargets` against the daemon's
//! proxy, on a thread of its own with a current-thread runtime, so that no request waits
//! for them and no executor of the application is borrowed.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use otel_faas_core::env::report_once;

use super::rules::{Applier, RulesPage, Statistics, TargetsAnswer, appliers};
use super::{Shared, XraySamplingOptions, epoch_seconds};

/// The longest one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many pages of rules (an account has at most a few hundred rules).
const MAX_PAGES: usize = 50;
/// At most this many bytes of one answer.
const MAX_ANSWER: usize = 4 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Http(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the answer is not the document X-Ray sends: {0}")]
    Document(String),
}

/// Starts the thread; it ends when `stopped`'s sender (held by the sampler) is dropped.
pub(super) fn spawn(options: XraySamplingOptions, shared: Weak<Shared>, stopped: Receiver<()>) {
    let spawned = std::thread::Builder::new()
        .name("otel-faas-xray-sampling".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    report_once(
                        "xray_sampling",
                        &format!(
                            "the X-Ray sampling rules cannot be polled ({error}): the local \
                             sampling rules decide"
                        ),
                    );
                    return;
                }
            };
            Poller {
                options,
                shared,
                client_id: client_id(),
                targets_interval: None,
            }
            .run(&runtime, &stopped);
        });
    if let Err(error) = spawned {
        report_once(
            "xray_sampling",
            &format!(
                "the X-Ray sampling rules cannot be polled (no thread: {error}): the local \
                 sampling rules decide"
            ),
        );
    }
}

/// 24 hexadecimal digits naming this instance to X-Ray (`ClientID`).
fn client_id() -> String {
    format!("{:024x}", rand_u128() & ((1u128 << 96) - 1))
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher as _, Hasher as _};
    // Two random SipHash keys from the standard library (seeded from the OS): no RNG crate
    // for 96 bits that only need to differ between instances.
    let mut high = std::collections::hash_map::RandomState::new().build_hasher();
    high.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut low = std::collections::hash_map::RandomState::new().build_hasher();
    low.write_u32(std::process::id());
    (u128::from(high.finish()) << 64) | u128::from(low.finish())
}

struct Poller {
    options: XraySamplingOptions,
    shared: Weak<Shared>,
    client_id: String,
    /// The interval X-Ray last asked for.
    targets_interval: Option<Duration>,
}

impl Poller {
    fn run(mut self, runtime: &tokio::runtime::Runtime, stopped: &Receiver<()>) {
        let mut next_rules = Instant::now();
        let mut next_targets = next_rules + self.options.targets_interval;
        loop {
            let wake = next_rules.min(next_targets);
            match stopped.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Err(RecvTimeoutError::Timeout) => {}
                // The sampler is gone.
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            if now >= next_rules {
                self.refresh_rules(runtime);
                next_rules = now + self.options.rules_interval;
            }
            if now >= next_targets {
                if self.refresh_targets(runtime) {
                    // X-Ray says the rules changed since we fetched them.
                    self.refresh_rules(runtime);
                    next_rules = Instant::now() + self.options.rules_interval;
                }
                next_targets = Instant::now()
                    + self
                        .targets_interval
                        .unwrap_or(self.options.targets_interval);
            }
            if self.shared.strong_count() == 0 {
                return;
            }
        }
    }

    fn refresh_rules(&self, runtime: &tokio::runtime::Runtime) {
        let fetched = runtime.block_on(self.fetch_rules());
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        match fetched {
            Ok(rules) => {
                let mut current = shared.rules.write().unwrap_or_else(PoisonError::into_inner);
                let appliers = appliers(rules, &current.appliers);
                current.appliers = appliers;
                current.at = Some((Instant::now(), epoch_seconds(SystemTime::now())));
            }
            Err(error) => report_once(
                "xray_sampling",
                &format!(
                    "the X-Ray sampling rules could not be fetched from {}/GetSamplingRules \
                     ({error}): the local sampling rules (OTEL_FAAS_SAMPLING_RULES, else one \
                     trace a second and 5 %) decide until they can",
                    self.options.endpoint
                ),
            ),
        }
    }

    async fn fetch_rules(&self) -> Result<Vec<super::rules::RemoteRule>, CallError> {
        let mut rules = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            // No `NextToken` at all on the first page: the API takes a string or nothing
            // (botocore's model refuses a null).
            let body = match &token {
                Some(token) => serde_json::json!({ "NextToken": token }),
                None => serde_json::json!({}),
            };
            let answer = self.post("/GetSamplingRules", body.to_string()).await?;
            let page: RulesPage = serde_json::from_slice(&answer)
                .map_err(|error| CallError::Document(error.to_string()))?;
            rules.extend(
                page.sampling_rule_records
                    .into_iter()
                    .filter_map(|record| record.sampling_rule),
            );
            match page.next_token.filter(|next| !next.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(rules),
            }
        }
        Ok(rules)
    }

    /// Reports the counts and applies the targets; whether the rules changed since they
    /// were fetched.
    fn refresh_targets(&mut self, runtime: &tokio::runtime::Runtime) -> bool {
        let Some(shared) = self.shared.upgrade() else {
            return false;
        };
        let (statistics, fetched_at): (Vec<Statistics>, Option<f64>) = {
            let current = shared.rules.read().unwrap_or_else(PoisonError::into_inner);
            let now = SystemTime::now();
            (
                current
                    .appliers
                    .iter()
                    .map(|applier| applier.take_statistics(&self.client_id, now))
                    .collect(),
                current.at.map(|(_, epoch)| epoch),
            )
        };
        if statistics.is_empty() {
            return false;
        }
        let body = serde_json::json!({ "SamplingStatisticsDocuments": statistics });
        let answer = runtime.block_on(async {
            let bytes = self.post("/SamplingTargets", body.to_string()).await?;
            serde_json::from_slice::<TargetsAnswer>(&bytes)
                .map_err(|error| CallError::Document(error.to_string()))
        });
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                report_once(
                    "xray_sampling_targets",
                    &format!(
                        "the X-Ray sampling targets could not be fetched from \
                         {}/SamplingTargets ({error}): each rule keeps its last quota",
                        self.options.endpoint
                    ),
                );
                return false;
            }
        };
        let mut current = shared.rules.write().unwrap_or_else(PoisonError::into_inner);
        let updated: Vec<Applier> = current
            .appliers
            .iter()
            .map(|applier| {
                match answer
                    .sampling_target_documents
                    .iter()
                    .find(|target| target.rule_name == applier.rule.rule_name)
                {
                    Some(target) => applier.with_target(target),
                    None => applier.carried(),
                }
            })
            .collect();
        current.appliers = updated;
        self.targets_interval = answer
            .sampling_target_documents
            .iter()
            .filter_map(|target| target.interval)
            .min()
            .map(|seconds| Duration::from_secs(seconds.clamp(1, 3600)));
        match (answer.last_rule_modification, fetched_at) {
            (Some(modified), Some(fetched)) => modified > fetched,
            _ => false,
        }
    }

    /// POSTs `body` to the proxy's `path`; the answer's body when it is a success.
    async fn post(&self, path: &str, body: String) -> Result<Bytes, CallError> {
        let authority = self
            .options
            .endpoint
            .strip_prefix("http://")
            .unwrap_or(&self.options.endpoint)
            .to_owned();
        let call = async {
            let stream = tokio::net::TcpStream::connect(&authority)
                .await
                .map_err(CallError::Connect)?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|error| CallError::Http(error.to_string()))?;
            tokio::spawn(connection);
            let request = hyper::Request::post(format!("{}{path}", self.options.endpoint))
                .header(http::header::HOST, authority.as_str())
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|error| CallError::Http(error.to_string()))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|error| CallError::Http(error.to_string()))?;
            let status = response.status();
            let limited = http_body_util::Limited::new(response.into_body(), MAX_ANSWER);
            let bytes = limited
                .collect()
                .await
                .map_err(|error| CallError::Http(error.to_string()))?
                .to_bytes();
            if status.is_success() {
                Ok(bytes)
            } else {
                Err(CallError::Refused {
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
                })
            }
        };
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .unwrap_or(Err(CallError::Timeout(CALL_TIMEOUT)))
    }
}
