//! The configuration read as a whole, from literal environments.

#[cfg(all(feature = "otlp-metrics", feature = "otlp-logs", feature = "console"))]
use std::path::Path;

use super::*;
use crate::env::MapEnvironment;

fn config(pairs: &[(&str, &str)]) -> PipelineConfig {
    PipelineConfig::from_env(&pairs.iter().copied().collect::<MapEnvironment>())
}

/// Built without the exporter features (`default-features = false`): spans still go
/// over OTLP; metrics and logs default to `none`, and asking for what is not built in
/// says which feature builds it.
#[cfg(not(any(feature = "otlp-metrics", feature = "otlp-logs", feature = "console")))]
#[test]
fn without_the_exporter_features_metrics_and_logs_default_to_none() {
    let defaults = config(&[]);
    assert_eq!(defaults.traces.exporters, [Exporter::Otlp]);
    assert!(defaults.metrics.exporters.is_empty());
    assert!(defaults.logs.exporters.is_empty());
    assert!(defaults.warnings().is_empty(), "{:?}", defaults.warnings());

    let asked = config(&[
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_TRACES_EXPORTER", "console,otlp"),
    ]);
    assert!(asked.metrics.exporters.is_empty());
    assert!(asked.logs.exporters.is_empty());
    assert_eq!(asked.traces.exporters, [Exporter::Otlp]);
    let warnings = asked.warnings();
    let about = |variable: &str| {
        warnings
            .iter()
            .filter(|w| w.variable == variable)
            .collect::<Vec<_>>()
    };
    let metrics = about("OTEL_METRICS_EXPORTER");
    assert_eq!(metrics.len(), 1, "{warnings:?}");
    assert_eq!(metrics[0].value, "otlp");
    assert_eq!(metrics[0].fallback, "none");
    assert_eq!(
        metrics[0].accepted,
        "none (otlp needs the otlp-metrics cargo feature, console needs the console cargo \
         feature, otlp/stdout needs the otlp-stdout cargo feature of otel-faas-core)"
    );
    assert!(
        about("OTEL_LOGS_EXPORTER")[0]
            .accepted
            .contains("otlp-logs")
    );
    let traces = about("OTEL_TRACES_EXPORTER");
    assert_eq!(traces.len(), 1, "{warnings:?}");
    assert_eq!(traces[0].value, "console");
    assert_eq!(
        traces[0].accepted,
        "otlp, otlp/stdout, none (console needs the console cargo feature of otel-faas-core)"
    );
}

// With the exporters of the default features (metrics and logs over OTLP, console).
#[cfg(all(feature = "otlp-metrics", feature = "otlp-logs", feature = "console"))]
#[test]
fn registered_metric_exporters_are_accepted_for_metrics_only() {
    let env: MapEnvironment = [
        ("OTEL_METRICS_EXPORTER", "AwsEmf, otlp"),
        ("OTEL_TRACES_EXPORTER", "awsemf"),
    ]
    .into_iter()
    .collect();
    let config = PipelineConfig::from_env_with_metric_exporters(&env, &["awsemf"]);
    assert_eq!(
        config.metrics.exporters,
        [Exporter::Named("awsemf"), Exporter::Otlp]
    );
    // Spans have no registered names: the value is refused with the accepted list.
    assert_eq!(config.traces.exporters, [Exporter::Otlp]);
    let warning = &config.warnings()[0];
    assert_eq!(warning.variable, "OTEL_TRACES_EXPORTER");
    assert_eq!(warning.accepted, "otlp, otlp/stdout, console, none");
    // Unregistered, the name is refused and the warning lists what is accepted.
    let plain = PipelineConfig::from_env(&env);
    assert_eq!(plain.metrics.exporters, [Exporter::Otlp]);
    let env: MapEnvironment = [("OTEL_METRICS_EXPORTER", "statsd")].into_iter().collect();
    let with_names = PipelineConfig::from_env_with_metric_exporters(&env, &["awsemf"]);
    assert_eq!(
        with_names.warnings()[0].accepted,
        "otlp, otlp/stdout, console, awsemf, none"
    );
}

