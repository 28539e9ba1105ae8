//! `AzureFunctionsResourceDetector`: who is running, from the App Service environment the
//! Functions host gives every worker.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_semantic_conventions::attribute::{
    CLOUD_ACCOUNT_ID, CLOUD_PLATFORM, CLOUD_PROVIDER, CLOUD_REGION, FAAS_INSTANCE, FAAS_MAX_MEMORY,
    SERVICE_NAME,
};
use otel_faas_core::resource::max_memory_from_megabytes;
use otel_faas_core::{Environment, ResourceDetector};

/// Describes an Azure Functions app (semantic conventions v1.44, the cloud and FaaS
/// resource pages).
///
/// | Attribute | From |
/// |---|---|
/// | `cloud.provider` = `azure`, `cloud.platform` = `azure.functions` | (constant) |
/// | `service.name` | `WEBSITE_SITE_NAME` (the app) |
/// | `faas.instance` | `WEBSITE_INSTANCE_ID` |
/// | `faas.max_memory` | `WEBSITE_MEMORY_LIMIT_MB`, in bytes |
/// | `cloud.region` | `REGION_NAME` |
/// | `cloud.account.id` | the subscription: `WEBSITE_OWNER_NAME` before its `+`, when it is a GUID (Flex Consumption writes `flex…` there instead, and it is left out) |
/// | `azure.resource_group.name` | `WEBSITE_RESOURCE_GROUP` |
///
/// `faas.name` and `cloud.resource_id` name one *function*, and an app hosts several that
/// share one tracer provider: the conventions put them on the span, which the trigger
/// adapters do. `faas.version` is not set: the conventions say Azure Functions has no such
/// version. Outside Azure Functions (no `WEBSITE_SITE_NAME`) the resource is empty.
///
/// ```
/// use otel_faas_azure::AzureFunctionsResourceDetector;
/// use otel_faas_core::{ResourceDetector, env::MapEnvironment};
///
/// let env = MapEnvironment::from([
///     ("WEBSITE_SITE_NAME", "orders-app"),
///     ("WEBSITE_OWNER_NAME", "0b3a1f5e-8c1e-4d6a-9f0e-2a7c5d9b1e44+orders-rg-WestEuropewebspace-Linux"),
///     ("REGION_NAME", "West Europe"),
/// ]);
/// let resource = AzureFunctionsResourceDetector.detect(&env);
/// let get = |key: &'static str| resource.get(&opentelemetry::Key::from_static_str(key)).map(|v| v.to_string());
/// assert_eq!(get("cloud.platform").as_deref(), Some("azure.functions"));
/// assert_eq!(get("service.name").as_deref(), Some("orders-app"));
/// assert_eq!(get("cloud.account.id").as_deref(), Some("0b3a1f5e-8c1e-4d6a-9f0e-2a7c5d9b1e44"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureFunctionsResourceDetector;

impl AzureFunctionsResourceDetector {
    /// `azure.resource_group.name`: the resource group of the function app (from
    /// `WEBSITE_RESOURCE_GROUP`; the conventions have no key for it yet).
    pub const RESOURCE_GROUP_ATTRIBUTE: &'static str = "azure.resource_group.name";
}

impl ResourceDetector for AzureFunctionsResourceDetector {
    fn detect(&self, env: &dyn Environment) -> Resource {
        let Some(app) = env.get_non_empty("WEBSITE_SITE_NAME") else {
            return Resource::builder_empty().build();
        };
        let mut attributes = vec![
            KeyValue::new(CLOUD_PROVIDER, "azure"),
            KeyValue::new(CLOUD_PLATFORM, "azure.functions"),
            KeyValue::new(SERVICE_NAME, app),
        ];
        let mut optional = |key: &'static str, variable: &str| {
            if let Some(value) = env.get_non_empty(variable) {
                attributes.push(KeyValue::new(key, value.trim().to_owned()));
            }
        };
        optional(FAAS_INSTANCE, "WEBSITE_INSTANCE_ID");
        optional(CLOUD_REGION, "REGION_NAME");
        optional(Self::RESOURCE_GROUP_ATTRIBUTE, "WEBSITE_RESOURCE_GROUP");
        // The host gives megabytes; the conventions want bytes.
        if let Some(bytes) = env
            .get_non_empty("WEBSITE_MEMORY_LIMIT_MB")
            .as_deref()
            .and_then(max_memory_from_megabytes)
        {
            attributes.push(KeyValue::new(FAAS_MAX_MEMORY, bytes));
        }
        if let Some(subscription) = env
            .get_non_empty("WEBSITE_OWNER_NAME")
            .as_deref()
            .and_then(subscription_of)
        {
            attributes.push(KeyValue::new(CLOUD_ACCOUNT_ID, subscription));
        }
        Resource::builder_empty()
            .with_attributes(attributes)
            .build()
    }
}

