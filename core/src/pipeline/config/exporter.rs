//! One signal's exporter settings: which exporters, the OTLP protocol, endpoint,
//! compression and TLS files (`OTEL_{TRACES,METRICS,LOGS}_EXPORTER`,
//! `OTEL_EXPORTER_OTLP_[SIGNAL_]*`).

use std::path::PathBuf;
use std::time::Duration;

use super::headers::{Headers, read_headers};
use super::signal::{Signal, signal_var};
use super::values::parse_millis;
use crate::env::Environment;
use crate::warning::ConfigWarning;

/// Where a signal goes (`OTEL_{TRACES,METRICS,LOGS}_EXPORTER`).
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::{Exporter, PipelineConfig};
///
/// let config = PipelineConfig::from_env(&MapEnvironment::from([("OTEL_METRICS_EXPORTER", "console")]));
/// assert_eq!(config.metrics.exporters, [Exporter::Console]);
/// assert_eq!(config.traces.exporters, [Exporter::Otlp]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exporter {
    /// OTLP, over the configured protocol.
    Otlp,
    /// Human-readable lines on standard output, for local use.
    Console,
    /// OTLP JSON lines on standard output (`otlp/stdout`), the format of the
    /// specification's OTLP File exporter: for platforms whose log capture forwards them.
    OtlpStdout,
    /// A destination a platform crate registered under this name (see
    /// [`Pipeline::with_span_destination`](crate::Pipeline::with_span_destination) and its
    /// siblings for metrics and logs).
    Named(&'static str),
}

/// The OTLP wire protocol (`OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// Protobuf over HTTP: the default, and the cheapest on a cold start.
    HttpProtobuf,
    /// JSON over HTTP.
    HttpJson,
    /// gRPC; needs the `otlp-grpc` cargo feature.
    Grpc,
}

/// Payload compression (`OTEL_EXPORTER_OTLP_[SIGNAL_]COMPRESSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// gzip.
    Gzip,
}

/// TLS files (`OTEL_EXPORTER_OTLP_[SIGNAL_]{CERTIFICATE,CLIENT_KEY,CLIENT_CERTIFICATE}`):
/// a CA to trust beside the public roots, and a client certificate for mutual TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of CA certificates to trust.
    pub certificate: Option<PathBuf>,
    /// PEM file of the client's private key.
    pub client_key: Option<PathBuf>,
    /// PEM file of the client's certificate chain.
    pub client_certificate: Option<PathBuf>,
}

/// The exporter settings of one signal.
#[derive(Debug, Clone)]
pub struct SignalConfig {
    /// The exporters; empty for `none`.
    pub exporters: Vec<Exporter>,
    /// The OTLP protocol.
    pub protocol: OtlpProtocol,
    /// The full URL the signal is sent to.
    pub endpoint: String,
    /// Extra headers (or gRPC metadata) on every export.
    pub headers: Headers,
    /// The export timeout.
    pub timeout: Duration,
    /// Payload compression, if any.
    pub compression: Option<Compression>,
    /// TLS files.
    pub tls: TlsFiles,
}

