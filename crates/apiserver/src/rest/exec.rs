//! `pods/exec`: find the pod's node and proxy the client's upgrade request
//! to that node agent's streaming server (`https://<InternalIP>:10250/exec/
//! <ns>/<pod>/<container>`), as kube-apiserver does to the kubelet. The API
//! server authenticates with its kubelet-client certificate; once the agent
//! answers 101 the two connections are spliced and bytes flow untouched.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::ctx::Ctx;
use super::status::{ApiError, ApiResult};
use crate::state::AppState;

/// The kubelet's port, when the Node does not publish its own.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Which container: the one asked for, else the only one.
pub fn pick_container(pod: &Value, asked: Option<&str>) -> ApiResult<String> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let names: Vec<&str> = [
        "/spec/containers",
        "/spec/initContainers",
        "/spec/ephemeralContainers",
    ]
    .iter()
    .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
    .flatten()
    .filter_map(|c| c["name"].as_str())
    .collect();
    match asked.filter(|a| !a.is_empty()) {
        Some(c) if names.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => match pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([one]) => Ok(one["name"].as_str().unwrap_or("").to_string()),
            _ => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            ))),
        },
    }
}

/// The node agent's streaming address: the Node's InternalIP and its
/// published kubelet port.
pub fn node_endpoint(st: &AppState, node: &str) -> ApiResult<SocketAddr> {
    let obj = st
        .store
        .get("nodes", "", node)
        .ok_or_else(|| ApiError::bad_request(format!("node {node:?} of the pod does not exist")))?;
    let ip: IpAddr = obj
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("node {node:?} has no InternalIP address")))?;
    let port = obj
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok(SocketAddr::new(ip, port))
}

pub fn dial_error(addr: SocketAddr, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        500,
        "InternalError",
        format!("error dialing backend: {addr}: {e}"),
    )
}

/// An HTTP/1.1 connection to the node agent at `addr`, as the API server
/// (its kubelet-client certificate); upgrades pass through.
pub async fn dial(st: &AppState, addr: SocketAddr) -> ApiResult<SendRequest<Empty<Bytes>>> {
    let tcp = tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| dial_error(addr, "timed out"))?
        .map_err(|e| dial_error(addr, e))?;
    let tls = tokio_rustls::TlsConnector::from(st.kubelet_tls.clone())
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .map_err(|e| dial_error(addr, format!("TLS: {e}")))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| dial_error(addr, e))?;
    tokio::spawn(conn.with_upgrades());
    Ok(sender)
}

/// The container asked for (`?container=`) of the request's pod, and the
/// streaming address of the node it runs on.
pub fn pod_container_node(st: &AppState, ctx: &Ctx) -> ApiResult<(String, SocketAddr)> {
    let (ns, name) = (ctx.ns(), ctx.name().to_string());
    let pod = st
        .store
        .get("pods", &ns, &name)
        .ok_or_else(|| ApiError::not_found(ctx.res(), &name))?;
    let container = pick_container(&pod, ctx.q("container"))?;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    Ok((container, node_endpoint(st, node)?))
}

/// `pods/exec` and `pods/attach` (`verb`): to the kubelet path of that
/// name, for the container asked for.
pub async fn exec(
    st: &Arc<AppState>,
    ctx: &Ctx,
    verb: &str,
    method: &Method,
    raw_query: &str,
    upgrade: Option<OnUpgrade>,
) -> ApiResult<Response> {
    let (ns, name) = (ctx.ns(), ctx.name().to_string());
    let (container, addr) = pod_container_node(st, ctx)?;
    let path = format!("/{verb}/{ns}/{name}/{container}?{raw_query}");
    proxy_upgrade(st, ctx, method, addr, &path, upgrade).await
}

/// Send the client's request (its headers, not its credential) to the node
/// agent at `addr` as `path`; once the agent answers 101 the two
/// connections are spliced, otherwise its answer goes back as it is.
pub async fn proxy_upgrade(
    st: &Arc<AppState>,
    ctx: &Ctx,
    method: &Method,
    addr: SocketAddr,
    path: &str,
    upgrade: Option<OnUpgrade>,
) -> ApiResult<Response> {
    let mut sender = dial(st, addr).await?;
    let mut req = hyper::Request::builder().method(method.clone()).uri(path);
    for (k, v) in &ctx.headers {
        // Our credential is our certificate; the client's stays here.
        if !matches!(k.as_str(), "authorization" | "host" | "content-length") {
            req = req.header(k, v);
        }
    }
    let req = req
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(ApiError::internal)?;
    let mut resp = sender.send_request(req).await.map_err(|e| dial_error(addr, e))?;

    let mut out = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The agent's refusal (a Status) goes back as it is.
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| dial_error(addr, e))?
            .to_bytes();
        return out.body(Body::from(body)).map_err(ApiError::internal);
    }
    let Some(client_side) = upgrade else {
        return Err(ApiError::bad_request(
            "streaming needs an HTTP/1.1 connection upgrade",
        ));
    };
    let agent_side = hyper::upgrade::on(&mut resp);
    tokio::spawn(async move {
        match tokio::join!(client_side, agent_side) {
            (Ok(c), Ok(a)) => splice(TokioIo::new(c), TokioIo::new(a)).await,
            (c, a) => tracing::warn!(
                "streaming upgrade failed: client {:?}, agent {:?}",
                c.err().map(|e| e.to_string()),
                a.err().map(|e| e.to_string())
            ),
        }
    });
    out.body(Body::empty()).map_err(ApiError::internal)
}

/// Copy both ways until both sides are done; each direction's end is passed
/// on as a shutdown (flushing what was buffered), whatever ended it.
async fn splice<A, B>(a: A, b: B)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let up = async {
        let _ = tokio::io::copy(&mut ar, &mut bw).await;
        let _ = bw.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut br, &mut aw).await;
        let _ = aw.shutdown().await;
    };
    tokio::join!(up, down);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_choice() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "main"}]}});
        assert_eq!(pick_container(&one, None).unwrap(), "main");
        assert_eq!(pick_container(&one, Some("")).unwrap(), "main");
        assert_eq!(pick_container(&one, Some("main")).unwrap(), "main");
        let e = pick_container(&one, Some("side")).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "container side is not valid for pod p")
        );
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let e = pick_container(&two, None).unwrap_err();
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        assert_eq!(pick_container(&two, Some("b")).unwrap(), "b");
    }
}
