//! One watch per kind, shared: a reflector keeps the cache that every
//! controller reads, and each object it sees is fanned out to the
//! controllers that subscribed (as trigger streams) and to batch loops (as
//! wake-ups). This keeps the API server's load at one watch per kind however
//! many controllers look at it.

use std::cell::Cell;
use std::fmt::Debug;
use std::sync::Arc;

use futures::channel::mpsc;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{PartialObjectMeta, PartialObjectMetaExt};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

pub struct Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    /// The watch, made when the informer starts.
    source: Source<K>,
    store: Store<K>,
    writer: reflector::store::Writer<K>,
    subscribers: Vec<mpsc::UnboundedSender<K>>,
    /// Those that read only metadata (`subscribe_meta`).
    meta_subscribers: Vec<mpsc::UnboundedSender<PartialObjectMeta<K>>>,
    wakers: Vec<Waker<K>>,
    /// Whether any controller took the store, a stream or a wake-up: a
    /// process that runs only some controllers (the scheduler's has one)
    /// watches only the kinds they read. Each unread watch still cost its
    /// events' decoding, and the API server their sending: the scheduler
    /// decoded every Deployment and ReplicaSet status write of a burst.
    used: Cell<bool>,
}

/// Makes the watch's stream of events.
type Source<K> = Box<dyn FnOnce() -> BoxStream<'static, Result<watcher::Event<K>, watcher::Error>> + Send>;

/// A batch loop's wake-up, poked for the objects `only` accepts (`None`:
/// every object).
struct Waker<K> {
    notify: Arc<Notify>,
    only: Option<fn(&K) -> bool>,
}

impl<K> Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    pub fn new(api: Api<K>) -> Self {
        Self::from_source(Box::new(move || watcher(api, watcher::Config::default()).boxed()))
    }

    /// The kind decoded as `D`, a slim decoding that builds only the fields
    /// its readers use, and kept as `K` (the scheduler's `PodToPlace`).
    pub fn decoded_as<D>(api: Api<D>) -> Self
    where
        D: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
        K: From<D>,
    {
        Self::from_source(Box::new(move || {
            watcher(api, watcher::Config::default())
                .map_ok(|e| match e {
                    watcher::Event::Apply(o) => watcher::Event::Apply(K::from(o)),
                    watcher::Event::Delete(o) => watcher::Event::Delete(K::from(o)),
                    watcher::Event::Init => watcher::Event::Init,
                    watcher::Event::InitApply(o) => watcher::Event::InitApply(K::from(o)),
                    watcher::Event::InitDone => watcher::Event::InitDone,
                })
                .boxed()
        }))
    }

    fn from_source(source: Source<K>) -> Self {
        let (store, writer) = reflector::store();
        Informer {
            source,
            store,
            writer,
            subscribers: Vec::new(),
            meta_subscribers: Vec::new(),
            wakers: Vec::new(),
            used: Cell::new(false),
        }
    }

    pub fn store(&self) -> Store<K> {
        self.used.set(true);
        self.store.clone()
    }

    /// A trigger stream of every object the watch touches (added, modified,
    /// deleted, and all of them again after a re-list).
    pub fn subscribe(&mut self) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        self.used.set(true);
        let (tx, rx) = mpsc::unbounded();
        self.subscribers.push(tx);
        rx.map(Ok)
    }

    /// A trigger stream of the same objects' metadata, without
    /// managedFields: for a controller that maps an object to the ones it
    /// reconciles by its owners, name or labels (the ReplicaSet and
    /// EndpointSlice controllers on pods). A whole Pod's copy per
    /// subscriber was ~140 allocations per pod event, ~500 pod events in a
    /// 100-pod burst.
    pub fn subscribe_meta(
        &mut self,
    ) -> impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static {
        self.used.set(true);
        let (tx, rx) = mpsc::unbounded();
        self.meta_subscribers.push(tx);
        rx.map(Ok)
    }

    /// A Notify poked on every change, for loops that recompute in batches.
    pub fn waker(&mut self) -> Arc<Notify> {
        self.used.set(true);
        let n = Arc::new(Notify::new());
        self.wakers.push(Waker {
            notify: n.clone(),
            only: None,
        });
        n
    }

    /// A Notify poked only when an object for which `only` holds changes
    /// (added, modified, deleted): a loop that reads a few of a kind's
    /// objects (a DaemonSet's own pods) is not woken, and does not walk
    /// every DaemonSet, for each status change of a Deployment's pods.
    pub fn waker_for(&mut self, only: fn(&K) -> bool) -> Arc<Notify> {
        self.used.set(true);
        let n = Arc::new(Notify::new());
        self.wakers.push(Waker {
            notify: n.clone(),
            only: Some(only),
        });
        n
    }

    /// Starts the watch if a controller reads it (see `used`); the store
    /// fills and subscribers get objects from here on. Errors (a dropped
    /// connection, a 410 Gone) are logged and the watcher re-lists with
    /// backoff.
    pub fn start(self) -> Option<tokio::task::JoinHandle<()>> {
        if !self.used.get() {
            tracing::debug!(kind = %K::kind(&()), "no controller here reads this kind: not watched");
            return None;
        }
        let kind = K::kind(&()).into_owned();
        let Informer {
            source,
            writer,
            mut subscribers,
            mut meta_subscribers,
            wakers,
            ..
        } = self;
        Some(tokio::spawn(async move {
            let stream = source().default_backoff().reflect(writer).touched_objects();
            futures::pin_mut!(stream);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(obj) => {
                        subscribers.retain(|s| s.unbounded_send(obj.clone()).is_ok());
                        if !meta_subscribers.is_empty() {
                            let meta = meta_of(&obj);
                            meta_subscribers.retain(|s| s.unbounded_send(meta.clone()).is_ok());
                        }
                        for w in &wakers {
                            if w.only.is_none_or(|f| f(&obj)) {
                                w.notify.notify_one();
                            }
                        }
                    }
                    Err(e) => tracing::warn!(kind = %kind, error = %e, "watch failed, retrying"),
                }
            }
        }))
    }
}

