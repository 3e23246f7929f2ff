//! Job controller loop: on any change of Jobs or pods, each unfinished Job's
//! sync (crate::job) is applied: pods started and deleted, status written.
//! Expectations keep a round that runs before the pod cache shows the last
//! writes from starting the same pods twice.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use super::api::{api_code, now, ns_key, Error, MANAGER};
use super::{Expectations, Seen};
use crate::job::{new_pod, sync::sync};
use crate::podutil::{self, controller_uid};
use labyrinth_contracts::events::{self as ev, Reason};
use labyrinth_contracts::recorder::Recorder;

pub struct Loop {
    pub client: Client,
    pub jobs: Store<Job>,
    pub pods: Store<Pod>,
    pub changes: Arc<Notify>,
}

impl Loop {
    pub async fn run(self) {
        use super::shared::ready;
        if !(ready(&self.jobs).await && ready(&self.pods).await) {
            return;
        }
        let events = Recorder::new(self.client.clone(), ev::JOB_CONTROLLER);
        let expect = Expectations::default();
        loop {
            let mut waiting = false;
            for job in self.jobs.state() {
                if job.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                match self.sync(&job, &expect, &events).await {
                    Ok(done) => waiting |= !done,
                    Err(e) => {
                        waiting = true;
                        tracing::warn!(job = %job.name_any(), error = %e, "job sync failed");
                    }
                }
            }
            super::shared::next_round(&self.changes, waiting).await;
        }
    }

    /// One Job's round; false when it waits for the cache.
    async fn sync(&self, job: &Job, expect: &Expectations, events: &Arc<Recorder>) -> Result<bool, Error> {
        let ns = job.namespace().unwrap_or_default();
        let name = job.name_any();
        let key = ns_key(&ns, &name);
        let seen = |n: &str| match self.pods.get(&ObjectRef::new(n).within(&ns)) {
            None => Seen::Absent,
            Some(p) if podutil::is_terminating(&p) => Seen::Terminating,
            Some(_) => Seen::Present,
        };
        if !expect.satisfied(&key, seen) {
            return Ok(false);
        }
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let all = self.pods.state();
        let owned: Vec<&Pod> = all
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
            .filter(|p| controller_uid(&p.metadata, "Job") == Some(uid.as_str()))
            .collect();
        let todo = sync(job, &owned, &now());
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        for _ in 0..todo.create {
            let created = api.create(&PostParams::default(), &new_pod(job)).await?;
            tracing::info!(job = %name, pod = %created.name_any(), "created pod");
            expect.created(&key, &created.name_any());
            let msg = format!("Created pod: {}", created.name_any());
            events.record(job.object_ref(&()), Reason::SuccessfulCreate, msg);
        }
        for pod in &todo.delete {
            match api.delete(pod, &DeleteParams::default()).await {
                Ok(_) => {
                    expect.deleted(&key, pod);
                    events.record(
                        job.object_ref(&()),
                        Reason::SuccessfulDelete,
                        format!("Deleted pod: {pod}"),
                    );
                }
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if job.status.as_ref() != Some(&todo.status) {
            let jobs: Api<Job> = Api::namespaced(self.client.clone(), &ns);
            let pp = PatchParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            };
            match jobs
                .patch_status(&name, &pp, &Patch::Merge(&json!({"status": todo.status})))
                .await
            {
                Ok(_) => {}
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(todo.create == 0 && todo.delete.is_empty())
    }
}
