//! Garbage collector for what these controllers create: ReplicaSets whose
//! Deployment is gone, pods whose ReplicaSet, DaemonSet or Job is gone, EndpointSlices whose
//! Service is gone (as the real GC does for `kubectl delete` with the default
//! background propagation). Deletes carry a uid precondition, so an object
//! recreated under the same name is never hit.

use std::collections::HashSet;
use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, Preconditions};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::api::api_code;

const PERIOD: Duration = Duration::from_secs(5);

pub struct Gc {
    pub client: Client,
    pub deploys: Store<Deployment>,
    pub rsets: Store<ReplicaSet>,
    pub daemonsets: Store<DaemonSet>,
    pub jobs: Store<Job>,
    pub pods: Store<Pod>,
    pub services: Store<Service>,
    pub slices: Store<EndpointSlice>,
}

/// (namespace, name, uid) of children whose controlling owner of
/// `owner_kind` is not among `live_owner_uids`.
pub fn orphans<K: Resource>(
    children: &[std::sync::Arc<K>],
    owner_kind: &str,
    live_owner_uids: &HashSet<String>,
) -> Vec<(String, String, String)> {
    children
        .iter()
        .filter(|c| c.meta().deletion_timestamp.is_none())
        .filter_map(|c| {
            let owner = crate::podutil::controller_uid(c.meta(), owner_kind)?;
            (!live_owner_uids.contains(owner)).then(|| {
                (
                    c.meta().namespace.clone().unwrap_or_default(),
                    c.meta().name.clone().unwrap_or_default(),
                    c.meta().uid.clone().unwrap_or_default(),
                )
            })
        })
        .collect()
}

fn uids<K: Resource>(objs: &[std::sync::Arc<K>]) -> HashSet<String> {
    objs.iter().filter_map(|o| o.meta().uid.clone()).collect()
}

impl Gc {
    pub async fn run(self) {
        use super::shared::ready;
        if !(ready(&self.deploys).await
            && ready(&self.rsets).await
            && ready(&self.daemonsets).await
            && ready(&self.jobs).await
            && ready(&self.pods).await
            && ready(&self.services).await
            && ready(&self.slices).await)
        {
            return;
        }
        let mut tick = 0u64;
        loop {
            // Foreground deletions are settled every second (each level of
            // owners waits on the next); orphans are collected every PERIOD.
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.settle_foreground().await;
            tick += 1;
            if !tick.is_multiple_of(PERIOD.as_secs()) {
                continue;
            }
            // Owners are read before children: a child created after this
            // read by a just-created owner still finds its owner listed.
            let live = uids(&self.deploys.state());
            self.collect::<ReplicaSet>(orphans(&self.rsets.state(), "Deployment", &live))
                .await;
            let live = uids(&self.rsets.state());
            self.collect::<Pod>(orphans(&self.pods.state(), "ReplicaSet", &live))
                .await;
            let live = uids(&self.daemonsets.state());
            self.collect::<Pod>(orphans(&self.pods.state(), "DaemonSet", &live))
                .await;
            let live = uids(&self.jobs.state());
            self.collect::<Pod>(orphans(&self.pods.state(), "Job", &live))
                .await;
            let live = uids(&self.services.state());
            self.collect::<EndpointSlice>(orphans(&self.slices.state(), "Service", &live))
                .await;
        }
    }

    async fn settle_foreground(&self) {
        use super::foreground::settle;
        settle(&self.client, &self.deploys.state(), &self.rsets.state(), true).await;
        settle(&self.client, &self.rsets.state(), &self.pods.state(), false).await;
        settle(&self.client, &self.services.state(), &self.slices.state(), false).await;
    }

    async fn collect<K>(&self, victims: Vec<(String, String, String)>)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Debug,
    {
        for (ns, name, uid) in victims {
            delete_by_uid::<K>(&self.client, &ns, &name, uid, "orphan").await;
        }
    }
}

/// Delete `ns/name` only if it is still the object with `uid` (never one
/// recreated under the same name); gone already or replaced is fine. `what`
/// says why it goes, for the log.
pub(super) async fn delete_by_uid<K>(client: &Client, ns: &str, name: &str, uid: String, what: &str)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => tracing::info!(kind = %K::kind(&()), %ns, %name, what, "deleted"),
        Err(e) if matches!(api_code(&e), Some(404 | 409)) => {}
        Err(e) => tracing::warn!(kind = %K::kind(&()), %ns, %name, what, error = %e, "could not delete"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn rs(name: &str, owner_uid: Option<&str>, deleting: bool) -> Arc<ReplicaSet> {
        let mut v = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}")}, "spec": {"selector": {}}});
        if let Some(o) = owner_uid {
            v["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": o, "controller": true}]);
        }
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn only_children_of_vanished_owners_are_orphans() {
        let live: HashSet<String> = ["d1".to_string()].into();
        let children = vec![
            rs("kept", Some("d1"), false),
            rs("orphan", Some("d2"), false),
            rs("unowned", None, false),
            rs("going", Some("d2"), true),
        ];
        assert_eq!(
            orphans(&children, "Deployment", &live),
            vec![("ns".to_string(), "orphan".to_string(), "u-orphan".to_string())]
        );
        assert!(orphans(&children, "Service", &live).is_empty());
    }
}
