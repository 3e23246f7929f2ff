//! kubeconfig files for the admin and for joined nodes.

use anyhow::Context;
use base64::Engine;
use labyrinth_contracts::files::write_private;
use serde_json::json;
use std::path::Path;

pub fn render(server: &str, ca_pem: &str, user: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let v = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "labyrinth", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": format!("{user}@labyrinth"), "context": {"cluster": "labyrinth", "user": user, "namespace": "default"}}],
        "current-context": format!("{user}@labyrinth"),
        "preferences": {},
    });
    serde_yaml::to_string(&v).expect("kubeconfig serializes")
}

/// The public form kubeadm keeps in kube-public/cluster-info (no user).
pub fn cluster_info(server: &str, ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let v = json!({"apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "contexts": [], "users": [], "preferences": {}});
    serde_yaml::to_string(&v).expect("kubeconfig serializes")
}

pub fn write(path: &Path, server: &str, ca_pem: &str, user: &str, token: &str) -> anyhow::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    write_private(path, render(server, ca_pem, user, token).as_bytes())?;
    Ok(())
}
