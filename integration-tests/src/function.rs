//! Real function binaries, run as Lambda would run them: built from the workspace, started
//! with the Lambda environment variables, pointed at a [`LocalRuntimeApi`](crate::LocalRuntimeApi).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;

use crate::receiver::ReceiverError;

/// The workspace root (this crate lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The cargo target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Builds binary `bin` of workspace package `package` (once per process) and returns its path.
pub fn build_binary(package: &str, bin: &str) -> Result<PathBuf, ReceiverError> {
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let built = built.get_or_insert_with(HashSet::new);
    let path = target_dir().join("debug").join(bin);
    if built.contains(bin) {
        return Ok(path);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .status()
        .map_err(|e| ReceiverError::Start(format!("cargo build -p {package}: {e}")))?;
    if !status.success() {
        return Err(ReceiverError::Start(format!(
            "cargo build -p {package} --bin {bin} failed"
        )));
    }
    built.insert(bin.to_owned());
    Ok(path)
}

/// A function process; killed when dropped.
pub struct FunctionProcess {
    child: Child,
    log: PathBuf,
    out: PathBuf,
}

/// The variables Lambda sets in every execution environment, for a function named
/// `otel-faas-test` at version `7` with 128 MB.
pub fn lambda_environment(runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", "otel-faas-test"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "7"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/21/[7]0123456789abcdef",
        ),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/otel-faas-test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl FunctionProcess {
    /// Starts `binary` with the Lambda environment for `runtime_api` plus `extra`. Standard
    /// error and output go to files under `target/function-logs/` (`.log`, `.out`).
    pub fn spawn(
        binary: &Path,
        runtime_api: &str,
        extra: &[(&str, String)],
    ) -> Result<Self, ReceiverError> {
        let logs = target_dir().join("function-logs");
        std::fs::create_dir_all(&logs).map_err(|e| ReceiverError::Start(e.to_string()))?;
        let name = binary
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function");
        let log = logs.join(format!(
            "{name}-{}.log",
            std::process::id() as u64 * 1000 + u64::from(next_serial())
        ));
        let stderr =
            std::fs::File::create(&log).map_err(|e| ReceiverError::Start(e.to_string()))?;
        let out = log.with_extension("out");
        let stdout =
            std::fs::File::create(&out).map_err(|e| ReceiverError::Start(e.to_string()))?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(lambda_environment(runtime_api))
            .stdout(stdout)
            .stderr(stderr);
        for (key, value) in extra {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .map_err(|e| ReceiverError::Start(format!("{}: {e}", binary.display())))?;
        Ok(Self { child, log, out })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the function wrote so far: standard error, then standard output.
    pub fn log(&self) -> String {
        format!(
            "{}\n--- standard output ---\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            self.stdout()
        )
    }

    /// What the function wrote to standard output so far (Lambda sends both streams to
    /// CloudWatch Logs, a line per event).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Sends SIGTERM, as Lambda does before it shuts an environment down.
    pub fn terminate(&self) -> Result<(), ReceiverError> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .map_err(|e| ReceiverError::Start(format!("kill: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(ReceiverError::Start("kill -TERM failed".into()))
        }
    }

    /// Waits for the process to exit, up to `timeout`; returns whether it exited cleanly.
    pub fn wait_for_exit(&mut self, timeout: std::time::Duration) -> Option<bool> {
        let until = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

fn next_serial() -> u16 {
    static SERIAL: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
