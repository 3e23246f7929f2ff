//! The etcd backend: objects as JSON under kube-apiserver's key layout,
//! resourceVersion = etcd's modification revision, writes as transactions
//! that compare revisions, reads and watches served by a watch cache.
//!
//! The Store trait is synchronous (the embedded store answers from memory
//! under a lock); this backend runs its etcd traffic on a runtime of its
//! own and the calling thread waits for the answer, so it works the same
//! from any caller, async or not, and the watch feed never competes with
//! request handlers for a worker.

pub mod cache;
pub mod client;
pub mod keys;
pub mod members;

use super::{ListWatch, Obj, Store, StoreError, Stored, WatchStart};
use anyhow::Context;
use cache::Cache;
use client::{Client, EtcdError};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long the first list may take before the server gives up starting.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a write waits for the cache to show it (read-your-writes).
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(5);
/// The compaction check of a watch from an old revision is best effort.
const COMPACTION_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub struct EtcdStore {
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    client: Arc<Client>,
    cache: Arc<Cache>,
}

impl EtcdStore {
    /// Connect to `endpoints` (http://host:port, as --etcd-servers) and load
    /// the cache; fails naming etcd when no member answers in time.
    pub fn connect(endpoints: &[String]) -> anyhow::Result<Self> {
        let client = Arc::new(Client::new(endpoints)?);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("etcd-store")
            .enable_all()
            .build()
            .context("starting the etcd store's runtime")?;
        let cache = Arc::new(Cache::default());
        rt.spawn(cache.clone().feed(client.clone()));
        let store = Self {
            handle: rt.handle().clone(),
            rt: Some(rt),
            client,
            cache,
        };
        let wait = store.cache.clone();
        block_here(move || wait.wait_listed(STARTUP_TIMEOUT)).map_err(|why| {
            anyhow::anyhow!(
                "etcd at {} did not answer within {} s: {why}",
                store.client.endpoints(),
                STARTUP_TIMEOUT.as_secs()
            )
        })?;
        Ok(store)
    }

