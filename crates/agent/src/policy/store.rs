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

    pub fn is_empty(&self) -> bool {
        self.objs.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.objs.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use labyrinth_policy::watched_pod::WatchedPod;
    use serde_json::json;

    fn pod(name: &str, host_network: bool) -> WatchedPod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "x", "labels": {"app": name}},
            "spec": {"nodeName": "node-1", "hostNetwork": host_network, "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1"}
        }))
        .unwrap()
    }

    /// A Deployment's pod as the API serves it once it runs: the object
    /// the watch decodes.
    fn api_pod(i: usize) -> serde_json::Value {
        let fields = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
            "f:ownerReferences": {".": {}, "k:{\"uid\":\"3d1c\"}": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"idle\"}": {".": {}, "f:image": {}, "f:name": {},
                "f:resources": {}, "f:terminationMessagePath": {}}}, "f:dnsPolicy": {}, "f:restartPolicy": {}}});
        let status = json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}}},
            "f:containerStatuses": {}, "f:podIP": {}, "f:podIPs": {}, "f:phase": {}, "f:startTime": {}}});
        let condition =
            |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": "2026-12-04T20:00:00Z"});
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("fleet-6d5f7c9b8-{i:05}"), "namespace": "bench",
                "uid": format!("0f3c4b2e-8a1d-4c7e-9b6a-{i:012}"), "resourceVersion": "12345",
                "generateName": "fleet-6d5f7c9b8-", "creationTimestamp": "2026-12-04T20:00:00Z",
                "labels": {"app": "fleet", "pod-template-hash": "6d5f7c9b8"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "fleet-6d5f7c9b8",
                    "uid": "3d1c", "controller": true, "blockOwnerDeletion": true}],
                "managedFields": [
                    {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                     "time": "2026-12-04T20:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields},
                    {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "subresource": "status",
                     "time": "2026-12-04T20:00:01Z", "fieldsType": "FieldsV1", "fieldsV1": status}]},
            "spec": {"nodeName": "node-1", "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                "serviceAccountName": "default", "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
                "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
                "securityContext": {},
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
                "containers": [{"name": "idle", "image": "registry.k8s.io/pause:3.10", "imagePullPolicy": "IfNotPresent",
                    "resources": {}, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": true,
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
                "volumes": [{"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}]},
            "status": {"phase": "Running", "podIP": format!("10.0.1.{}", i % 250 + 2),
                "podIPs": [{"ip": format!("10.0.1.{}", i % 250 + 2)}], "hostIP": "10.168.0.3",
                "hostIPs": [{"ip": "10.168.0.3"}], "startTime": "2026-12-04T20:00:00Z", "qosClass": "BestEffort",
                "conditions": [condition("PodReadyToStartContainers"), condition("Initialized"), condition("Ready"),
                    condition("ContainersReady"), condition("PodScheduled")],
                "containerStatuses": [{"name": "idle", "ready": true, "started": true, "restartCount": 0,
                    "image": "registry.k8s.io/pause:3.10", "imageID": "", "containerID": "labyrinth://0f3c",
                    "state": {"running": {"startedAt": "2026-12-04T20:00:00Z"}}, "lastState": {}}]}
        })
    }

    /// Bytes the store holds per pod after 100 API pods were applied, each
    /// kept as `keep` makes it (decoding's own allocations are freed).
    fn held_per_pod<V>(keep: impl Fn(Pod) -> Option<V>) -> isize {
        use serde::Deserialize;
        let pods: Vec<serde_json::Value> = (0..100).map(api_pod).collect();
        let mut o = Objects::default();
        let before = crate::test_alloc::held();
        for p in &pods {
            o.apply(Event::Apply(Pod::deserialize(p).unwrap()), &keep);
        }
        let per_pod = (crate::test_alloc::held() - before) / 100;
        assert_eq!(o.values().count(), 100);
        per_pod
    }

    /// Every node's agent holds every pod of the cluster here: the API's
    /// object (managedFields, the full spec and status) cost it tens of
    /// KiB per pod; the model a few hundred bytes.
    #[test]
    fn a_pod_costs_the_store_its_model_not_the_api_object() {
        let model = held_per_pod(|p| labyrinth_policy::from_k8s::pod(&p));
        let object = held_per_pod(Some);
        eprintln!("bytes held per pod: {model} as the model, {object} as the API's object");
        assert!(model > 0);
        // 463 bytes with the labels in an exact-size slice; 926 when they
        // were a BTreeMap (its first node alone is over 500).
        assert!(
            model <= 640,
            "{model} bytes per pod kept (the API's object: {object})"
        );
        assert!(
            object >= 8 * model,
            "{object} bytes per API object, {model} per model"
        );
    }

    /// The agent decodes each pod event of the cluster slim: a running
    /// Deployment pod as the API serves it costs the decoder a small part of
    /// the allocations k8s-openapi's whole Pod does (allocations, not time:
    /// the count does not depend on the machine's load), and gives the
    /// same model.
    #[test]
    fn a_watched_pod_event_is_decoded_slim() {
        let v = api_pod(7);
        let text = serde_json::to_string(&v).unwrap();
        let allocs = |decode: &dyn Fn(&str) -> Option<labyrinth_policy::Pod>| {
            let before = crate::test_alloc::allocs();
            let model = decode(&text);
            (crate::test_alloc::allocs() - before, model)
        };
        let (full, full_model) =
            allocs(&|t| labyrinth_policy::from_k8s::pod(&serde_json::from_str::<Pod>(t).unwrap()));
        let (slim, slim_model) =
            allocs(&|t| labyrinth_policy::from_k8s::watched_pod(serde_json::from_str(t).unwrap()));
        eprintln!("allocations per pod event: {slim} slim, {full} as k8s-openapi's Pod");
        assert!(slim_model.is_some());
        assert_eq!(slim_model, full_model);
        assert!(slim > 0);
        assert!(4 * slim <= full, "{slim} allocations slim, {full} whole");
    }

    fn names(o: &Objects<labyrinth_policy::Pod>) -> Vec<String> {
        o.values().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn pods_are_kept_as_their_models_and_a_relist_replaces_them_once_complete() {
        let model = labyrinth_policy::from_k8s::watched_pod;
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
