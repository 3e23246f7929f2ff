//! What the controller tests share: a bounded poll.
#![allow(dead_code)]

use std::time::Duration;

/// Poll `probe` every 200 ms until it gives a value; fail after 90 s.
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..450 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("gave up waiting for {what}");
}

/// Labyrinth's API server in-process on 127.0.0.1 (its data in `dir`) and
/// an admin client of it.
pub async fn server(dir: &std::path::Path) -> (labyrinth_apiserver::server::Running, kube::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let running = labyrinth_apiserver::server::start(labyrinth_apiserver::server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        advertise: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        service_cidr: "10.96.0.0/12".parse().unwrap(),
        cluster_domain: "cluster.local".into(),
    })
    .await
    .expect("API server starts");
    let client = labyrinth_controllers::client(Some(&running.admin_kubeconfig), None)
        .await
        .expect("client from admin kubeconfig");
    (running, client)
}

/// The machine's kubectl with `kc`; its stdout, failing the test on error.
pub fn kubectl(kc: &std::path::Path, home: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("/usr/bin/kubectl")
        .env("HOME", home)
        .env("KUBECONFIG", kc)
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
