//! The root CA publisher's decision (kube-controller-manager's
//! root-ca-cert-publisher): every namespace that is not being deleted has
//! the ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster's CA, so
//! a pod's service-account volume can hand its clients the CA to trust.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::ResourceExt;

pub use labyrinth_contracts::service_account::{ROOT_CA_CONFIGMAP as NAME, ROOT_CA_KEY as KEY};

/// The CA (PEM) in the kubeconfig that `kube-public/cluster-info` publishes:
/// the cluster's own word on its CA, readable by any client, so this
/// controller needs no file of the control node.
pub fn ca_of_cluster_info(kubeconfig: &str) -> Result<String, String> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig).map_err(|e| format!("cluster-info: {e}"))?;
    let data = kc
        .clusters
        .iter()
        .find_map(|c| c.cluster.as_ref()?.certificate_authority_data.clone())
        .ok_or("cluster-info: no certificate-authority-data")?;
    // ByteString's JSON form is base64: its decoder spares a base64 crate.
    let bytes: k8s_openapi::ByteString = serde_json::from_value(serde_json::Value::String(data))
        .map_err(|e| format!("cluster-info: certificate-authority-data: {e}"))?;
    String::from_utf8(bytes.0).map_err(|_| "cluster-info: the CA is not PEM text".to_string())
}

/// What a namespace needs: the ConfigMap made, or its `ca.crt` put right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    Create(String),
    Update(String),
}

/// The fixes, in namespace order; `maps` are the `kube-root-ca.crt`
/// ConfigMaps found (of any namespace).
pub fn fixes(ca: &str, namespaces: &[&Namespace], maps: &[&ConfigMap]) -> Vec<Fix> {
    let mut out: Vec<Fix> = namespaces
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .filter(|n| n.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating"))
        .filter_map(|n| {
            let ns = n.name_any();
            let found = maps
                .iter()
                .find(|m| m.namespace().as_deref() == Some(ns.as_str()) && m.name_any() == NAME);
            match found {
                None => Some(Fix::Create(ns)),
                Some(m) if m.data.as_ref().and_then(|d| d.get(KEY)).map(String::as_str) != Some(ca) => {
                    Some(Fix::Update(ns))
                }
                Some(_) => None,
            }
        })
        .collect();
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn made_where_missing_and_put_right_where_stale() {
        let ns = |name: &str, phase: &str| -> Namespace {
            serde_json::from_value(json!({"metadata": {"name": name}, "status": {"phase": phase}})).unwrap()
        };
        let cm = |ns: &str, ca: &str| -> ConfigMap {
            serde_json::from_value(json!({"metadata": {"name": NAME, "namespace": ns}, "data": {KEY: ca}}))
                .unwrap()
        };
        let (a, b, c, d) = (
            ns("a", "Active"),
            ns("b", "Active"),
            ns("c", "Active"),
            ns("d", "Terminating"),
        );
        let (good, stale) = (cm("a", "CA"), cm("b", "old"));
        assert_eq!(
            fixes("CA", &[&c, &b, &a, &d], &[&good, &stale]),
            [Fix::Create("c".into()), Fix::Update("b".into())]
        );
    }

    #[test]
    fn the_ca_comes_from_cluster_info() {
        let kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://x:6443\n    certificate-authority-data: LS0tLS1CRUdJTg==\n";
        assert_eq!(ca_of_cluster_info(kc).unwrap(), "-----BEGIN");
        let none = "apiVersion: v1\nkind: Config\nclusters: []\n";
        assert!(ca_of_cluster_info(none)
            .unwrap_err()
            .contains("certificate-authority-data"));
    }
}
