//! `cargo xtask package <example>`: a release build of a Lambda example, zipped as the
//! `bootstrap` a `provided.al2023` function runs.
//!
//! It builds for the architecture the example's `template.yaml` declares (`Architectures:
//! [arm64]` → `aarch64-unknown-linux-gnu`), stripped of symbols (cargo's `strip`), and says
//! what to install when the target's standard library or linker is missing. `--target`
//! names another triple (it must match the template); `--host` builds for this machine
//! whatever the template says — a smoke test, not an artifact to deploy.
//!
//! The artifact is what `aws lambda update-function-code --zip-file fileb://…` and a SAM
//! `CodeUri` take. The zip is written with the `zip` crate so that no `zip` binary is needed,
//! and the entry carries Unix mode 0755: Lambda runs `bootstrap` only if it is executable.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use serde_json::Value;

/// The newest glibc `provided.al2023` ships (Amazon Linux 2023 has glibc 2.34).
const AL2023_GLIBC: (u32, u32) = (2, 34);

/// A Lambda example found in the workspace.
struct Example {
    package: String,
    binary: String,
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut example = None;
    let mut target = None;
    let mut host = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--target" => {
                target = Some(
                    iter.next()
                        .context("--target needs a target triple, e.g. aarch64-unknown-linux-gnu")?
                        .clone(),
                );
            }
            "--arm64" => target = Some(ARM64_TARGET.to_owned()),
            "--host" => host = true,
            flag if flag.starts_with('-') => bail!("unknown flag `{flag}` for package"),
            name => example = Some(name.to_owned()),
        }
    }
    let examples = lambda_examples()?;
    let names = || {
        examples
            .iter()
            .map(|e| e.package.trim_start_matches("example-"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(wanted) = example else {
        bail!(
            "name the example to package: cargo xtask package <example>\nLambda examples: {}",
            names()
        );
    };
    let Some(example) = examples
        .iter()
        .find(|e| e.package == wanted || e.package == format!("example-{wanted}"))
    else {
        bail!(
            "`{wanted}` is not a Lambda example of this workspace (a Lambda example depends on \
             lambda_runtime).\nLambda examples: {}",
            names()
        );
    };
    let template = crate::workspace_root()
        .join("examples")
        .join(example.package.trim_start_matches("example-"))
        .join("template.yaml");
    let declared = std::fs::read_to_string(&template)
        .ok()
        .as_deref()
        .and_then(template_architecture);
    let target = if host {
        if let Some(declared) = &declared {
            println!(
                "--host: building for this machine ({}), not the template's {declared}; \
                 the zip is a smoke test, not an artifact to deploy",
                std::env::consts::ARCH
            );
        }
        None
    } else {
        build_target(declared.as_deref(), target)?
    };
    if let Some(target) = &target {
        check_target(target)?;
    }

    let mut build = crate::cargo();
    build.args(["build", "--release", "-p", &example.package]);
    // Symbols are a third of a Rust binary or more, and Lambda never reads them.
    build.env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    if let Some(target) = &target {
        build.args(["--target", target]);
    }
    println!(
        "building {} (release, stripped, {})…",
        example.package,
        target.as_deref().unwrap_or("for this machine")
    );
    let status = build.status().context("could not run cargo build")?;
    if !status.success() {
        bail!("the release build of {} failed", example.package);
    }

    let target_dir = crate::target_dir();
    let release = match &target {
        Some(target) => target_dir.join(target).join("release"),
        None => target_dir.join("release"),
    };
    let binary = release.join(&example.binary);
    let bytes = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    let out_dir = target_dir
        .join("lambda")
        .join(example.package.trim_start_matches("example-"));
    std::fs::create_dir_all(&out_dir)?;
    let zip_path = out_dir.join("bootstrap.zip");
    write_bootstrap_zip(&zip_path, &bytes)?;
    let zip_size = std::fs::metadata(&zip_path)?.len();

    let architecture = match target.as_deref().unwrap_or(std::env::consts::ARCH) {
        t if t.starts_with("aarch64") => "arm64",
        t if t.starts_with("x86_64") => "x86_64",
        other => bail!("Lambda runs x86_64 and arm64 only; {other} cannot run there"),
    };
    println!("\npackaged {}", zip_path.display());
    println!(
        "  binary   {} ({})",
        binary.display(),
        human_size(bytes.len() as u64)
    );
    println!("  zip      {}", human_size(zip_size));
    println!("  runtime  provided.al2023, Architectures: [{architecture}]");
    match required_glibc(&bytes) {
        Some(needed) if needed > AL2023_GLIBC => println!(
            "  warning: the binary needs glibc {}.{}, newer than the {}.{} of provided.al2023; \
             it will not start there. Build on Amazon Linux 2023 (or an older glibc), or with \
             cargo-zigbuild / cargo-lambda, which target an older glibc.",
            needed.0, needed.1, AL2023_GLIBC.0, AL2023_GLIBC.1
        ),
        Some(needed) => println!(
            "  glibc    needs {}.{} (provided.al2023 has {}.{})",
            needed.0, needed.1, AL2023_GLIBC.0, AL2023_GLIBC.1
        ),
        None => println!("  glibc    not linked (static binary)"),
    }
    Ok(())
}

/// The workspace's examples that depend on lambda_runtime, from `cargo metadata`.
fn lambda_examples() -> anyhow::Result<Vec<Example>> {
    let output = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("could not run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    let examples_dir = crate::workspace_root().join("examples");
    let mut examples = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let in_examples = package["manifest_path"]
            .as_str()
            .is_some_and(|path| Path::new(path).starts_with(&examples_dir));
        let lambda = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["name"] == "lambda_runtime" || d["name"] == "lambda_http");
        let binary = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.contains(&"bin".into()))
            })
            .and_then(|t| t["name"].as_str());
        if let (true, true, Some(binary), Some(name)) =
            (in_examples, lambda, binary, package["name"].as_str())
        {
            examples.push(Example {
                package: name.to_owned(),
                binary: binary.to_owned(),
            });
        }
    }
    examples.sort_by(|a, b| a.package.cmp(&b.package));
    Ok(examples)
}

