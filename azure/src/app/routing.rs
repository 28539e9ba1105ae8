//! Routing: each function's HTTP route as the host routes it, the forwarding of a request
//! to its handler, and the fallback that names the functions served.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter;
use futures_util::FutureExt as _;
use http::{Request, StatusCode};
use otel_faas_core::InvocationEngine;

use super::Handler;
use crate::function_json::{Direction, FunctionJson, TriggerKind};
use crate::http_messages::HttpRequest;
use crate::request::InvocationRequest;
use crate::triggers::FunctionTrigger;
use crate::triggers::http::match_route;

/// The router with a `404` that names the functions served, for the host's log.
pub(super) fn with_fallback(router: Router, functions: &[String]) -> Router {
    let functions = functions.join(", ");
    router.fallback(move |request: Request<Body>| {
        let functions = functions.clone();
        async move {
            (
                StatusCode::NOT_FOUND,
                format!(
                    "no function answers {} {} (functions: {functions})",
                    request.method(),
                    request.uri().path()
                ),
            )
        }
    })
}

pub(super) async fn forward(
    engine: InvocationEngine,
    trigger: Arc<FunctionTrigger>,
    handler: Handler,
    template: &str,
    name: String,
    request: Request<Body>,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 100 * 1024 * 1024).await {
        Ok(body) => body,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body could not be read",
            )
                .into_response();
        }
    };
    let params = match_route(template, parts.uri.path()).unwrap_or_default();
    let http = HttpRequest::new(parts.method, parts.uri, parts.headers, body).with_params(params);
    let request = InvocationRequest::forwarded(name, http);
    let run = engine
        .invocation(trigger.as_ref(), request)
        .run(move |request| handler(request));
    match AssertUnwindSafe(run).catch_unwind().await {
        Ok(Ok(encoded)) => encoded.into_response(),
        Ok(Err(error)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the function failed: {error}"),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the function panicked").into_response(),
    }
}

/// `/<prefix>/<route>`, the function's `route` defaulting to its name, as the host routes.
pub(super) fn http_route(prefix: &str, function: &FunctionJson) -> String {
    let route = function
        .trigger()
        .and_then(|b| b.setting("route"))
        .unwrap_or(function.name())
        .trim_matches('/');
    match prefix.is_empty() {
        true => format!("/{route}"),
        false => format!("/{prefix}/{route}"),
    }
}

/// Whether the host forwards this function's requests in the forwarding and proxying modes:
/// an HTTP trigger and one HTTP output, nothing else (the host's `IsHttpInAndOutFunction`).
pub(super) fn is_http_in_and_out(function: &FunctionJson) -> bool {
    let bindings = function.bindings();
    function.trigger_kind() == TriggerKind::Http
        && bindings.len() == 2
        && bindings.iter().any(|b| {
            b.direction() == Direction::Out && b.binding_type().eq_ignore_ascii_case("http")
        })
}

pub(super) fn methods_of(function: &FunctionJson) -> Option<MethodFilter> {
    let methods = function.trigger()?.setting_list("methods")?;
    let mut filter: Option<MethodFilter> = None;
    for method in methods {
        let one = match method.to_ascii_uppercase().as_str() {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "DELETE" => MethodFilter::DELETE,
            "PATCH" => MethodFilter::PATCH,
            "HEAD" => MethodFilter::HEAD,
            "OPTIONS" => MethodFilter::OPTIONS,
            "TRACE" => MethodFilter::TRACE,
            _ => continue,
        };
        filter = Some(filter.map_or(one, |f| f.or(one)));
    }
    filter
}

/// The host's route template in axum's syntax: constraints dropped (`{id:int}` → `{id}`),
/// catch-alls as `{*rest}`, and one path per optional parameter (`hello/{name?}` →
/// `hello` and `hello/{name}`), since axum has no optional segments.
pub(super) fn axum_paths(route: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut path = String::new();
    for segment in route.split('/').filter(|s| !s.is_empty()) {
        let piece = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(inner) => {
                if inner.ends_with('?') {
                    paths.push(if path.is_empty() {
                        "/".to_owned()
                    } else {
                        path.clone()
                    });
                }
                let name = inner
                    .split(':')
                    .next()
                    .unwrap_or(inner)
                    .trim_end_matches('?');
                match name.strip_prefix('*') {
                    Some(rest) => format!("{{*{}}}", rest.trim_start_matches('*')),
                    None => format!("{{{name}}}"),
                }
            }
            None => segment.to_owned(),
        };
        path.push('/');
        path.push_str(&piece);
    }
    paths.push(if path.is_empty() {
        "/".to_owned()
    } else {
        path
    });
    paths
}

/// A path with its parameter names erased, to find two routes that would collide.
pub(super) fn normalise(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with('{') {
                "{}".to_owned()
            } else {
                s.to_ascii_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_routes_become_axum_paths() {
        assert_eq!(
            axum_paths("/api/hello/{name?}"),
            ["/api/hello", "/api/hello/{name}"]
        );
        assert_eq!(axum_paths("/api/orders/{id:int}"), ["/api/orders/{id}"]);
        assert_eq!(
            axum_paths("/api/orders/{id:int?}"),
            ["/api/orders", "/api/orders/{id}"]
        );
        assert_eq!(axum_paths("/api/files/{*path}"), ["/api/files/{*path}"]);
        assert_eq!(axum_paths("/{x?}"), ["/", "/{x}"]);
    }
}
