//! `/portForward/{namespace}/{pod}`, the kubelet's path the API server
//! proxies `pods/portforward` to. The client's SPDY session arrives either
//! tunnelled in a websocket (subprotocol `SPDY/3.1+portforward.k8s.io`,
//! what kubectl ≥ 1.31 tries first) or after a plain `Upgrade: SPDY/3.1`
//! (its fallback); both carry the same frames to the same session.

pub mod pairs;
pub mod session;

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::conn::{refuse, Conn};
use crate::runtime::sandbox;
use session::Target;

/// The port-forward protocol's name, and as a tunnelled websocket subprotocol.
pub const PROTOCOL: &str = "portforward.k8s.io";
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

pub(super) async fn port_forward(
    State(c): State<Conn>,
    Path((ns, pod)): Path<(String, String)>,
    req: Request,
) -> Response {
    if let Some(refused) = c.refuse_unless_apiserver("port-forward") {
        return refused;
    }
    let cfg = c.s.runtime.clone();
    let key = format!("{ns}/{pod}");
    let found = tokio::task::spawn_blocking(move || {
        sandbox::find(&cfg, &key).map(|rec| sandbox::netns_path(&cfg, &rec))
    })
    .await;
    let netns = match found {
        Ok(Ok(p)) => p,
        Ok(Err(_)) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("pod {ns}/{pod} does not exist on this node"),
            )
        }
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e.to_string()),
    };
    let target = Arc::new(Target {
        pod: format!("{ns}/{pod}"),
        netns,
    });
    let (mut parts, _body) = req.into_parts();
    let upgrade = header(&parts.headers, "upgrade").to_ascii_lowercase();
    if upgrade == "websocket" {
        let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(ws) => ws.protocols([TUNNEL_PROTOCOL]),
            Err(e) => return refuse(StatusCode::BAD_REQUEST, "BadRequest", &e.body_text()),
        };
        if ws.selected_protocol().is_none() {
            let offered: Vec<&str> = ws.requested_protocols().filter_map(|v| v.to_str().ok()).collect();
            return refuse(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "unable to upgrade: none of the offered subprotocols {offered:?} is {TUNNEL_PROTOCOL:?}"
                ),
            );
        }
        tracing::info!("port-forward to {} (SPDY over websocket)", target.pod);
        return ws.on_upgrade(move |socket| over_websocket(socket, target));
    }
    if upgrade.starts_with("spdy/3.1") {
        let offered = header(&parts.headers, "x-stream-protocol-version");
        if !offered.is_empty() && !offered.split(',').any(|p| p.trim() == PROTOCOL) {
            return refuse(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!("unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [{PROTOCOL}]"),
            );
        }
        let Some(on) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "port-forward needs an HTTP/1.1 connection upgrade",
            );
        };
        tracing::info!("port-forward to {} (SPDY)", target.pod);
        tokio::spawn(async move {
            match on.await {
                Ok(io) => {
                    let (r, w) = tokio::io::split(hyper_util::rt::TokioIo::new(io));
                    over_stream(r, w, target).await
                }
                Err(e) => tracing::info!("port-forward upgrade failed: {e}"),
            }
        });
        return (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                ("connection", "Upgrade"),
                ("upgrade", "SPDY/3.1"),
                ("x-stream-protocol-version", PROTOCOL),
            ],
        )
            .into_response();
    }
    refuse(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("port-forward needs an upgrade to a websocket ({TUNNEL_PROTOCOL}) or to SPDY/3.1, not {upgrade:?}"),
    )
}

/// SPDY frames in websocket binary messages, both ways.
async fn over_websocket(socket: WebSocket, target: Arc<Target>) {
    let (mut sink, mut stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(16);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(16);
    let reader = async move {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) if in_tx.send(b.to_vec()).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    let writer = async move {
        while let Some(b) = out_rx.recv().await {
            if sink.send(Message::Binary(b.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    };
    tokio::join!(reader, writer, session::run(in_rx, out_tx, target));
}

/// SPDY frames straight on the upgraded connection.
async fn over_stream(mut r: impl AsyncRead + Unpin, mut w: impl AsyncWrite + Unpin, target: Arc<Target>) {
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(16);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(16);
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 || in_tx.send(buf[..n].to_vec()).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some(b) = out_rx.recv().await {
            if w.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    };
    tokio::join!(reader, writer, session::run(in_rx, out_tx, target));
}
