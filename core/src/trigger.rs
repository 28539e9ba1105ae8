//! What started an invocation: the trigger model.
//!
//! A [`TriggerAdapter`] looks at an event before the handler runs and describes the
//! invocation span as an [`InvocationSpec`]; after the handler it reads the response into an
//! [`Outcome`]. That is the whole contract: the engine owns the span, the clock, the context
//! and the flush, so an adapter is a pure function of the event and stays short.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

use crate::propagation::{ExtractedLinks, Propagation};

/// The `faas.trigger` values of the semantic conventions.
///
/// ```
/// use otel_faas_core::{SpanSpec, InvocationSpec, trigger::FaasTrigger};
///
/// let spec = InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server("orders process"));
/// assert_eq!(spec.trigger().as_str(), "pubsub");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaasTrigger {
    /// A response to a data source operation (a database or object store change).
    Datasource,
    /// An inbound HTTP request.
    Http,
    /// A message sent to a queue, topic or bus.
    PubSub,
    /// A schedule.
    Timer,
    /// Anything else.
    Other,
}

impl FaasTrigger {
    /// The attribute value, as the conventions spell it.
    ///
    /// ```
    /// assert_eq!(otel_faas_core::trigger::FaasTrigger::PubSub.as_str(), "pubsub");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Datasource => "datasource",
            Self::Http => "http",
            Self::PubSub => "pubsub",
            Self::Timer => "timer",
            Self::Other => "other",
        }
    }
}

/// What the platform says about one invocation, beside the event itself.
///
/// Everything here belongs to this invocation only; it is handed from the adapter to the
/// engine by value and never stored in the process environment or a global.
///
/// ```
/// use std::time::Duration;
/// use otel_faas_core::trigger::InvocationContext;
///
/// let context = InvocationContext::new()
///     .with_invocation_id("req-1")
///     .with_deadline_in(Duration::from_secs(3))
///     .with_carrier_field("x-platform-trace-id", "Root=…");
/// assert_eq!(context.invocation_id(), Some("req-1"));
/// assert!(context.time_left().unwrap() <= Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, Default)]
pub struct InvocationContext {
    invocation_id: Option<String>,
    deadline: Option<Instant>,
    carrier: HashMap<String, String>,
    link_limit: Option<usize>,
}

impl InvocationContext {
    /// An empty context: no id, no deadline, no platform carrier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the platform's id for this invocation (`faas.invocation_id`).
    #[must_use]
    pub fn with_invocation_id(mut self, id: impl Into<String>) -> Self {
        self.invocation_id = Some(id.into());
        self
    }

    /// Sets the instant at which the platform stops the invocation.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the deadline `time_left` from now. A deadline too far away to represent (a
    /// platform sending garbage) is treated as no deadline rather than a panic.
    #[must_use]
    pub fn with_deadline_in(mut self, time_left: Duration) -> Self {
        self.deadline = Instant::now().checked_add(time_left);
        self
    }

    /// Sets the deadline from a wall-clock time, as platforms send it (for instance
    /// milliseconds since the Unix epoch). A deadline already past is kept as "now".
    #[must_use]
    pub fn with_deadline_at(self, deadline: SystemTime) -> Self {
        let time_left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        self.with_deadline_in(time_left)
    }

    /// Adds a propagation field the platform delivered outside the event (a trace header in
    /// the invocation's metadata, for instance). Adapters read it through
    /// [`carrier`](Self::carrier).
    #[must_use]
    pub fn with_carrier_field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.carrier.insert(key.into(), value.into());
        self
    }

    /// The platform's id for this invocation.
    pub fn invocation_id(&self) -> Option<&str> {
        self.invocation_id.as_deref()
    }

    /// The instant at which the platform stops the invocation.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline, zero once it has passed.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Propagation fields the platform delivered outside the event.
    pub fn carrier(&self) -> &HashMap<String, String> {
        &self.carrier
    }

    /// Sets how many links a span keeps (`OTEL_SPAN_LINK_COUNT_LIMIT`); the engine sets it
    /// from its pipeline when the caller did not.
    #[must_use]
    pub fn with_link_limit(mut self, limit: usize) -> Self {
        self.link_limit = Some(limit);
        self
    }

    /// How many links a span keeps: the SDK drops the rest, so an adapter that links one
    /// producer per message stops building links there (a batch of 10,000 messages needs
    /// 128, not 10,000). The spec's default, 128, unless set.
    ///
    /// ```
    /// use otel_faas_core::trigger::InvocationContext;
    ///
    /// assert_eq!(InvocationContext::new().link_limit(), 128);
    /// assert_eq!(InvocationContext::new().with_link_limit(4).link_limit(), 4);
    /// ```
    pub fn link_limit(&self) -> usize {
        self.link_limit.unwrap_or(DEFAULT_LINK_LIMIT)
    }

    pub(crate) fn link_limit_unset(&self) -> bool {
        self.link_limit.is_none()
    }
}

