//! [`from_list::cluster`](crate::from_list::cluster) for a node agent that
//! reads the whole picture after every change. Its pods come already
//! converted: the agent keeps each pod's model ([`from_k8s::pod`]) from
//! the moment the watch delivers it, not the API's object, which is tens
//! of KiB per pod (managedFields, the full spec and status) in every
//! node's agent for every pod of the cluster. Each NetworkPolicy's model
//! is kept here by uid and resourceVersion (the API server changes the
//! latter on every write), so a write converts only the policy written.
//! A policy without both is converted every time.

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::from_k8s;
use crate::from_list::cluster_with;
use crate::model::{Cluster, Pod, Policy};

/// (uid, resourceVersion) → what the object converted to.
type Kept<T> = HashMap<(String, String), T>;

#[derive(Default)]
pub struct ConvertCache {
    /// A policy that cannot be understood keeps its error's text.
    policies: Kept<Result<Policy, String>>,
    converted: usize,
}

fn version(m: &ObjectMeta) -> Option<(String, String)> {
    Some((m.uid.clone()?, m.resource_version.clone()?))
}

/// `convert(obj)` kept in `new` under the object's version, taken from
/// `old` when it was converted before.
fn kept<T: Clone>(
    old: &mut Kept<T>,
    new: &mut Kept<T>,
    converted: &mut usize,
    meta: &ObjectMeta,
    convert: impl FnOnce() -> T,
) -> T {
    let Some(v) = version(meta) else {
        *converted += 1;
        return convert();
    };
    let t = old.remove(&v).unwrap_or_else(|| {
        *converted += 1;
        convert()
    });
    new.insert(v, t.clone());
    t
}

impl ConvertCache {
    /// Equal to `from_list::cluster` of the same objects, the pods given
    /// as their models (`from_k8s::pod` of each, the `None`s left out).
    pub fn cluster<'a>(
        &mut self,
        pods: impl IntoIterator<Item = &'a Pod>,
        namespaces: impl IntoIterator<Item = &'a Namespace>,
        policies: impl IntoIterator<Item = &'a NetworkPolicy>,
        nodes: impl IntoIterator<Item = &'a Node>,
    ) -> (Cluster, Vec<String>) {
        let mut converted = 0;
        let mut old = std::mem::take(&mut self.policies);
        let mut new = Kept::new();
        // Policies gone since the last call stay in `old` and go.
        let out = cluster_with(
            pods,
            namespaces,
            policies,
            nodes,
            |p: &Pod| Some(p.clone()),
            |np| -> Result<Policy> {
                kept(&mut old, &mut new, &mut converted, &np.metadata, || {
                    from_k8s::policy(np).map_err(|e| format!("{e:#}"))
                })
                .map_err(|e| anyhow!(e))
            },
        );
        self.policies = new;
        self.converted = converted;
        out
    }

    /// How many policies the last call converted rather than reused.
    pub fn converted(&self) -> usize {
        self.converted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_list::cluster;
    use k8s_openapi::api::core::v1::Pod as K8sPod;
    use serde_json::json;

    fn policy(name: &str, rv: &str, protocol: &str) -> NetworkPolicy {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "x", "uid": format!("uid-{name}"), "resourceVersion": rv},
            "spec": {"podSelector": {}, "ingress": [{"ports": [{"protocol": protocol, "port": 80}]}]}
        }))
        .unwrap()
    }

    fn pod(name: &str, rv: &str, ip: &str) -> K8sPod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "x", "uid": format!("uid-{name}"), "resourceVersion": rv,
                         "labels": {"app": name}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": ip}
        }))
        .unwrap()
    }

    fn same(a: &(Cluster, Vec<String>), b: &(Cluster, Vec<String>)) {
        assert_eq!(a.0.pods, b.0.pods);
        assert_eq!(a.0.policies, b.0.policies);
        assert_eq!(a.0.namespaces, b.0.namespaces);
        assert_eq!(a.1, b.1);
    }

    /// The pods as the agent keeps them: their models.
    fn models(pods: &[K8sPod]) -> Vec<Pod> {
        pods.iter().filter_map(from_k8s::pod).collect()
    }

    /// A new resourceVersion converts that policy alone; the result, an
    /// unreadable policy's error included, equals a fresh conversion of
    /// the API's objects.
    #[test]
    fn only_written_policies_are_converted_again() {
        let mut pols: Vec<NetworkPolicy> = (0..20).map(|i| policy(&format!("p{i}"), "1", "TCP")).collect();
        pols.push(policy("bad", "1", "ICMP"));
        let mut pods = vec![pod("a", "1", "10.0.0.1"), pod("b", "1", "10.0.0.2")];
        let mut cache = ConvertCache::default();
        let nss: [Namespace; 0] = [];
        let nodes: [Node; 0] = [];
        let first = cache.cluster(&models(&pods), &nss, &pols, &nodes);
        same(&first, &cluster(&pods, &nss, &pols, &nodes));
        assert_eq!(cache.converted(), 21);
        assert_eq!(first.1.len(), 1, "{:?}", first.1);

        pols[3] = policy("p3", "2", "UDP");
        pods[1] = pod("b", "2", "10.0.0.9");
        let second = cache.cluster(&models(&pods), &nss, &pols, &nodes);
        same(&second, &cluster(&pods, &nss, &pols, &nodes));
        assert_eq!(cache.converted(), 1);

        // Deleted and re-created under the same name: a new uid.
        pols.remove(0);
        let mut again = policy("p0", "1", "TCP");
        again.metadata.uid = Some("uid-p0-new".into());
        pols.push(again);
        let third = cache.cluster(&models(&pods), &nss, &pols, &nodes);
        same(&third, &cluster(&pods, &nss, &pols, &nodes));
        assert_eq!(cache.converted(), 1);
    }
}
