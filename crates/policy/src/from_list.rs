//! The whole policy model from the API's objects at once: from the typed
//! objects a watch holds (the agent), or from a `kubectl get … -o json`
//! List of mixed kinds (the `policy` command). Both go through
//! [`cluster`], so what the agent enforces and what `policy check` says
//! come from one reading.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod as K8sPod};
use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::from_k8s;
use crate::model::{Cluster, Pod, Policy};

/// The API's objects of the kinds policy reads.
#[derive(Debug, Default)]
pub struct Objects {
    pub pods: Vec<K8sPod>,
    pub namespaces: Vec<Namespace>,
    pub policies: Vec<NetworkPolicy>,
    pub nodes: Vec<Node>,
}

/// The model of `pods`, `namespaces`, `policies` and `nodes`; a policy
/// that cannot be understood is left out and its error returned (the
/// caller logs or prints it).
pub fn cluster<'a>(
    pods: impl IntoIterator<Item = &'a K8sPod>,
    namespaces: impl IntoIterator<Item = &'a Namespace>,
    policies: impl IntoIterator<Item = &'a NetworkPolicy>,
    nodes: impl IntoIterator<Item = &'a Node>,
) -> (Cluster, Vec<String>) {
    cluster_with(pods, namespaces, policies, nodes, from_k8s::pod, from_k8s::policy)
}

/// [`cluster`], with the pod and policy conversions given (computed, or
/// kept per object by the conversion cache); the pods may be the API's or
/// already converted (`P` = [`Pod`]).
pub(crate) fn cluster_with<'a, P: 'a>(
    pods: impl IntoIterator<Item = &'a P>,
    namespaces: impl IntoIterator<Item = &'a Namespace>,
    policies: impl IntoIterator<Item = &'a NetworkPolicy>,
    nodes: impl IntoIterator<Item = &'a Node>,
    pod: impl FnMut(&P) -> Option<Pod>,
    mut policy: impl FnMut(&NetworkPolicy) -> Result<Policy>,
) -> (Cluster, Vec<String>) {
    let mut c = Cluster {
        pods: pods.into_iter().filter_map(pod).collect(),
        namespaces: namespaces.into_iter().map(from_k8s::namespace).collect(),
        ..Default::default()
    };
    let mut errors = Vec::new();
    for np in policies {
        match policy(np) {
            Ok(p) => c.policies.push(p),
            Err(e) => errors.push(format!(
                "NetworkPolicy {}/{} ignored: {e:#}",
                np.metadata.namespace.as_deref().unwrap_or(""),
                np.metadata.name.as_deref().unwrap_or("")
            )),
        }
    }
    for n in nodes {
        let name = n.metadata.name.clone().unwrap_or_default();
        let addrs = n.status.as_ref().and_then(|s| s.addresses.as_ref());
        for a in addrs.into_iter().flatten() {
            if let Ok(ip) = a.address.parse::<Ipv4Addr>() {
                c.node_addresses.insert(ip, name.clone());
            }
        }
    }
    (c, errors)
}

impl Objects {
    /// Sorts a List's items (`kubectl get pods,namespaces,… -o json`) by
    /// kind; other kinds are ignored.
    pub fn from_list(list: &serde_json::Value) -> Result<Objects> {
        let items = list["items"]
            .as_array()
            .context("not a List: no \"items\" array")?;
        let mut o = Objects::default();
        for (i, item) in items.iter().enumerate() {
            let what = || format!("items[{i}] ({})", item["kind"].as_str().unwrap_or("no kind"));
            let item = item.clone();
            match item["kind"].as_str() {
                Some("Pod") => o.pods.push(serde_json::from_value(item).with_context(what)?),
                Some("Namespace") => o
                    .namespaces
                    .push(serde_json::from_value(item).with_context(what)?),
                Some("NetworkPolicy") => o.policies.push(serde_json::from_value(item).with_context(what)?),
                Some("Node") => o.nodes.push(serde_json::from_value(item).with_context(what)?),
                _ => {}
            }
        }
        Ok(o)
    }

    pub fn cluster(&self) -> (Cluster, Vec<String>) {
        cluster(&self.pods, &self.namespaces, &self.policies, &self.nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mixed_list_becomes_the_model() {
        let list = json!({"kind": "List", "items": [
            {"kind": "Namespace", "metadata": {"name": "x", "labels": {"team": "a"}}},
            {"kind": "Pod", "metadata": {"name": "a", "namespace": "x", "labels": {"pod": "a"}},
             "spec": {"nodeName": "node-1", "containers": [{"name": "c"}]},
             "status": {"phase": "Running", "podIP": "10.0.1.5"}},
            {"kind": "Node", "metadata": {"name": "node-1"},
             "status": {"addresses": [{"type": "InternalIP", "address": "10.168.0.3"},
                                      {"type": "Hostname", "address": "node-1"}]}},
            {"kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "x"},
             "spec": {"podSelector": {}}},
            {"kind": "NetworkPolicy", "metadata": {"name": "bad", "namespace": "x"},
             "spec": {"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}},
            {"kind": "Service", "metadata": {"name": "s"}}
        ]});
        let (c, errors) = Objects::from_list(&list).unwrap().cluster();
        assert_eq!(c.pods.len(), 1);
        assert_eq!(c.pods[0].ip, Some("10.0.1.5".parse().unwrap()));
        assert_eq!(c.namespace_labels("x").get("team").map(String::as_str), Some("a"));
        assert_eq!(c.policies.len(), 1);
        assert_eq!(
            c.node_addresses
                .get(&"10.168.0.3".parse().unwrap())
                .map(String::as_str),
            Some("node-1")
        );
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("x/bad") && errors[0].contains("spec.ingress[0].ports[0].protocol"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_malformed_item_names_its_place() {
        let list = json!({"items": [{"kind": "Pod", "metadata": {"name": 5}}]});
        let e = Objects::from_list(&list).unwrap_err();
        assert!(format!("{e:#}").contains("items[0] (Pod)"), "{e:#}");
        assert!(Objects::from_list(&json!({"kind": "Pod"})).is_err());
    }
}
