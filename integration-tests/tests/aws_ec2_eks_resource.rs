//! The example service on an EC2 instance and in an EKS pod, described by
//! `opentelemetry-aws`'s EC2 and EKS detectors from the Instance Metadata Service.
//!
//! Those detectors ask `http://169.254.169.254` and no other address, and the EKS one reads
//! the service account's namespace at `/var/run/secrets/kubernetes.io/serviceaccount`. So
//! each test runs again inside namespaces of its own (`unshare --user --map-root-user --net
//! --mount`, no privilege needed): a loopback with 169.254.169.254 on it, a fake IMDSv2
//! there serving the EC2 User Guide's instance identity document (`fixtures/ec2/`), an
//! empty `/run` with the service account's namespace file, the OTLP receiver, and the
//! service. Nothing leaves the namespace; the test outside checks that the inside passed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use otel_faas_integration_tests::{
    AttrValue, ExampleService, OtlpReceiver, build_binary, workspace_root,
};

/// Set for the run inside the namespaces: the path of the example binary.
const INSIDE: &str = "OTEL_FAAS_TEST_INSIDE_NAMESPACE";

/// Outside: runs this test again inside fresh user, network and mount namespaces, and
/// fails with its output unless it passed there. Inside: `false`, and the caller goes on.
fn rerun_inside_namespaces(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return false;
    }
    let binary = build_binary("example-ecs-service", "ecs-service").expect("the example");
    let this = std::env::current_exe().expect("this test binary");
    let output = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "--mount"])
        .arg(this)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(INSIDE, binary)
        .output()
        .expect("unshare (util-linux) runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "inside the namespaces:\n{report}");
    // The inner run must have run this very test, not matched nothing.
    assert!(
        report.contains("1 passed"),
        "the inner run ran no test:\n{report}"
    );
    true
}

/// Inside: the loopback up, with IMDS's address on it.
fn link_local_imds_address() {
    for args in [
        &["link", "set", "lo", "up"][..],
        &["addr", "add", "169.254.169.254/32", "dev", "lo"][..],
    ] {
        let status = Command::new("ip")
            .args(args)
            .status()
            .expect("ip (iproute2)");
        assert!(status.success(), "ip {args:?}");
    }
}

