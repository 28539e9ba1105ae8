//! Who is running: resource detection.
//!
//! A [`ResourceDetector`] reads an [`Environment`] and describes the process as an
//! [`opentelemetry_sdk::Resource`]. Cloud crates provide detectors for their platform;
//! [`build_resource`] composes them and then applies the two standard variables on top, so
//! that what the operator configured always wins, as the
//! [SDK specification](https://opentelemetry.io/docs/specs/otel/resource/sdk/#specifying-resource-information-via-an-environment-variable)
//! requires:
//!
//! 1. SDK defaults (`service.name=unknown_service`, `telemetry.sdk.*`),
//! 2. each detector, in order (a later detector overrides an earlier one),
//! 3. `OTEL_RESOURCE_ATTRIBUTES`,
//! 4. `OTEL_SERVICE_NAME`.
//!
//! Attributes whose value is an empty string are dropped: an empty `faas.version` is worse
//! than none.

use std::fmt;

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_semantic_conventions::resource::SERVICE_NAME;

use crate::env::Environment;
use crate::warning::ConfigWarning;

/// Describes the running process as a [`Resource`].
///
/// Detection must be cheap and free of network I/O: it runs once at start-up, on the cold
/// start path. A detector that needs the network must do it lazily, elsewhere.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry_sdk::Resource;
/// use otel_faas_core::{Environment, ResourceDetector, env::MapEnvironment};
///
/// /// Reports the deployment stage a team stores in `STAGE`.
/// #[derive(Debug)]
/// struct StageDetector;
///
/// impl ResourceDetector for StageDetector {
///     fn detect(&self, env: &dyn Environment) -> Resource {
///         let attributes = env
///             .get_non_empty("STAGE")
///             .map(|stage| KeyValue::new("deployment.environment.name", stage));
///         Resource::builder_empty().with_attributes(attributes).build()
///     }
/// }
///
/// let env = MapEnvironment::from([("STAGE", "prod")]);
/// let resource = StageDetector.detect(&env);
/// assert_eq!(
///     resource.get(&"deployment.environment.name".into()),
///     Some("prod".into())
/// );
/// ```
pub trait ResourceDetector: Send + Sync + fmt::Debug {
    /// Describes the process, reading only from `env`.
    fn detect(&self, env: &dyn Environment) -> Resource;

    /// Composes two detectors: `next` is applied after `self` and wins on conflicts.
    ///
    /// ```
    /// use otel_faas_core::{ResourceDetector, env::MapEnvironment, resource::OtelEnvResourceDetector};
    /// # #[derive(Debug)] struct Noop;
    /// # impl ResourceDetector for Noop {
    /// #     fn detect(&self, _: &dyn otel_faas_core::Environment) -> opentelemetry_sdk::Resource {
    /// #         opentelemetry_sdk::Resource::builder_empty().build()
    /// #     }
    /// # }
    /// let detector = Noop.and(OtelEnvResourceDetector);
    /// let resource = detector.detect(&MapEnvironment::from([("OTEL_SERVICE_NAME", "api")]));
    /// assert_eq!(resource.get(&"service.name".into()), Some("api".into()));
    /// ```
    fn and<D: ResourceDetector>(self, next: D) -> Chain<Self, D>
    where
        Self: Sized,
    {
        Chain { first: self, next }
    }
}

/// Two detectors applied in order; built by [`ResourceDetector::and`], whose documentation
/// has an example.
#[derive(Debug, Clone)]
pub struct Chain<A, B> {
    first: A,
    next: B,
}

impl<A: ResourceDetector, B: ResourceDetector> ResourceDetector for Chain<A, B> {
    fn detect(&self, env: &dyn Environment) -> Resource {
        merge(&self.first.detect(env), &self.next.detect(env))
    }
}

impl<D: ResourceDetector + ?Sized> ResourceDetector for Box<D> {
    fn detect(&self, env: &dyn Environment) -> Resource {
        (**self).detect(env)
    }
}

