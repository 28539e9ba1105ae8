//! Real function binaries, run as Lambda would run them: built from the workspace, started
//! with the Lambda environment variables, pointed at a [`LocalRuntimeApi`](crate::LocalRuntimeApi).

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
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// What cargo sets for the program it runs (`cargo test`'s test binaries, `cargo run`'s
/// xtask) and for each crate it compiles.
///
/// A cargo started *from* such a program inherits them, and a build script that watches one
/// (rustls's watches `CARGO_MANIFEST_DIR`) then sees it change between the outer build and
/// the inner one: rustls and the ~35 crates above it (reqwest, tonic, the OTLP exporter,
/// ours) were compiled again at every switch — minutes per test run.
const INHERITED_FROM_CARGO: [&str; 9] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
    "CARGO_PKG_NAME",
];

/// A `cargo` command (`$CARGO`, else `cargo` on the path) run from the workspace root, with
/// the environment a user's shell would give it: none of the variables cargo set for the
/// program calling it (`CARGO_MANIFEST_DIR`, `OUT_DIR` and the like; also every `CARGO_PKG_*` and
/// `CARGO_BIN_EXE_*`).
pub fn cargo_command() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(workspace_root());
    without_cargo_run_environment(&mut command);
    command
}

/// Removes from `command`'s environment what cargo set for the program that runs it (see
/// [`cargo_command`]): for tools (`cargo lambda`) that run cargo themselves.
pub fn without_cargo_run_environment(command: &mut Command) {
    for name in INHERITED_FROM_CARGO {
        command.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_PKG_") || name.starts_with("CARGO_BIN_EXE_") {
            command.env_remove(name);
        }
    }
}

static BUILT: Mutex<Option<Result<(), String>>> = Mutex::new(None);

/// Builds the workspace's binaries (once per process) and returns the path of binary `bin`
/// of package `package`.
///
/// Why the whole workspace, `--all-targets`: cargo resolves features per invocation, and
/// `cargo build -p <example>` turns on fewer of them than `cargo test --workspace` (no
/// dev-dependencies, one package's features) — so tokio, hyper, the OpenTelemetry SDK and
/// our crates were compiled again for each example's own feature set, about 2.5 minutes
/// each on a 2-core machine. `--workspace --all-targets` resolves exactly as the test run
/// does, so only the examples' own code is compiled here.
pub fn build_binary(package: &str, bin: &str) -> Result<PathBuf, ReceiverError> {
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let outcome = built.get_or_insert_with(|| {
        match cargo_command()
            .args(["build", "--quiet", "--workspace", "--all-targets"])
            .status()
        {
            Ok(status) if status.success() => Ok(()),
            Ok(_) => Err("cargo build --workspace --all-targets failed".to_owned()),
            Err(e) => Err(format!("cargo build --workspace --all-targets: {e}")),
        }
    });
    if let Err(e) = outcome {
        return Err(ReceiverError::Start(format!("building {package}: {e}")));
    }
    let path = target_dir().join("debug").join(bin);
    if !path.is_file() {
        return Err(ReceiverError::Start(format!(
            "the workspace build made no binary {} — is `{bin}` a binary of `{package}`?",
            path.display()
        )));
    }
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

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    /// `cargo test` set these for this process; the inner cargo must not see them.
    #[test]
    fn the_inner_cargo_sees_none_of_what_cargo_set_for_this_process() {
        assert!(
            std::env::var_os("CARGO_MANIFEST_DIR").is_some(),
            "run under cargo test"
        );
        let command = super::cargo_command();
        let removed: Vec<&OsStr> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name)
            .collect();
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION",
            "CARGO_CRATE_NAME",
        ] {
            assert!(
                removed.contains(&OsStr::new(name)),
                "{name} is passed on: {removed:?}"
            );
        }
        assert!(!removed.contains(&OsStr::new("PATH")), "{removed:?}");
        assert_eq!(
            command.get_current_dir(),
            Some(super::workspace_root().as_path())
        );
    }
}
