//! A service in a container on ECS/Fargate (`examples/ecs-service`), run as ECS runs it:
//! `ECS_CONTAINER_METADATA_URI_V4` pointing at a fake task metadata endpoint that serves the
//! ECS Developer Guide's Fargate samples (`fixtures/ecs/`). Its spans must carry what
//! `opentelemetry-aws`'s ECS detector reads there, asked in the background. And the
//! example's task definition is validated against the ECS API's own input shape
//! (botocore's service model).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use otel_faas_integration_tests::{
    AttrValue, ExampleService, OtlpReceiver, build_binary, moto_venv, workspace_root,
};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        workspace_root()
            .join("integration-tests/fixtures/ecs")
            .join(name),
    )
    .expect("the ECS fixture")
}

/// The task metadata endpoint v4 for one container: `{base}` the container, `{base}/task`
/// the task; counts the task requests.
async fn fake_metadata_endpoint() -> (String, Arc<AtomicUsize>) {
    use axum::routing::get;
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let container = fixture("metadatav4-response-container-fargate.json");
    let task = fixture("metadatav4-response-task-fargate.json");
    let app = axum::Router::new()
        .route("/v4/abc", get(move || async move { container }))
        .route(
            "/v4/abc/task",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { task }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/v4/abc"), asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_carries_its_task_from_the_metadata_endpoint() {
    let receiver = OtlpReceiver::start().expect("the OTLP receiver");
    let (metadata, asked) = fake_metadata_endpoint().await;
    let binary = build_binary("example-ecs-service", "ecs-service").expect("the example");
    let service = ExampleService::start(
        binary,
        &[
            ("ECS_CONTAINER_METADATA_URI_V4", &metadata),
            ("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE"),
            ("AWS_REGION", "us-west-2"),
        ],
        &receiver,
        Stdio::null(),
        Stdio::inherit(),
    );
    service.wait_ready().await;
    let start = Instant::now();
    // The detector asks in the background; nothing waited for it.
    while asked.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the task metadata was never asked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(service.get("/orders/7").await, 200);

    let span = receiver
        .wait_for_span("GET /orders/{id}", Duration::from_secs(10))
        .await
        .expect("the request's span");
    let resource = |key: &str| match span.resource.get(key) {
        Some(AttrValue::Str(value)) => value.clone(),
        other => panic!("{key}: {other:?} in {:#?}", span.resource),
    };
    // At start-up, from the environment.
    assert_eq!(resource("cloud.provider"), "aws");
    assert_eq!(resource("cloud.platform"), "aws_ecs");
    assert_eq!(resource("aws.ecs.launchtype"), "fargate");
    // From the task metadata endpoint, through opentelemetry-aws's detector.
    assert_eq!(
        resource("aws.ecs.task.arn"),
        "arn:aws:ecs:us-west-2:111122223333:task/default/e9028f8d5d8e4f258373e7b93ce9a3c3"
    );
    assert_eq!(
        resource("aws.ecs.cluster.arn"),
        "arn:aws:ecs:us-west-2:111122223333:cluster/default"
    );
    assert_eq!(resource("aws.ecs.task.family"), "curltest");
    assert_eq!(resource("aws.ecs.task.revision"), "3");
    assert_eq!(resource("cloud.availability_zone"), "us-west-2a");
    assert_eq!(
        resource("aws.ecs.container.arn"),
        "arn:aws:ecs:us-west-2:111122223333:container/05966557-f16c-49cb-9352-24b3a0dcd0e1"
    );
    assert_eq!(resource("container.name"), "curl");
    // What the operator set wins over what the metadata says.
    assert_eq!(resource("service.name"), "orders-service");
}

/// The example's task definition is a valid `RegisterTaskDefinition` input as the ECS API
/// defines it (botocore's service model, the AWS CLI's validator), and the check can fail.
#[test]
fn the_task_definition_is_what_the_ecs_api_takes() {
    let python = moto_venv().join("bin/python");
    assert!(
        python.is_file(),
        "botocore (with moto) is not installed at {}: run `cargo xtask test`",
        python.display()
    );
    let validate = |path: &std::path::Path| {
        Command::new(&python)
            .arg(workspace_root().join("integration-tests/oracle/validate_ecs_task_definition.py"))
            .arg(path)
            .output()
            .expect("botocore runs")
    };
    let definition = workspace_root().join("examples/ecs-service/task-definition.json");
    let output = validate(&definition);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    // A definition the API refuses: cpu as a number, an unknown key.
    let mut broken: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&definition).unwrap()).unwrap();
    broken["cpu"] = 256.into();
    broken["containerDefinitions"][0]["sidecar"] = true.into();
    let path = std::env::temp_dir().join(format!("ecs-broken-{}.json", std::process::id()));
    std::fs::write(&path, broken.to_string()).unwrap();
    let output = validate(&path);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{report}");
    assert!(
        report.contains("cpu") && report.contains("sidecar"),
        "{report}"
    );
}
