//! The agent's streaming server, the kubelet's port 10250 for `kubectl
//! exec` and `kubectl logs`: the API server authenticates with its kubelet-client certificate
//! and proxies the client's websocket here; the command runs inside the pod
//! and its streams travel on the remote-command channel protocol.

pub mod attach;
mod conn;
pub mod logs;
pub mod portforward;
pub mod protocol;
pub mod pty;
pub mod server;
pub mod session;
pub mod spdy;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::agent::context::Agent;

/// The kubelet's port (published as the Node's daemonEndpoints).
pub const PORT: u16 = 10250;
/// Where the self-signed serving certificate is kept on the node.
pub const PKI_DIR: &str = "/var/lib/labyrinth/pki";

async fn start(agent: &Agent) -> Result<()> {
    let ip = agent.args.node_ip.into();
    let (cert, key) = tls::serving_cert(PKI_DIR.as_ref(), ip, &agent.node_name)?;
    // The CA the agent trusts for the API server (kubeconfig or in-cluster).
    let cas = crate::agent::context::config(agent.args.kubeconfig.as_ref())
        .await?
        .root_cert
        .unwrap_or_default();
    let cfg = tls::server_config(cert, key, &cas)?;
    let addr = SocketAddr::new(ip, PORT);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "streaming server listening");
    let s = Arc::new(server::Streaming {
        runtime: agent.runtime.clone(),
        node_name: agent.node_name.clone(),
    });
    server::serve(listener, cfg, s).await;
    Ok(())
}

/// Serve until the agent stops; a failure to start is logged, not fatal:
/// the pods run without it, only exec is missing.
pub async fn run(agent: Arc<Agent>) {
    if let Err(e) = start(&agent).await {
        tracing::error!("streaming server (kubectl exec) not started: {e:#}");
    }
}
