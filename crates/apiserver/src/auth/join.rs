//! Node join, as kubeadm does it: read the public cluster-info over TLS without
//! trusting the server, pin the CA it carries by the operator-given hash, then
//! (now trusting that CA) trade the bootstrap token for the node's own
//! credential and register the Node.

use super::client::{request, Trust};
use super::{tokens, Identity};
use crate::kubeconfig;
use crate::rest::status::{ApiError, ApiResult};
use crate::state::AppState;
use anyhow::{bail, Context};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use labyrinth_contracts::agent_config::AgentConfig;
use serde_json::{json, Value};
use std::path::Path;

/// POST /labyrinth/v1/join {"nodeName": "..."} with a bootstrap token.
pub fn serve_join(st: &AppState, user: &Identity, body: &[u8]) -> ApiResult<Response> {
    let id = match user {
        Identity::Bootstrap(id) => id.clone(),
        Identity::Anonymous => return Err(ApiError::unauthorized("join needs a bootstrap token")),
        other => {
            return Err(ApiError::forbidden(format!(
                "User \"{}\" cannot join: join needs a bootstrap token",
                other.username()
            )))
        }
    };
    let req: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("join request: {e}")))?;
    let node = req["nodeName"].as_str().unwrap_or("").to_string();
    let problems = crate::validation::names::subdomain(&node);
    if !problems.is_empty() {
        return Err(ApiError::bad_request(format!(
            "nodeName {node:?}: {}",
            problems.join("; ")
        )));
    }
    // kubeadm's check: a Node of that name that is Ready belongs to a
    // running node; a second join would take its credential away.
    if let Some(existing) = st.store.get("nodes", "", &node) {
        if is_ready(&existing) {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("a Node with name {node:?} and status \"Ready\" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node"),
            ));
        }
    }
    // A re-join (of a node not Ready) replaces the node's old credential.
    let (old, _) = st.store.list("secrets", Some("kube-system"));
    for s in old {
        if s.pointer("/metadata/labels/labyrinth.dev~1node")
            .and_then(Value::as_str)
            == Some(node.as_str())
        {
            let n = s.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let _ = st.store.delete("secrets", "kube-system", n, None);
        }
    }
    let (token, mut secret) = tokens::new_node_token(&node);
    crate::rest::admit::new_metadata(&mut secret);
    let name = secret["metadata"]["name"].as_str().unwrap_or("").to_string();
    st.store
        .create("secrets", "kube-system", &name, secret)
        .map_err(|e| ApiError::internal(format!("storing the node credential: {e}")))?;
    tracing::info!(node = %node, bootstrap = %id, "node joined");
    Ok((
        StatusCode::OK,
        axum::Json(json!({"nodeName": node, "token": token, "user": format!("system:node:{node}")})),
    )
        .into_response())
}

pub fn is_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// What a join learned: the cluster's agent settings, when the control
/// plane publishes them (`agent_config`), for the node's agent.
#[derive(Debug)]
pub struct Joined {
    pub agent: Option<AgentConfig>,
}

