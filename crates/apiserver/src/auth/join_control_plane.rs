//! What `join --control-plane` learns from the cluster before it changes
//! anything on the node (kubeadm's preflight and its download of the
//! certificates): the CA pinned by its hash, the cluster's configuration
//! (`kubeadm-config`, which must name etcd), and the shared certificates
//! and keys opened with the certificate key. Every refusal names the value
//! at fault; nothing here writes.

use super::client::{request, Trust};
use super::{join, tokens};
use crate::upload_certs::{self, CertificateKey, NAMESPACE, SECRET_NAME};
use anyhow::{bail, Context};
use labyrinth_contracts::cluster_config::{self, ClusterConfiguration};
use serde_json::Value;

/// Everything a new control plane needs, in memory.
pub struct Stacking {
    pub cluster: ClusterConfiguration,
    /// The shared files, by their Secret key (`upload_certs::SHARED`).
    pub files: Vec<(String, Vec<u8>)>,
    pub trust: Trust,
    pub ca_pem: Vec<u8>,
}

impl Stacking {
    /// The admin credential among the shared files.
    pub fn admin_token(&self) -> anyhow::Result<String> {
        let (_, t) = self
            .files
            .iter()
            .find(|(n, _)| n == "admin.token")
            .context("the uploaded certificates hold no admin.token")?;
        Ok(String::from_utf8_lossy(t).trim().to_string())
    }
}

/// Read and check, as the bootstrap token `token` may: refuses a cluster
/// whose store is not etcd, an absent or expired Secret, a key that does
/// not open it, and a Ready Node already called `node`.
pub async fn preflight(
    server: &str,
    token: &str,
    ca_hash: &str,
    key: &CertificateKey,
    node: &str,
) -> anyhow::Result<Stacking> {
    if !tokens::is_bootstrap_format(token) {
        bail!(
            "--token {token:?} is not of the form <6 lowercase alphanumerics>.<16 lowercase alphanumerics>"
        );
    }
    let (trust, ca_pem) = join::discover(server, ca_hash).await?;
    let get = |path: String| {
        let trust = &trust;
        async move {
            request(server, trust, "GET", &path, Some(token), None)
                .await
                .with_context(|| format!("reading {path}"))
        }
    };
    let (code, cm) = get(format!(
        "/api/v1/namespaces/{}/configmaps/{}",
        cluster_config::NAMESPACE,
        cluster_config::NAME
    ))
    .await?;
    let cluster = match code {
        200 => ClusterConfiguration::from_config_map(&cm).map_err(anyhow::Error::msg)?,
        // Without kubeadm's Role the token may not even look (403).
        403 | 404 => bail!(
            "[preflight] the cluster publishes no ConfigMap {}/{} that joining nodes may read (HTTP {code}): cannot tell which store it runs on, so it cannot take another control plane",
            cluster_config::NAMESPACE,
            cluster_config::NAME
        ),
        _ => bail!("reading ConfigMap {}/{}: HTTP {code}: {}", cluster_config::NAMESPACE, cluster_config::NAME, message(&cm)),
    };
    cluster.check_store().map_err(anyhow::Error::msg)?;
    let (code, secret) = get(format!("/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET_NAME}")).await?;
    match code {
        200 => {}
        403 | 404 => bail!(
            "[preflight] Secret {NAMESPACE}/{SECRET_NAME} is absent (HTTP {code}: never uploaded, or expired and deleted): run `labyrinth init phase upload-certs --upload-certs` on a control plane and use the key it prints"
        ),
        _ => bail!("reading Secret {NAMESPACE}/{SECRET_NAME}: HTTP {code}: {}", message(&secret)),
    }
    let files = upload_certs::open_secret(&secret, key, jiff::Timestamp::now())
        .map_err(|e| anyhow::anyhow!("[preflight] {e}"))?;
    cluster.check_stackable().map_err(anyhow::Error::msg)?;
    let stacking = Stacking {
        cluster,
        files,
        trust,
        ca_pem,
    };
    // kubeadm's check, made before anything is written here: a Ready Node
    // of that name belongs to a running node.
    let admin = stacking.admin_token()?;
    let (code, n) = request(
        server,
        &stacking.trust,
        "GET",
        &format!("/api/v1/nodes/{node}"),
        Some(&admin),
        None,
    )
    .await
    .context("looking for a Node of this name")?;
    if code == 200 && join::is_ready(&n) {
        bail!("[preflight] a Node with name {node:?} and status \"Ready\" already exists in the cluster: this node has joined already, or another has its name");
    }
    Ok(stacking)
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or("")
}

/// Add `client_url` (this node's new member) to kubeadm-config's
/// etcdEndpoints, so a later join can reach etcd through it too.
pub async fn record_member(server: &str, trust: &Trust, admin: &str, client_url: &str) -> anyhow::Result<()> {
    let path = format!(
        "/api/v1/namespaces/{}/configmaps/{}",
        cluster_config::NAMESPACE,
        cluster_config::NAME
    );
    let (code, cm) = request(server, trust, "GET", &path, Some(admin), None).await?;
    if code != 200 {
        bail!(
            "reading ConfigMap {}: HTTP {code}: {}",
            cluster_config::NAME,
            message(&cm)
        );
    }
    let mut cluster = ClusterConfiguration::from_config_map(&cm).map_err(anyhow::Error::msg)?;
    if cluster.etcd_endpoints.iter().any(|e| e == client_url) {
        return Ok(());
    }
    cluster.etcd_endpoints.push(client_url.to_string());
    let mut updated = cluster.config_map();
    // The write carries the version read: a concurrent join's update is
    // refused (409) rather than lost.
    updated["metadata"]["resourceVersion"] = cm["metadata"]["resourceVersion"].clone();
    let (code, resp) = request(server, trust, "PUT", &path, Some(admin), Some(&updated)).await?;
    if code != 200 {
        bail!(
            "updating ConfigMap {}: HTTP {code}: {}",
            cluster_config::NAME,
            message(&resp)
        );
    }
    Ok(())
}
