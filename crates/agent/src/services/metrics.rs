//! kube-proxy's metrics endpoint: `GET /metrics` in the Prometheus text
//! exposition format (version 0.0.4), and `/healthz`, `/livez`; served by
//! axum on the agent's runtime, like the streaming server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use labyrinth_proxy::metrics::Metrics;
use tokio::net::TcpListener;

/// The exposition format's media type, as Prometheus negotiates it.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Bind `addr` and serve from a task of the current runtime; an error
/// only if the address cannot be bound.
pub async fn serve(addr: SocketAddr, metrics: Arc<Mutex<Metrics>>) -> Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    spawn(listener, metrics);
    Ok(())
}

/// Serve on `listener` until the runtime stops.
fn spawn(listener: TcpListener, metrics: Arc<Mutex<Metrics>>) {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(metrics)).await {
            tracing::warn!("metrics endpoint stopped: {e}");
        }
    });
}

fn router(metrics: Arc<Mutex<Metrics>>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/livez", get(|| async { "ok\n" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Mutex<Metrics>>>) -> impl IntoResponse {
    let body = metrics.lock().expect("metrics lock").render();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

#[cfg(test)]
mod tests;
