//! The components' API client (`contracts::api_client`) against our API
//! server: it negotiates HTTP/2, and a watch with twenty requests in flight
//! beside it share one TCP connection (kube's own builder opened a
//! connection per request in flight and kept each for 90 s).

mod common;
use common::TestServer;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::json;

/// Established connections to the server at `port` on loopback, counted
/// by their client ends (remote port `port`). Not by the server's ends: the
/// listener (127.0.0.1, port 0) can be given a port that another process's
/// connection already uses as its local port on another address (the
/// host's own, to elsewhere; the two do not conflict), and the table lists
/// that socket with the same local port (CI81 counted 2 once).
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/self/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let remote_port = f[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            remote_port == Some(port) && f[3] == "01"
        })
        .count()
}

async fn components_client(s: &TestServer) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(s.kubeconfig()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    labyrinth_contracts::api_client::client(cfg).unwrap()
}

#[test]
fn the_components_client_multiplexes_over_one_http2_connection() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let port = s.running().addr.port();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = components_client(&s).await;
        let req = hyper::Request::get("/api/v1/namespaces/default/configmaps")
            .body(Vec::new())
            .unwrap();
        let res = client.send(req.map(Into::into)).await.unwrap();
        assert_eq!(
            res.version(),
            hyper::Version::HTTP_2,
            "negotiated {:?}",
            res.version()
        );

        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let mut watch = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
        // The watch's initial list is done: its stream is open.
        while !matches!(watch.next().await, Some(Ok(watcher::Event::InitDone))) {}
        let creates = (0..20).map(|i| {
            let api = api.clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("c{i}")}, "data": {"v": "1"}
                }))
                .unwrap();
                api.create(&PostParams::default(), &cm).await.unwrap();
            }
        });
        futures::future::join_all(creates).await;
        // Every create comes back on the watch.
        let mut seen = std::collections::HashSet::new();
        while seen.len() < 20 {
            let ev = tokio::time::timeout(std::time::Duration::from_secs(30), watch.next())
                .await
                .expect("the watch delivers the creates")
                .unwrap()
                .unwrap();
            if let watcher::Event::Apply(cm) = ev {
                seen.insert(cm.metadata.name.unwrap());
            }
        }
        assert_eq!(
            connections_to(port),
            1,
            "one connection carries the watch and the 20 creates"
        );
    });
}