/// The triple of Lambda's arm64.
const ARM64_TARGET: &str = "aarch64-unknown-linux-gnu";

/// The first architecture a SAM template declares (`Architectures: [arm64]`, or the list
/// form on the next line), if any.
fn template_architecture(template: &str) -> Option<String> {
    let mut lines = template.lines();
    while let Some(line) = lines.next() {
        let Some(value) = line.trim().strip_prefix("Architectures:") else {
            continue;
        };
        let value = value.trim();
        let first = if value.is_empty() {
            lines.next()?.trim().strip_prefix('-')?.trim().to_owned()
        } else {
            value
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .next()?
                .trim()
                .to_owned()
        };
        let first = first.trim_matches(|c| c == '"' || c == '\'');
        return (!first.is_empty()).then(|| first.to_owned());
    }
    None
}

/// The triple to build: `requested` when given (it must match what the template
/// declares), else the template's architecture; `None` when that is this machine's.
fn build_target(
    declared: Option<&str>,
    requested: Option<String>,
) -> anyhow::Result<Option<String>> {
    let declared_triple = match declared {
        None => None,
        Some("arm64") => Some(ARM64_TARGET),
        Some("x86_64") => Some("x86_64-unknown-linux-gnu"),
        Some(other) => bail!("the template declares `{other}`; Lambda runs arm64 and x86_64"),
    };
    let wanted = match (requested, declared_triple) {
        (Some(requested), Some(triple)) if !requested.starts_with(arch_of(triple)) => bail!(
            "the template declares {} but --target is {requested}: the function would not \
             start; change the template, or use --host for a local smoke test",
            declared.unwrap_or_default()
        ),
        (Some(requested), _) => requested,
        (None, Some(declared)) => declared.to_owned(),
        (None, None) => return Ok(None),
    };
    Ok((!wanted.starts_with(std::env::consts::ARCH)).then_some(wanted))
}

fn arch_of(triple: &str) -> &str {
    triple.split('-').next().unwrap_or(triple)
}

