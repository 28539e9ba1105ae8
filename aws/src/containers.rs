//! Services in containers on AWS — ECS (Fargate and the EC2 launch type), EKS, plain EC2 —
//! described by `opentelemetry-aws`'s own detectors, composed rather than rewritten.
//!
//! [`pipeline`] is the one call a service's `main` needs before core's server harness: the
//! pipeline from the standard `OTEL_*` variables with
//! - [`AwsContainerResourceDetector`] at start-up, without I/O: `cloud.provider=aws` and
//!   the platform the environment names (`ECS_CONTAINER_METADATA_URI_V4`:
//!   `cloud.platform=aws_ecs` with the launch type from `AWS_EXECUTION_ENV`;
//!   `KUBERNETES_SERVICE_HOST`: `aws_eks`);
//! - the rest from the metadata services, asked once in a background thread after
//!   start-up ([`fetch_in_background`]) and carried by every span and log export from then
//!   on ([`LateResource`]): the ECS task metadata endpoint v4 (feature `detector-ecs`: task
//!   and container ARNs, family, revision, cluster, launch type, availability zone,
//!   container id, name and image, log group and stream), the Kubernetes API (feature
//!   `detector-eks`: cluster name, pod, node), IMDSv2 (feature `detector-ec2`: instance id,
//!   type, image, availability zone). Nothing waits for them; a service whose metadata
//!   service does not answer starts and serves as fast, without those attributes;
//! - X-Ray's propagators, the `awsxray` destination for an X-Ray daemon sidecar (feature
//!   `xray-daemon`) and SigV4 for AWS's OTLP endpoints (feature `sigv4`), as on Lambda.
//!
//! The detectors read the process environment themselves and ask fixed addresses (IMDS at
//! `169.254.169.254`, the Kubernetes API in-cluster): their HTTP calls are blocking
//! (`ureq`), which is why they run on a thread of their own, never on an executor thread.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = otel_faas_aws::containers::pipeline().install();
//! # drop(telemetry);
//! # Ok(())
//! # }
//! ```

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use otel_faas_core::env::{Environment, ProcessEnvironment};
use otel_faas_core::pipeline::LateResource;
use otel_faas_core::{Pipeline, ResourceDetector};

/// The variable ECS sets in every container: the task metadata endpoint v4.
pub const ECS_METADATA_VARIABLE: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// The variable Kubernetes sets in every pod.
pub const KUBERNETES_VARIABLE: &str = "KUBERNETES_SERVICE_HOST";

/// Where the service runs, as far as its environment tells without asking anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsContainerPlatform {
    /// An ECS task (`ECS_CONTAINER_METADATA_URI_V4` is set).
    Ecs,
    /// A pod (`KUBERNETES_SERVICE_HOST` is set): EKS when the Kubernetes API says so.
    Kubernetes,
    /// Neither: perhaps an EC2 instance, which only IMDS can tell.
    Other,
}

impl AwsContainerPlatform {
    /// The platform `env` names.
    ///
    /// ```
    /// use otel_faas_aws::containers::AwsContainerPlatform;
    /// use otel_faas_core::env::MapEnvironment;
    ///
    /// let ecs = MapEnvironment::from([("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/1")]);
    /// assert_eq!(AwsContainerPlatform::from_env(&ecs), AwsContainerPlatform::Ecs);
    /// assert_eq!(AwsContainerPlatform::from_env(&MapEnvironment::default()), AwsContainerPlatform::Other);
    /// ```
    pub fn from_env(env: &dyn Environment) -> Self {
        if env.get_non_empty(ECS_METADATA_VARIABLE).is_some() {
            Self::Ecs
        } else if env.get_non_empty(KUBERNETES_VARIABLE).is_some() {
            Self::Kubernetes
        } else {
            Self::Other
        }
    }
}

/// The start-up part of a container's resource, read from the environment only (see the
/// module documentation); the metadata services' part follows through
/// [`fetch_in_background`].
///
/// ```
/// use otel_faas_aws::containers::AwsContainerResourceDetector;
/// use otel_faas_core::{ResourceDetector, env::MapEnvironment};
///
/// let resource = AwsContainerResourceDetector.detect(&MapEnvironment::from([
///     ("ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/1"),
///     ("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE"),
/// ]));
/// assert_eq!(resource.get(&"cloud.platform".into()), Some("aws_ecs".into()));
/// assert_eq!(resource.get(&"aws.ecs.launchtype".into()), Some("fargate".into()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsContainerResourceDetector;