pub(super) fn read_signal(
    env: &dyn Environment,
    signal: Signal,
    named: &[&'static str],
    default: Option<&'static str>,
    w: &mut Vec<ConfigWarning>,
) -> SignalConfig {
    let exporters = read_exporters(env, signal, named, default, w);
    let protocol = read_protocol(env, signal, w);
    let endpoint = read_endpoint(env, signal, protocol, w);
    let headers = read_headers(env, signal, w);
    let timeout = match signal_var(env, signal, "OTEL_EXPORTER_OTLP_TIMEOUT") {
        None => Duration::from_secs(10),
        Some((var, value)) => parse_millis(&var, value, 10_000, w),
    };
    let compression = read_compression(env, signal, w);
    let path = |general: &'static str| {
        signal_var(env, signal, general).map(|(_, value)| PathBuf::from(value))
    };
    let tls = TlsFiles {
        certificate: path("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        client_key: path("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        client_certificate: path("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
    };
    if tls.client_key.is_some() != tls.client_certificate.is_some() {
        w.push(ConfigWarning::new(
            signal.specific("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
            "<only one of the client key and certificate>",
            "both OTEL_EXPORTER_OTLP_CLIENT_KEY and OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, or neither",
            "no client certificate",
        ));
    }
    SignalConfig {
        exporters,
        protocol,
        endpoint,
        headers: Headers::from(headers),
        timeout,
        compression,
        tls,
    }
}

/// The cargo feature that builds `signal`'s OTLP exporter in, if it is not always there.
fn otlp_feature(signal: Signal) -> Option<&'static str> {
    match signal {
        Signal::Traces => None,
        Signal::Metrics => Some("otlp-metrics"),
        Signal::Logs => Some("otlp-logs"),
    }
}

/// Whether `signal`'s OTLP exporter is compiled in (spans always are).
fn otlp_built(signal: Signal) -> bool {
    match signal {
        Signal::Traces => true,
        Signal::Metrics => cfg!(feature = "otlp-metrics"),
        Signal::Logs => cfg!(feature = "otlp-logs"),
    }
}

/// The name of [`Exporter::OtlpStdout`] in the exporter variables.
pub(crate) const OTLP_STDOUT: &str = "otlp/stdout";

/// Whether `signal`'s `otlp/stdout` exporter is compiled in (spans always are).
fn otlp_stdout_built(signal: Signal) -> bool {
    signal == Signal::Traces || cfg!(feature = "otlp-stdout")
}

fn read_exporters(
    env: &dyn Environment,
    signal: Signal,
    named: &[&'static str],
    platform_default: Option<&'static str>,
    w: &mut Vec<ConfigWarning>,
) -> Vec<Exporter> {
    let var = signal.exporter_variable();
    let otlp = otlp_built(signal);
    let console = cfg!(feature = "console");
    // The specification's default is `otlp`, unless a platform made its own destination
    // the default (Application Insights where its connection string is set); where the
    // OTLP exporter of this signal is not compiled in, the default is `none` (a function
    // built without it chose so).
    let default = || {
        if let Some(name) = platform_default {
            vec![Exporter::Named(name)]
        } else if otlp {
            vec![Exporter::Otlp]
        } else {
            Vec::new()
        }
    };
    let Some(raw) = env.get_non_empty(var) else {
        return default();
    };
    let mut names: Vec<&str> = Vec::new();
    if otlp {
        names.push("otlp");
    }
    let otlp_stdout = otlp_stdout_built(signal);
    if otlp_stdout {
        names.push(OTLP_STDOUT);
    }
    if console {
        names.push("console");
    }
    names.extend(named);
    names.push("none");
    let mut accepted = names.join(", ");
    let mut missing = Vec::new();
    if let (false, Some(feature)) = (otlp, otlp_feature(signal)) {
        missing.push(format!("otlp needs the {feature} cargo feature"));
    }
    if !console {
        missing.push("console needs the console cargo feature".to_owned());
    }
    if !otlp_stdout {
        missing.push(format!("{OTLP_STDOUT} needs the otlp-stdout cargo feature"));
    }
    if !missing.is_empty() {
        accepted = format!("{accepted} ({} of otel-faas-core)", missing.join(", "));
    }
    let fallback = match platform_default {
        Some(name) => name,
        None if otlp => "otlp",
        None => "none",
    };
    let mut exporters = Vec::new();
    let mut refused = Vec::new();
    for name in raw.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        let exporter = match name.as_str() {
            "otlp" if otlp => Exporter::Otlp,
            "console" | "stdout" if console => Exporter::Console,
            OTLP_STDOUT if otlp_stdout => Exporter::OtlpStdout,
            "none" => return Vec::new(),
            "" => continue,
            other => match named.iter().find(|n| n.eq_ignore_ascii_case(other)) {
                Some(registered) => Exporter::Named(registered),
                None => {
                    refused.push(name);
                    continue;
                }
            },
        };
        if !exporters.contains(&exporter) {
            exporters.push(exporter);
        }
    }
    // One warning per name refused, or one for the whole value when nothing was accepted.
    if exporters.is_empty() {
        w.push(ConfigWarning::new(var, raw, accepted, fallback));
        return default();
    }
    for name in refused {
        w.push(ConfigWarning::new(
            var,
            name,
            accepted.clone(),
            "the other listed exporters",
        ));
    }
    exporters
}

fn read_protocol(
    env: &dyn Environment,
    signal: Signal,
    w: &mut Vec<ConfigWarning>,
) -> OtlpProtocol {
    let Some((var, value)) = signal_var(env, signal, "OTEL_EXPORTER_OTLP_PROTOCOL") else {
        return OtlpProtocol::HttpProtobuf;
    };
    match value.to_ascii_lowercase().as_str() {
        "http/protobuf" => OtlpProtocol::HttpProtobuf,
        "http/json" => OtlpProtocol::HttpJson,
        "grpc" if cfg!(feature = "otlp-grpc") => OtlpProtocol::Grpc,
        "grpc" => {
            w.push(ConfigWarning::new(
                var,
                value,
                "http/protobuf, http/json (grpc needs the otlp-grpc cargo feature of otel-faas-core)",
                "http/protobuf",
            ));
            OtlpProtocol::HttpProtobuf
        }
        _ => {
            let accepted = if cfg!(feature = "otlp-grpc") {
                "http/protobuf, http/json, grpc"
            } else {
                "http/protobuf, http/json"
            };
            w.push(ConfigWarning::new(var, value, accepted, "http/protobuf"));
            OtlpProtocol::HttpProtobuf
        }
    }
}

/// Resolves a signal's URL as the OTLP exporter spec says: a signal-specific endpoint is
/// used as given; the general one gets `/v1/<signal>` appended for HTTP.
fn read_endpoint(
    env: &dyn Environment,
    signal: Signal,
    protocol: OtlpProtocol,
    w: &mut Vec<ConfigWarning>,
) -> String {
    let http = protocol != OtlpProtocol::Grpc;
    let default_base = if http {
        "http://localhost:4318"
    } else {
        "http://localhost:4317"
    };
    let with_path = |base: &str| {
        if http {
            format!("{}{}", base.trim_end_matches('/'), signal.path())
        } else {
            base.to_owned()
        }
    };
    let specific = signal.specific("OTEL_EXPORTER_OTLP_ENDPOINT");
    let candidates = [
        (specific.as_str(), false),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", true),
    ];
    for (var, append) in candidates {
        let Some(value) = env.get_non_empty(var) else {
            continue;
        };
        if !is_http_url(&value) {
            let default = with_path(default_base);
            w.push(ConfigWarning::new(
                var,
                value,
                "an http:// or https:// URL",
                default.clone(),
            ));
            return default;
        }
        if value.starts_with("https://")
            && protocol == OtlpProtocol::Grpc
            && !cfg!(feature = "otlp-grpc-tls")
        {
            w.push(ConfigWarning::new(
                var,
                value.clone(),
                "http:// URLs for grpc (https with grpc needs the otlp-grpc-tls cargo feature of otel-faas-core)",
                "the URL as given: the gRPC exporter cannot be built",
            ));
        } else if value.starts_with("https://") && !cfg!(feature = "tls") {
            w.push(ConfigWarning::new(
                var,
                value.clone(),
                "http:// URLs (https needs the tls cargo feature of otel-faas-core, on by default)",
                "the URL as given: every export to it fails",
            ));
        }
        return if append { with_path(&value) } else { value };
    }
    with_path(default_base)
}

fn is_http_url(value: &str) -> bool {
    value.parse::<http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some()
    })
}

fn read_compression(
    env: &dyn Environment,
    signal: Signal,
    w: &mut Vec<ConfigWarning>,
) -> Option<Compression> {
    let (var, value) = signal_var(env, signal, "OTEL_EXPORTER_OTLP_COMPRESSION")?;
    match value.to_ascii_lowercase().as_str() {
        "gzip" => Some(Compression::Gzip),
        "none" => None,
        _ => {
            w.push(ConfigWarning::new(var, value, "gzip, none", "none"));
            None
        }
    }
}