// With the exporters of the default features (metrics and logs over OTLP, console).
#[cfg(all(feature = "otlp-metrics", feature = "otlp-logs", feature = "console"))]
#[test]
fn defaults_follow_the_spec() {
    let config = config(&[]);
    assert!(!config.sdk_disabled);
    for signal in Signal::ALL {
        let settings = config.signal(signal);
        assert_eq!(settings.exporters, [Exporter::Otlp], "{signal}");
        assert_eq!(settings.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(
            settings.endpoint,
            format!("http://localhost:4318{}", signal.path())
        );
        assert_eq!(settings.timeout, Duration::from_secs(10));
        assert_eq!(settings.compression, None);
        assert_eq!(settings.tls, TlsFiles::default());
    }
    assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(config.limits.attribute_value_length, None);
    assert_eq!(config.limits.span_attribute_count, 128);
    assert_eq!(
        config.span_batch.schedule_delay,
        Duration::from_millis(5000)
    );
    assert_eq!(config.log_batch.schedule_delay, Duration::from_millis(1000));
    assert_eq!(config.span_batch.max_queue_size, 2048);
    assert_eq!(config.span_batch.max_export_batch_size, 512);
    assert_eq!(config.metric_export_interval, Duration::from_secs(60));
    assert_eq!(config.metric_temporality, TemporalityPreference::Cumulative);
    assert!(config.warnings().is_empty());
}

/// Every exporter variable, general and specific, for every signal: the specific one
/// wins for its own signal and leaves the others on the general value.
// With the exporters of the default features (metrics and logs over OTLP, console).
#[cfg(all(feature = "otlp-metrics", feature = "otlp-logs", feature = "console"))]
#[test]
fn each_signal_specific_variable_wins_for_its_signal_only() {
    for signal in Signal::ALL {
        let specific = |general: &str| signal.specific(general);
        let pairs = [
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                "http://general:4318",
            ),
            (
                specific("OTEL_EXPORTER_OTLP_ENDPOINT"),
                "http://specific:9999/custom",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), "http/protobuf"),
            (specific("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT".to_owned(), "100"),
            (specific("OTEL_EXPORTER_OTLP_TIMEOUT"), "250"),
            ("OTEL_EXPORTER_OTLP_HEADERS".to_owned(), "a=general"),
            (
                specific("OTEL_EXPORTER_OTLP_HEADERS"),
                "api-key=s%3Dcret,x=1",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION".to_owned(), "none"),
            (specific("OTEL_EXPORTER_OTLP_COMPRESSION"), "gzip"),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE".to_owned(),
                "/general/ca.pem",
            ),
            (
                specific("OTEL_EXPORTER_OTLP_CERTIFICATE"),
                "/specific/ca.pem",
            ),
            (
                specific("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
                "/specific/key.pem",
            ),
            (
                specific("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
                "/specific/cert.pem",
            ),
            (signal.exporter_variable().to_owned(), "console"),
        ];
        let env: MapEnvironment = pairs.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let config = PipelineConfig::from_env(&env);
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        let own = config.signal(signal);
        assert_eq!(own.endpoint, "http://specific:9999/custom", "{signal}");
        assert_eq!(own.protocol, OtlpProtocol::HttpJson);
        assert_eq!(own.timeout, Duration::from_millis(250));
        assert_eq!(
            own.headers.pairs(),
            [
                ("api-key".to_owned(), "s=cret".to_owned()),
                ("x".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(own.compression, Some(Compression::Gzip));
        assert_eq!(
            own.tls.certificate.as_deref(),
            Some(Path::new("/specific/ca.pem"))
        );
        assert_eq!(
            own.tls.client_key.as_deref(),
            Some(Path::new("/specific/key.pem"))
        );
        assert_eq!(own.exporters, [Exporter::Console]);
        for other in Signal::ALL.into_iter().filter(|s| *s != signal) {
            let other_config = config.signal(other);
            assert_eq!(
                other_config.endpoint,
                format!("http://general:4318{}", other.path())
            );
            assert_eq!(other_config.protocol, OtlpProtocol::HttpProtobuf);
            assert_eq!(other_config.timeout, Duration::from_millis(100));
            assert_eq!(other_config.headers.get("a"), Some("general"));
            assert_eq!(other_config.compression, None);
            assert_eq!(
                other_config.tls.certificate.as_deref(),
                Some(Path::new("/general/ca.pem"))
            );
            assert_eq!(other_config.tls.client_key, None);
            assert_eq!(other_config.exporters, [Exporter::Otlp]);
        }
    }
}

#[test]
fn limits_batches_and_metric_settings_are_read() {
    let config = config(&[
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "20"),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "3"),
        ("OTEL_SPAN_LINK_COUNT_LIMIT", "4"),
        ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "5"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "50"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "60"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "7"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "900"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
    ]);
    let limits = config.limits;
    assert_eq!(limits.attribute_value_length, Some(64));
    assert_eq!(limits.span_attribute_count, 20);
    assert_eq!(
        limits.event_attribute_count, 10,
        "the general count applies"
    );
    assert_eq!(limits.link_attribute_count, 5);
    assert_eq!((limits.span_event_count, limits.span_link_count), (3, 4));
    assert_eq!(config.span_batch.schedule_delay, Duration::from_millis(100));
    assert_eq!(config.span_batch.max_queue_size, 50);
    // A batch larger than the queue is cut to the queue, with a warning.
    assert_eq!(config.span_batch.max_export_batch_size, 50);
    assert_eq!(config.log_batch.schedule_delay, Duration::from_millis(200));
    assert_eq!(config.log_batch.max_export_batch_size, 7);
    assert_eq!(config.metric_export_interval, Duration::from_millis(1500));
    assert_eq!(config.metric_export_timeout, Duration::from_millis(900));
    assert_eq!(config.metric_temporality, TemporalityPreference::Delta);
    let variables: Vec<&str> = config
        .warnings()
        .iter()
        .map(|w| w.variable.as_str())
        .collect();
    assert_eq!(variables, ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"]);
}

#[test]
fn every_invalid_value_warns_once_and_uses_the_default() {
    let config = config(&[
        ("OTEL_SDK_DISABLED", "maybe"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "carrier-pigeon"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "good=1,Authorization=Bearer%0Asecret",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-5"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "short"),
    ]);
    assert!(!config.sdk_disabled);
    assert_eq!(config.traces.exporters, [Exporter::Otlp]);
    assert_eq!(config.traces.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(config.traces.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(
        config.traces.headers.pairs(),
        [("good".to_owned(), "1".to_owned())]
    );
    assert_eq!(config.traces.timeout, Duration::from_secs(10));
    assert_eq!(config.traces.compression, None);
    assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(config.limits.attribute_value_length, None);
    let variables: Vec<&str> = config
        .warnings()
        .iter()
        .map(|w| w.variable.as_str())
        .collect();
    assert_eq!(
        variables,
        [
            "OTEL_SDK_DISABLED",
            // Once: `zipkin` was the whole value (it said so twice before).
            "OTEL_TRACES_EXPORTER",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_TRACES_SAMPLER",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        ]
    );
    let all = format!("{:?}", config.warnings());
    assert!(!all.contains("secret"), "{all}");
}

#[test]
fn a_header_pair_without_equals_sign_is_named_by_its_key_never_by_its_value() {
    let config = config(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "Authorization: Bearer hunter2,x-ok=1,hunter3",
    )]);
    assert_eq!(
        config.traces.headers.pairs(),
        [("x-ok".to_owned(), "1".to_owned())]
    );
    let warning = config.warnings()[0].to_string();
    assert!(warning.contains("Authorization"), "{warning}");
    assert!(
        warning.contains("<unnamed>") || warning.contains("hunter3"),
        "{warning}"
    );
    assert!(!warning.contains("hunter2"), "{warning}");
    assert!(!warning.contains("Bearer"), "{warning}");
    // Debug output of the configuration never shows header values either.
    let config = self::config(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "authorization=Bearer%20hunter2",
    )]);
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn an_unsupported_variable_is_warned_once_without_its_value() {
    let config = config(&[
        (
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
            "http://zipkin?token=hunter2",
        ),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "100"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "100"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://logs:4318/v1/logs",
        ),
        ("OTEL_FAAS_FLUSH", "after-response"),
        ("OTEL_SEMCONV_STABILITY_OPT_IN", "http"),
        ("OTEL_UNHEARD_OF", ""),
    ]);
    let unsupported: Vec<&str> = config
        .warnings()
        .iter()
        .filter(|w| w.is_unsupported())
        .map(|w| w.variable.as_str())
        .collect();
    assert_eq!(
        unsupported,
        ["OTEL_BLRP_EXPORT_TIMEOUT", "OTEL_EXPORTER_ZIPKIN_ENDPOINT"]
    );
    assert_eq!(config.span_export_timeout, Duration::from_millis(100));
    let all = format!("{:?}", config.warnings());
    assert!(!all.contains("hunter2"), "{all}");
}

#[cfg(not(feature = "otlp-grpc"))]
#[test]
fn grpc_without_the_feature_warns_and_uses_http() {
    let config = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert_eq!(config.traces.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(config.traces.endpoint, "http://localhost:4318/v1/traces");
    assert!(config.warnings()[0].accepted.contains("otlp-grpc"));
}

#[cfg(feature = "otlp-grpc")]
#[test]
fn grpc_uses_the_grpc_default_port() {
    let config = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert_eq!(config.traces.protocol, OtlpProtocol::Grpc);
    assert_eq!(config.metrics.endpoint, "http://localhost:4317");
    assert!(config.warnings().is_empty());
}

#[test]
fn sampler_ratio_is_validated_for_ratio_samplers() {
    let config = config(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "abc"),
    ]);
    assert_eq!(config.sampler, SamplerConfig::ParentBasedTraceIdRatio(1.0));
    assert_eq!(config.warnings()[0].variable, "OTEL_TRACES_SAMPLER_ARG");
}