impl<D: ResourceDetector> ResourceDetector for Vec<D> {
    fn detect(&self, env: &dyn Environment) -> Resource {
        self.iter()
            .fold(Resource::builder_empty().build(), |acc, detector| {
                merge(&acc, &detector.detect(env))
            })
    }
}

/// The standard variables: `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME` on top.
///
/// [`build_resource`] always applies it last; use it directly only to compose by hand.
///
/// ```
/// use otel_faas_core::{ResourceDetector, env::MapEnvironment, resource::OtelEnvResourceDetector};
///
/// let env = MapEnvironment::from([("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=prod")]);
/// let resource = OtelEnvResourceDetector.detect(&env);
/// assert_eq!(resource.get(&"deployment.environment.name".into()), Some("prod".into()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OtelEnvResourceDetector;

impl OtelEnvResourceDetector {
    /// Detects, and reports an invalid `OTEL_RESOURCE_ATTRIBUTES` as a warning.
    pub fn detect_with_warnings(&self, env: &dyn Environment) -> (Resource, Vec<ConfigWarning>) {
        let mut warnings = Vec::new();
        let mut attributes = Vec::new();
        if let Some(raw) = env.get_non_empty("OTEL_RESOURCE_ATTRIBUTES") {
            match parse_resource_attributes(&raw) {
                Ok(parsed) => attributes.extend(parsed),
                Err(()) => warnings.push(ConfigWarning::new(
                    "OTEL_RESOURCE_ATTRIBUTES",
                    raw,
                    "comma-separated key=value pairs with percent-encoded values",
                    "no attributes from this variable",
                )),
            }
        }
        if let Some(name) = env.get_non_empty("OTEL_SERVICE_NAME") {
            attributes.push(KeyValue::new(SERVICE_NAME, name));
        }
        (
            Resource::builder_empty()
                .with_attributes(attributes)
                .build(),
            warnings,
        )
    }
}

impl ResourceDetector for OtelEnvResourceDetector {
    fn detect(&self, env: &dyn Environment) -> Resource {
        self.detect_with_warnings(env).0
    }
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`. The spec says an invalid value discards the whole
/// variable, so one bad pair fails the lot.
fn parse_resource_attributes(raw: &str) -> Result<Vec<KeyValue>, ()> {
    raw.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or(())?;
            let key = key.trim();
            if key.is_empty() {
                return Err(());
            }
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .map_err(|_| ())?;
            Ok(KeyValue::new(key.to_owned(), value.into_owned()))
        })
        .collect()
}

/// `faas.max_memory` from a platform variable that gives megabytes (the conventions want
/// bytes): `None` for a value that is not a positive whole number.
///
/// ```
/// use otel_faas_core::resource::max_memory_from_megabytes;
///
/// assert_eq!(max_memory_from_megabytes(" 128 "), Some(134_217_728));
/// assert_eq!(max_memory_from_megabytes("lots"), None);
/// assert_eq!(max_memory_from_megabytes("0"), None);
/// ```
pub fn max_memory_from_megabytes(megabytes: &str) -> Option<i64> {
    megabytes
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|mb| mb.checked_mul(1024 * 1024))
        .filter(|bytes| *bytes > 0)
}

