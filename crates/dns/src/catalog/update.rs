//! The object store behind the catalog. Each watch event re-derives the
//! records of only the object it touches (a Service together with its
//! EndpointSlices, or one Pod); publishing then recompiles the snapshot from
//! the cached records, once per batch of events.

use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::build::{pod_records, service_records, slice_owner};
use super::compile::{compile, ZoneConfig};
use super::record::Rec;
use super::snapshot::Snapshot;

/// Namespace and name.
pub type Key = (String, String);

/// A Kubernetes object the catalog is built from.
#[derive(Debug, Clone)]
pub enum Object {
    Service(Box<Service>),
    Slice(Box<EndpointSlice>),
    Pod(Box<Pod>),
}

/// The kinds of [`Object`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Service,
    Slice,
    Pod,
}

/// One change from the API (or a records file).
#[derive(Debug, Clone)]
pub enum Change {
    Apply(Object),
    Delete(Kind, Key),
    /// A full re-list of one kind (after a watch restart).
    Reset(Kind, Vec<Object>),
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Key {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Drops metadata the catalog never reads (managedFields and annotations
/// are often most of an object's size) before storing it.
fn strip(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
    meta.managed_fields = None;
    meta.annotations = None;
    meta.owner_references = None;
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Service(_) => Kind::Service,
            Object::Slice(_) => Kind::Slice,
            Object::Pod(_) => Kind::Pod,
        }
    }
    pub fn key(&self) -> Key {
        match self {
            Object::Service(o) => key_of(&o.metadata),
            Object::Slice(o) => key_of(&o.metadata),
            Object::Pod(o) => key_of(&o.metadata),
        }
    }
}

/// Objects and the records derived from them.
#[derive(Debug)]
pub struct Store {
    cfg: ZoneConfig,
    services: HashMap<Key, Service>,
    slices: HashMap<Key, EndpointSlice>,
    slice_owner: HashMap<Key, Key>,
    slices_of: HashMap<Key, BTreeSet<Key>>,
    svc_recs: HashMap<Key, Vec<Rec>>,
    pod_recs: HashMap<Key, Vec<Rec>>,
    serial: u32,
    /// Records changed since the last [`Store::take_changed`]: most Pod
    /// events (created, scheduled) change no record, and compiling the
    /// catalog for them would be wasted work in a burst.
    changed: bool,
}

impl Store {
    pub fn new(cfg: ZoneConfig) -> Self {
        Store {
            cfg,
            services: HashMap::new(),
            slices: HashMap::new(),
            slice_owner: HashMap::new(),
            slices_of: HashMap::new(),
            svc_recs: HashMap::new(),
            pod_recs: HashMap::new(),
            serial: 0,
            changed: true,
        }
    }

    pub fn config(&self) -> &ZoneConfig {
        &self.cfg
    }

    /// Whether any record changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Applies one change, re-deriving only the affected records.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::Apply(obj) => self.upsert(obj),
            Change::Delete(kind, key) => self.delete(kind, &key),
            Change::Reset(kind, objs) => {
                let old: Vec<Key> = match kind {
                    Kind::Service => self.services.keys().cloned().collect(),
                    Kind::Slice => self.slices.keys().cloned().collect(),
                    Kind::Pod => self.pod_recs.keys().cloned().collect(),
                };
                let fresh: BTreeSet<Key> = objs.iter().map(Object::key).collect();
                for k in old.into_iter().filter(|k| !fresh.contains(k)) {
                    self.delete(kind, &k);
                }
                for o in objs.into_iter().filter(|o| o.kind() == kind) {
                    self.upsert(o);
                }
            }
        }
    }

    fn upsert(&mut self, obj: Object) {
        let key = obj.key();
        match obj {
            Object::Service(mut svc) => {
                self.changed = true;
                strip(&mut svc.metadata);
                self.services.insert(key.clone(), *svc);
                self.rederive_service(&key);
            }
            Object::Slice(mut slice) => {
                self.changed = true;
                strip(&mut slice.metadata);
                let owner = slice_owner(&slice);
                let old = self.detach_slice(&key);
                if let Some(o) = &owner {
                    self.slice_owner.insert(key.clone(), o.clone());
                    self.slices_of.entry(o.clone()).or_default().insert(key.clone());
                }
                self.slices.insert(key, *slice);
                for svc in old.into_iter().chain(owner) {
                    self.rederive_service(&svc);
                }
            }
            Object::Pod(pod) => {
                let recs = pod_records(&pod, &self.cfg.domain);
                if self.pod_recs.get(&key).map_or(&[][..], Vec::as_slice) == recs.as_slice() {
                    return;
                }
                if recs.is_empty() {
                    self.pod_recs.remove(&key);
                } else {
                    self.pod_recs.insert(key, recs);
                }
                self.changed = true;
            }
        }
    }

    fn delete(&mut self, kind: Kind, key: &Key) {
        match kind {
            Kind::Service => {
                self.changed = true;
                self.services.remove(key);
                self.svc_recs.remove(key);
            }
            Kind::Slice => {
                self.changed = true;
                self.slices.remove(key);
                if let Some(svc) = self.detach_slice(key) {
                    self.rederive_service(&svc);
                }
            }
            Kind::Pod => {
                self.changed |= self.pod_recs.remove(key).is_some();
            }
        }
    }

    fn detach_slice(&mut self, slice: &Key) -> Option<Key> {
        let owner = self.slice_owner.remove(slice)?;
        if let Some(set) = self.slices_of.get_mut(&owner) {
            set.remove(slice);
            if set.is_empty() {
                self.slices_of.remove(&owner);
            }
        }
        Some(owner)
    }

    fn rederive_service(&mut self, key: &Key) {
        let Some(svc) = self.services.get(key) else {
            self.svc_recs.remove(key);
            return;
        };
        let slices: Vec<&EndpointSlice> = self
            .slices_of
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|k| self.slices.get(k))
            .collect();
        let recs = service_records(svc, &slices, &self.cfg.domain);
        self.svc_recs.insert(key.clone(), recs);
    }

    /// Number of Services known.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Compiles the current records into a new snapshot with a serial
    /// greater than every earlier one.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
        self.serial = now.max(self.serial.wrapping_add(1));
        let recs = self.svc_recs.values().chain(self.pod_recs.values()).flatten();
        compile(recs, &self.cfg, self.serial)
    }
}
