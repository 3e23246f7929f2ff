//! The garbage collector's half of foreground deletion (`kubectl delete
//! --cascade=foreground`): the API server marks the owner with a
//! deletionTimestamp and the `foregroundDeletion` finalizer; this deletes
//! the owner's dependents (those with dependents of their own in the
//! foreground too, so a Deployment waits for its ReplicaSets, which wait for
//! their pods) and, once none is left, removes the finalizer, which lets the
//! API server delete the owner.

use std::fmt::Debug;
use std::sync::Arc;

use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::api::api_code;

/// The finalizer the API server adds for Foreground propagation.
pub const FOREGROUND: &str = "foregroundDeletion";

fn waiting<K: Resource>(o: &K) -> bool {
    o.meta().deletion_timestamp.is_some()
        && o.meta()
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == FOREGROUND))
}

/// Whether any ownerReference of `meta` names `uid`.
fn owned_by(meta: &kube::api::ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .as_ref()
        .is_some_and(|refs| refs.iter().any(|r| r.uid == uid))
}

/// One pass over owners of kind `O` waiting for dependents of kind `C`.
/// `foreground_children`: delete the dependents in the foreground too
/// (they have dependents of their own).
pub async fn settle<O, C>(client: &Client, owners: &[Arc<O>], children: &[Arc<C>], foreground_children: bool)
where
    O: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
    C: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    for owner in owners.iter().filter(|o| waiting(o.as_ref())) {
        let meta = owner.meta();
        let (ns, name) = (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let Some(uid) = meta.uid.as_deref() else { continue };
        let deps: Vec<&Arc<C>> = children.iter().filter(|c| owned_by(c.meta(), uid)).collect();
        if deps.is_empty() {
            release::<O>(client, &ns, &name, owner.as_ref()).await;
            continue;
        }
        for dep in deps {
            let m = dep.meta();
            let already = if foreground_children {
                waiting(dep.as_ref())
            } else {
                m.deletion_timestamp.is_some()
            };
            if already {
                continue;
            }
            let mut dp = if foreground_children {
                DeleteParams::foreground()
            } else {
                DeleteParams::default()
            };
            dp.preconditions = Some(Preconditions {
                uid: m.uid.clone(),
                resource_version: None,
            });
            let api: Api<C> = Api::namespaced(client.clone(), &ns);
            let dep_name = m.name.clone().unwrap_or_default();
            match api.delete(&dep_name, &dp).await {
                Ok(_) => {
                    tracing::info!(kind = %C::kind(&()), %ns, name = %dep_name, owner = %name, "deleted in the foreground of its owner")
                }
                Err(e) if matches!(api_code(&e), Some(404 | 409)) => {}
                Err(e) => {
                    tracing::warn!(kind = %C::kind(&()), %ns, name = %dep_name, error = %e, "could not delete a dependent")
                }
            }
        }
    }
}

/// Remove `foregroundDeletion` from the owner's finalizers (guarded by its
/// resourceVersion, so a concurrent change is not overwritten).
async fn release<O>(client: &Client, ns: &str, name: &str, owner: &O)
where
    O: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let meta = owner.meta();
    let kept: Vec<&String> = meta
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != FOREGROUND)
        .collect();
    let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": meta.resource_version}});
    let api: Api<O> = Api::namespaced(client.clone(), ns);
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            tracing::info!(kind = %O::kind(&()), %ns, %name, "dependents gone: foreground deletion completes")
        }
        Err(e) if matches!(api_code(&e), Some(404 | 409)) => {}
        Err(e) => tracing::warn!(kind = %O::kind(&()), %ns, %name, error = %e, "could not release the owner"),
    }
}
