//! Root-only tests of ADD's rollback (a failure injected after each step
//! must leave the node, the pod and the IPAM directory as they were) and of
//! DEL's (a pair that cannot be retired must not keep the address).

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::add::{add, FailPoint};
use super::del::del;
use crate::config::NetConf;
use crate::netsetup::host_ifname;
use crate::retire::Detach;
use crate::spec::{Env, Request, Version};

/// A network namespace held by `unshare --net sleep`.
struct Ns(Child);

impl Ns {
    fn new() -> Ns {
        let child = Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let ns = Ns(child);
        let mine = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(ns.path()).map(|m| m.ino()).unwrap_or(mine) == mine {
            assert!(Instant::now() < deadline, "holder never unshared");
            std::thread::sleep(Duration::from_millis(2));
        }
        ns
    }
    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.0.id())
    }
    /// `ip -o <args>` lines inside the namespace.
    fn ip(&self, args: &[&str]) -> Vec<String> {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .arg("ip")
            .arg("-o")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `f` on a thread inside `ns`, as the runtime runs the plugin there.
fn inside<T: Send>(ns: &Ns, f: impl FnOnce() -> T + Send) -> T {
    let file = std::fs::File::open(ns.path()).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

fn request(id: &str, netns: &str, config: serde_json::Value) -> Request {
    let env = Env {
        command: crate::spec::Command::Add,
        container_id: id.into(),
        netns: Some(netns.into()),
        ifname: "eth0".into(),
        args: vec![],
        path: vec![],
    };
    Request {
        env,
        version: Version::V1_1_0,
        config,
        prev_result: None,
    }
}

#[test]
fn add_rolls_back_after_every_step() {
    if !labyrinth_testkit::root::require("commands::tests::add_rolls_back_after_every_step") {
        return;
    }
    for fail in [
        FailPoint::AfterIpam,
        FailPoint::AfterVeth,
        FailPoint::AfterPod,
        FailPoint::AfterHost,
    ] {
        let (node, pod) = (Ns::new(), Ns::new());
        let dir = std::env::temp_dir().join(format!("lab-cni-rollback-{}-{fail:?}", std::process::id()));
        let config = json!({"cniVersion": "1.1.0", "name": "rb", "podCIDR": "10.70.0.0/24", "mtu": 1410,
                            "ipam": {"dataDir": dir}});
        let conf = NetConf::parse(&config).unwrap();
        let req = request("rollback", &pod.path(), config.clone());

        let err = inside(&node, || add(&req, &conf, Some(fail))).unwrap_err();
        assert!(err.details.contains("injected failure"), "{fail:?}: {err:?}");
        assert_eq!(
            node.ip(&["link"]).len(),
            1,
            "{fail:?}: only lo on the node: {:?}",
            node.ip(&["link"])
        );
        assert!(node.ip(&["route"]).is_empty(), "{fail:?}: no node route left");
        assert_eq!(pod.ip(&["link"]).len(), 1, "{fail:?}: only lo in the pod");
        let files: Vec<String> = std::fs::read_dir(dir.join("rb"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.parse::<std::net::Ipv4Addr>().is_ok())
            .collect();
        assert!(
            files.is_empty(),
            "{fail:?}: reservation released, found {files:?}"
        );

        // Nothing half-applied blocks a clean retry.
        let ok = inside(&node, || add(&req, &conf, None)).unwrap();
        assert_eq!(ok.ips.len(), 1);
        assert_eq!(pod.ip(&["-4", "addr", "show", "dev", "eth0"]).len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn add_refuses_the_plugins_own_namespace() {
    if !labyrinth_testkit::root::require("commands::tests::add_refuses_the_plugins_own_namespace") {
        return;
    }
    let node = Ns::new();
    let dir = std::env::temp_dir().join(format!("lab-cni-ownns-{}", std::process::id()));
    let config =
        json!({"cniVersion": "1.1.0", "name": "own", "podCIDR": "10.71.0.0/24", "ipam": {"dataDir": dir}});
    let conf = NetConf::parse(&config).unwrap();
    let req = request("own", &node.path(), config.clone());
    let err = inside(&node, || add(&req, &conf, None)).unwrap_err();
    assert_eq!(err.code, 4);
    assert!(err.msg.contains("CNI_NETNS"));
    assert_eq!(node.ip(&["link"]).len(), 1);
    assert!(
        !dir.join("own").exists(),
        "refused before any address was reserved"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scratch directory, removed also when the test fails.
struct ScratchDir(std::path::PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The addresses reserved in IPAM directory `dir` of network `net`.
fn reserved(dir: &std::path::Path, net: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir.join(net)) else {
        return vec![];
    };
    rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<std::net::Ipv4Addr>().is_ok())
        .collect()
}

#[test]
fn del_releases_the_address_when_retiring_the_pair_fails() {
    if !labyrinth_testkit::root::require(
        "commands::tests::del_releases_the_address_when_retiring_the_pair_fails",
    ) {
        return;
    }
    let (node, pod) = (Ns::new(), Ns::new());
    let scratch = ScratchDir(std::env::temp_dir().join(format!("lab-cni-delfail-{}", std::process::id())));
    let dir = scratch.0.clone();
    let config = json!({"cniVersion": "1.1.0", "name": "df", "podCIDR": "10.72.0.0/24", "mtu": 1410,
                        "ipam": {"dataDir": dir}});
    let conf = NetConf::parse(&config).unwrap();
    let req = request("delfail", &pod.path(), config.clone());
    inside(&node, || add(&req, &conf, None)).unwrap();
    assert_eq!(reserved(&dir, "df").len(), 1, "ADD reserved one address");

    // The failure, for real: DEL renames the host veth to `lxd<its ifindex
    // in hex>`; a device already holding that name makes the rename fail.
    let host = host_ifname("delfail", "eth0");
    let line = node.ip(&["link", "show", "dev", &host]).concat();
    let index: u32 = line.split(':').next().unwrap().trim().parse().unwrap();
    let squatter = format!("lxd{index:x}");
    node.ip(&[
        "link",
        "add",
        &squatter,
        "type",
        "veth",
        "peer",
        "name",
        "squatter0",
    ]);

    let err = inside(&node, || del(&req, &conf, Detach::Thread)).unwrap_err();
    assert!(
        err.details.contains(&format!("retiring {host}")),
        "the failure is reported: {err:?}"
    );
    assert_eq!(
        reserved(&dir, "df"),
        Vec::<String>::new(),
        "the address is released although the pair was not retired"
    );
    assert_eq!(
        node.ip(&["link", "show", "dev", &host]).len(),
        1,
        "the pair is still there"
    );

    // The runtime's retry, once the obstacle is gone, finishes the job.
    node.ip(&["link", "del", &squatter]);
    inside(&node, || del(&req, &conf, Detach::Thread)).unwrap();
    assert!(
        node.ip(&["link"]).iter().all(|l| !l.contains(&host)),
        "{host} retired: {:?}",
        node.ip(&["link"])
    );
}