/// The subscription id at the start of `WEBSITE_OWNER_NAME`
/// (`<subscription>+<resource group>-<region>webspace…`), if it is a GUID.
pub(crate) fn subscription_of(owner: &str) -> Option<String> {
    let candidate = owner.split('+').next()?.trim();
    let groups: Vec<&str> = candidate.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    let is_guid = groups.len() == lengths.len()
        && groups.iter().zip(lengths).all(|(group, length)| {
            group.len() == length && group.chars().all(|c| c.is_ascii_hexdigit())
        });
    is_guid.then(|| candidate.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use otel_faas_core::env::MapEnvironment;

    use super::*;

    fn detect(pairs: &[(&str, &str)]) -> Resource {
        let env: MapEnvironment = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AzureFunctionsResourceDetector.detect(&env)
    }

    fn get(resource: &Resource, key: &'static str) -> Option<String> {
        resource
            .get(&opentelemetry::Key::from_static_str(key))
            .map(|value| value.to_string())
    }

    #[test]
    fn an_app_is_described_from_its_environment() {
        let resource = detect(&[
            ("WEBSITE_SITE_NAME", "orders-app"),
            ("WEBSITE_INSTANCE_ID", "6a2b0c9d"),
            ("WEBSITE_MEMORY_LIMIT_MB", "1536"),
            ("REGION_NAME", "West Europe"),
            ("WEBSITE_RESOURCE_GROUP", "orders-rg"),
            (
                "WEBSITE_OWNER_NAME",
                "0B3A1F5E-8C1E-4D6A-9F0E-2A7C5D9B1E44+orders-rg-WestEuropewebspace-Linux",
            ),
            ("WEBSITE_SLOT_NAME", "Production"),
        ]);
        assert_eq!(get(&resource, "cloud.provider").as_deref(), Some("azure"));
        assert_eq!(
            get(&resource, "cloud.platform").as_deref(),
            Some("azure.functions")
        );
        assert_eq!(
            get(&resource, "service.name").as_deref(),
            Some("orders-app")
        );
        assert_eq!(get(&resource, "faas.instance").as_deref(), Some("6a2b0c9d"));
        assert_eq!(
            get(&resource, "faas.max_memory").as_deref(),
            Some("1610612736")
        );
        assert_eq!(
            get(&resource, "cloud.region").as_deref(),
            Some("West Europe")
        );
        assert_eq!(
            get(&resource, "azure.resource_group.name").as_deref(),
            Some("orders-rg")
        );
        assert_eq!(
            get(&resource, "cloud.account.id").as_deref(),
            Some("0b3a1f5e-8c1e-4d6a-9f0e-2a7c5d9b1e44")
        );
        for absent in ["faas.version", "faas.name", "cloud.resource_id"] {
            assert_eq!(get(&resource, absent), None, "{absent}");
        }
    }

    #[test]
    fn flex_consumption_and_bad_values_leave_attributes_out() {
        let resource = detect(&[
            ("WEBSITE_SITE_NAME", "orders-app"),
            ("WEBSITE_OWNER_NAME", "flex-7e1d3c+orders-rg-westeurope"),
            ("WEBSITE_MEMORY_LIMIT_MB", "lots"),
        ]);
        assert_eq!(get(&resource, "cloud.account.id"), None);
        assert_eq!(get(&resource, "faas.max_memory"), None);
        assert_eq!(
            get(&resource, "service.name").as_deref(),
            Some("orders-app")
        );
        assert_eq!(subscription_of("not-a-guid+x"), None);
        assert_eq!(subscription_of(""), None);
    }

    #[test]
    fn outside_azure_functions_the_resource_is_empty() {
        assert_eq!(detect(&[("REGION_NAME", "West Europe")]).len(), 0);
        assert_eq!(detect(&[("WEBSITE_SITE_NAME", "  ")]).len(), 0);
    }
}
