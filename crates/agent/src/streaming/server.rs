//! The HTTPS endpoint: `GET /exec/{namespace}/{pod}/{container}?command=…`
//! upgraded to a websocket, the path the API server proxies `pods/exec` to
//! (as kube-apiserver does to the kubelet's port 10250).

use std::sync::Arc;

use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

pub use super::conn::Streaming;
use super::conn::{negotiate, refuse, Conn};
use super::protocol::{ExecOptions, PROTOCOLS};
use super::{session, tls};
use crate::runtime::sandbox::{self, SandboxRecord};
use crate::runtime::RuntimeConfig;

/// Accept TLS connections forever.
pub async fn serve(listener: TcpListener, cfg: Arc<rustls::ServerConfig>, s: Arc<Streaming>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    loop {
        let Ok((tcp, from)) = listener.accept().await else {
            continue;
        };
        let (acceptor, s) = (acceptor.clone(), s.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::info!("streaming: TLS from {from}: {e}");
                    return;
                }
            };
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| tls::common_name(c));
            let app = router(Conn { s, peer });
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
        });
    }
}

fn router(c: Conn) -> Router {
    Router::new()
        .route("/exec/{namespace}/{pod}/{container}", get(exec).post(exec))
        .route(
            "/attach/{namespace}/{pod}/{container}",
            get(super::attach::attach).post(super::attach::attach),
        )
        .route(
            "/portForward/{namespace}/{pod}",
            get(super::portforward::port_forward).post(super::portforward::port_forward),
        )
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(super::logs::container_logs),
        )
        .fallback(|| async { refuse(StatusCode::NOT_FOUND, "NotFound", "no such streaming endpoint") })
        .with_state(c)
}

/// The pod's sandbox and the container's running process.
fn find(
    cfg: &RuntimeConfig,
    ns: &str,
    pod: &str,
    container: &str,
) -> Result<(SandboxRecord, labyrinth_netlink::process::ProcessRef), String> {
    let rec = sandbox::find(cfg, &format!("{ns}/{pod}"))
        .map_err(|_| format!("pod {ns}/{pod} does not exist on this node"))?;
    let process = rec
        .containers
        .get(container)
        .and_then(|c| c.process)
        .filter(|p| p.alive())
        .ok_or_else(|| format!("container not found ({container:?})"))?;
    Ok((rec, process))
}

async fn exec(
    State(c): State<Conn>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(refused) = c.refuse_unless_apiserver("exec") {
        return refused;
    }
    let opts = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| ExecOptions::from_query(&q).map_err(|e| format!("{e:#}")))
    {
        Ok(o) => o,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "BadRequest", &e),
    };
    let cfg = c.s.runtime.clone();
    let (pns, ppod, pcont) = (ns.clone(), pod.clone(), container.clone());
    let found = tokio::task::spawn_blocking(move || find(&cfg, &pns, &ppod, &pcont)).await;
    let (rec, process) = match found {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return refuse(StatusCode::NOT_FOUND, "NotFound", &e),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &e.to_string()),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            let upgrade = headers.get("upgrade").and_then(|v| v.to_str().ok()).unwrap_or("");
            let msg = if upgrade.to_ascii_lowercase().starts_with("spdy") {
                format!(
                    "this node streams over websockets ({}), not SPDY",
                    PROTOCOLS.join(", ")
                )
            } else {
                format!("exec needs a websocket upgrade: {}", e.body_text())
            };
            return refuse(StatusCode::BAD_REQUEST, "BadRequest", &msg);
        }
    };
    let ws = match negotiate(ws) {
        Ok(ws) => ws,
        Err(refused) => return *refused,
    };
    let cmd = match session::command(&c.s.runtime.pause, &rec, &process, &opts) {
        Ok(c) => c,
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &format!("{e:#}"),
            )
        }
    };
    tracing::info!(
        "exec in {ns}/{pod}/{container}: {:?} (tty {})",
        opts.command,
        opts.tty
    );
    ws.on_upgrade(move |socket| session::run(socket, cmd, opts))
}
