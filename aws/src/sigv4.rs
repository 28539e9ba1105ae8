//! SigV4-signed OTLP: spans straight into X-Ray's OTLP endpoint
//! (`https://xray.<region>.amazonaws.com/v1/traces`) and log records into CloudWatch Logs'
//! (`https://logs.<region>.amazonaws.com/v1/logs`), without a collector.
//!
//! Point the signal's OTLP endpoint at the AWS endpoint and every export request to it is
//! signed with SigV4 — service and region read from the host name — just before it is
//! sent, over the bytes sent (compressed, when `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`):
//!
//! ```text
//! OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=https://xray.eu-west-1.amazonaws.com/v1/traces
//! OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=https://logs.eu-west-1.amazonaws.com/v1/logs
//! OTEL_EXPORTER_OTLP_LOGS_HEADERS=x-aws-log-group=/my/app,x-aws-log-stream=default
//! ```
//!
//! An endpoint whose host does not say the service (a proxy, a VPC endpoint under its own
//! name) is signed when [`SIGV4_SERVICE_VARIABLE`] (`OTEL_FAAS_AWS_SIGV4_SERVICE`) names
//! the service: one name for every signal (`xray`), or one per signal
//! (`traces=xray,logs=logs`); the region is then `AWS_REGION`. Only OTLP/HTTP is signed: a
//! signed endpoint with `grpc` is a warning and no exporter.
//!
//! **Credentials** are read from the environment on every request — `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` — as Lambda sets them from the function's
//! role, so credentials that change are used as soon as they do. Without them the export
//! fails, saying which variable is missing, and its records are counted as dropped;
//! credentials the endpoint refuses (expired: 403) are a failed export too, counted, never
//! a failed invocation. Containers that get credentials from an endpoint
//! (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on ECS) are not read here: that would take a
//! network call on the export path.
//!
//! IAM: `xray:PutTraceSegments` for traces (the managed policy
//! `AWSXrayWriteOnlyAccess`, and X-Ray's Transaction Search turned on for the account);
//! `logs:PutLogEvents` on the log group for logs.
//!
//! `aws-sigv4` computes the signature: the AWS SDK's own signer, already in every SDK
//! build, so the signature is the one the SDKs send.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use otel_faas_core::env::Environment;
use otel_faas_core::pipeline::{RequestSigner, Signal, SignalConfig, SignerFactory, SigningError};

/// Names the service to sign for when the endpoint's host does not say it.
pub const SIGV4_SERVICE_VARIABLE: &str = "OTEL_FAAS_AWS_SIGV4_SERVICE";

/// The services whose OTLP endpoints are recognised by their host name.
const OTLP_SERVICES: [&str; 2] = ["xray", "logs"];

/// Signs export requests with SigV4 for one service and region, with credentials read from
/// the environment on each request (see the module documentation).
///
/// ```
/// use std::sync::Arc;
/// use otel_faas_aws::sigv4::SigV4Signer;
/// use otel_faas_core::env::MapEnvironment;
/// use otel_faas_core::pipeline::RequestSigner;
///
/// let env = Arc::new(MapEnvironment::from([
///     ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
///     ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
/// ]));
/// let signer = SigV4Signer::for_endpoint(env, "https://xray.eu-west-1.amazonaws.com/v1/traces").unwrap();
/// assert_eq!((signer.service(), signer.region()), ("xray", "eu-west-1"));
///
/// let mut headers = http::HeaderMap::new();
/// let uri = "https://xray.eu-west-1.amazonaws.com/v1/traces".parse().unwrap();
/// signer.sign(&http::Method::POST, &uri, &mut headers, b"spans").unwrap();
/// assert!(headers["authorization"].to_str().unwrap().starts_with(
///     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"
/// ));
/// assert!(headers.contains_key("x-amz-date"));
/// ```
pub struct SigV4Signer {
    service: String,
    region: String,
    env: Arc<dyn Environment>,
}

impl fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("service", &self.service)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SigV4Signer {
    /// A signer for `service` in `region`, reading credentials from `env`.
    pub fn new(
        service: impl Into<String>,
        region: impl Into<String>,
        env: Arc<dyn Environment>,
    ) -> Self {
        Self {
            service: service.into(),
            region: region.into(),
            env,
        }
    }

    /// The signer an OTLP `endpoint` needs: `Some` for `https://{xray,logs}.<region>.amazonaws.com/…`
    /// (the service and region from the host), or for any endpoint when
    /// [`SIGV4_SERVICE_VARIABLE`] names the service (the region from `AWS_REGION`, else
    /// `AWS_DEFAULT_REGION`); `None` otherwise, and when no region is known (with a
    /// warning).
    pub fn for_endpoint(env: Arc<dyn Environment>, endpoint: &str) -> Option<Self> {
        Self::for_signal_endpoint(env, None, endpoint)
    }

