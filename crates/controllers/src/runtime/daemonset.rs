//! DaemonSet controller loop: on any change of DaemonSets, pods or nodes,
//! each DaemonSet's plan (crate::daemonset) is applied and its status
//! written. Creates and deletes are remembered as expectations, so a round
//! that runs before the pod cache shows them waits instead of acting twice.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use super::api::{api_code, ns_key, Error, MANAGER};
use super::{Expectations, Seen};
use crate::daemonset::{plan::plan, pod::new_pod, revision_hash, status::status};
use crate::podutil::{self, controller_uid};
use labyrinth_contracts::events::{self as ev, Reason};
use labyrinth_contracts::recorder::Recorder;

pub struct Loop {
    pub client: Client,
    pub daemonsets: Store<DaemonSet>,
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    pub changes: Arc<Notify>,
}

impl Loop {
    pub async fn run(self) {
        use super::shared::ready;
        if !(ready(&self.daemonsets).await && ready(&self.pods).await && ready(&self.nodes).await) {
            return;
        }
        let events = Recorder::new(self.client.clone(), ev::DAEMONSET_CONTROLLER);
        let expect = Expectations::default();
        loop {
            let mut waiting = false;
            for ds in self.daemonsets.state() {
                if ds.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                match self.sync(&ds, &expect, &events).await {
                    Ok(done) => waiting |= !done,
                    Err(e) => {
                        waiting = true;
                        tracing::warn!(daemonset = %ds.name_any(), error = %e, "daemonset sync failed");
                    }
                }
            }
            super::shared::next_round(&self.changes, waiting).await;
        }
    }

    /// One DaemonSet's round; false when it waits for the cache.
    async fn sync(
        &self,
        ds: &DaemonSet,
        expect: &Expectations,
        events: &Arc<Recorder>,
    ) -> Result<bool, Error> {
        let ns = ds.namespace().unwrap_or_default();
        let name = ds.name_any();
        let key = ns_key(&ns, &name);
        let seen = |n: &str| match self.pods.get(&ObjectRef::new(n).within(&ns)) {
            None => Seen::Absent,
            Some(p) if podutil::is_terminating(&p) => Seen::Terminating,
            Some(_) => Seen::Present,
        };
        if !expect.satisfied(&key, seen) {
            return Ok(false);
        }
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let all = self.pods.state();
        let owned: Vec<&Pod> = all
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
            .filter(|p| controller_uid(&p.metadata, "DaemonSet") == Some(uid.as_str()))
            .collect();
        let nodes = self.nodes.state();
        let nodes: Vec<&Node> = nodes.iter().map(|n| n.as_ref()).collect();
        let hash = revision_hash(ds);
        let todo = plan(ds, &nodes, &owned, &hash);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        for node in &todo.create {
            let created = api
                .create(&PostParams::default(), &new_pod(ds, node, &hash))
                .await?;
            tracing::info!(daemonset = %name, pod = %created.name_any(), %node, "created pod");
            expect.created(&key, &created.name_any());
            let msg = format!("Created pod: {}", created.name_any());
            events.record(ds.object_ref(&()), Reason::SuccessfulCreate, msg);
        }
        for pod in &todo.delete {
            match api.delete(pod, &DeleteParams::default()).await {
                Ok(_) => {
                    tracing::info!(daemonset = %name, %pod, "deleted pod");
                    expect.deleted(&key, pod);
                    events.record(
                        ds.object_ref(&()),
                        Reason::SuccessfulDelete,
                        format!("Deleted pod: {pod}"),
                    );
                }
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let st = status(ds, &nodes, &owned, &hash);
        if ds.status.as_ref() != Some(&st) {
            let dsapi: Api<DaemonSet> = Api::namespaced(self.client.clone(), &ns);
            let pp = PatchParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            };
            match dsapi
                .patch_status(&name, &pp, &Patch::Merge(&json!({"status": st})))
                .await
            {
                Ok(_) => {}
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(todo.create.is_empty() && todo.delete.is_empty())
    }
}