impl ResourceDetector for AwsContainerResourceDetector {
    fn detect(&self, env: &dyn Environment) -> Resource {
        let mut attributes = Vec::new();
        match AwsContainerPlatform::from_env(env) {
            AwsContainerPlatform::Ecs => {
                attributes.push(KeyValue::new("cloud.provider", "aws"));
                attributes.push(KeyValue::new("cloud.platform", "aws_ecs"));
                let launch_type = match env.get_non_empty("AWS_EXECUTION_ENV").as_deref() {
                    Some("AWS_ECS_FARGATE") => Some("fargate"),
                    Some("AWS_ECS_EC2") => Some("ec2"),
                    _ => None,
                };
                if let Some(launch_type) = launch_type {
                    attributes.push(KeyValue::new("aws.ecs.launchtype", launch_type));
                }
            }
            // EKS or another Kubernetes: only the API can tell; nothing claimed before.
            AwsContainerPlatform::Kubernetes | AwsContainerPlatform::Other => {}
        }
        if let Some(region) = env
            .get_non_empty("AWS_REGION")
            .or_else(|| env.get_non_empty("AWS_DEFAULT_REGION"))
        {
            attributes.push(KeyValue::new("cloud.region", region));
        }
        Resource::builder_empty()
            .with_attributes(attributes)
            .build()
    }
}

/// Asks the metadata service of `platform` in a thread of its own — the detectors enabled
/// by features, first that answers — and hands what it tells to `late`; returns at once.
/// `None` when no detector applies (none enabled for the platform). IMDS is not asked
/// when `AWS_EC2_METADATA_DISABLED=true`, as the AWS SDKs read it ([`pipeline`] passes it).
///
/// ```
/// use otel_faas_aws::containers::{AwsContainerPlatform, fetch_in_background};
/// use otel_faas_core::pipeline::LateResource;
///
/// let late = LateResource::new();
/// // Outside ECS and Kubernetes, with no `detector-ec2` feature: nothing to ask.
/// # #[cfg(not(feature = "detector-ec2"))]
/// assert!(fetch_in_background(AwsContainerPlatform::Other, late.clone()).is_none());
/// assert!(late.get().is_none());
/// ```
pub fn fetch_in_background(
    platform: AwsContainerPlatform,
    late: LateResource,
) -> Option<std::thread::JoinHandle<()>> {
    fetch_with(platform, false, late)
}

fn fetch_with(
    platform: AwsContainerPlatform,
    imds_disabled: bool,
    late: LateResource,
) -> Option<std::thread::JoinHandle<()>> {
    let detectors = detectors(platform, imds_disabled);
    if detectors.is_empty() {
        return None;
    }
    let spawned = std::thread::Builder::new()
        .name("otel-faas-aws-metadata".to_owned())
        .spawn(move || {
            let found = detectors.iter().find_map(|detector| {
                let resource = detector.detect();
                let attributes: Vec<KeyValue> = resource
                    .iter()
                    .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
                    .collect();
                (!attributes.is_empty()).then_some(attributes)
            });
            match found {
                Some(attributes) => {
                    late.set(attributes);
                }
                None => otel_faas_core::env::report_once(
                    "aws-container-metadata",
                    &format!(
                        "the {platform:?} metadata service told nothing: the resource has \
                         no task, pod or instance attributes"
                    ),
                ),
            }
        });
    match spawned {
        Ok(handle) => Some(handle),
        Err(error) => {
            otel_faas_core::env::report_once(
                "aws-container-metadata-thread",
                &format!(
                    "the metadata thread could not start ({error}): no task, pod or instance attributes"
                ),
            );
            None
        }
    }
}