/// The spec's default `OTEL_SPAN_LINK_COUNT_LIMIT`.
const DEFAULT_LINK_LIMIT: usize = 128;

/// A span to start: name, kind, attributes and links, described before it exists.
///
/// Adapters describe the invocation span with one (inside an [`InvocationSpec`]), an
/// optional span between the invocation and the handler (the batch CONSUMER span of the
/// messaging conventions), and the per-message spans helpers start inside a handler.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::trace::SpanKind;
/// use otel_faas_core::trigger::SpanSpec;
///
/// let span = SpanSpec::consumer("orders process")
///     .with_attribute(KeyValue::new("messaging.batch.message_count", 3));
/// assert_eq!(span.name(), "orders process");
/// assert_eq!(span.kind(), &SpanKind::Consumer);
/// assert_eq!(span.attributes().len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct SpanSpec {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) links: Vec<Link>,
    /// Started unsampled whatever the sampler says (see [`InvocationSpec::not_traced`]).
    pub(crate) not_sampled: bool,
}

impl SpanSpec {
    /// A span named `name` of kind `kind`.
    pub fn new(name: impl Into<Cow<'static, str>>, kind: SpanKind) -> Self {
        Self {
            name: name.into(),
            kind,
            attributes: Vec::new(),
            links: Vec::new(),
            not_sampled: false,
        }
    }

    /// A SERVER span: the invocation span of most triggers, as the FaaS conventions say.
    pub fn server(name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(name, SpanKind::Server)
    }

    /// A CONSUMER span: the processing of a message or a batch.
    pub fn consumer(name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(name, SpanKind::Consumer)
    }

    /// Renames the span (a platform wrapper applies its naming rule to every trigger).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the span kind.
    #[must_use]
    pub fn with_kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Adds one attribute.
    #[must_use]
    pub fn with_attribute(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Adds attributes.
    #[must_use]
    pub fn with_attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// Adds a link, for instance to the producer of one message of a batch.
    #[must_use]
    pub fn with_link(mut self, link: Link) -> Self {
        self.links.push(link);
        self
    }

    /// Adds links.
    #[must_use]
    pub fn with_links(mut self, links: impl IntoIterator<Item = Link>) -> Self {
        self.links.extend(links);
        self
    }

    /// The span name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The span kind.
    pub fn kind(&self) -> &SpanKind {
        &self.kind
    }
    /// The attributes.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
    /// The links.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Starts the span as a child of `parent`.
    pub(crate) fn start(self, tracer: &SdkTracer, parent: &Context) -> Context {
        if self.not_sampled {
            // A span that records nothing, in the parent's trace (or a new one): children
            // of it are not sampled either by a parent-based sampler.
            use opentelemetry::trace::{SpanContext, TraceFlags};
            use opentelemetry_sdk::trace::IdGenerator as _;
            let ids = crate::ids::FreshIds::random();
            let outer = parent.span().span_context().clone();
            let trace_id = if outer.is_valid() {
                outer.trace_id()
            } else {
                ids.new_trace_id()
            };
            let unlinked;
            let parent = if ExtractedLinks::of(parent).is_empty() {
                parent
            } else {
                unlinked = parent.with_value(ExtractedLinks::default());
                &unlinked
            };
            return parent.with_remote_span_context(SpanContext::new(
                trace_id,
                ids.new_span_id(),
                TraceFlags::default(),
                false,
                outer.trace_state().clone(),
            ));
        }
        let extracted = ExtractedLinks::of(parent);
        let mut links = self.links;
        links.extend(extracted.iter().cloned());
        let span = tracer
            .span_builder(self.name)
            .with_kind(self.kind)
            .with_attributes(self.attributes)
            .with_links(links)
            .start_with_context(tracer, parent);
        let cx = parent.with_span(span);
        if extracted.is_empty() {
            cx
        } else {
            // Linked once, from this span: its children do not repeat the links.
            cx.with_value(ExtractedLinks::default())
        }
    }
}

/// The invocation an adapter describes: the invocation span (a [`SpanSpec`]), the
/// trigger type, the parent context and, optionally, a span the handler runs in.
///
/// The engine adds `faas.trigger`, `faas.coldstart` and `faas.invocation_id` itself. An
/// `InvocationSpec` dereferences to its span, so `spec.name()` and `spec.attributes()` read
/// the span's.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry::trace::SpanKind;
/// use otel_faas_core::trigger::{FaasTrigger, InvocationSpec, SpanSpec};
///
/// let spec = InvocationSpec::new(
///     FaasTrigger::Timer,
///     SpanSpec::server("nightly-report").with_attribute(KeyValue::new("faas.cron", "0 3 * * *")),
/// );
/// assert_eq!(spec.kind(), &SpanKind::Server);
/// assert_eq!(spec.trigger(), FaasTrigger::Timer);
///
/// let batch = InvocationSpec::new(FaasTrigger::PubSub, SpanSpec::server("orders"))
///     .with_inner_span(SpanSpec::consumer("orders process"));
/// assert_eq!(batch.inner_span().unwrap().name(), "orders process");
/// ```
#[derive(Debug, Clone)]
pub struct InvocationSpec {
    pub(crate) span: SpanSpec,
    pub(crate) trigger: FaasTrigger,
    pub(crate) parent: Context,
    pub(crate) inner: Option<SpanSpec>,
}

impl InvocationSpec {
    /// An invocation of type `trigger` recorded as `span`, with no parent.
    pub fn new(trigger: FaasTrigger, span: SpanSpec) -> Self {
        Self {
            span,
            trigger,
            parent: Context::new(),
            inner: None,
        }
    }