    /// Run `fut` on the store's runtime and wait for it here.
    fn run<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        block_here(move || rx.recv()).map_err(|_| {
            StoreError::Unavailable(format!("etcd at {}: store stopped", self.client.endpoints()))
        })
    }

    fn unavailable(&self, e: EtcdError) -> StoreError {
        match e {
            EtcdError::Unreachable(_) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Io(anyhow::anyhow!(other.to_string())),
        }
    }

    /// A transaction on one key, run on the store's runtime.
    fn txn(
        &self,
        compare: Vec<Value>,
        success: Vec<Value>,
        failure: Vec<Value>,
    ) -> Result<(bool, u64, Value), StoreError> {
        let c = self.client.clone();
        self.run(async move { c.txn(compare, success, failure).await })?
            .map_err(|e| self.unavailable(e))
    }

    /// Wait until the cache holds `rev`, so a read after this write sees it.
    fn settle(&self, rev: u64) {
        let cache = self.cache.clone();
        if !block_here(move || cache.wait_for(rev, VISIBLE_TIMEOUT)) {
            tracing::warn!(rev, "etcd write committed but not yet seen by the watch cache");
        }
    }

    /// Why a conditional write failed, from the key's current state read in
    /// the same transaction.
    fn refused(responses: &Value, expected_rv: Option<u64>) -> StoreError {
        let kv = responses[0]["response_range"]["kvs"][0].clone();
        match client::decode_kv(&kv) {
            None => StoreError::NotFound,
            Some(kv) if expected_rv.is_some() => StoreError::Conflict {
                current: kv.mod_revision,
            },
            Some(_) => StoreError::NotFound,
        }
    }

    fn write(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        obj: Value,
        create: bool,
        expected_rv: Option<u64>,
    ) -> Result<Obj, StoreError> {
        let key = keys::key(resource, ns, name);
        let mut obj = obj;
        // etcd holds the revision; the stored bytes do not (as kube-apiserver).
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let bytes = serde_json::to_vec(&obj)
            .context("encoding the object")
            .map_err(StoreError::Io)?;
        let cond = match (create, expected_rv) {
            (true, _) => client::compare(&key, "CREATE", "EQUAL", 0),
            (false, Some(rv)) => client::compare(&key, "MOD", "EQUAL", rv),
            (false, None) => client::compare(&key, "CREATE", "GREATER", 0),
        };
        let (ok, rev, responses) = self.txn(
            vec![cond],
            vec![client::put_op(&key, &bytes)],
            vec![client::get_op(&key)],
        )?;
        if !ok {
            return Err(if create {
                StoreError::AlreadyExists
            } else {
                Self::refused(&responses, expected_rv)
            });
        }
        self.settle(rev);
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), Value::String(rev.to_string()));
        }
        Ok(self.held(resource, ns, name, rev, &obj))
    }

    /// The object the watch cache holds for this write (the same bytes a
    /// later get or list serves), or one encoded here when the cache has
    /// already moved past it.
    fn held(&self, resource: &str, ns: &str, name: &str, rev: u64, obj: &Value) -> Obj {
        self.cache
            .get(resource, ns, name)
            .filter(|o| o.rv() == rev)
            .unwrap_or_else(|| Arc::new(Stored::new(obj)))
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which a caller inside another runtime
        // may not do; let its threads wind down on their own.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Block the calling thread on `f`; inside a multi-threaded tokio runtime
/// tell it first, so its other tasks move to another worker meanwhile.
fn block_here<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl Store for EtcdStore {
    fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Obj> {
        self.cache.get(resource, ns, name)
    }

    fn list(&self, resource: &str, ns: Option<&str>) -> (Vec<Obj>, u64) {
        self.cache.list(resource, ns)
    }

    fn create(&self, resource: &str, ns: &str, name: &str, obj: Value) -> Result<Obj, StoreError> {
        self.write(resource, ns, name, obj, true, None)
    }

    fn update(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        obj: Value,
        expected_rv: Option<u64>,
    ) -> Result<Obj, StoreError> {
        self.write(resource, ns, name, obj, false, expected_rv)
    }

    fn delete(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Obj, StoreError> {
        let key = keys::key(resource, ns, name);
        let cond = match expected_rv {
            Some(rv) => client::compare(&key, "MOD", "EQUAL", rv),
            None => client::compare(&key, "CREATE", "GREATER", 0),
        };
        let (ok, rev, responses) = self.txn(
            vec![cond],
            vec![client::delete_op(&key)],
            vec![client::get_op(&key)],
        )?;
        if !ok {
            return Err(Self::refused(&responses, expected_rv));
        }
        let prev = client::decode_kv(&responses[0]["response_delete_range"]["prev_kvs"][0])
            .ok_or(StoreError::NotFound)?;
        let mut obj: Value = serde_json::from_slice(&prev.value)
            .context("decoding the deleted object")
            .map_err(StoreError::Io)?;
        self.settle(rev);
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), Value::String(rev.to_string()));
        }
        Ok(Arc::new(Stored::new(&obj)))
    }

    fn watch(&self, resource: &str, since: u64) -> Result<WatchStart, StoreError> {
        let now = self.cache.rv();
        if since > 0 && since < now {
            // The cache may still hold events etcd has compacted; a client
            // that far behind gets 410 as it would from etcd. When etcd does
            // not answer, the cache serves what it holds.
            let c = self.client.clone();
            let prefix = keys::prefix(resource, None);
            let check = self.run(async move {
                let end = keys::range_end(&prefix);
                c.range(&prefix, Some(&end), since + 1, 1, COMPACTION_CHECK_TIMEOUT)
                    .await
            })?;
            if let Err(EtcdError::Compacted { .. }) = check {
                return Err(StoreError::TooOld {
                    requested: since,
                    oldest: now,
                });
            }
        }
        self.cache.watch(resource, since)
    }

    fn list_watch(&self, resource: &str, ns: Option<&str>) -> ListWatch {
        self.cache.list_watch(resource, ns)
    }

    fn current_rv(&self) -> u64 {
        self.cache.rv()
    }
}