/// The detectors to ask on `platform`, in order, as the enabled features allow.
#[cfg_attr(not(feature = "detector-ec2"), allow(unused_variables))]
fn detectors(
    platform: AwsContainerPlatform,
    imds_disabled: bool,
) -> Vec<Box<dyn opentelemetry_sdk::resource::ResourceDetector + Send>> {
    // Without a detector feature nothing is pushed.
    #[cfg_attr(
        not(any(
            feature = "detector-ecs",
            feature = "detector-eks",
            feature = "detector-ec2"
        )),
        allow(unused_mut)
    )]
    let mut detectors: Vec<Box<dyn opentelemetry_sdk::resource::ResourceDetector + Send>> =
        Vec::new();
    match platform {
        AwsContainerPlatform::Ecs => {
            #[cfg(feature = "detector-ecs")]
            detectors.push(Box::new(opentelemetry_aws::detector::EcsResourceDetector));
        }
        AwsContainerPlatform::Kubernetes => {
            #[cfg(feature = "detector-eks")]
            detectors.push(Box::new(opentelemetry_aws::detector::EksResourceDetector));
        }
        AwsContainerPlatform::Other => {}
    }
    // Any of them may run on an instance whose identity IMDS tells.
    #[cfg(feature = "detector-ec2")]
    if platform != AwsContainerPlatform::Ecs && !imds_disabled {
        detectors.push(Box::new(opentelemetry_aws::detector::Ec2ResourceDetector));
    }
    detectors
}

/// The pipeline for a service in a container on AWS, from the process environment (see
/// the module documentation).
pub fn pipeline() -> Pipeline {
    pipeline_with_environment(ProcessEnvironment)
}

/// [`pipeline`] reading `env` for its own decisions (the detectors read the process
/// environment themselves).
///
/// ```
/// use otel_faas_core::env::MapEnvironment;
///
/// let telemetry = otel_faas_aws::containers::pipeline_with_environment(MapEnvironment::from([
///     // Not on EC2 here: IMDS is not asked.
///     ("AWS_EC2_METADATA_DISABLED", "true"),
///     ("OTEL_TRACES_EXPORTER", "none"),
///     ("OTEL_METRICS_EXPORTER", "none"),
///     ("OTEL_LOGS_EXPORTER", "none"),
/// ]))
/// .install();
/// assert!(telemetry.warnings().is_empty());
/// ```
pub fn pipeline_with_environment(env: impl Environment + 'static) -> Pipeline {
    let platform = AwsContainerPlatform::from_env(&env);
    let imds_disabled = env
        .get_non_empty("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let mut pipeline = Pipeline::with_environment(env).with_detector(AwsContainerResourceDetector);
    #[cfg(feature = "xray-daemon")]
    {
        pipeline = pipeline.with_span_destination(crate::xray::daemon::xray_daemon_destination());
    }
    #[cfg(feature = "sigv4")]
    {
        pipeline = pipeline
            .with_request_signer(crate::sigv4::otlp_signer())
            .with_otlp_span_adapter(crate::sigv4::xray_otlp_annotations());
    }
    #[cfg(feature = "xray-sampling")]
    {
        pipeline = crate::xray::sampling::register(pipeline);
    }
    crate::xray::register_propagators(pipeline.registry_mut());
    let late = LateResource::new();
    if fetch_with(platform, imds_disabled, late.clone()).is_some() {
        pipeline = pipeline.with_late_resource(late);
    }
    pipeline
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IMDS is asked only with the `detector-ec2` feature, never on ECS (its detector asks
    /// what it needs), and not when `AWS_EC2_METADATA_DISABLED=true`.
    #[test]
    fn imds_is_asked_only_where_it_may_answer() {
        let ec2 = usize::from(cfg!(feature = "detector-ec2"));
        assert_eq!(detectors(AwsContainerPlatform::Other, false).len(), ec2);
        assert_eq!(detectors(AwsContainerPlatform::Other, true).len(), 0);
        let ecs = usize::from(cfg!(feature = "detector-ecs"));
        assert_eq!(detectors(AwsContainerPlatform::Ecs, false).len(), ecs);
        let eks = usize::from(cfg!(feature = "detector-eks"));
        assert_eq!(detectors(AwsContainerPlatform::Kubernetes, true).len(), eks);
        assert_eq!(
            detectors(AwsContainerPlatform::Kubernetes, false).len(),
            eks + ec2
        );
    }
}
