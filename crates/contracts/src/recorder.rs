//! Recording core/v1 Events as client-go's recorder does: the first
//! occurrence is created (`<object>.<hex nanoseconds>`), a repeat of the same
//! (object, reason, message) within this process is counted on that event
//! (count + 1, lastTimestamp now) instead of adding another. Recording never
//! holds up a reconcile or a pod's start: each write runs in its own task
//! (on the runtime the recorder was made in, so plain threads can record
//! too) and a failure is only logged. One recorder for every component that
//! records (the controllers, the scheduler, the node agents' kubelet role),
//! behind the `recorder` feature so the CNI program does not carry a client.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::events::Reason;

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Whole seconds, as the API serialises them.
fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    let t = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_second(t.as_second()).unwrap_or(t),
    )
}

/// Past this many remembered events the memory is dropped (repeats then
/// start a new event, which the server expires after an hour anyway).
const REMEMBERED: usize = 4096;

/// An occurrence's (namespace, object uid, object name, reason, message),
/// hashed: the map is kept by every node agent for its pods' starts (three
/// events each), and five strings per entry (the message alone tens of
/// bytes) made it ~1.5 KiB per pod. Two different occurrences with one
/// hash (odds 2^-64) would count on one event.
type Key = u64;

fn key(ns: &str, about: &ObjectReference, reason: Reason, message: &str) -> Key {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (ns, &about.uid, &about.name, reason, message).hash(&mut h);
    h.finish()
}

pub struct Recorder {
    client: Client,
    component: &'static str,
    /// The node, for what a node agent records (`source.host`).
    host: Option<String>,
    runtime: tokio::runtime::Handle,
    /// Key → (event name, count so far).
    seen: Mutex<HashMap<Key, (String, i32)>>,
}

impl Recorder {
    /// A recorder for `component`; call it inside a Tokio runtime (its
    /// writes run there, whichever thread records).
    pub fn new(client: Client, component: &'static str) -> Arc<Self> {
        Self::on_host(client, component, None)
    }

    /// A node's recorder: its events name the node as their source host.
    pub fn on_host(client: Client, component: &'static str, host: Option<String>) -> Arc<Self> {
        Arc::new(Recorder {
            client,
            component,
            host,
            runtime: tokio::runtime::Handle::current(),
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Record that `reason` happened to `about` (in its namespace).
    pub fn record(self: &Arc<Self>, about: ObjectReference, reason: Reason, message: String) {
        let me = self.clone();
        self.runtime.spawn(async move {
            if let Err(e) = me.write(about, reason, message).await {
                tracing::debug!(error = %e, reason = reason.as_str(), "recording an event");
            }
        });
    }

    async fn write(
        &self,
        about: ObjectReference,
        reason: Reason,
        message: String,
    ) -> Result<(), kube::Error> {
        let ns = about.namespace.clone().unwrap_or_else(|| "default".into());
        let key = key(&ns, &about, reason, &message);
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let repeat = {
            let mut seen = self.seen.lock().unwrap();
            seen.get_mut(&key).map(|(name, count)| {
                *count += 1;
                (name.clone(), *count)
            })
        };
        if let Some((name, count)) = repeat {
            let patch = json!({"count": count, "lastTimestamp": now()});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // Expired (an hour old) or deleted: start a new one.
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => return Err(e),
            }
        }
        let t = now();
        // Nanoseconds of the clock itself (`now()` keeps whole seconds), so
        // two events of one object in one second get two names.
        let nanos = k8s_openapi::jiff::Timestamp::now().as_nanosecond();
        let name = format!("{}.{nanos:x}", about.name.as_deref().unwrap_or("object"));
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns),
                ..Default::default()
            },
            involved_object: about,
            reason: Some(reason.as_str().into()),
            message: Some(message),
            type_: Some(reason.event_type().as_str().into()),
            count: Some(1),
            first_timestamp: Some(t.clone()),
            last_timestamp: Some(t),
            source: Some(EventSource {
                component: Some(self.component.into()),
                host: self.host.clone(),
            }),
            reporting_component: Some(self.component.into()),
            reporting_instance: Some(self.component.into()),
            ..Default::default()
        };
        api.create(&PostParams::default(), &ev).await?;
        let mut seen = self.seen.lock().unwrap();
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(key, (name, 1));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_occurrence_is_known_again_by_every_part_of_it() {
        let pod = |uid: &str| ObjectReference {
            name: Some("web-1".into()),
            uid: Some(uid.into()),
            ..Default::default()
        };
        let k = key("ns", &pod("u1"), Reason::Started, "Started container web");
        assert_eq!(k, key("ns", &pod("u1"), Reason::Started, "Started container web"));
        for other in [
            key("ns2", &pod("u1"), Reason::Started, "Started container web"),
            key("ns", &pod("u2"), Reason::Started, "Started container web"),
            key("ns", &pod("u1"), Reason::Created, "Started container web"),
            key("ns", &pod("u1"), Reason::Started, "Started container db"),
        ] {
            assert_ne!(k, other);
        }
    }
}
