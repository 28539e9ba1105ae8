//! Figures into BENCHMARKS.md: samples and their statistics, tables, the machine.

use std::fmt::Write as _;
use std::process::Command;

pub(super) fn kb_to_mb(kb: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let kb = kb as f64;
    kb / 1024.0
}

pub(super) fn overhead_table(
    out: &mut String,
    rows: &[(&'static str, f64, Samples)],
) -> anyhow::Result<()> {
    writeln!(
        out,
        "| Variant | Instructions | over bare | Wall median | p99 | min – max | over bare (median) |\n|---|---:|---:|---:|---:|---:|---:|"
    )?;
    let Some((_, bare_i, bare_w)) = rows.first() else {
        return Ok(());
    };
    for (label, instructions, wall) in rows {
        writeln!(
            out,
            "| {label} | {:.0} | {:+.0} | {} | {} | {} – {} | {} |",
            instructions,
            instructions - bare_i,
            micros(wall.median()),
            micros(wall.p99()),
            micros(wall.min()),
            micros(wall.max()),
            signed_micros(wall.median() - bare_w.median()),
        )?;
    }
    writeln!(out)?;
    Ok(())
}

pub(super) fn micros(seconds: f64) -> String {
    format!("{:.1} µs", seconds * 1e6)
}

pub(super) fn signed_micros(seconds: f64) -> String {
    format!("{:+.1} µs", seconds * 1e6)
}

/// Durations in seconds, sorted.
pub(super) struct Samples(pub(super) Vec<f64>);

impl Samples {
    pub(super) fn new(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self(samples)
    }
    pub(super) fn quantile(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((self.0.len() - 1) as f64 * q).round() as usize;
        self.0[index]
    }
    pub(super) fn median(&self) -> f64 {
        self.quantile(0.5)
    }
    pub(super) fn p99(&self) -> f64 {
        self.quantile(0.99)
    }
    pub(super) fn min(&self) -> f64 {
        self.0.first().copied().unwrap_or(f64::NAN)
    }
    pub(super) fn max(&self) -> f64 {
        self.0.last().copied().unwrap_or(f64::NAN)
    }
    pub(super) fn summary(&self) -> String {
        format!(
            "median {} p99 {} ({} – {})",
            micros(self.median()),
            micros(self.p99()),
            micros(self.min()),
            micros(self.max())
        )
    }
}

pub(super) fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "(unknown date)".to_owned(), |s| s.trim().to_owned())
}

pub(super) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_default();
    let version = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map_or_else(|| format!("{program}: not found"), |s| s.trim().to_owned())
    };
    format!(
        "- {cpu}, {cores} cores, {memory}\n- {}\n- {}\n- command: `cargo xtask bench`",
        version("rustc", "-V"),
        version("valgrind", "--version")
    )
}