/// Fails with what to do when the toolchain cannot build for `target`.
fn check_target(target: &str) -> anyhow::Result<()> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("could not run rustc")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !sysroot
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
    {
        bail!(
            "this toolchain has no standard library for {target}; install it with \
             `rustup target add {target}` (and a linker for it), or use --host for a local \
             smoke test"
        );
    }
    let host_arch = std::env::consts::ARCH;
    if !target.starts_with(host_arch) && target.ends_with("-linux-gnu") {
        let variable = format!(
            "CARGO_TARGET_{}_LINKER",
            target.to_uppercase().replace('-', "_")
        );
        let arch = target.split('-').next().unwrap_or(target);
        let default_linker = format!("{arch}-linux-gnu-gcc");
        let configured = std::env::var(&variable).ok();
        let linker = configured.clone().unwrap_or(default_linker.clone());
        let found = Command::new(&linker)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            bail!(
                "no linker for {target}: `{linker}` is not installed. Install one (Debian: \
                 `apt install gcc-{arch}-linux-gnu`) and set {variable}={default_linker}, or \
                 use cargo-zigbuild / cargo-lambda, which bring their own"
            );
        }
        if configured.is_none() {
            bail!(
                "{default_linker} is installed but cargo does not use it by itself: set \
                 {variable}={default_linker}"
            );
        }
    }
    Ok(())
}

/// Writes `binary` as the single entry `bootstrap`, executable, into a new zip at `path`.
fn write_bootstrap_zip(path: &Path, binary: &[u8]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)?;
    zip.write_all(binary)?;
    zip.finish()?;
    Ok(())
}

/// The newest `GLIBC_x.y` symbol version a dynamically linked binary asks for.
fn required_glibc(binary: &[u8]) -> Option<(u32, u32)> {
    const MARK: &[u8] = b"GLIBC_";
    let mut newest = None;
    let mut rest = binary;
    while let Some(at) = rest.windows(MARK.len()).position(|w| w == MARK) {
        rest = &rest[at + MARK.len()..];
        let digits: Vec<u8> = rest
            .iter()
            .copied()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .collect();
        let text = String::from_utf8_lossy(&digits);
        let mut parts = text.split('.');
        if let (Some(Ok(major)), Some(Ok(minor))) = (
            parts.next().map(str::parse::<u32>),
            parts.next().map(str::parse::<u32>),
        ) {
            newest = newest.max(Some((major, minor)));
        }
    }
    newest
}

fn human_size(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn the_template_decides_the_architecture() {
        let inline = "Globals:\n  Function:\n    Architectures: [arm64]\n";
        assert_eq!(template_architecture(inline).as_deref(), Some("arm64"));
        let listed = "Resources:\n  F:\n    Properties:\n      Architectures:\n        - x86_64\n";
        assert_eq!(template_architecture(listed).as_deref(), Some("x86_64"));
        assert_eq!(template_architecture("Resources: {}\n"), None);
        for example in ["lambda-scheduled", "lambda-sqs-batch", "lambda-orders-api"] {
            let template = crate::workspace_root()
                .join("examples")
                .join(example)
                .join("template.yaml");
            let text = std::fs::read_to_string(&template).unwrap();
            assert_eq!(
                template_architecture(&text).as_deref(),
                Some("arm64"),
                "{example}"
            );
        }
    }

    #[test]
    fn the_target_follows_the_template_unless_it_is_this_machine() {
        let on_arm = std::env::consts::ARCH == "aarch64";
        let arm = build_target(Some("arm64"), None).unwrap();
        assert_eq!(arm.as_deref(), (!on_arm).then_some(ARM64_TARGET));
        let x86 = build_target(Some("x86_64"), None).unwrap();
        assert_eq!(x86.is_none(), !on_arm);
        assert_eq!(build_target(None, None).unwrap(), None);
        let error = build_target(Some("arm64"), Some("x86_64-unknown-linux-gnu".into()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("declares arm64"), "{error}");
        assert!(build_target(Some("s390x"), None).is_err());
    }

    #[test]
    fn the_zip_holds_one_executable_bootstrap_with_the_binary() {
        let dir = crate::target_dir().join("xtask-test");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bootstrap.zip");
        let binary: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        write_bootstrap_zip(&path, &binary).unwrap();

        let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut read = Vec::new();
        entry.read_to_end(&mut read).unwrap();
        assert_eq!(read, binary);
    }

    #[test]
    fn the_newest_glibc_version_is_found() {
        let binary = b"\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.17\0GLIBC_PRIVATE\0GLIBC_2.3.4\0";
        assert_eq!(required_glibc(binary), Some((2, 34)));
        assert_eq!(required_glibc(b"no glibc here"), None);
    }

    #[test]
    fn a_missing_target_says_how_to_install_it() {
        let error = check_target("riscv64gc-unknown-none-elf-not-a-target")
            .unwrap_err()
            .to_string();
        assert!(error.contains("rustup target add"), "{error}");
    }
}
