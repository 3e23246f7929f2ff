//! [`from_list::cluster`](crate::from_list::cluster) for a node agent that
//! reads the whole picture after every change: each Pod's and each
//! NetworkPolicy's model is kept by uid and resourceVersion (the API
//! server changes the latter on every write), so a write converts only
//! the object written. An object without both is converted every time.

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod as K8sPod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::from_k8s;
use crate::from_list::cluster_with;
use crate::model::{Cluster, Pod, Policy};

/// (uid, resourceVersion) → what the object converted to.
type Kept<T> = HashMap<(String, String), T>;

#[derive(Default)]
pub struct ConvertCache {
    pods: Kept<Option<Pod>>,
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
    /// Equal to `from_list::cluster` of the same objects.
    pub fn cluster<'a>(
        &mut self,
        pods: impl IntoIterator<Item = &'a K8sPod>,
        namespaces: impl IntoIterator<Item = &'a Namespace>,
        policies: impl IntoIterator<Item = &'a NetworkPolicy>,
        nodes: impl IntoIterator<Item = &'a Node>,
    ) -> (Cluster, Vec<String>) {
        let (mut pods_converted, mut pols_converted) = (0, 0);
        let (mut old_pods, mut old_pols) =
            (std::mem::take(&mut self.pods), std::mem::take(&mut self.policies));
        let (mut new_pods, mut new_pols) = (Kept::new(), Kept::new());
        // Objects gone since the last call stay in the old maps and go.
        let out = cluster_with(
            pods,
            namespaces,
            policies,
            nodes,
            |p| {
                kept(
                    &mut old_pods,
                    &mut new_pods,
                    &mut pods_converted,
                    &p.metadata,
                    || from_k8s::pod(p),
                )
            },
            |np| -> Result<Policy> {
                kept(
                    &mut old_pols,
                    &mut new_pols,
                    &mut pols_converted,
                    &np.metadata,
                    || from_k8s::policy(np).map_err(|e| format!("{e:#}")),
                )
                .map_err(|e| anyhow!(e))
            },
        );
        (self.pods, self.policies) = (new_pods, new_pols);
        self.converted = pods_converted + pols_converted;
        out
    }

    /// How many objects the last call converted rather than reused.
    pub fn converted(&self) -> usize {
        self.converted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_list::cluster;
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

    /// A new resourceVersion converts that object alone; the result, an
    /// unreadable policy's error included, equals a fresh conversion.
    #[test]
    fn only_written_objects_are_converted_again() {
        let mut pols: Vec<NetworkPolicy> = (0..20).map(|i| policy(&format!("p{i}"), "1", "TCP")).collect();
        pols.push(policy("bad", "1", "ICMP"));
        let mut pods = vec![pod("a", "1", "10.0.0.1"), pod("b", "1", "10.0.0.2")];
        let mut cache = ConvertCache::default();
        let nss: [Namespace; 0] = [];
        let nodes: [Node; 0] = [];
        let first = cache.cluster(&pods, &nss, &pols, &nodes);
        same(&first, &cluster(&pods, &nss, &pols, &nodes));
        assert_eq!(cache.converted(), 23);
        assert_eq!(first.1.len(), 1, "{:?}", first.1);

        pols[3] = policy("p3", "2", "UDP");
        pods[1] = pod("b", "2", "10.0.0.9");
        let second = cache.cluster(&pods, &nss, &pols, &nodes);
        same(&second, &cluster(&pods, &nss, &pols, &nodes));
        assert_eq!(cache.converted(), 2);

        // Deleted and re-created under the same name: a new uid.
        pols.remove(0);
        let mut again = policy("p0", "1", "TCP");
        again.metadata.uid = Some("uid-p0-new".into());
        pols.push(again);
        let third = cache.cluster(&pods, &nss, &pols, &nodes);
        same(&third, &cluster(&pods, &nss, &pols, &nodes));
        assert_eq!(cache.converted(), 1);
    }
}
