//! `pods/portforward`: proxied to the pod's node agent
//! (`/portForward/<ns>/<pod>`) as `pods/exec` is; the agent speaks the
//! port-forward protocol, in a websocket or over SPDY, and the bytes pass
//! through here untouched.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::Method;
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use serde_json::Value;

use super::ctx::Ctx;
use super::exec::{node_endpoint, proxy_upgrade};
use super::status::{ApiError, ApiResult};
use crate::state::AppState;

/// The streaming address of the node the request's pod runs on.
pub fn pod_node(st: &AppState, ctx: &Ctx) -> ApiResult<SocketAddr> {
    let name = ctx.name().to_string();
    let pod = st
        .store
        .get("pods", &ctx.ns(), &name)
        .ok_or_else(|| ApiError::not_found(ctx.res(), &name))?;
    match pod.pointer("/spec/nodeName").and_then(Value::as_str) {
        Some(node) if !node.is_empty() => node_endpoint(st, node),
        _ => Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        ))),
    }
}

pub async fn port_forward(
    st: &Arc<AppState>,
    ctx: &Ctx,
    method: &Method,
    raw_query: &str,
    upgrade: Option<OnUpgrade>,
) -> ApiResult<Response> {
    let addr = pod_node(st, ctx)?;
    let path = format!("/portForward/{}/{}?{raw_query}", ctx.ns(), ctx.name());
    proxy_upgrade(st, ctx, method, addr, &path, upgrade).await
}