    /// [`for_endpoint`](Self::for_endpoint) for one signal's endpoint: a per-signal
    /// [`SIGV4_SERVICE_VARIABLE`] (`traces=xray,logs=logs`) is read for `signal`.
    pub fn for_signal_endpoint(
        env: Arc<dyn Environment>,
        signal: Option<Signal>,
        endpoint: &str,
    ) -> Option<Self> {
        let host = endpoint
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| uri.host().map(str::to_ascii_lowercase))?;
        if let Some((service, region)) = aws_otlp_host(&host) {
            return Some(Self::new(service, region, env));
        }
        let service = service_override(&env.get_non_empty(SIGV4_SERVICE_VARIABLE)?, signal)?;
        let region = env
            .get_non_empty("AWS_REGION")
            .or_else(|| env.get_non_empty("AWS_DEFAULT_REGION"));
        let Some(region) = region else {
            otel_faas_core::env::report_once(
                "sigv4-no-region",
                &format!(
                    "{SIGV4_SERVICE_VARIABLE}={service} asks for SigV4, but neither AWS_REGION \
                     nor AWS_DEFAULT_REGION is set: exports to {host} are sent unsigned"
                ),
            );
            return None;
        };
        Some(Self::new(service, region, env))
    }

    /// The service signed for (`xray`, `logs`).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The region signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    fn credentials(&self) -> Result<Credentials, SigningError> {
        let read = |name: &str| self.env.get_non_empty(name);
        let missing = |name: &str| {
            SigningError::new(format!(
                "no AWS credentials for SigV4: {name} is not set (Lambda sets it from the \
                 function's role; elsewhere set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY \
                 and, for temporary credentials, AWS_SESSION_TOKEN)"
            ))
        };
        let key = read("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?;
        let secret =
            read("AWS_SECRET_ACCESS_KEY").ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?;
        Ok(Credentials::new(
            key,
            secret,
            read("AWS_SESSION_TOKEN"),
            None,
            "environment",
        ))
    }
}

/// The service [`SIGV4_SERVICE_VARIABLE`]'s `value` names for `signal`: the one name, or
/// the `signal=service` pair of `signal` (`traces=xray,logs=logs`).
fn service_override(value: &str, signal: Option<Signal>) -> Option<String> {
    let value = value.trim();
    if !value.contains('=') {
        return (!value.is_empty()).then(|| value.to_owned());
    }
    let signal = signal?;
    value.split(',').find_map(|pair| {
        let (name, service) = pair.split_once('=')?;
        (name.trim().eq_ignore_ascii_case(signal.as_str()) && !service.trim().is_empty())
            .then(|| service.trim().to_owned())
    })
}

/// `(service, region)` of `xray.<region>.amazonaws.com` or `logs.<region>.amazonaws.com`
/// (and the `.amazonaws.com.cn` partition).
fn aws_otlp_host(host: &str) -> Option<(&str, &str)> {
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let (service, region) = rest.split_once('.')?;
    let valid_region = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (OTLP_SERVICES.contains(&service) && valid_region).then_some((service, region))
}

