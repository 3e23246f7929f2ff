//! The object store: a trait the REST layer talks to, with two backends: the
//! embedded log (the default) and etcd. Objects are written as JSON values
//! and kept as their encoded bytes (`Stored`); the store owns
//! `metadata.resourceVersion` (one global, monotonically increasing counter:
//! the log's own, or etcd's revision).

pub mod backend;
pub mod etcd;
pub mod log;
pub mod memory;
pub mod stored;

pub use backend::{open, Backend};
pub use etcd::EtcdStore;
pub use log::LogStore;
pub use stored::{object_rv, Stored};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::broadcast;

/// An immutable stored object, shared between lists, watchers and history.
pub type Obj = Arc<Stored>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "ADDED")]
    Added,
    #[serde(rename = "MODIFIED")]
    Modified,
    #[serde(rename = "DELETED")]
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change. `prev` is the object before a modification, so a watcher with a
/// selector can turn "stopped matching" into DELETED as the real server does.
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub etype: EventType,
    pub resource: Arc<str>,
    pub namespace: String,
    pub object: Obj,
    pub prev: Option<Obj>,
}

#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error("resourceVersion conflict (current {current})")]
    Conflict { current: u64 },
    #[error("too old resource version: {requested} ({oldest})")]
    TooOld { requested: u64, oldest: u64 },
    #[error("store I/O: {0:#}")]
    Io(#[from] anyhow::Error),
    /// The backend cannot be reached (etcd down or without quorum): the
    /// client may retry; the message names the backend.
    #[error("{0}")]
    Unavailable(String),
}

/// What a watch starts with: the events after the requested resourceVersion
/// that are still in the history window, then the live feed.
pub struct WatchStart {
    pub backlog: Vec<Event>,
    pub live: broadcast::Receiver<Event>,
}

/// A consistent snapshot for "list then watch from now".
pub struct ListWatch {
    pub items: Vec<Obj>,
    pub rv: u64,
    pub live: broadcast::Receiver<Event>,
}

/// `resource` is the resource key (e.g. "pods", "apps/deployments"); `ns` is
/// "" for cluster-scoped objects.
pub trait Store: Send + Sync + 'static {
    fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Obj>;
    /// Objects of a resource (all namespaces when `ns` is None) and the current revision.
    fn list(&self, resource: &str, ns: Option<&str>) -> (Vec<Obj>, u64);
    fn create(&self, resource: &str, ns: &str, name: &str, obj: Value) -> Result<Obj, StoreError>;
    /// Replace; `expected_rv` (when given) must equal the stored object's revision.
    fn update(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        obj: Value,
        expected_rv: Option<u64>,
    ) -> Result<Obj, StoreError>;
    fn delete(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Obj, StoreError>;
    /// Events of `resource` with revision > `since`, then live ones.
    fn watch(&self, resource: &str, since: u64) -> Result<WatchStart, StoreError>;
    /// Current objects and the live feed from exactly that point.
    fn list_watch(&self, resource: &str, ns: Option<&str>) -> ListWatch;
    fn current_rv(&self) -> u64;
}
