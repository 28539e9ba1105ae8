//! Lambda function ARNs, parsed without trusting them.

/// A parsed Lambda function ARN:
/// `arn:{partition}:lambda:{region}:{account}:function:{name}[:{qualifier}]`.
///
/// ```
/// use otel_faas_aws::lambda::FunctionArn;
///
/// let arn = FunctionArn::parse("arn:aws:lambda:eu-west-1:123456789012:function:checkout:live").unwrap();
/// assert_eq!(arn.account_id(), "123456789012");
/// assert_eq!(arn.qualifier(), Some("live"));
/// // The alias replaced by the version that actually runs, as `cloud.resource_id` wants.
/// assert_eq!(
///     arn.with_version("7"),
///     "arn:aws:lambda:eu-west-1:123456789012:function:checkout:7"
/// );
/// assert!(FunctionArn::parse("arn:aws:s3:::bucket").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionArn<'a> {
    partition: &'a str,
    region: &'a str,
    account_id: &'a str,
    function_name: &'a str,
    qualifier: Option<&'a str>,
}

impl<'a> FunctionArn<'a> {
    /// Parses `arn`; `None` unless it is a well-formed Lambda function ARN.
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.split(':');
        let (
            Some("arn"),
            Some(partition),
            Some("lambda"),
            Some(region),
            Some(account_id),
            Some("function"),
            Some(function_name),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return None;
        };
        let qualifier = parts.next();
        let valid = !partition.is_empty()
            && !region.is_empty()
            && account_id.len() == 12
            && account_id.bytes().all(|b| b.is_ascii_digit())
            && !function_name.is_empty()
            && qualifier.is_none_or(|q| !q.is_empty())
            && parts.next().is_none();
        valid.then_some(Self {
            partition,
            region,
            account_id,
            function_name,
            qualifier,
        })
    }

    /// The partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> &'a str {
        self.partition
    }
    /// The region.
    pub fn region(&self) -> &'a str {
        self.region
    }
    /// The 12-digit account id.
    pub fn account_id(&self) -> &'a str {
        self.account_id
    }
    /// The function name.
    pub fn function_name(&self) -> &'a str {
        self.function_name
    }
    /// The alias or version the function was invoked with, if any.
    pub fn qualifier(&self) -> Option<&'a str> {
        self.qualifier
    }

    /// The ARN without a qualifier.
    pub fn unqualified(&self) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition, self.region, self.account_id, self.function_name
        )
    }

    /// The ARN qualified by `version` instead of whatever alias it was invoked with.
    pub fn with_version(&self, version: &str) -> String {
        format!("{}:{version}", self.unqualified())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_arns_are_rejected_not_half_parsed() {
        for bad in [
            "",
            "arn",
            "arn:aws:lambda:us-east-1:12345:function:f",
            "arn:aws:lambda:us-east-1:123456789012:layer:f",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            "arn:aws:lambda:us-east-1:123456789012:function:f:",
            "arn:aws:lambda:us-east-1:123456789012:function:f:1:extra",
            "arn:aws:lambda::123456789012:function:f",
        ] {
            assert_eq!(FunctionArn::parse(bad), None, "{bad:?}");
        }
        let arn =
            FunctionArn::parse("arn:aws-cn:lambda:cn-north-1:123456789012:function:f").unwrap();
        assert_eq!(arn.partition(), "aws-cn");
        assert_eq!(arn.qualifier(), None);
    }
}
