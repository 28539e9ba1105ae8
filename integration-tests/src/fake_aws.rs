//! A stand-in for the two AWS APIs the demo's functions call — SQS `SendMessage` and
//! DynamoDB `PutItem` — so that `cargo xtask demo` runs the real AWS SDK with no emulator
//! and no network. It answers as the services do in their JSON protocols, keeps every call,
//! and turns the messages sent into the Lambda SQS event an event source mapping would
//! deliver. Anything else is refused with `UnknownOperationException`, loudly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::ReceiverError;
use crate::server::BackgroundServer;

/// One call the stand-in answered.
#[derive(Debug, Clone)]
pub struct AwsCall {
    /// `X-Amz-Target`, such as `AmazonSQS.SendMessage`.
    pub target: String,
    /// The request's `X-Amzn-Trace-Id`, if it had one.
    pub trace_header: Option<String>,
    /// The JSON request body.
    pub body: Value,
    /// The message id answered to a `SendMessage`.
    pub message_id: Option<String>,
    /// When it was received, in ms since the epoch.
    pub received_ms: u64,
}

#[derive(Default)]
struct Calls {
    calls: Mutex<Vec<AwsCall>>,
    next_id: AtomicU64,
}

/// The stand-in endpoint; give [`FakeAwsEndpoint::endpoint`] to functions as
/// `AWS_ENDPOINT_URL`. Stops when dropped.
///
/// ```no_run
/// let aws = otel_faas_integration_tests::FakeAwsEndpoint::start()?;
/// // … run a function with AWS_ENDPOINT_URL = aws.endpoint() …
/// let event = aws.sqs_event("us-east-1");
/// # Ok::<(), otel_faas_integration_tests::ReceiverError>(())
/// ```
pub struct FakeAwsEndpoint {
    calls: Arc<Calls>,
    server: BackgroundServer,
}

impl FakeAwsEndpoint {
    /// Starts the stand-in on an ephemeral port of 127.0.0.1.
    pub fn start() -> Result<Self, ReceiverError> {
        let calls = Arc::new(Calls::default());
        let app = Router::new()
            .route("/", post(answer))
            .with_state(Arc::clone(&calls));
        let server = BackgroundServer::start("fake-aws", 1, app)?;
        Ok(Self { calls, server })
    }

    /// The URL, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.address())
    }

    /// Every call answered so far, in order.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.calls
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The Lambda SQS event an event source mapping would deliver for every message sent so
    /// far: body, string message attributes, and `AWSTraceHeader` from the
    /// `MessageSystemAttributes` or else the `X-Amzn-Trace-Id` of the `SendMessage` request,
    /// as SQS sets it.
    pub fn sqs_event(&self, region: &str) -> Value {
        let records: Vec<Value> = self
            .calls()
            .iter()
            .filter(|call| call.target == "AmazonSQS.SendMessage")
            .map(|call| sqs_record(call, region))
            .collect();
        json!({ "Records": records })
    }
}

impl std::fmt::Debug for FakeAwsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAwsEndpoint")
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

fn sqs_record(call: &AwsCall, region: &str) -> Value {
    let queue_url = call.body["QueueUrl"].as_str().unwrap_or_default();
    // https://sqs.{region}.amazonaws.com/{account}/{queue}
    let mut parts = queue_url.rsplit('/');
    let queue = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or("123456789012");
    let mut attributes = json!({
        "ApproximateReceiveCount": "1",
        "SentTimestamp": call.received_ms.to_string(),
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": (call.received_ms + 5).to_string(),
    });
    // SQS takes `AWSTraceHeader` from the `MessageSystemAttributes` of the request when
    // set there, and from its `X-Amzn-Trace-Id` header otherwise.
    let system_trace_header =
        call.body["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"].as_str();
    if let Some(trace_header) = system_trace_header.or(call.trace_header.as_deref()) {
        attributes["AWSTraceHeader"] = json!(trace_header);
    }
    let message_attributes: serde_json::Map<String, Value> = call.body["MessageAttributes"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, attribute)| {
            let value = attribute["StringValue"].as_str()?;
            Some((
                name.clone(),
                json!({
                    "stringValue": value,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": attribute["DataType"].as_str().unwrap_or("String"),
                }),
            ))
        })
        .collect();
    let message_id = call.message_id.clone().unwrap_or_default();
    json!({
        "messageId": message_id,
        "receiptHandle": format!("receipt-{message_id}"),
        "body": call.body["MessageBody"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:{region}:{account}:{queue}"),
        "awsRegion": region,
    })
}

async fn answer(State(calls): State<Arc<Calls>>, headers: HeaderMap, body: Bytes) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let target = text("x-amz-target").unwrap_or_default();
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = calls.next_id.fetch_add(1, Ordering::Relaxed);
    let (status, response, message_id) = match target.as_str() {
        "AmazonSQS.SendMessage" => {
            let message_id = format!("6fa{id:05x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
            (
                StatusCode::OK,
                json!({ "MessageId": message_id }),
                Some(message_id),
            )
        }
        "DynamoDB_20120810.PutItem" => {
            let response = if request["ReturnConsumedCapacity"] == "TOTAL" {
                json!({ "ConsumedCapacity": {
                    "TableName": request["TableName"],
                    "CapacityUnits": 1.0,
                }})
            } else {
                json!({})
            };
            (StatusCode::OK, response, None)
        }
        other => (
            StatusCode::BAD_REQUEST,
            json!({
                "__type": "com.amazonaws#UnknownOperationException",
                "message": format!("the demo's AWS stand-in does not implement `{other}`"),
            }),
            None,
        ),
    };
    calls
        .calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(AwsCall {
            target,
            trace_header: text("x-amzn-trace-id"),
            body: request,
            message_id,
            received_ms: now_ms(),
        });
    let mut response = (status, response.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    if let Ok(request_id) = header::HeaderValue::from_str(&format!("demo-request-{id}")) {
        headers.insert("x-amzn-requestid", request_id);
    }
    response
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
