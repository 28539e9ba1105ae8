//! Raw JSON events: detect the trigger, then describe it with that trigger's adapter. The
//! adapter is [`AnyEventTrigger`]; its documentation lists the spans and attributes it
//! produces.

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sns::SnsEvent;
use aws_lambda_events::sqs::SqsEvent;
use otel_faas_core::{
    InvocationSpec, Propagation, SpanSpec, TriggerAdapter,
    trigger::{FaasTrigger, InvocationContext, Outcome},
};
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::alb::AlbTrigger;
use super::apigw_http::ApiGatewayHttpTrigger;
use super::apigw_rest::ApiGatewayRestTrigger;
use super::dynamodb::DynamoDbTrigger;
use super::eventbridge::EventBridgeTrigger;
use super::function_url::FunctionUrlTrigger;
use super::kinesis::KinesisTrigger;
use super::s3::S3Trigger;
use super::scheduled::ScheduledTrigger;
use super::sns::SnsTrigger;
use super::sqs::SqsTrigger;
use crate::response::{LambdaResponse, batch_outcome, http_outcome};
use crate::warm_up::WarmUp;

/// The trigger a raw event's shape points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DetectedTrigger {
    /// API Gateway REST API (payload 1.0).
    ApiGatewayRest,
    /// API Gateway HTTP API (payload 2.0).
    ApiGatewayHttp,
    /// A function URL.
    FunctionUrl,
    /// An Application Load Balancer.
    Alb,
    /// SQS.
    Sqs,
    /// SNS.
    Sns,
    /// EventBridge.
    EventBridge,
    /// A schedule.
    Scheduled,
    /// Kinesis.
    Kinesis,
    /// DynamoDB Streams.
    DynamoDb,
    /// S3.
    S3,
    /// None of the above.
    Unknown,
}

/// Which trigger `event` looks like.
///
/// ```
/// use otel_faas_aws::{triggers::{DetectedTrigger, detect_trigger}};
///
/// let event = serde_json::json!({"Records": [{"eventSource": "aws:sqs"}]});
/// assert_eq!(detect_trigger(&event), DetectedTrigger::Sqs);
/// assert_eq!(detect_trigger(&serde_json::json!({"hello": "world"})), DetectedTrigger::Unknown);
/// ```
pub fn detect_trigger(event: &Value) -> DetectedTrigger {
    fn text(value: Option<&Value>) -> &str {
        value.and_then(Value::as_str).unwrap_or_default()
    }
    if let Some(first) = event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
    {
        let source = text(
            first
                .get("eventSource")
                .or_else(|| first.get("EventSource")),
        );
        return match source {
            "aws:sqs" => DetectedTrigger::Sqs,
            "aws:sns" => DetectedTrigger::Sns,
            "aws:kinesis" => DetectedTrigger::Kinesis,
            "aws:dynamodb" => DetectedTrigger::DynamoDb,
            "aws:s3" => DetectedTrigger::S3,
            _ => DetectedTrigger::Unknown,
        };
    }
    if event.get("detail-type").is_some() && event.get("source").is_some() {
        let scheduled = text(event.get("detail-type")) == "Scheduled Event"
            && matches!(text(event.get("source")), "aws.events" | "aws.scheduler");
        return if scheduled {
            DetectedTrigger::Scheduled
        } else {
            DetectedTrigger::EventBridge
        };
    }
    let Some(request_context) = event.get("requestContext").filter(|c| c.is_object()) else {
        return DetectedTrigger::Unknown;
    };
    if request_context.get("elb").is_some() {
        return DetectedTrigger::Alb;
    }
    if text(event.get("version")) == "2.0" || request_context.get("http").is_some() {
        return if text(request_context.get("domainName")).contains(".lambda-url.") {
            DetectedTrigger::FunctionUrl
        } else {
            DetectedTrigger::ApiGatewayHttp
        };
    }
    if event.get("httpMethod").is_some() && event.get("resource").is_some() {
        return DetectedTrigger::ApiGatewayRest;
    }
    DetectedTrigger::Unknown
}