    /// Changes the invocation span (a platform wrapper renames it, adds attributes).
    #[must_use]
    pub fn map_span(mut self, f: impl FnOnce(SpanSpec) -> SpanSpec) -> Self {
        self.span = f(self.span);
        self
    }

    /// Sets the parent, usually what a [`Propagation`] extracted from the event.
    #[must_use]
    pub fn with_parent(mut self, parent: Context) -> Self {
        self.parent = parent;
        self
    }

    /// Runs the handler inside `inner`, a child of the invocation span. It shares the
    /// invocation's failure (status and `error.type`).
    #[must_use]
    pub fn with_inner_span(mut self, inner: SpanSpec) -> Self {
        self.inner = Some(inner);
        self
    }

    /// Leaves this invocation untraced, whatever the sampler says: its span (and the inner
    /// one) are not sampled, so the spans the handler starts under them are not either
    /// with a parent-based sampler (the default). For invocations that are not worth a
    /// trace, such as warm-up pings; observers still hear of them.
    ///
    /// ```
    /// use otel_faas_core::{InvocationSpec, SpanSpec, trigger::FaasTrigger};
    ///
    /// let spec = InvocationSpec::new(FaasTrigger::Timer, SpanSpec::server("keep-warm")).not_traced();
    /// assert!(!spec.is_traced());
    /// ```
    #[must_use]
    pub fn not_traced(mut self) -> Self {
        self.span.not_sampled = true;
        if let Some(inner) = &mut self.inner {
            inner.not_sampled = true;
        }
        self
    }

    /// Whether the invocation is traced (see [`not_traced`](Self::not_traced)).
    pub fn is_traced(&self) -> bool {
        !self.span.not_sampled
    }

    /// The invocation span.
    pub fn span(&self) -> &SpanSpec {
        &self.span
    }
    /// The trigger type.
    pub fn trigger(&self) -> FaasTrigger {
        self.trigger
    }
    /// The parent context.
    pub fn parent(&self) -> &Context {
        &self.parent
    }
    /// The inner span, if the adapter asked for one.
    pub fn inner_span(&self) -> Option<&SpanSpec> {
        self.inner.as_ref()
    }
}

impl std::ops::Deref for InvocationSpec {
    type Target = SpanSpec;

    fn deref(&self) -> &SpanSpec {
        &self.span
    }
}

/// How an invocation ended, as its adapter reads the response.
///
/// ```
/// use opentelemetry::KeyValue;
/// use otel_faas_core::trigger::Outcome;
///
/// let ok = Outcome::success().with_attribute(KeyValue::new("http.response.status_code", 200));
/// assert!(ok.failure().is_none());
///
/// let failed = Outcome::failed("503", None);
/// assert_eq!(failed.failure().unwrap().error_type(), "503");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    attributes: Vec<KeyValue>,
    failure: Option<Failure>,
}

