//! cargo-lambda (PyPI `cargo-lambda`), the Runtime API emulator most Rust Lambda users run
//! locally: `cargo lambda watch` builds and runs an example, `cargo lambda invoke` sends it
//! an event, and its `/lambda-url/<function>/` front turns plain HTTP requests into function
//! URL events.
//!
//! `cargo xtask test` installs it into `target/emulators/cargo-lambda-venv` and points
//! `OTEL_FAAS_CARGO_LAMBDA` at it; without it, starting fails and says how to install it.

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::function::target_dir;
use crate::workspace_root;

/// How long `cargo lambda watch` may take to build and start an example.
const START: Duration = Duration::from_secs(300);

/// The cargo-lambda executable; panics with the way to install it when it is missing.
fn cargo_lambda() -> PathBuf {
    let path = std::env::var_os("OTEL_FAAS_CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("emulators/cargo-lambda-venv/bin/cargo-lambda"));
    assert!(
        path.is_file(),
        "cargo-lambda is not installed at {}: run `cargo xtask test`, which installs it \
         (python3 -m venv target/emulators/cargo-lambda-venv && \
         target/emulators/cargo-lambda-venv/bin/pip install -r xtask/requirements-cargo-lambda.txt)",
        path.display()
    );
    path
}

/// `cargo lambda watch` serving one example; killed, with the function it runs, on drop.
pub struct CargoLambdaWatch {
    child: Child,
    /// The port of its invoke API and function URL front.
    pub port: u16,
    log: PathBuf,
}

impl CargoLambdaWatch {
    /// Starts `cargo lambda watch` in `examples/<example>` with `env` for the function.
    pub fn start(example: &str, env: &[(&str, &str)]) -> Self {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("its address").port()
        };
        let logs = target_dir().join("function-logs");
        std::fs::create_dir_all(&logs).expect("the log directory");
        let log = logs.join(format!("cargo-lambda-{example}-{port}.log"));
        let output = std::fs::File::create(&log).expect("the log file");
        // An env file rather than `--env-var`, which splits values at commas
        // (`OTEL_PROPAGATORS=tracecontext,xray`).
        let env_file = logs.join(format!("cargo-lambda-{example}-{port}.env"));
        // Double-quoted, so that spaces and parentheses (`rate(5 minutes)`) parse.
        let lines: String = env
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"\n", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        std::fs::write(&env_file, lines).expect("the env file");
        let mut command = Command::new(cargo_lambda());
        command
            .args(["lambda", "watch", "--ignore-changes", "--quiet"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .current_dir(workspace_root().join("examples").join(example))
            .stdout(Stdio::null())
            .stderr(output)
            // Its own process group, so that the `cargo run` and the function it starts
            // are stopped with it.
            .process_group(0);
        // As a user's shell would start it: cargo-lambda runs cargo, which must not see
        // what cargo set for this test process (see `cargo_command`).
        crate::without_cargo_run_environment(&mut command);
        command.arg("--env-file").arg(&env_file);
        let child = command.spawn().expect("cargo lambda watch");
        Self { child, port, log }
    }

    /// What cargo-lambda and the function wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `cargo lambda invoke --data-file`, retried until the example is up.
    pub fn invoke(&self, function: &str, data_file: &Path) -> Value {
        let started = Instant::now();
        loop {
            let output = Command::new(cargo_lambda())
                .args(["lambda", "invoke", function, "--output-format", "json"])
                .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
                .arg(self.port.to_string())
                .arg("--data-file")
                .arg(data_file)
                .output()
                .expect("cargo lambda invoke");
            if output.status.success() {
                return serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
                    panic!(
                        "{e}: {}\n{}",
                        String::from_utf8_lossy(&output.stdout),
                        self.log()
                    )
                });
            }
            assert!(
                started.elapsed() < START,
                "cargo lambda invoke kept failing: {}\nwatch log:\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for CargoLambdaWatch {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
        }
        let _ = self.child.wait();
    }
}

impl CargoLambdaWatch {
    /// The function URL front of `function`: `http://127.0.0.1:<port>/lambda-url/<function>`.
    pub fn function_url(&self, function: &str) -> String {
        format!("http://127.0.0.1:{}/lambda-url/{function}", self.port)
    }
}