/// Inside: a fake IMDSv2 on 169.254.169.254:80 — a token first, then the identity
/// document, the host name and (when given) the instance's EKS cluster tag, each only with
/// the token.
async fn fake_imds(cluster_tag: Option<&'static str>) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, put};
    const TOKEN: &str = "AQAEAFakeImdsV2Token==";
    let document = std::fs::read_to_string(
        workspace_root().join("integration-tests/fixtures/ec2/instance-identity-document.json"),
    )
    .expect("the identity document");
    let with_token = |headers: &HeaderMap, answer: String| {
        if headers
            .get("x-aws-ec2-metadata-token")
            .is_some_and(|t| t == TOKEN)
        {
            (StatusCode::OK, answer)
        } else {
            (StatusCode::UNAUTHORIZED, String::new())
        }
    };
    let app = axum::Router::new()
        .route(
            "/latest/api/token",
            put(|headers: HeaderMap| async move {
                if headers.contains_key("x-aws-ec2-metadata-token-ttl-seconds") {
                    (StatusCode::OK, TOKEN)
                } else {
                    (StatusCode::BAD_REQUEST, "")
                }
            }),
        )
        .route(
            "/latest/dynamic/instance-identity/document",
            get(move |headers: HeaderMap| async move { with_token(&headers, document) }),
        )
        .route(
            "/latest/meta-data/hostname",
            get(move |headers: HeaderMap| async move {
                with_token(
                    &headers,
                    "ip-10-158-112-84.us-west-2.compute.internal".to_owned(),
                )
            }),
        )
        .route(
            "/latest/meta-data/tags/instance/aws:eks:cluster-name",
            get(move |headers: HeaderMap| async move {
                match cluster_tag {
                    Some(name) => with_token(&headers, name.to_owned()),
                    None => (StatusCode::NOT_FOUND, String::new()),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("169.254.169.254:80")
        .await
        .expect("169.254.169.254:80 inside the namespace");
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// Inside: the example with `env`, one request, and the resource of its span.
async fn resource_of_a_request(
    env: &[(&str, &str)],
) -> std::collections::BTreeMap<String, AttrValue> {
    let receiver = OtlpReceiver::start().expect("the OTLP receiver");
    let binary = std::env::var_os(INSIDE).expect("the example's path");
    let service = ExampleService::start(binary, env, &receiver, Stdio::null(), Stdio::inherit());
    service.wait_ready().await;
    let start = Instant::now();
    // The detectors ask in the background: requests until a span carries what they found.
    loop {
        assert_eq!(service.get("/orders/7").await, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(span) = receiver
            .spans()
            .into_iter()
            .find(|s| s.name == "GET /orders/{id}" && s.resource.contains_key("host.id"))
        {
            return span.resource.into_iter().collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no span with the instance's attributes: {:#?}",
            receiver.spans().first().map(|s| &s.resource)
        );
    }
}

fn text(resource: &std::collections::BTreeMap<String, AttrValue>, key: &str) -> String {
    match resource.get(key) {
        Some(AttrValue::Str(value)) => value.clone(),
        other => panic!("{key}: {other:?} in {resource:#?}"),
    }
}

#[test]
fn on_an_ec2_instance_the_service_carries_the_instance_from_imds() {
    if rerun_inside_namespaces("on_an_ec2_instance_the_service_carries_the_instance_from_imds") {
        return;
    }
    link_local_imds_address();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let resource = runtime.block_on(async {
        fake_imds(None).await;
        resource_of_a_request(&[]).await
    });
    // From the EC2 User Guide's identity document, through opentelemetry-aws's detector.
    assert_eq!(text(&resource, "cloud.provider"), "aws");
    assert_eq!(text(&resource, "cloud.platform"), "aws_ec2");
    assert_eq!(text(&resource, "cloud.region"), "us-west-2");
    assert_eq!(text(&resource, "cloud.availability_zone"), "us-west-2b");
    assert_eq!(text(&resource, "cloud.account.id"), "123456789012");
    assert_eq!(text(&resource, "host.id"), "i-1234567890abcdef0");
    assert_eq!(text(&resource, "host.type"), "t2.micro");
    assert_eq!(text(&resource, "host.image.id"), "ami-5fb8c835");
    assert_eq!(text(&resource, "service.name"), "orders-service");
}

#[test]
fn in_an_eks_pod_the_service_carries_the_pod_and_cluster() {
    if rerun_inside_namespaces("in_an_eks_pod_the_service_carries_the_pod_and_cluster") {
        return;
    }
    link_local_imds_address();
    // An empty /run (/var/run is a link to it) with the service account's namespace, as
    // Kubernetes mounts it in every pod.
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs", "/run"])
        .status()
        .expect("mount");
    assert!(status.success(), "mount a tmpfs on /run");
    let account = std::path::Path::new("/var/run/secrets/kubernetes.io/serviceaccount");
    std::fs::create_dir_all(account).unwrap();
    std::fs::write(account.join("namespace"), "orders").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let resource = runtime.block_on(async {
        fake_imds(Some("prod-cluster")).await;
        resource_of_a_request(&[
            ("KUBERNETES_SERVICE_HOST", "10.100.0.1"),
            ("HOSTNAME", "orders-7d9f8b6c5-x2x7q"),
        ])
        .await
    });
    assert_eq!(text(&resource, "cloud.provider"), "aws");
    assert_eq!(text(&resource, "cloud.platform"), "aws_eks");
    assert_eq!(text(&resource, "k8s.namespace.name"), "orders");
    assert_eq!(text(&resource, "k8s.pod.name"), "orders-7d9f8b6c5-x2x7q");
    assert_eq!(text(&resource, "k8s.cluster.name"), "prod-cluster");
    assert_eq!(
        text(&resource, "aws.eks.cluster.arn"),
        "arn:aws:eks:us-west-2:123456789012:cluster/prod-cluster"
    );
    // The node: the EC2 instance the pod runs on.
    assert_eq!(text(&resource, "host.id"), "i-1234567890abcdef0");
    assert_eq!(text(&resource, "cloud.availability_zone"), "us-west-2b");
}