impl RequestSigner for SigV4Signer {
    fn sign(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &mut http::HeaderMap,
        body: &[u8],
    ) -> Result<(), SigningError> {
        let identity = self.credentials()?.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| SigningError::new(format!("SigV4 parameters: {error}")))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            uri.to_string(),
            headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
            SignableBody::Bytes(body),
        )
        .map_err(|error| SigningError::new(format!("SigV4: {error}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|error| SigningError::new(format!("SigV4: {error}")))?
            .into_parts();
        for (name, value) in instructions.headers() {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SigningError::new(format!("SigV4 gave the header name {name:?}")))?;
            let mut value = http::HeaderValue::from_str(value).map_err(|_| {
                SigningError::new(format!("SigV4 gave an invalid value for {name}"))
            })?;
            // The signature and the session token are credentials: never printed.
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(())
    }
}

/// The factory [`Pipeline::with_request_signer`](otel_faas_core::Pipeline::with_request_signer)
/// takes: a [`SigV4Signer`] for every signal whose OTLP endpoint is an AWS one (see the
/// module documentation). `LambdaTelemetry` registers it; register it yourself on a
/// pipeline you build (a container on ECS).
///
/// ```
/// use otel_faas_core::Pipeline;
/// use otel_faas_core::env::MapEnvironment;
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://xray.eu-west-1.amazonaws.com/v1/traces"),
///     ("OTEL_METRICS_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .with_request_signer(otel_faas_aws::sigv4::otlp_signer())
/// .install();
/// assert!(telemetry.warnings().is_empty());
/// ```
pub fn otlp_signer() -> SignerFactory {
    Arc::new(|env, signal, config: &SignalConfig| {
        SigV4Signer::for_signal_endpoint(Arc::clone(env), Some(signal), &config.endpoint)
            .map(|signer| Arc::new(signer) as Arc<dyn RequestSigner>)
    })
}

/// The span adapter [`Pipeline::with_otlp_span_adapter`](otel_faas_core::Pipeline::with_otlp_span_adapter)
/// takes: X-Ray annotations ([`OtlpAnnotations`](crate::xray::annotations::OtlpAnnotations))
/// for spans sent to X-Ray's OTLP endpoint — `xray.<region>.amazonaws.com`, or an endpoint
/// [`SIGV4_SERVICE_VARIABLE`] signs for `xray`. Registered with [`otlp_signer`] by
/// `LambdaTelemetry` and `containers::pipeline`.
///
/// ```
/// use otel_faas_core::Pipeline;
/// use otel_faas_core::env::MapEnvironment;
///
/// let telemetry = Pipeline::with_environment(MapEnvironment::from([
///     ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://xray.eu-west-1.amazonaws.com/v1/traces"),
///     ("OTEL_METRICS_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .with_request_signer(otel_faas_aws::sigv4::otlp_signer())
/// .with_otlp_span_adapter(otel_faas_aws::sigv4::xray_otlp_annotations())
/// .install();
/// assert!(telemetry.warnings().is_empty());
/// ```
pub fn xray_otlp_annotations() -> otel_faas_core::pipeline::OtlpSpanAdapterFactory {
    Arc::new(|env, config: &SignalConfig| {
        SigV4Signer::for_signal_endpoint(Arc::clone(env), Some(Signal::Traces), &config.endpoint)
            .filter(|signer| signer.service() == "xray")
            .map(|_| {
                Arc::new(crate::xray::annotations::OtlpAnnotations)
                    as Arc<dyn otel_faas_core::pipeline::OtlpSpanAdapter>
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without credentials nothing is signed, and the error names the missing variable
    /// (never a value).
    #[test]
    fn missing_credentials_are_named() {
        use otel_faas_core::env::MapEnvironment;
        let sign = |pairs: &[(&str, &str)]| {
            let env: Arc<dyn Environment> =
                Arc::new(pairs.iter().copied().collect::<MapEnvironment>());
            let mut headers = http::HeaderMap::new();
            let uri = "https://xray.eu-west-1.amazonaws.com/v1/traces"
                .parse()
                .unwrap();
            SigV4Signer::new("xray", "eu-west-1", env)
                .sign(&http::Method::POST, &uri, &mut headers, b"")
                .map(|()| headers)
        };
        let error = sign(&[("AWS_SECRET_ACCESS_KEY", "s3cret")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("AWS_ACCESS_KEY_ID is not set"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        let error = sign(&[("AWS_ACCESS_KEY_ID", "AKID")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("AWS_SECRET_ACCESS_KEY is not set"),
            "{error}"
        );
        let headers = sign(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s3cret"),
            ("AWS_SESSION_TOKEN", "token"),
        ])
        .unwrap();
        assert_eq!(headers["x-amz-security-token"], "token");
        assert!(headers["authorization"].is_sensitive());
    }

    #[test]
    fn the_service_override_is_one_name_or_one_per_signal() {
        assert_eq!(
            service_override(" xray ", Some(Signal::Logs)).as_deref(),
            Some("xray")
        );
        assert_eq!(service_override("xray", None).as_deref(), Some("xray"));
        let pairs = "traces=xray, logs = logs";
        assert_eq!(
            service_override(pairs, Some(Signal::Traces)).as_deref(),
            Some("xray")
        );
        assert_eq!(
            service_override(pairs, Some(Signal::Logs)).as_deref(),
            Some("logs")
        );
        assert_eq!(service_override(pairs, Some(Signal::Metrics)), None);
        assert_eq!(service_override(pairs, None), None);
        assert_eq!(service_override("traces=", Some(Signal::Traces)), None);
        assert_eq!(service_override("", Some(Signal::Traces)), None);
    }

    #[test]
    fn aws_otlp_hosts_name_their_service_and_region() {
        assert_eq!(
            aws_otlp_host("xray.us-east-1.amazonaws.com"),
            Some(("xray", "us-east-1"))
        );
        assert_eq!(
            aws_otlp_host("logs.eu-west-1.amazonaws.com"),
            Some(("logs", "eu-west-1"))
        );
        assert_eq!(
            aws_otlp_host("xray.cn-north-1.amazonaws.com.cn"),
            Some(("xray", "cn-north-1"))
        );
        for other in [
            "collector.example.com",
            "s3.us-east-1.amazonaws.com",
            "xray.amazonaws.com",
            "xray.us_east.amazonaws.com",
            "xray.us-east-1.amazonaws.com.evil.example",
            "localhost",
        ] {
            assert_eq!(aws_otlp_host(other), None, "{other}");
        }
    }
}