impl Outcome {
    /// The handler succeeded.
    pub fn success() -> Self {
        Self::default()
    }

    /// The handler returned normally, but its response reports a failure (an HTTP 5xx, a
    /// batch with failed items). `error_type` is low-cardinality, as `error.type` must be.
    pub fn failed(error_type: impl Into<String>, description: Option<String>) -> Self {
        Self {
            attributes: Vec::new(),
            failure: Some(Failure {
                error_type: error_type.into(),
                description,
            }),
        }
    }

    /// Adds an attribute read from the response.
    #[must_use]
    pub fn with_attribute(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// The attributes read from the response.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }

    /// The failure, if the response reports one.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }
}

/// A failure reported by a response.
///
/// ```
/// use otel_faas_core::trigger::Outcome;
///
/// let outcome = Outcome::failed("batch_item_failures", Some("2 of 10 records failed".to_owned()));
/// let failure = outcome.failure().unwrap();
/// assert_eq!(failure.error_type(), "batch_item_failures");
/// assert_eq!(failure.description(), Some("2 of 10 records failed"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    error_type: String,
    description: Option<String>,
}

impl Failure {
    /// The `error.type` value.
    pub fn error_type(&self) -> &str {
        &self.error_type
    }
    /// The span status description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

/// Describes the invocations one kind of event starts.
///
/// `E` is the event the handler receives and `R` its response. An adapter for a new trigger
/// needs only this crate:
///
/// ```
/// use opentelemetry::KeyValue;
/// use otel_faas_core::{SpanSpec, InvocationSpec, Propagation, TriggerAdapter, propagation::IgnoreCase, trigger::{FaasTrigger, InvocationContext, Outcome}};
/// use std::collections::HashMap;
///
/// /// A job runner that posts `{"job": "...", "headers": {...}}`.
/// struct Job { name: String, headers: HashMap<String, String> }
/// struct JobReport { failed: usize }
///
/// struct JobTrigger;
///
/// impl TriggerAdapter<Job, JobReport> for JobTrigger {
///     fn invocation_spec(
///         &self,
///         job: &Job,
///         _context: &InvocationContext,
///         propagation: &dyn Propagation,
///     ) -> InvocationSpec {
///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server(job.name.clone()).with_attribute(KeyValue::new("job.name", job.name.clone()))).with_parent(propagation.extract_from(&IgnoreCase(&job.headers)))
///     }
///
///     fn outcome(&self, report: &JobReport) -> Outcome {
///         match report.failed {
///             0 => Outcome::success(),
///             n => Outcome::failed("job_failed", Some(format!("{n} steps failed"))),
///         }
///     }
/// }
/// ```
pub trait TriggerAdapter<E, R>: Send + Sync {
    /// What the platform says about this invocation, when the event carries it (a runtime
    /// envelope holding both event and metadata). The default is an empty context.
    fn invocation_context(&self, _event: &E) -> InvocationContext {
        InvocationContext::default()
    }

