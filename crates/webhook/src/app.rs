//! The HTTP side: health, and the three webhook routes Benchling posts to (also under one leading path
//! segment, as API Gateway forwards its stage). Each delivery is verified first, then acknowledged fast:
//! entry and canvas work goes on the queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use benchling::jwks::JwksCache;
use benchling::verify::SignatureHeaders;
use serde_json::{Value, json};

use crate::events::{self, Action};
use crate::queue::Queue;
use crate::secret::SecretCache;

pub const MAX_BODY: usize = 1024 * 1024;

pub struct AppState {
    pub secrets: Arc<SecretCache>,
    pub jwks: JwksCache,
    pub queue: Arc<Queue>,
    /// `ENABLE_WEBHOOK_VERIFICATION`, when set; otherwise the secret's `enable_webhook_verification`.
    pub verification_override: Option<bool>,
}

pub fn router(state: Arc<AppState>) -> Router {
    let webhooks = Router::new()
        .route("/event", any(webhook))
        .route("/lifecycle", any(webhook))
        .route("/canvas", any(webhook))
        .route("/{stage}/event", any(webhook))
        .route("/{stage}/lifecycle", any(webhook))
        .route("/{stage}/canvas", any(webhook));
    let routes = Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/health/live", get(live))
        .merge(webhooks)
        .fallback(not_found)
        .with_state(state);
    harden(routes)
}

/// What every route gets: the body limit, a log line per request, and a 500 instead of a dead
/// connection should a handler ever panic.
fn harden(routes: Router) -> Router {
    routes
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(log_request))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "Internal Server Error", "reason": "internal_error"}),
                )
            },
        ))
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"error": "Not Found", "reason": format!("no route for {method} {}", uri.path())}),
    )
}

async fn live() -> Response {
    reply(StatusCode::OK, json!({"status": "ok"}))
}

/// 200 with `"mode": "degraded"` and the reason while the secret cannot be had: the process is fine
/// (so the load balancer keeps it), but webhooks are refused until the secret is fixed.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let version = env!("CARGO_PKG_VERSION");
    match state.secrets.get().await {
        Ok(_) => reply(
            StatusCode::OK,
            json!({"status": "ok", "mode": "normal", "version": version, "queue": state.queue.describe()}),
        ),
        Err(reason) => reply(
            StatusCode::OK,
            json!({"status": "ok", "mode": "degraded", "reason": reason, "version": version}),
        ),
    }
}

/// Ready only when webhooks can be served.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.secrets.get().await {
        Ok(_) => reply(StatusCode::OK, json!({"status": "ready"})),
        Err(reason) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "degraded", "reason": reason}),
        ),
    }
}

async fn webhook(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(axum::http::header::ALLOW, "POST")],
            Json(json!({"error": "Method Not Allowed", "reason": "webhooks are POSTed"})),
        )
            .into_response();
    }
    let secret = match state.secrets.get().await {
        Ok(secret) => secret,
        Err(reason) => {
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "Service Unavailable", "reason": "secret_fetch_failed", "detail": reason}),
            );
        }
    };
    let verify = state
        .verification_override
        .unwrap_or(secret.enable_webhook_verification);
    if verify {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let checked = match SignatureHeaders::find(pairs.iter().copied()) {
            Ok(found) => {
                state
                    .jwks
                    .verify(&secret.app_definition_id, &found, &body)
                    .await
            }
            Err(err) => Err(err),
        };
        if let Err(err) = checked {
            tracing::warn!(reason = err.reason(), detail = %err, "webhook rejected");
            return reply(
                StatusCode::FORBIDDEN,
                json!({"error": "Forbidden", "reason": err.reason()}),
            );
        }
    }
    let envelope: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "Bad Request", "reason": format!("the body is not JSON: {err}")}),
            );
        }
    };
    match events::classify(&envelope) {
        Err(reason) => reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "Bad Request", "reason": reason}),
        ),
        Ok(Action::Acknowledge { event_type }) => {
            reply(StatusCode::OK, json!({"status": "ok", "type": event_type}))
        }
        Ok(Action::Ignore { event_type, why }) => {
            tracing::info!(event_type = %event_type, why, "event ignored");
            reply(
                StatusCode::OK,
                json!({"status": "ignored", "type": event_type}),
            )
        }
        Ok(Action::Package(request)) => match state.queue.send(&request).await {
            Ok(()) => reply(
                StatusCode::ACCEPTED,
                json!({"status": "accepted", "entryId": request.entry_id, "type": request.event_type}),
            ),
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "could not queue a packaging request");
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "Service Unavailable", "reason": "queue_unavailable"}),
                )
            }
        },
    }
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// One log line per request: id, method, path, status, latency. Never headers or bodies.
async fn log_request(request: Request, next: Next) -> Response {
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    tracing::info!(request_id = id, method = %method, path = %path, status, latency_us = micros, "request");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
        async fn boom() -> &'static str {
            panic!("a bug")
        }
        let app = harden(
            Router::new()
                .route("/boom", get(boom))
                .route("/ok", get(|| async { "ok" })),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let answer = http.get(format!("{base}/boom")).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 500);
        assert_eq!(
            answer.json::<Value>().await.unwrap()["reason"],
            "internal_error"
        );
        assert_eq!(
            http.get(format!("{base}/ok"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "ok"
        );
    }
}