/// An object's metadata as a PartialObjectMeta, every field but
/// managedFields (the largest part, which no controller reads).
pub fn meta_of<K: Resource<DynamicType = ()>>(obj: &K) -> PartialObjectMeta<K> {
    let m = obj.meta();
    ObjectMeta {
        annotations: m.annotations.clone(),
        creation_timestamp: m.creation_timestamp.clone(),
        deletion_grace_period_seconds: m.deletion_grace_period_seconds,
        deletion_timestamp: m.deletion_timestamp.clone(),
        finalizers: m.finalizers.clone(),
        generate_name: m.generate_name.clone(),
        generation: m.generation,
        labels: m.labels.clone(),
        managed_fields: None,
        name: m.name.clone(),
        namespace: m.namespace.clone(),
        owner_references: m.owner_references.clone(),
        resource_version: m.resource_version.clone(),
        self_link: m.self_link.clone(),
        uid: m.uid.clone(),
    }
    .into_response_partial()
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::PostParams;
    use std::time::Duration;

    /// A subscriber of metadata gets every field but managedFields, as the
    /// kind's own Resource (owners and labels are what it maps by).
    #[test]
    fn metadata_is_copied_without_managed_fields() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "n", "uid": "u1", "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                    "uid": "u0", "controller": true}],
                "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}]},
            "spec": {"containers": [{"name": "c", "image": "pause"}]}
        }))
        .unwrap();
        let m = meta_of(&p);
        assert_eq!(m.metadata.managed_fields, None);
        let mut want = p.metadata.clone();
        want.managed_fields = None;
        assert_eq!(m.metadata, want);
        // Owners are matched to the kind as a Resource, the Pod's.
        assert_eq!(<PartialObjectMeta<Pod> as Resource>::kind(&()), "Pod");
    }

    /// An informer no controller took anything from is not started (no
    /// watch, no decoding); each way of reading from one starts it.
    #[tokio::test]
    async fn only_a_kind_a_controller_reads_is_watched() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // No server: nothing is sent before a watch starts, and each one
        // started is stopped at once.
        let config = kube::Config::new("https://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let informer = || Informer::new(Api::<Pod>::all(client.clone()));

        assert!(
            informer().start().is_none(),
            "nobody reads it, yet it was watched"
        );
        type Read = fn(&mut Informer<Pod>);
        let ways: [(&str, Read); 5] = [
            ("store", |i| drop(i.store())),
            ("subscribe", |i| drop(i.subscribe())),
            ("subscribe_meta", |i| drop(i.subscribe_meta())),
            ("waker", |i| drop(i.waker())),
            ("waker_for", |i| drop(i.waker_for(|_| true))),
        ];
        for (way, read) in ways {
            let mut i = informer();
            read(&mut i);
            let watch = i.start();
            assert!(watch.is_some(), "read by {way}, yet not watched");
            watch.unwrap().abort();
        }
    }

    fn pod(name: &str, owner: Option<&str>) -> Pod {
        let owners = owner.map(|kind| {
            serde_json::json!([{"apiVersion": "apps/v1", "kind": kind, "name": "x",
                "uid": "11111111-2222-3333-4444-555555555555", "controller": true}])
        });
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "ownerReferences": owners},
            "spec": {"containers": [{"name": "c", "image": "pause"}]}
        }))
        .unwrap()
    }

    /// A filtered waker is poked for the objects it names and for no other,
    /// against the real API server's watch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_filtered_waker_wakes_only_for_its_objects() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let running = labyrinth_apiserver::server::start(labyrinth_apiserver::server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            advertise: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            service_cidr: "10.96.0.0/12".parse().unwrap(),
            cluster_domain: "cluster.local".into(),
        })
        .await
        .unwrap();
        let client = crate::client(Some(&running.admin_kubeconfig), None)
            .await
            .unwrap();
        let api: Api<Pod> = Api::namespaced(client, "default");
        let mut informer = Informer::new(api.clone());
        let every = informer.waker();
        let daemon =
            informer.waker_for(|p| crate::podutil::controller_uid(&p.metadata, "DaemonSet").is_some());
        informer.start();
        let within = |n: &Arc<Notify>| {
            let n = n.clone();
            async move {
                tokio::time::timeout(Duration::from_secs(30), n.notified())
                    .await
                    .is_ok()
            }
        };

        api.create(&PostParams::default(), &pod("web", Some("ReplicaSet")))
            .await
            .unwrap();
        assert!(within(&every).await, "the plain waker sees the ReplicaSet's pod");
        // Both are poked in the same pass over one object: had the filtered
        // one been poked, its permit would be stored by now.
        assert!(
            daemon.notified().now_or_never().is_none(),
            "woken for a ReplicaSet's pod"
        );

        api.create(&PostParams::default(), &pod("agent", Some("DaemonSet")))
            .await
            .unwrap();
        assert!(
            within(&daemon).await,
            "the filtered waker sees the DaemonSet's pod"
        );
    }
}
