//! [`TracingMiddleware`]: the CLIENT span and injection for reqwest, through
//! reqwest-middleware.

use std::sync::Arc;

use opentelemetry::context::FutureExt as _;
use reqwest_middleware::{Middleware, Next};

use super::span::{ClientCall, ClientRequest, Target, is_tls, transport_error_type};
use super::{ResendCount, UrlTemplate};
use crate::http::QueryRedaction;

/// A reqwest-middleware [`Middleware`] that makes each request a CLIENT span and writes the
/// trace context into its headers (see the [module documentation](super)).
///
/// Each time the request passes through the middleware is one span: put it after a retry
/// middleware (`.with(retry).with(TracingMiddleware::new())`) and each attempt is a span,
/// the later ones with `http.request.resend_count`. reqwest follows redirects inside one
/// `send`, so a redirected request is one span, with the final status; build the client
/// with `redirect::Policy::none()` and follow them yourself for a span per hop.
///
/// ```no_run
/// use otel_faas_core::http::client::{TracingMiddleware, UrlTemplate};
///
/// # async fn run() -> Result<(), reqwest_middleware::Error> {
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(TracingMiddleware::new())
///     .build();
/// // A CLIENT span `GET /items/{id}`, its context in `traceparent` (or whatever
/// // `OTEL_PROPAGATORS` says).
/// let response = client
///     .get("https://inventory.example.com/items/7")
///     .with_extension(UrlTemplate::new("/items/{id}"))
///     .send()
///     .await?;
/// # drop(response);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TracingMiddleware {
    redaction: Option<Arc<QueryRedaction>>,
}

impl TracingMiddleware {
    /// Credential query values redacted with the default list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Redacts the values of `redaction`'s keys in `url.full` instead of the default list.
    #[must_use]
    pub fn with_redaction(mut self, redaction: QueryRedaction) -> Self {
        self.redaction = Some(Arc::new(redaction));
        self
    }
}

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let redaction = self
            .redaction
            .clone()
            .unwrap_or_else(QueryRedaction::shared_default);
        let resend_count = extensions.get::<ResendCount>().map_or(0, |count| count.0);
        extensions.insert(ResendCount(resend_count.saturating_add(1)));
        let described = ClientRequest {
            method: request.method(),
            target: target_of(request.url()),
            template: extensions.get::<UrlTemplate>().map(UrlTemplate::as_str),
            resend_count,
            grpc: false,
        };
        let Some(call) = ClientCall::start(&described, &redaction) else {
            return next.run(request, extensions).await;
        };
        call.inject(request.headers_mut());
        let context = call.context().clone();
        let result = next.run(request, extensions).with_context(context).await;
        match &result {
            Ok(response) => {
                call.record_response(response.status(), response.version(), response.headers());
            }
            Err(error) => {
                let message = match error.url() {
                    // reqwest names the URL in its message: the recorded form of it instead.
                    Some(url) => error
                        .to_string()
                        .replace(url.as_str(), &recorded_url(url, &redaction)),
                    None => error.to_string(),
                };
                call.record_error(&error_type(error), message);
            }
        }
        result
    }
}

/// What the span records of a reqwest URL.
fn target_of(url: &reqwest::Url) -> Target<'_> {
    Target {
        scheme: Some(url.scheme()),
        userinfo: !url.username().is_empty() || url.password().is_some(),
        host: url.host_str(),
        port: url.port(),
        path: url.path(),
        query: url.query(),
        fragment: url.fragment(),
    }
}

/// `url` as `url.full` records it (for a failed call's message only: the successful path
/// never builds it twice).
fn recorded_url(url: &reqwest::Url, redaction: &QueryRedaction) -> String {
    target_of(url).full_url(redaction)
}

/// A reqwest client with [`TracingMiddleware`]: HTTPS through rustls with the webpki roots
/// (feature `tls`, on by default: the same set-up as the exporters', needing no system
/// OpenSSL or CA bundle), plain HTTP otherwise. For other settings, build the client
/// yourself and add the middleware.
///
/// An error when reqwest cannot build its client (its TLS set-up failed).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = otel_faas_core::http::client::traced_reqwest_client()?;
/// let stock = client.get("https://stock.example.com/items/7").send().await?.text().await?;
/// # drop(stock);
/// # Ok(())
/// # }
/// ```
pub fn traced_reqwest_client() -> Result<reqwest_middleware::ClientWithMiddleware, reqwest::Error> {
    let builder = reqwest::Client::builder();
    #[cfg(feature = "tls")]
    let builder = match crate::rustls_roots::client_builder(crate::rustls_roots::webpki_roots()) {
        Ok(tls) => builder.tls_backend_preconfigured(tls.with_no_client_auth()),
        // ring's safe defaults always build; were they refused, reqwest's own set-up says why.
        Err(_) => builder,
    };
    Ok(reqwest_middleware::ClientBuilder::new(builder.build()?)
        .with(TracingMiddleware::new())
        .build())
}

/// `error.type` of a failed reqwest call: `timeout`, `tls`, `connect`, `redirect`, `body`,
/// `decode`, `builder` (a request reqwest cannot send, such as an unsupported scheme),
/// `request`; `middleware` for an error of a middleware further down.
fn error_type(error: &reqwest_middleware::Error) -> String {
    let error = match error {
        reqwest_middleware::Error::Reqwest(error) => error,
        reqwest_middleware::Error::Middleware(_) => return "middleware".to_owned(),
    };
    let in_chain = |test: fn(&(dyn std::error::Error + 'static)) -> bool| {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = current {
            if test(e)
                || e.downcast_ref::<std::io::Error>()
                    .and_then(std::io::Error::get_ref)
                    .is_some_and(|inner| test(inner))
            {
                return true;
            }
            current = e.source();
        }
        false
    };
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() && in_chain(is_tls) {
        "tls"
    } else if error.is_connect() {
        "connect"
    } else if error.is_redirect() {
        "redirect"
    } else if error.is_body() {
        "body"
    } else if error.is_decode() {
        "decode"
    } else if error.is_builder() {
        "builder"
    } else if error.is_request() {
        "request"
    } else {
        return transport_error_type(error);
    };
    kind.to_owned()
}
