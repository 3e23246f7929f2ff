//! One watch per kind, shared: a reflector keeps the cache that every
//! controller reads, and each object it sees is fanned out to the
//! controllers that subscribed (as trigger streams) and to batch loops (as
//! wake-ups). This keeps the API server's load at one watch per kind however
//! many controllers look at it.

use std::fmt::Debug;
use std::sync::Arc;

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

pub struct Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    api: Api<K>,
    store: Store<K>,
    writer: reflector::store::Writer<K>,
    subscribers: Vec<mpsc::UnboundedSender<K>>,
    wakers: Vec<Arc<Notify>>,
}

impl<K> Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    pub fn new(api: Api<K>) -> Self {
        let (store, writer) = reflector::store();
        Informer {
            api,
            store,
            writer,
            subscribers: Vec::new(),
            wakers: Vec::new(),
        }
    }

    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// A trigger stream of every object the watch touches (added, modified,
    /// deleted, and all of them again after a re-list).
    pub fn subscribe(&mut self) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded();
        self.subscribers.push(tx);
        rx.map(Ok)
    }

    /// A Notify poked on every change, for loops that recompute in batches.
    pub fn waker(&mut self) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        self.wakers.push(n.clone());
        n
    }

    /// Starts the watch; the store fills and subscribers get objects from
    /// here on. Errors (a dropped connection, a 410 Gone) are logged and the
    /// watcher re-lists with backoff.
    pub fn start(self) -> tokio::task::JoinHandle<()> {
        let kind = K::kind(&()).into_owned();
        let Informer {
            api,
            writer,
            mut subscribers,
            wakers,
            ..
        } = self;
        tokio::spawn(async move {
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .reflect(writer)
                .touched_objects();
            futures::pin_mut!(stream);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(obj) => {
                        subscribers.retain(|s| s.unbounded_send(obj.clone()).is_ok());
                        for w in &wakers {
                            w.notify_one();
                        }
                    }
                    Err(e) => tracing::warn!(kind = %kind, error = %e, "watch failed, retrying"),
                }
            }
        })
    }
}

/// Wait until a store has had its first list, re-polling: several tasks wait
/// on the same shared store, and a single long wait was seen to miss its
/// wake-up (the scheduler or node IPAM then never started).
pub async fn ready<K>(store: &Store<K>) -> bool
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        match tokio::time::timeout(std::time::Duration::from_millis(250), store.wait_until_ready()).await {
            Ok(r) => return r.is_ok(),
            Err(_) => continue,
        }
    }
}

/// Between two rounds of a batch controller: the next change, or a short
/// wait while some object waits for the cache (`waiting`), else a long one.
pub async fn next_round(changes: &Notify, waiting: bool) {
    let idle = if waiting {
        std::time::Duration::from_millis(500)
    } else {
        std::time::Duration::from_secs(30)
    };
    tokio::select! {
        _ = changes.notified() => {}
        _ = tokio::time::sleep(idle) => {}
    }
}