/// Describes any raw event with the adapter of the trigger it comes from.
///
/// # Spans and attributes (semantic conventions v1.44)
///
/// Raw JSON events: detect the trigger, then describe it with that trigger's adapter.
///
/// For functions whose handler takes `serde_json::Value` (one function behind several
/// triggers, or a trigger without a typed event). Detection looks at the shape only:
///
/// | shape | trigger |
/// |---|---|
/// | `Records[0].eventSource` = `aws:sqs` / `aws:kinesis` / `aws:dynamodb` / `aws:s3`, or `Records[0].EventSource` = `aws:sns` | SQS / Kinesis / DynamoDB Streams / S3 / SNS |
/// | `source` + `detail-type`, with `Scheduled Event` from `aws.events` or `aws.scheduler` | scheduled |
/// | `source` + `detail-type`, otherwise | EventBridge |
/// | `requestContext.elb` | ALB |
/// | payload `version` 2.0 with a `*.lambda-url.*` domain | function URL |
/// | payload `version` 2.0 | HTTP API |
/// | `httpMethod` + `resource` | REST API |
///
/// Anything else, and any event that does not parse as the type its shape suggests, is
/// described as `faas.trigger=other` — the invocation is never failed by telemetry, and a
/// debug log says why. S3 notifications missing fields real S3 always sends (emulators leave
/// out `userIdentity`, `requestParameters`) are completed with empty values before parsing.
///
/// ```
/// use otel_faas_aws::AnyEventTrigger;
/// use otel_faas_core::{TriggerAdapter, propagation::CompositePropagation, trigger::{FaasTrigger, InvocationContext}};
///
/// let event = serde_json::json!({"unexpected": true});
/// let spec = TriggerAdapter::<_, ()>::invocation_spec(
///     &AnyEventTrigger::new(), &event, &InvocationContext::new(), &CompositePropagation::w3c(),
/// );
/// assert_eq!(spec.trigger(), FaasTrigger::Other);
/// ```
#[derive(Debug, Clone)]
pub struct AnyEventTrigger {
    scheduled: ScheduledTrigger,
    sqs: SqsTrigger,
    warm_up: WarmUp,
}

impl Default for AnyEventTrigger {
    fn default() -> Self {
        Self {
            // Warm-up pings are recognised once, on the raw event, here.
            scheduled: ScheduledTrigger::new().with_warm_up(WarmUp::none()),
            sqs: SqsTrigger::default(),
            warm_up: WarmUp::default(),
        }
    }
}

impl AnyEventTrigger {
    /// The adapter, with each trigger's defaults; the common warmers' pings are recognised
    /// and marked ([`WarmUp::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The adapter, with the triggers' environment variables applied
    /// (`OTEL_FAAS_SQS_MESSAGE_CONTEXT`, see [`SqsTrigger::from_env`];
    /// `OTEL_FAAS_WARMUP_MATCH` and `OTEL_FAAS_WARMUP_TRACE`, see [`WarmUp::from_env`]).
    pub fn from_env() -> Self {
        Self::new()
            .with_sqs(SqsTrigger::from_env())
            .with_warm_up(WarmUp::from_env(&otel_faas_core::env::ProcessEnvironment))
    }

    /// How warm-up pings are recognised and treated (see [`WarmUp`]).
    ///
    /// ```
    /// use otel_faas_aws::AnyEventTrigger;
    /// use otel_faas_aws::warm_up::WarmUp;
    ///
    /// let adapter = AnyEventTrigger::new().with_warm_up(WarmUp::default().traced(false));
    /// # drop(adapter);
    /// ```
    #[must_use]
    pub fn with_warm_up(mut self, warm_up: WarmUp) -> Self {
        self.warm_up = warm_up;
        self
    }

    /// How SQS events are described.
    ///
    /// ```
    /// use otel_faas_aws::{AnyEventTrigger, SqsTrigger};
    ///
    /// let adapter = AnyEventTrigger::new().with_sqs(SqsTrigger::new().with_message_context(true));
    /// # drop(adapter);
    /// ```
    #[must_use]
    pub fn with_sqs(mut self, sqs: SqsTrigger) -> Self {
        self.sqs = sqs;
        self
    }

    /// The schedule expression to record as `faas.cron` for scheduled events.
    #[must_use]
    pub fn with_cron(mut self, expression: impl Into<String>) -> Self {
        self.scheduled = self.scheduled.with_cron(expression);
        self
    }
}