/// Builds the process resource: SDK defaults, then `detectors` in order, then the standard
/// variables. Returns the warnings for invalid values alongside.
///
/// ```
/// use otel_faas_core::{env::MapEnvironment, resource::build_resource};
///
/// let env = MapEnvironment::from([
///     ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,team=payments%20core"),
///     ("OTEL_SERVICE_NAME", "checkout"),
/// ]);
/// let (resource, warnings) = build_resource(&env, &[]);
/// assert!(warnings.is_empty());
/// // OTEL_SERVICE_NAME wins over the same key in OTEL_RESOURCE_ATTRIBUTES.
/// assert_eq!(resource.get(&"service.name".into()), Some("checkout".into()));
/// assert_eq!(resource.get(&"team".into()), Some("payments core".into()));
/// assert_eq!(resource.get(&"telemetry.sdk.language".into()), Some("rust".into()));
/// ```
pub fn build_resource(
    env: &dyn Environment,
    detectors: &[&dyn ResourceDetector],
) -> (Resource, Vec<ConfigWarning>) {
    let mut resource = Resource::builder_empty()
        .with_service_name("unknown_service")
        .with_detector(Box::new(TelemetryResourceDetector))
        .build();
    for detector in detectors {
        resource = merge(&resource, &without_empty_strings(&detector.detect(env)));
    }
    let (standard, warnings) = OtelEnvResourceDetector.detect_with_warnings(env);
    (
        merge(&resource, &without_empty_strings(&standard)),
        warnings,
    )
}

/// `update` on top of `base`: on a shared key, `update` wins (the SDK's own merge rule).
fn merge(base: &Resource, update: &Resource) -> Resource {
    let pairs = |resource: &Resource| {
        resource
            .iter()
            .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
            .collect::<Vec<_>>()
    };
    Resource::builder_empty()
        .with_attributes(pairs(base))
        .with_attributes(pairs(update))
        .build()
}

fn without_empty_strings(resource: &Resource) -> Resource {
    let kept = resource.iter().filter_map(|(key, value)| match value {
        Value::String(s) if s.as_str().is_empty() => None,
        _ => Some(KeyValue::new(key.clone(), value.clone())),
    });
    Resource::builder_empty().with_attributes(kept).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    #[derive(Debug)]
    struct Fixed(&'static [(&'static str, &'static str)]);
    impl ResourceDetector for Fixed {
        fn detect(&self, _env: &dyn Environment) -> Resource {
            Resource::builder_empty()
                .with_attributes(self.0.iter().map(|(k, v)| KeyValue::new(*k, *v)))
                .build()
        }
    }

    fn get(resource: &Resource, key: &'static str) -> Option<String> {
        resource.get(&key.into()).map(|v| v.to_string())
    }

    #[test]
    fn later_detectors_win_and_env_wins_over_all() {
        let env = MapEnvironment::from([("OTEL_RESOURCE_ATTRIBUTES", "faas.name=from-env")]);
        let a = Fixed(&[("faas.name", "a"), ("cloud.region", "eu-west-1")]);
        let b = Fixed(&[("faas.name", "b"), ("service.name", "detected")]);
        let (resource, warnings) = build_resource(&env, &[&a, &b]);
        assert!(warnings.is_empty());
        assert_eq!(get(&resource, "faas.name").as_deref(), Some("from-env"));
        assert_eq!(get(&resource, "cloud.region").as_deref(), Some("eu-west-1"));
        assert_eq!(get(&resource, "service.name").as_deref(), Some("detected"));
    }

    #[test]
    fn empty_strings_are_dropped_not_recorded() {
        let detector = Fixed(&[("faas.version", ""), ("faas.name", "f")]);
        let (resource, _) = build_resource(&MapEnvironment::default(), &[&detector]);
        assert_eq!(get(&resource, "faas.version"), None);
        assert_eq!(
            get(&resource, "service.name").as_deref(),
            Some("unknown_service")
        );
    }

    #[test]
    fn invalid_resource_attributes_warn_and_are_discarded_whole() {
        let env = MapEnvironment::from([("OTEL_RESOURCE_ATTRIBUTES", "good=1,missing-equals")]);
        let (resource, warnings) = build_resource(&env, &[]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].variable, "OTEL_RESOURCE_ATTRIBUTES");
        assert_eq!(get(&resource, "good"), None);
    }

    #[test]
    fn chained_detectors_apply_in_order() {
        let chain = Fixed(&[("k", "first")]).and(Fixed(&[("k", "second")]));
        let resource = chain.detect(&MapEnvironment::default());
        assert_eq!(get(&resource, "k").as_deref(), Some("second"));
    }
}
