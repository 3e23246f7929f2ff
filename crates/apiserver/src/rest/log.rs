//! `pods/log`: proxied to the pod's node agent (`https://<InternalIP>:10250/
//! containerLogs/<ns>/<pod>/<container>?<query>`) as kube-apiserver does to
//! the kubelet; the agent reads the options (tailLines, follow, …) and
//! answers their errors, and its answer streams back untouched, so a
//! `follow` lasts as long as the agent keeps sending.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http_body_util::Empty;
use hyper::body::Bytes;

use super::ctx::Ctx;
use super::exec::{dial, dial_error, pod_container_node};
use super::status::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn logs(st: &Arc<AppState>, ctx: &Ctx, raw_query: &str) -> ApiResult<Response> {
    let (ns, name) = (ctx.ns(), ctx.name().to_string());
    let (container, addr) = pod_container_node(st, ctx)?;
    let mut sender = dial(st, addr).await?;
    let req = hyper::Request::get(format!("/containerLogs/{ns}/{name}/{container}?{raw_query}"))
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(ApiError::internal)?;
    let resp = sender.send_request(req).await.map_err(|e| dial_error(addr, e))?;
    let mut out = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    out.body(Body::new(resp.into_body())).map_err(ApiError::internal)
}