/// What `labyrinth join` does. Writes the node's kubeconfig to `out`.
pub async fn join(
    server: &str,
    token: &str,
    ca_hash: &str,
    node_name: &str,
    out: &Path,
) -> anyhow::Result<Joined> {
    if !tokens::is_bootstrap_format(token) {
        bail!(
            "--token {token:?} is not of the form <6 lowercase alphanumerics>.<16 lowercase alphanumerics>"
        );
    }
    // kubeadm's preflight: a node that holds a credential has joined
    // already; joining again would replace the credential its agent uses.
    if out.exists() {
        bail!(
            "[preflight] {} already exists: this node has joined a cluster already. Remove it first (as `kubeadm reset` would) to join again",
            out.display()
        );
    }
    let (trust, ca_pem) = discover(server, ca_hash).await?;
    let (code, resp) = request(
        server,
        &trust,
        "POST",
        "/labyrinth/v1/join",
        Some(token),
        Some(&json!({"nodeName": node_name})),
    )
    .await
    .context("presenting the bootstrap token")?;
    if code != 200 {
        bail!(
            "the server refused the bootstrap token (HTTP {code}): {}",
            resp["message"].as_str().unwrap_or("")
        );
    }
    let node_token = resp["token"]
        .as_str()
        .context("join answer without token")?
        .to_string();
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node_name, "labels": {"kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux"}}});
    let (code, resp) = request(
        server,
        &trust,
        "POST",
        "/api/v1/nodes",
        Some(&node_token),
        Some(&node),
    )
    .await
    .context("registering the Node")?;
    if code != 201 && code != 409 {
        bail!(
            "registering Node {node_name}: HTTP {code}: {}",
            resp["message"].as_str().unwrap_or("")
        );
    }
    let user = format!("system:node:{node_name}");
    kubeconfig::write(
        out,
        &format!("https://{server}"),
        &String::from_utf8_lossy(&ca_pem),
        &user,
        &node_token,
    )?;
    let agent = agent_config(server, &trust, &node_token).await?;
    Ok(Joined { agent })
}

/// kubeadm's token discovery: read the public cluster-info without trusting
/// the server, and trust the CA it carries only if its public key hashes
/// to `ca_hash`. Returns that trust and the CA (PEM).
pub async fn discover(server: &str, ca_hash: &str) -> anyhow::Result<(Trust, Vec<u8>)> {
    let want = ca_hash.trim().to_ascii_lowercase();
    if !want.starts_with("sha256:") || want.len() != 7 + 64 {
        bail!("--discovery-token-ca-cert-hash {ca_hash:?} must be sha256:<64 hex digits>");
    }
    let (code, info) = request(
        server,
        &Trust::Insecure,
        "GET",
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        None,
        None,
    )
    .await
    .context("fetching cluster-info")?;
    if code != 200 {
        bail!(
            "fetching cluster-info from {server}: HTTP {code}: {}",
            info["message"]
        );
    }
    let kc: Value = serde_yaml::from_str(
        info.pointer("/data/kubeconfig")
            .and_then(Value::as_str)
            .unwrap_or(""),
    )
    .context("cluster-info holds no kubeconfig")?;
    let ca_b64 = kc
        .pointer("/clusters/0/cluster/certificate-authority-data")
        .and_then(Value::as_str)
        .context("cluster-info without CA data")?;
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(ca_b64)
        .context("CA data is not base64")?;
    let ca_der = crate::tls::pem_to_der(&String::from_utf8_lossy(&ca_pem))?;
    let have = crate::tls::ca_cert_hash(&ca_der)?;
    if have != want {
        bail!("the cluster CA's public key hash {have} does not match --discovery-token-ca-cert-hash {want}: refusing to trust {server}");
    }
    Ok((Trust::Ca(ca_der), ca_pem))
}

/// The published agent settings, read with the node's own credential; None
/// when the cluster publishes none (a cluster not set up by Labyrinth).
pub async fn agent_config(server: &str, trust: &Trust, token: &str) -> anyhow::Result<Option<AgentConfig>> {
    use labyrinth_contracts::agent_config::{NAME, NAMESPACE};
    let path = format!("/api/v1/namespaces/{NAMESPACE}/configmaps/{NAME}");
    let (code, cm) = request(server, trust, "GET", &path, Some(token), None)
        .await
        .with_context(|| format!("reading {NAMESPACE}/{NAME}"))?;
    match code {
        200 => AgentConfig::from_config_map(&cm)
            .map(Some)
            .map_err(anyhow::Error::msg),
        404 => Ok(None),
        _ => bail!(
            "reading ConfigMap {NAMESPACE}/{NAME}: HTTP {code}: {}",
            cm["message"].as_str().unwrap_or("")
        ),
    }
}
