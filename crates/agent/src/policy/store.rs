//! One kind's objects from a watch, keyed `namespace/name`, each kept as
//! what policy reads of it (for pods their model, not the API's object);
//! a relist replaces them only once it is complete, as kube's reflector
//! does.

use std::collections::BTreeMap;

use kube::runtime::watcher::Event;
use kube::Resource;

pub struct Objects<V> {
    objs: BTreeMap<String, V>,
    relist: BTreeMap<String, V>,
    /// The first list is complete.
    pub listed: bool,
}

impl<V> Default for Objects<V> {
    fn default() -> Self {
        Self {
            objs: BTreeMap::new(),
            relist: BTreeMap::new(),
            listed: false,
        }
    }
}

fn key<K: Resource>(o: &K) -> String {
    let m = o.meta();
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or(""),
        m.name.as_deref().unwrap_or("")
    )
}

impl<V> Objects<V> {
    /// Apply one watch event, each object kept as `keep` makes it; one it
    /// makes nothing of (a pod policy never sees: host network, finished)
    /// is not kept, and an earlier version of it goes.
    pub fn apply<K: Resource>(&mut self, ev: Event<K>, keep: impl Fn(K) -> Option<V>) {
        let put = |map: &mut BTreeMap<String, V>, o: K| {
            let k = key(&o);
            match keep(o) {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        };
        match ev {
            Event::Init => self.relist.clear(),
            Event::InitApply(o) => put(&mut self.relist, o),
            Event::InitDone => {
                self.objs = std::mem::take(&mut self.relist);
                self.listed = true;
            }
            Event::Apply(o) => put(&mut self.objs, o),
            Event::Delete(o) => {
                self.objs.remove(&key(&o));
            }
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.objs.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn pod(name: &str, host_network: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "x", "labels": {"app": name}},
            "spec": {"nodeName": "node-1", "hostNetwork": host_network, "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1"}
        }))
        .unwrap()
    }

    fn names(o: &Objects<labyrinth_policy::Pod>) -> Vec<String> {
        o.values().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn pods_are_kept_as_their_models_and_a_relist_replaces_them_once_complete() {
        let model = |p: Pod| labyrinth_policy::from_k8s::pod(&p);
        let mut o = Objects::default();
        o.apply(Event::Init, model);
        o.apply(Event::InitApply(pod("a", false)), model);
        o.apply(Event::InitApply(pod("h", true)), model);
        assert!(!o.listed && names(&o).is_empty());
        o.apply(Event::InitDone, model);
        // The host-network pod is nothing to policy: not kept.
        assert!(o.listed);
        assert_eq!(names(&o), ["a"]);
        o.apply(Event::Apply(pod("b", false)), model);
        assert_eq!(names(&o), ["a", "b"]);
        // b moves onto the node's network: its model goes.
        o.apply(Event::Apply(pod("b", true)), model);
        assert_eq!(names(&o), ["a"]);
        o.apply(Event::Init, model);
        o.apply(Event::InitApply(pod("c", false)), model);
        assert_eq!(names(&o), ["a"], "a list in progress changes nothing yet");
        o.apply(Event::InitDone, model);
        assert_eq!(names(&o), ["c"]);
        o.apply(Event::Delete(pod("c", false)), model);
        assert!(names(&o).is_empty());
    }
}
