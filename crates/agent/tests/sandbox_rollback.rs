//! A sandbox whose record cannot be saved after a successful CNI ADD is
//! undone completely: the plugins get their DEL, so IPAM holds no address
//! for it and no veth is left on the node.
//!
//! The failure is real: the record's path is taken by a directory, so the
//! rename that saves it fails. The reference ptp + host-local plugins do
//! the networking (host-local keeps one file per held address, which is
//! what the test reads). Everything runs in a fresh network and mount
//! namespace (the test re-runs itself under `unshare`), so the node side
//! of the veth, the named netns mount and the namespaces all go when the
//! child exits, also when it fails half-way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use labyrinth_agent::runtime::cni::CniConfig;
use labyrinth_agent::runtime::files::DnsConfig;
use labyrinth_agent::runtime::stages::Stages;
use labyrinth_agent::runtime::{pause, sandbox, PodRef, RuntimeConfig};
use labyrinth_contracts::sandbox::{pod_dir, record_path};

const TEST: &str = "a_failed_record_save_after_cni_add_releases_the_address";
const CHILD: &str = "LABYRINTH_ROLLBACK_CHILD";
const PLUGINS: &str = "/usr/lib/cni";
const NETWORK: &str = "rollback";

#[test]
fn a_failed_record_save_after_cni_add_releases_the_address() {
    if std::env::var_os(CHILD).is_some() {
        in_fresh_namespaces();
        return;
    }
    if !labyrinth_testkit::root::require(TEST) {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "--"])
        .arg(exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .output()
        .expect("running unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the test in fresh namespaces failed:\n{text}"
    );
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

/// Scratch space; removed on drop, also after a failed assertion.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &Path) -> RuntimeConfig {
    let mut cfg = RuntimeConfig::standard(DnsConfig::cluster("10.96.0.10".parse().unwrap(), "cluster.local"));
    cfg.pause = dir.join("labyrinth-pause");
    cfg.state_dir = dir.join("pods");
    cfg.netns_dir = dir.join("netns");
    cfg.log_dir = dir.join("log");
    cfg.cni = CniConfig::new(dir.join("net.d"), vec![PLUGINS.into()]);
    cfg
}

/// The addresses host-local holds in this network (it keeps one file per
/// address, named by it, beside its lock and last-reserved files).
fn held(ipam: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(ipam.join(NETWORK)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect()
}

/// Every link but loopback in this (the test's node) namespace, as the
/// kernel lists them (sysfs would show the namespace it was mounted in).
fn links() -> Vec<String> {
    labyrinth_netlink::Handle::current("node")
        .unwrap()
        .links()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .filter(|n| n != "lo")
        .collect()
}

fn in_fresh_namespaces() {
    assert!(
        Path::new(PLUGINS).join("ptp").is_file(),
        "the reference CNI plugins are not in {PLUGINS}"
    );
    let scratch = Scratch(std::env::temp_dir().join(format!("labyrinth-rollback-{}", std::process::id())));
    let dir = &scratch.0;
    let ipam = dir.join("ipam");
    let cfg = config(dir);
    std::fs::create_dir_all(&cfg.cni.conf_dir).unwrap();
    std::fs::write(
        cfg.cni.conf_dir.join("10-rollback.conflist"),
        serde_json::json!({
            "cniVersion": "1.0.0", "name": NETWORK,
            "plugins": [{"type": "ptp", "ipam": {
                "type": "host-local", "dataDir": ipam,
                "ranges": [[{"subnet": "10.99.0.0/24"}]]}}]
        })
        .to_string(),
    )
    .unwrap();
    pause::install(&cfg.pause).unwrap();
    let pod = PodRef {
        uid: "3c1f0a8e-rollback".into(),
        namespace: "wrk-1".into(),
        name: "unsaved".into(),
    };

    // The record's path is a directory: saving it (a rename over it) fails
    // after CNI ADD has succeeded.
    let blocked = record_path(&pod_dir(&cfg.state_dir, &pod.uid));
    std::fs::create_dir_all(&blocked).unwrap();
    let err = sandbox::create(
        &cfg,
        &pod,
        Default::default(),
        &[],
        &mut Stages::since(Instant::now()),
    )
    .expect_err("the record could not be saved, so the sandbox must fail");
    assert!(format!("{err:#}").contains("saving sandbox record"), "{err:#}");
    assert_eq!(held(&ipam), Vec::<String>::new(), "an address is still held");
    assert_eq!(links(), Vec::<String>::new(), "a veth is left on the node");
    assert!(!cfg.netns_dir.join(format!("cni-{}", pod.uid)).exists());
    // The undo took the pod's folder, the blocking directory with it.
    assert!(!pod_dir(&cfg.state_dir, &pod.uid).exists());

    // The same pod with its path free: the checks above would have seen
    // the address and the veth (ADD did make them).
    let rec = sandbox::create(
        &cfg,
        &pod,
        Default::default(),
        &[],
        &mut Stages::since(Instant::now()),
    )
    .unwrap();
    let ip = rec.ip.expect("the pod got an address").to_string();
    assert_eq!(held(&ipam), vec![ip]);
    assert_eq!(links().len(), 1, "the pod's host-side veth: {:?}", links());
    sandbox::destroy(&cfg, &rec).unwrap();
    assert_eq!(held(&ipam), Vec::<String>::new());
}
