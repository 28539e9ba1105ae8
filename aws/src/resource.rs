//! `LambdaResourceDetector`: who is running, from the Lambda environment.

use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_semantic_conventions::attribute::{
    AWS_LOG_GROUP_NAMES, CLOUD_PLATFORM, CLOUD_PROVIDER, CLOUD_REGION, FAAS_INSTANCE,
    FAAS_MAX_MEMORY, FAAS_NAME, FAAS_VERSION, SERVICE_NAME,
};
use otel_faas_core::resource::max_memory_from_megabytes;
use otel_faas_core::{Environment, ResourceDetector};

/// Describes a Lambda function from the variables Lambda sets in every execution
/// environment: `cloud.provider=aws`, `cloud.platform=aws_lambda`, `cloud.region`,
/// `faas.name`, `faas.version`, `faas.instance` (the log stream), `faas.max_memory` in
/// bytes, `aws.log.group.names`, and `service.name` = the function name (which
/// `OTEL_SERVICE_NAME` overrides). Outside Lambda (no `AWS_LAMBDA_FUNCTION_NAME`) it
/// detects nothing. Empty values are left out.
///
/// `cloud.account.id` and `cloud.resource_id` are not here: Lambda tells them only per
/// invocation (in the invoked ARN), so they are span attributes, set by [`LambdaEventAdapter`](crate::lambda::LambdaEventAdapter).
///
/// Why not `opentelemetry-aws`'s detector: it reads the process environment directly, so it
/// can only be tested by mutating that environment; this one reads an [`Environment`].
///
/// ```
/// use otel_faas_aws::LambdaResourceDetector;
/// use otel_faas_core::{ResourceDetector, env::MapEnvironment};
///
/// let env = MapEnvironment::from([
///     ("AWS_LAMBDA_FUNCTION_NAME", "checkout"),
///     ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
///     ("AWS_REGION", "eu-west-1"),
/// ]);
/// let resource = LambdaResourceDetector.detect(&env);
/// assert_eq!(resource.get(&"faas.max_memory".into()), Some((512_i64 * 1024 * 1024).into()));
/// assert_eq!(resource.get(&"cloud.platform".into()), Some("aws_lambda".into()));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LambdaResourceDetector;

impl ResourceDetector for LambdaResourceDetector {
    fn detect(&self, env: &dyn Environment) -> Resource {
        let Some(name) = env.get_non_empty("AWS_LAMBDA_FUNCTION_NAME") else {
            return Resource::builder_empty().build();
        };
        let mut attributes = vec![
            KeyValue::new(CLOUD_PROVIDER, "aws"),
            KeyValue::new(CLOUD_PLATFORM, "aws_lambda"),
            KeyValue::new(FAAS_NAME, name.clone()),
            KeyValue::new(SERVICE_NAME, name),
        ];
        let mut optional = |key: &'static str, variable: &str| {
            if let Some(value) = env.get_non_empty(variable) {
                attributes.push(KeyValue::new(key, value));
            }
        };
        optional(CLOUD_REGION, "AWS_REGION");
        optional(FAAS_VERSION, "AWS_LAMBDA_FUNCTION_VERSION");
        optional(FAAS_INSTANCE, "AWS_LAMBDA_LOG_STREAM_NAME");
        // Lambda gives megabytes; the conventions want bytes.
        if let Some(bytes) = env
            .get_non_empty("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .as_deref()
            .and_then(max_memory_from_megabytes)
        {
            attributes.push(KeyValue::new(FAAS_MAX_MEMORY, bytes));
        }
        if let Some(group) = env.get_non_empty("AWS_LAMBDA_LOG_GROUP_NAME") {
            attributes.push(KeyValue::new(
                AWS_LOG_GROUP_NAMES,
                Value::Array(Array::String(vec![StringValue::from(group)])),
            ));
        }
        Resource::builder_empty()
            .with_attributes(attributes)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use otel_faas_core::env::MapEnvironment;

    use super::*;

    fn lambda_env() -> MapEnvironment {
        MapEnvironment::from([
            ("AWS_LAMBDA_FUNCTION_NAME", "orders"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/21/[$LATEST]abc123"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/orders"),
            ("AWS_REGION", "us-east-1"),
        ])
    }

    fn get(resource: &Resource, key: &'static str) -> Option<Value> {
        resource.get(&key.into())
    }

    #[test]
    fn every_lambda_variable_maps_to_its_convention() {
        let resource = LambdaResourceDetector.detect(&lambda_env());
        assert_eq!(get(&resource, "cloud.provider"), Some("aws".into()));
        assert_eq!(get(&resource, "cloud.platform"), Some("aws_lambda".into()));
        assert_eq!(get(&resource, "cloud.region"), Some("us-east-1".into()));
        assert_eq!(get(&resource, "faas.name"), Some("orders".into()));
        assert_eq!(get(&resource, "service.name"), Some("orders".into()));
        assert_eq!(get(&resource, "faas.version"), Some("$LATEST".into()));
        assert_eq!(
            get(&resource, "faas.instance"),
            Some("2026/11/21/[$LATEST]abc123".into())
        );
        assert_eq!(
            get(&resource, "faas.max_memory"),
            Some(134_217_728_i64.into())
        );
        assert_eq!(
            get(&resource, "aws.log.group.names"),
            Some(Value::Array(Array::String(vec![
                "/aws/lambda/orders".into()
            ])))
        );
    }

    #[test]
    fn outside_lambda_nothing_is_detected_and_bad_values_are_left_out() {
        assert_eq!(
            LambdaResourceDetector
                .detect(&MapEnvironment::default())
                .len(),
            0
        );
        let env = lambda_env()
            .with("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots")
            .with("AWS_LAMBDA_FUNCTION_VERSION", "");
        let resource = LambdaResourceDetector.detect(&env);
        assert_eq!(get(&resource, "faas.max_memory"), None);
        assert_eq!(get(&resource, "faas.version"), None);
    }

    #[test]
    fn otel_service_name_still_wins() {
        let env = lambda_env().with("OTEL_SERVICE_NAME", "orders-api");
        let (resource, _) =
            otel_faas_core::resource::build_resource(&env, &[&LambdaResourceDetector]);
        assert_eq!(get(&resource, "service.name"), Some("orders-api".into()));
        assert_eq!(get(&resource, "faas.name"), Some("orders".into()));
    }
}
