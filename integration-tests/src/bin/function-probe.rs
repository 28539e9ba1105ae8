//! One small function written from the crate docs as a new user writes it, on each
//! server: `function-probe plain` (core's `InvocationLayer` on an axum router, the
//! cloud-free quick start), `function-probe gcp` (`FunctionsFramework`) or `function-probe
//! azure` (`FunctionApp`; its `host.json` and `function.json` files come from the test).
//!
//! Its routes (on Azure, the functions of the same names under `/api`):
//! * `/panic` panics;
//! * `/levels` writes one log line at each level, `probe line <level>`, then answers `ok`;
//! * anything else answers `ok`;
//! * on Cloud Run, `POST /on_message` is a CloudEvent function that takes a Pub/Sub
//!   message.

use std::convert::Infallible;

use axum::Router;
use axum::routing::get;
use otel_faas_core::http::HttpTrigger;
use otel_faas_core::server::Server;
use otel_faas_core::subscriber::TracingOptions;
use otel_faas_core::{InvocationLayer, Pipeline};

fn log_every_level() {
    tracing::trace!("probe line trace");
    tracing::debug!("probe line debug");
    tracing::info!("probe line info");
    tracing::warn!("probe line warn");
    tracing::error!("probe line error");
}

fn panics() -> &'static str {
    panic!("the probe panics on purpose")
}

fn routes() -> Router {
    Router::new()
        .route("/panic", get(|| async { panics() }))
        .route(
            "/levels",
            get(|| async {
                log_every_level();
                "ok"
            }),
        )
        .fallback(|| async { "ok" })
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let served = match mode.as_str() {
        "plain" => {
            let telemetry = Pipeline::from_env().install();
            if let Err(error) = telemetry.init_tracing(TracingOptions::default()) {
                eprintln!("{error}");
            }
            let engine = telemetry.engine().build();
            let app = routes().layer(InvocationLayer::new(engine, HttpTrigger::new()));
            Server::from_env(&telemetry).serve(app).await
        }
        "gcp" => {
            let telemetry = or_exit(otel_faas_gcp::start());
            otel_faas_gcp::FunctionsFramework::new(&telemetry)
                .http_router("probe", routes())
                // Served at /on_message: takes Pub/Sub messages only.
                .cloud_event("on_message", |_: otel_faas_gcp::PubSubMessage| async {
                    Ok::<_, Infallible>(())
                })
                .serve()
                .await
        }
        "azure" => {
            use otel_faas_azure::{FunctionApp, HttpRequest, HttpResponse};
            let telemetry = or_exit(otel_faas_azure::start());
            FunctionApp::new(&telemetry)
                .function("panic", |_: HttpRequest| async move {
                    let _ = panics();
                    Ok::<_, Infallible>(HttpResponse::ok("unreachable"))
                })
                .function("levels", |_: HttpRequest| async move {
                    log_every_level();
                    Ok::<_, Infallible>(HttpResponse::ok("ok"))
                })
                .function("ok", |_: HttpRequest| async move {
                    Ok::<_, Infallible>(HttpResponse::ok("ok"))
                })
                .serve()
                .await
        }
        other => {
            eprintln!("usage: function-probe plain|gcp|azure (got {other:?})");
            std::process::exit(2);
        }
    };
    or_exit(served);
}

/// The value, or the error on standard error and exit status 1.
fn or_exit<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(1)
    })
}
