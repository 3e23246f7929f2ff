//! A server on 127.0.0.1 with a random port and a temp data dir, and the
//! machine's kubectl pointed at it.
#![allow(dead_code)]

pub mod etcd;
pub mod text;

use labyrinth_apiserver::server::{self, Config, Running};
use labyrinth_apiserver::store::Backend;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const KUBECTL: &str = "/usr/bin/kubectl";

pub struct TestServer {
    pub rt: tokio::runtime::Runtime,
    pub running: Option<Running>,
    pub home: tempfile::TempDir,
}

pub fn config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        advertise: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        service_cidr: "10.96.0.0/12".parse().unwrap(),
        cluster_domain: "cluster.local".into(),
    }
}

impl TestServer {
    pub fn start(dir: &Path) -> Self {
        Self::start_at(dir, "127.0.0.1:0")
    }
    /// On a given address (a restart keeps the port clients know).
    pub fn start_at(dir: &Path, addr: &str) -> Self {
        Self::start_with(dir, addr, Backend::Embedded)
    }
    /// On a given store backend.
    pub fn start_with(dir: &Path, addr: &str, backend: Backend) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut cfg = config(dir);
        cfg.listen = addr.parse().unwrap();
        cfg.advertise = cfg.listen;
        let running = rt
            .block_on(server::start_with(cfg, backend))
            .expect("server starts");
        Self {
            rt,
            running: Some(running),
            home: tempfile::tempdir().unwrap(),
        }
    }
    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.running().admin_kubeconfig.clone()
    }
    pub fn cmd(&self, kc: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(KUBECTL);
        c.env("HOME", self.home.path()).env("KUBECONFIG", kc).args(args);
        c
    }
    /// Run kubectl; returns (success, stdout, stderr).
    pub fn kubectl_with(&self, kc: &Path, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(kc, args).output().expect("kubectl runs");
        let r = (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        eprintln!("$ kubectl {}\n{}{}", args.join(" "), r.1, r.2);
        r
    }
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        self.kubectl_with(&self.kubeconfig(), args)
    }
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(ok, "kubectl {args:?} failed: {err}");
        out
    }
    /// `kubectl apply -f` of an inline manifest.
    pub fn apply(&self, yaml: &str, extra: &[&str]) -> String {
        let f = self.home.path().join(format!("m{}.yaml", rand_suffix()));
        std::fs::write(&f, yaml).unwrap();
        let mut args = vec!["apply", "-f", f.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.ok(&args)
    }
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown();
        }
    }
}

/// One raw HTTPS request as the admin: (status code, JSON body).
pub fn call(
    s: &TestServer,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    use labyrinth_apiserver::auth::client::{request, Trust};
    let pem = std::fs::read_to_string(s.kubeconfig().parent().unwrap().join("pki/ca.crt")).unwrap();
    let ca = Trust::Ca(labyrinth_apiserver::tls::pem_to_der(&pem).unwrap());
    let tok = s.running().state.admin_token.clone();
    let addr = s.running().addr.to_string();
    s.rt.block_on(request(&addr, &ca, method, path, Some(&tok), body))
        .unwrap()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub const NODES: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-0
  labels: {node-role.kubernetes.io/control-plane: ""}
---
apiVersion: v1
kind: Node
metadata:
  name: node-1
"#;

/// kubectl's arguments for a merge patch of an object's status.
pub fn status_patch<'a>(kind: &'a str, name: &'a str, patch: &'a str) -> [&'a str; 7] {
    [
        "patch",
        kind,
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
    ]
}

pub fn ready_status(ip: &str) -> String {
    format!(
        r#"{{"status":{{"conditions":[{{"type":"Ready","status":"True","reason":"KubeletReady","message":"ok"}}],
        "addresses":[{{"type":"InternalIP","address":"{ip}"}},{{"type":"Hostname","address":"x"}}],
        "nodeInfo":{{"kubeletVersion":"v1.33.0","osImage":"Labyrinth","kernelVersion":"6.1","containerRuntimeVersion":"labyrinth://0.1",
        "machineID":"","systemUUID":"","bootID":"","kubeProxyVersion":"","operatingSystem":"linux","architecture":"amd64"}}}}}}"#
    )
}

/// A kube-rs client from a kubeconfig file.
pub async fn kube_client(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

/// A two-thread runtime for a test's client side.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The names of a list's items, in the order served.
pub fn item_names(list: &serde_json::Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}
