//! The SDK's shared configuration, loaded as a Lambda function loads it (cargo feature
//! `aws-config`).

/// The shared configuration every SDK client of a function is built from: credentials and
/// region from the environment (the Lambda execution role's variables), `AWS_ENDPOINT_URL`
/// when set (an emulator), and HTTPS through rustls with ring — no system TLS library, as
/// the rest of the workspace. Build each client from it with [`AwsSdkTracing`] as its
/// interceptor, for the CLIENT (and PRODUCER) spans:
///
/// ```no_run
/// # async fn run() {
/// use otel_faas_messaging::aws_sdk::{AwsSdkTracing, sdk_config};
///
/// let config = sdk_config().await;
/// let sqs = aws_sdk_sqs::Client::from_conf(
///     aws_sdk_sqs::config::Builder::from(&config).interceptor(AwsSdkTracing::new()).build(),
/// );
/// # drop(sqs);
/// # }
/// ```
///
/// [`AwsSdkTracing`]: super::AwsSdkTracing
pub async fn sdk_config() -> aws_types::SdkConfig {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .load()
        .await
}
