//! The cluster's configuration as the first control plane set it up,
//! published in kube-system as kubeadm's `init` uploads its
//! ClusterConfiguration to the ConfigMap `kubeadm-config`. `join
//! --control-plane` reads it (with the bootstrap token, which kubeadm's
//! RBAC lets read it) to refuse a cluster it cannot extend (a store other
//! than etcd) and to lay out the new control plane as the first one.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::store::StoreKind;

pub const NAMESPACE: &str = "kube-system";
/// kubeadm's name.
pub const NAME: &str = "kubeadm-config";
/// The ConfigMap key holding [`ClusterConfiguration`] (as JSON; kubeadm's
/// key, which holds YAML there).
pub const KEY: &str = "ClusterConfiguration";
const PUBLISHED: crate::published_config::Published = crate::published_config::Published {
    namespace: NAMESPACE,
    name: NAME,
    key: KEY,
};
/// kubeadm's Role letting bootstrap tokens and nodes read it.
pub const READER_ROLE: &str = "kubeadm:nodes-kubeadm-config";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterConfiguration {
    /// Where the API servers keep objects; stacked control planes need etcd.
    pub store: StoreKind,
    /// The etcd members' client URLs (http://address:2379), for `member add`.
    #[serde(default)]
    pub etcd_endpoints: Vec<String>,
    /// host:port every client uses (the address kube-vip's role holds),
    /// when there are several control planes.
    #[serde(default)]
    pub control_plane_endpoint: Option<String>,
    pub service_subnet: Ipv4Net,
    pub dns_domain: String,
    /// The controller manager's flags beyond its kubeconfig and controllers
    /// (kubeadm's controllerManager.extraArgs): the pod range, the pool.
    #[serde(default)]
    pub controller_manager_extra_args: Vec<String>,
}

impl ClusterConfiguration {
    pub fn config_map(&self) -> Value {
        PUBLISHED.config_map(self)
    }

    /// Read it back from the ConfigMap; the error names the ConfigMap and key.
    pub fn from_config_map(cm: &Value) -> Result<Self, String> {
        PUBLISHED.read(cm)
    }

    /// The ConfigMap and kubeadm's Role and RoleBinding that let joining
    /// nodes (bootstrap tokens) and nodes read it, to apply.
    pub fn published(&self) -> [Value; 3] {
        [
            self.config_map(),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": READER_ROLE, "namespace": NAMESPACE},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [NAME], "verbs": ["get"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": READER_ROLE, "namespace": NAMESPACE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": READER_ROLE},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:bootstrappers"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}
            ]}),
        ]
    }

    /// Stacked control planes share one etcd.
    pub fn check_store(&self) -> Result<(), String> {
        if self.store != StoreKind::Etcd {
            return Err(format!(
                "[preflight] the cluster's store is {} (ConfigMap {NAMESPACE}/{NAME}): another control plane needs a store it can share; bring the cluster up with --store etcd",
                self.store
            ));
        }
        Ok(())
    }

    /// kubeadm's preflight for `join --control-plane` with stacked etcd:
    /// another API server needs a store it can share, and members to join.
    /// (The store first: a join checks it before the certificates.)
    pub fn check_stackable(&self) -> Result<(), String> {
        self.check_store()?;
        if self.etcd_endpoints.is_empty() {
            return Err(format!(
                "[preflight] ConfigMap {NAMESPACE}/{NAME} names no etcd endpoint (etcdEndpoints) to add a member through"
            ));
        }
        if self.control_plane_endpoint.is_none() {
            return Err(format!(
                "[preflight] ConfigMap {NAMESPACE}/{NAME} has no controlPlaneEndpoint: a cluster without a shared control-plane address cannot take another control plane"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(store: StoreKind) -> ClusterConfiguration {
        ClusterConfiguration {
            store,
            etcd_endpoints: vec!["http://10.168.0.2:2379".into()],
            control_plane_endpoint: Some("10.168.0.7:6443".into()),
            service_subnet: "10.96.0.0/16".parse().unwrap(),
            dns_domain: "cluster.local".into(),
            controller_manager_extra_args: vec!["--cluster-cidr".into(), "10.244.0.0/16".into()],
        }
    }

    #[test]
    fn round_trips_through_the_config_map() {
        let c = sample(StoreKind::Etcd);
        let cm = c.config_map();
        assert_eq!(cm["metadata"]["name"], "kubeadm-config");
        assert_eq!(ClusterConfiguration::from_config_map(&cm), Ok(c.clone()));
        let err = ClusterConfiguration::from_config_map(&json!({"data": {}})).unwrap_err();
        assert!(err.contains("ClusterConfiguration"), "{err}");
        let [config, role, binding] = c.published();
        assert_eq!(config, cm);
        assert_eq!(role["rules"][0]["resourceNames"][0], NAME);
        assert_eq!(binding["subjects"][0]["name"], "system:bootstrappers");
    }

    #[test]
    fn only_an_etcd_cluster_with_an_endpoint_and_members_can_stack() {
        assert_eq!(sample(StoreKind::Etcd).check_stackable(), Ok(()));
        let err = sample(StoreKind::Embedded).check_stackable().unwrap_err();
        assert!(err.contains("store is embedded"), "{err}");
        let mut c = sample(StoreKind::Etcd);
        c.etcd_endpoints.clear();
        assert!(c.check_stackable().unwrap_err().contains("etcdEndpoints"));
        let mut c = sample(StoreKind::Etcd);
        c.control_plane_endpoint = None;
        assert!(c.check_stackable().unwrap_err().contains("controlPlaneEndpoint"));
    }
}
