//! A kube-rs watcher sees every change in order, across a connection dropped
//! by a server restart in the middle of the watch: on the embedded store,
//! and on etcd (issue 20, acceptance 3), where the restarted server finds
//! the objects and revisions in etcd rather than in its data dir.

mod common;
use common::etcd::Etcd;
use common::TestServer;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::{self, Event};
use labyrinth_apiserver::store::Backend;
use serde_json::json;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

fn cm(name: &str, v: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")}, "data": {"v": v}})
}

/// (event kind, name, data.v) as the watcher reports it.
type Seen = (String, String, String);

#[test]
fn watcher_sees_every_change_in_order_across_a_dropped_connection() {
    across_a_dropped_connection(
        |dir, addr| TestServer::start_with(dir, addr, Backend::Embedded),
        kube_client,
    );
}

/// The same through the components' client, whose watches share one HTTP/2
/// connection: the restart ends that connection, and the watch resumes on
/// a new one.
#[test]
fn the_components_watcher_sees_every_change_in_order_across_a_dropped_connection() {
    across_a_dropped_connection(
        |dir, addr| TestServer::start_with(dir, addr, Backend::Embedded),
        |cfg| labyrinth_contracts::api_client::client(cfg).unwrap(),
    );
}

/// kube's own client (HTTP/1.1), as other programs use it.
fn kube_client(cfg: kube::Config) -> kube::Client {
    kube::Client::try_from(cfg).unwrap()
}

#[test]
fn watcher_on_etcd_sees_every_change_in_order_across_a_dropped_connection() {
    let Some(etcd) = Etcd::start("watcher_on_etcd_sees_every_change_in_order_across_a_dropped_connection")
    else {
        return;
    };
    across_a_dropped_connection(
        |dir, addr| {
            let servers = vec![etcd.url.clone()];
            TestServer::start_with(dir, addr, Backend::Etcd { servers })
        },
        kube_client,
    );
}

/// The watcher's run: a server made by `server(data dir, address)`, five
/// creates, the server dropped and made again on the same address and data
/// dir (its PKI and tokens), then creates, updates and a delete; the
/// watcher's client is made by `client`.
fn across_a_dropped_connection(
    server: impl Fn(&Path, &str) -> TestServer,
    client: fn(kube::Config) -> kube::Client,
) {
    let dir = tempfile::tempdir().unwrap();
    let s1 = server(dir.path(), "127.0.0.1:0");
    let addr = s1.running().addr.to_string();
    let kc_path = s1.kubeconfig();

    let (tx, rx) = mpsc::channel::<Seen>();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_w = stop.clone();
    let watcher_thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let kc = kube::config::Kubeconfig::read_from(&kc_path).unwrap();
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .unwrap();
            let client = client(cfg);
            let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "default");
            let mut w = watcher::watcher(api, watcher::Config::default()).boxed();
            // Bounded: the test ends the thread by dropping the receiver.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while tokio::time::Instant::now() < deadline && !stop_w.load(std::sync::atomic::Ordering::SeqCst)
            {
                let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), w.next()).await else {
                    continue;
                };
                let item = match ev {
                    Ok(Event::Apply(c)) | Ok(Event::InitApply(c)) => ("apply", c),
                    Ok(Event::Delete(c)) => ("delete", c),
                    _ => continue, // Init/InitDone and transient errors during the restart
                };
                let (kind, c) = item;
                let name = c.metadata.name.clone().unwrap_or_default();
                let v = c
                    .data
                    .as_ref()
                    .and_then(|d| d.get("v"))
                    .cloned()
                    .unwrap_or_default();
                if tx.send((kind.into(), name, v)).is_err() {
                    return;
                }
            }
        });
    });

    let wait_for = |rx: &mpsc::Receiver<Seen>, seen: &mut Vec<Seen>, want: &Seen| {
        while !seen.contains(want) {
            let ev = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("watcher keeps delivering");
            seen.push(ev);
        }
    };
    let mut seen = Vec::new();
    let store = s1.running().state.store.clone();
    for i in 0..5 {
        store
            .create(
                "configmaps",
                "default",
                &format!("c{i}"),
                cm(&format!("c{i}"), "1"),
            )
            .unwrap();
    }
    wait_for(&rx, &mut seen, &("apply".into(), "c4".into(), "1".into()));
    // Cut every connection: drop the whole server (its runtime and sockets).
    drop(store);
    drop(s1);

    let s2 = server(dir.path(), &addr);
    let store = s2.running().state.store.clone();
    for i in 5..10 {
        store
            .create(
                "configmaps",
                "default",
                &format!("c{i}"),
                cm(&format!("c{i}"), "1"),
            )
            .unwrap();
    }
    store
        .update("configmaps", "default", "c0", cm("c0", "2"), None)
        .unwrap();
    store.delete("configmaps", "default", "c1", None).unwrap();
    store
        .update("configmaps", "default", "c0", cm("c0", "3"), None)
        .unwrap();
    wait_for(&rx, &mut seen, &("apply".into(), "c0".into(), "3".into()));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(rx);
    watcher_thread.join().unwrap();

    // Every change after the restart arrived, in the order it was made.
    let after: Vec<&Seen> = seen.iter().skip_while(|e| e.1 != "c5").collect();
    let changes: Vec<(&str, &str, &str)> = after
        .iter()
        .map(|(k, n, v)| (k.as_str(), n.as_str(), v.as_str()))
        .collect();
    let want = [
        ("apply", "c5", "1"),
        ("apply", "c6", "1"),
        ("apply", "c7", "1"),
        ("apply", "c8", "1"),
        ("apply", "c9", "1"),
        ("apply", "c0", "2"),
        ("delete", "c1", "1"),
        ("apply", "c0", "3"),
    ];
    assert_eq!(changes, want, "all events: {seen:?}");
    for i in 0..5 {
        assert!(
            seen.iter().any(|e| e.1 == format!("c{i}")),
            "saw c{i} before the restart"
        );
    }
}