    /// Describes the invocation span, before the handler runs.
    fn invocation_spec(
        &self,
        event: &E,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec;

    /// Reads the handler's response. The default reports success.
    fn outcome(&self, _response: &R) -> Outcome {
        Outcome::success()
    }

    /// Reads the handler's response knowing the trigger type this invocation's spec
    /// reported; the engine calls this one. Adapters that describe several triggers (a
    /// raw-JSON adapter that detects the event) read the response by it — a `statusCode` means
    /// something for an HTTP invocation only. The default calls
    /// [`outcome`](Self::outcome).
    fn outcome_for(&self, trigger: FaasTrigger, response: &R) -> Outcome {
        let _ = trigger;
        self.outcome(response)
    }

    /// What the caller receives when the handler panics, for protocols that must answer
    /// every request: an HTTP server answers `500`, otherwise the connection closes with no
    /// response at all. The engine then records the panic (`error.type=panic`, the
    /// exception) together with the attributes [`outcome_for`](Self::outcome_for) reads from
    /// this response (`http.response.status_code=500`), and returns it as the handler's
    /// response instead of resuming the panic.
    ///
    /// The default is `None`: the panic is resumed after the span is ended and exported, for
    /// runtimes that report it themselves (lambda_runtime answers the Runtime API with an
    /// invocation error). Never put the panic message in the response; callers must not see
    /// a function's internals.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use otel_faas_core::trigger::{FaasTrigger, InvocationContext, SpanSpec};
    /// use otel_faas_core::{InvocationEngine, InvocationSpec, Propagation, TriggerAdapter};
    ///
    /// struct Rpc;
    /// impl TriggerAdapter<String, String> for Rpc {
    ///     fn invocation_spec(&self, _: &String, _: &InvocationContext, _: &dyn Propagation) -> InvocationSpec {
    ///         InvocationSpec::new(FaasTrigger::Other, SpanSpec::server("rpc"))
    ///     }
    ///     fn panic_response(&self, _: FaasTrigger) -> Option<String> {
    ///         Some("internal error".to_owned())
    ///     }
    /// }
    ///
    /// let engine = InvocationEngine::builder(&SdkTracerProvider::builder().build()).build();
    /// let reply = engine
    ///     .invocation(&Rpc, "ping".to_owned())
    ///     .run(|_| async {
    ///         if true {
    ///             panic!("out of cheese");
    ///         }
    ///         Ok::<_, std::io::Error>(String::new())
    ///     })
    ///     .await;
    /// assert_eq!(reply.unwrap(), "internal error");
    /// # }
    /// ```
    fn panic_response(&self, trigger: FaasTrigger) -> Option<R> {
        let _ = trigger;
        None
    }
}

impl<E, R, A: TriggerAdapter<E, R> + ?Sized> TriggerAdapter<E, R> for std::sync::Arc<A> {
    fn invocation_context(&self, event: &E) -> InvocationContext {
        (**self).invocation_context(event)
    }
    fn invocation_spec(
        &self,
        event: &E,
        context: &InvocationContext,
        propagation: &dyn Propagation,
    ) -> InvocationSpec {
        (**self).invocation_spec(event, context, propagation)
    }
    fn outcome(&self, response: &R) -> Outcome {
        (**self).outcome(response)
    }
    fn outcome_for(&self, trigger: FaasTrigger, response: &R) -> Outcome {
        (**self).outcome_for(trigger, response)
    }
    fn panic_response(&self, trigger: FaasTrigger) -> Option<R> {
        (**self).panic_response(trigger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_deadlines_do_not_panic() {
        let far = InvocationContext::new().with_deadline_in(Duration::MAX);
        assert_eq!(far.deadline(), None);
        let epoch_max = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::MAX);
        let context = InvocationContext::new().with_deadline_at(epoch_max);
        assert!(
            context
                .time_left()
                .is_none_or(|left| left > Duration::from_secs(3600))
        );
        let past = InvocationContext::new().with_deadline_at(SystemTime::UNIX_EPOCH);
        assert_eq!(past.time_left(), Some(Duration::ZERO));
    }

    /// A link a propagator put in the context goes on the span started on it, beside the
    /// span's own links, and on none of its children.
    #[test]
    fn links_a_propagator_extracted_go_on_the_span_and_not_its_children() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "test");
        let context = |trace: &str, span: &str| {
            SpanContext::new(
                TraceId::from_hex(trace).unwrap(),
                SpanId::from_hex(span).unwrap(),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )
        };
        let caller = context("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
        let own = context("11111111111111111111111111111111", "2222222222222222");
        let parent = ExtractedLinks::add(
            &Context::new().with_remote_span_context(context(
                "5759e988bd862e3fe1be46a994272793",
                "53995c3f42cd8ad8",
            )),
            Link::with_context(caller.clone()),
        );

        let invocation = SpanSpec::server("invocation")
            .with_link(Link::with_context(own.clone()))
            .start(&tracer, &parent);
        assert!(ExtractedLinks::of(&invocation).is_empty());
        SpanSpec::new("handler", SpanKind::Internal)
            .start(&tracer, &invocation)
            .span()
            .end();
        invocation.span().end();
        let mut unsampled = SpanSpec::server("unsampled");
        unsampled.not_sampled = true;
        let unsampled = unsampled.start(&tracer, &parent);
        assert!(ExtractedLinks::of(&unsampled).is_empty());

        let spans = exporter.get_finished_spans().unwrap();
        let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
        let linked: Vec<_> = span("invocation")
            .links
            .iter()
            .map(|l| l.span_context.clone())
            .collect();
        assert_eq!(linked, [own, caller]);
        assert_eq!(
            span("invocation").parent_span_id,
            SpanId::from_hex("53995c3f42cd8ad8").unwrap()
        );
        assert!(span("handler").links.is_empty());
    }
}