fn parse<T: DeserializeOwned>(event: &Value, trigger: DetectedTrigger) -> Option<T> {
    match T::deserialize(event) {
        Ok(typed) => Some(typed),
        Err(error) => {
            tracing::debug!(target: "otel_faas", ?trigger, %error, "event looks like {trigger:?} but does not parse as one; described as faas.trigger=other");
            None
        }
    }
}

/// Parses an S3 notification leniently: emulators (and some S3-compatible stores) leave out
/// `userIdentity` and `requestParameters`, which AWS always sends and the typed event
/// requires; they are filled in empty. `None` when the event is still not an S3 event.
///
/// ```
/// let event = serde_json::json!({"Records": [{
///     "eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "eventTime": "2026-11-21T06:00:00Z",
///     "s3": {"bucket": {"name": "uploads"}, "object": {"key": "a+b.txt"}}
/// }]});
/// let parsed = otel_faas_aws::triggers::lenient_s3_event(&event).unwrap();
/// assert_eq!(parsed.records[0].s3.bucket.name.as_deref(), Some("uploads"));
/// ```
pub fn lenient_s3_event(event: &Value) -> Option<S3Event> {
    if let Ok(typed) = S3Event::deserialize(event) {
        return Some(typed);
    }
    let mut completed = event.clone();
    if let Some(records) = completed.get_mut("Records").and_then(Value::as_array_mut) {
        for record in records.iter_mut().filter_map(Value::as_object_mut) {
            record
                .entry("userIdentity")
                .or_insert_with(|| serde_json::json!({}));
            record
                .entry("requestParameters")
                .or_insert_with(|| serde_json::json!({}));
        }
    }
    parse(&completed, DetectedTrigger::S3)
}

impl<R: LambdaResponse> TriggerAdapter<Value, R> for AnyEventTrigger {
    fn invocation_spec(
        &self,
        event: &Value,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        use DetectedTrigger as T;
        let trigger = detect_trigger(event);
        let (c, p) = (context, propagation);
        let spec = match trigger {
            T::ApiGatewayRest => parse::<ApiGatewayProxyRequest>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&ApiGatewayRestTrigger, &e, c, p)),
            T::ApiGatewayHttp => parse::<ApiGatewayV2httpRequest>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&ApiGatewayHttpTrigger, &e, c, p)),
            T::FunctionUrl => parse::<LambdaFunctionUrlRequest>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&FunctionUrlTrigger, &e, c, p)),
            T::Alb => parse::<AlbTargetGroupRequest>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&AlbTrigger, &e, c, p)),
            T::Sqs => parse::<SqsEvent>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&self.sqs, &e, c, p)),
            T::Sns => parse::<SnsEvent>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&SnsTrigger, &e, c, p)),
            T::EventBridge => parse::<EventBridgeEvent<Value>>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&EventBridgeTrigger, &e, c, p)),
            T::Scheduled => parse::<EventBridgeEvent<Value>>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&self.scheduled, &e, c, p)),
            T::Kinesis => parse::<KinesisEvent>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&KinesisTrigger, &e, c, p)),
            T::DynamoDb => parse::<DynamoDbEvent>(event, trigger)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&DynamoDbTrigger, &e, c, p)),
            T::S3 => lenient_s3_event(event)
                .map(|e| TriggerAdapter::<_, R>::invocation_spec(&S3Trigger, &e, c, p)),
            T::Unknown => None,
        };
        let spec = spec.unwrap_or_else(|| {
            InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("event"))
                .with_parent(propagation.extract_from(context.carrier()))
        });
        self.warm_up.apply(event, spec)
    }

    /// Without the trigger known (a direct call): a `statusCode` is read as HTTP.
    fn outcome(&self, response: &R) -> Outcome {
        if response.status_code().is_some() {
            http_outcome(response)
        } else {
            batch_outcome(response)
        }
    }

    /// `http.response.status_code`, and ERROR for a 5xx, only for HTTP invocations (the
    /// HTTP conventions apply to HTTP spans only); a `statusCode` a queue or storage handler
    /// returns is nobody's HTTP status. Other triggers read batch-item failures.
    fn outcome_for(&self, trigger: FaasTrigger, response: &R) -> Outcome {
        if trigger == FaasTrigger::Http {
            http_outcome(response)
        } else {
            batch_outcome(response)
        }
    }
}
