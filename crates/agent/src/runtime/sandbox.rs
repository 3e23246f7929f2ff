//! Pod sandboxes: make one (pause process, named netns, CNI ADD, files) or
//! tear one down (the reverse, best effort, every failure reported). Each is
//! recorded on disk so a restarted agent finds its pods running.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use labyrinth_contracts::by_name::ByName;
use labyrinth_contracts::cni::CniResult;
use labyrinth_contracts::pod::Sysctl;
use labyrinth_contracts::sandbox as record;
use labyrinth_contracts::sysctl::Namespace;
use labyrinth_netlink::process::ProcessRef;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::cni::{Attachment, NetworkList};
use super::stages::Stages;
use super::{files, PodRef, RuntimeConfig};

/// The record the tracer reads too: defined once, in labyrinth-contracts.
pub use labyrinth_contracts::sandbox::{ContainerRecord, SandboxRecord};

/// The pod's network namespace file (its name is in the record).
pub fn netns_path(cfg: &RuntimeConfig, rec: &SandboxRecord) -> PathBuf {
    cfg.netns_dir.join(&rec.netns)
}

fn pod_dir(cfg: &RuntimeConfig, uid: &str) -> PathBuf {
    record::pod_dir(&cfg.state_dir, uid)
}

/// Write the record. One whose CNI result is kept on disk only
/// (`forget_cni_result`) gets the result of the record already there.
pub fn save(cfg: &RuntimeConfig, rec: &SandboxRecord) -> Result<()> {
    let dir = pod_dir(cfg, &rec.pod.uid);
    if rec.cni_result.is_none() && rec.cni_network.is_some() {
        let mut whole = rec.clone();
        whole.cni_result = cni_result_on_disk(&dir);
        return record::write(&dir, &whole).context("saving sandbox record");
    }
    record::write(&dir, rec).context("saving sandbox record")
}

/// Keep the record's CNI result on disk only: the kubelet role holds every
/// pod's record for the pod's life, and the result (the plugin's text,
/// ~0.4 KiB) is its largest part, read again only by a later `save` and
/// by the DEL of `destroy` (its prevResult), which take it from the disk.
/// Call it once the record with its result is saved.
pub fn forget_cni_result(rec: &mut SandboxRecord) {
    rec.cni_result = None;
}

/// The CNI result of the record saved in `dir`, if it reads.
fn cni_result_on_disk(dir: &Path) -> Option<Box<serde_json::value::RawValue>> {
    match record::read(dir) {
        Ok(r) => r.and_then(|r| r.cni_result),
        Err(e) => {
            tracing::warn!("{e}: its CNI result is not carried over");
            None
        }
    }
}

/// Every recorded sandbox (what a restarted agent adopts). A record that
/// does not read is skipped: its pod is not adopted.
pub fn load_all(cfg: &RuntimeConfig) -> Result<Vec<SandboxRecord>> {
    let dirs = record::pod_dirs(&cfg.state_dir).unwrap_or_default();
    Ok(dirs
        .iter()
        .filter_map(|d| record::read(d).ok().flatten())
        .collect())
}

/// Find a sandbox by uid, `ns/name` or name.
pub fn find(cfg: &RuntimeConfig, key: &str) -> Result<SandboxRecord> {
    let hits: Vec<_> = load_all(cfg)?
        .into_iter()
        .filter(|r| {
            r.pod.uid == key || format!("{}/{}", r.pod.namespace, r.pod.name) == key || r.pod.name == key
        })
        .collect();
    match hits.len() {
        1 => Ok(hits.into_iter().next().unwrap()),
        0 => bail!("no pod sandbox {key:?} on this node"),
        _ => bail!("{key:?} is ambiguous; use namespace/name or the uid"),
    }
}

/// The node's namespaces a pod shares (`hostNetwork`, `hostPID`,
/// `hostIPC`); by default none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sharing {
    /// The node's address, when the pod is on the node's network (and has
    /// the node's hostname, as kubelet gives it).
    pub network: Option<std::net::Ipv4Addr>,
    pub pid: bool,
    pub ipc: bool,
}

impl Sharing {
    /// The pause program's HOST argument (native/pause.c).
    fn pause_arg(&self) -> String {
        let mut words = Vec::new();
        if self.network.is_some() {
            words.push("net");
        }
        if self.pid {
            words.push("pid");
        }
        if self.ipc {
            words.push("ipc");
        }
        words.join(",")
    }
}

/// The pause program's optional arguments: HOST, then SYSCTLS (one
/// `PATH=VALUE` a line, PATH under /proc/sys), when there are any.
fn pause_args(share: Sharing, sysctls: &[Sysctl]) -> Result<Vec<String>> {
    let mut args = vec![share.pause_arg()];
    if !sysctls.is_empty() {
        let mut lines = Vec::with_capacity(sysctls.len());
        for s in sysctls {
            let path = labyrinth_contracts::sysctl::path(&s.name);
            // Validated by the API server; the pause program reads lines.
            if !labyrinth_contracts::sysctl::valid_name(&s.name) || s.value.contains(['\n', '\0']) {
                bail!("sysctl {:?}: not a sysctl name and a one-line value", s.name);
            }
            // Only in a namespace of the pod's own: never the node's.
            let own = match labyrinth_contracts::sysctl::namespace(&s.name) {
                Some(Namespace::Net) => share.network.is_none(),
                Some(Namespace::Ipc) => !share.ipc,
                None => false,
            };
            if !own {
                bail!("sysctl {:?} would set the node's own, not the pod's", s.name);
            }
            lines.push(format!("{path}={}", s.value));
        }
        args.push(lines.join("\n"));
    }
    if args.len() == 1 && args[0].is_empty() {
        args.clear();
    }
    Ok(args)
}

/// Make the sandbox, its own namespaces given `sysctls` (admitted already:
/// `kubelet::admission`); on failure everything made so far is undone.
/// Each stage's time is marked in `stages`.
pub fn create(
    cfg: &RuntimeConfig,
    pod: &PodRef,
    share: Sharing,
    sysctls: &[Sysctl],
    stages: &mut Stages,
) -> Result<SandboxRecord> {
    let dir = pod_dir(cfg, &pod.uid);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut undo = Undo::new(cfg, pod);
    let result = build(cfg, pod, share, sysctls, &dir, &mut undo, stages);
    match result {
        Ok(rec) => Ok(rec),
        Err(e) => {
            undo.run();
            Err(e)
        }
    }
}

fn build(
    cfg: &RuntimeConfig,
    pod: &PodRef,
    share: Sharing,
    sysctls: &[Sysctl],
    dir: &Path,
    undo: &mut Undo,
    stages: &mut Stages,
) -> Result<SandboxRecord> {
    let resolv = dir.join(labyrinth_contracts::sandbox::RESOLV_FILE);
    let hosts = dir.join("hosts");
    let hostname = dir.join("hostname");
    let name = if share.network.is_some() {
        // On the node's network the pod sees the node's files and name, as
        // kubelet gives a hostNetwork pod (ClusterFirst falls back to the
        // node's resolv.conf there).
        std::fs::copy("/etc/resolv.conf", &resolv).context("copying the node's resolv.conf")?;
        std::fs::copy("/etc/hosts", &hosts).context("copying the node's hosts")?;
        nix::unistd::gethostname()?.to_string_lossy().into_owned()
    } else {
        std::fs::write(&resolv, files::resolv_conf(pod, &cfg.dns))?;
        std::fs::write(&hosts, files::hosts(pod, None))?;
        pod.hostname()
    };
    std::fs::write(&hostname, format!("{name}\n"))?;
    stages.mark("files");

    // Nothing of the agent's environment in the pod (its /proc/1/environ).
    let mut child = Command::new(&cfg.pause)
        .env_clear()
        .arg("sandbox")
        .arg(&name)
        .arg(&resolv)
        .arg(&hosts)
        .arg(&hostname)
        .args(pause_args(share, sysctls)?)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting the pause process {}", cfg.pause.display()))?;
    // Two lines in either order: "pid N" from the first process (the pod's
    // PID 1 is its child, N its pid on the node) and "ready" from PID 1.
    let mut pid = None;
    let mut ready = false;
    let mut failure = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while !(ready && pid.is_some()) && failure.is_empty() {
        let mut line = String::new();
        if out.read_line(&mut line)? == 0 {
            failure = line;
            break;
        }
        match line.trim() {
            "ready" => ready = true,
            l => match l.strip_prefix("pid ").and_then(|n| n.parse::<u32>().ok()) {
                Some(n) => pid = Some(n),
                None => failure = line,
            },
        }
    }
    // The first process exits once it has printed the pid: reaped here. The
    // pod's PID 1, orphaned, is the node init's child from now on.
    let _ = child.wait();
    let Some(pid) = pid.filter(|_| failure.is_empty() && ready) else {
        if let Some(p) = pid {
            let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
        }
        bail!("pod sandbox failed: {}", super::pause::error_text(&failure));
    };
    let pause = ProcessRef::of(pid)?;
    undo.pause = Some(pause);
    stages.mark("pause");

    let netns = format!("cni-{}", pod.uid);
    let netns_path = cfg.netns_dir.join(&netns);
    std::fs::create_dir_all(&cfg.netns_dir)?;
    std::fs::write(&netns_path, b"").context("creating the netns mount point")?;
    undo.netns = Some(netns_path.clone());
    let none: Option<&str> = None;
    mount(
        Some(&pause.ns_path("net")),
        &netns_path,
        none,
        MsFlags::MS_BIND,
        none,
    )
    .context("naming the pod's network namespace")?;
    stages.mark("netns");

    let id = pod.uid.replace('-', "");
    if let Some(node_ip) = share.network {
        // No network of its own: no CNI call, the node's address.
        let rec = SandboxRecord {
            pod: pod.clone(),
            id,
            netns,
            pause,
            ip: Some(node_ip),
            cni_network: None,
            cni_result: None,
            containers: ByName::new(),
            host_network: true,
        };
        save(cfg, &rec)?;
        undo.disarm();
        stages.mark("record");
        return Ok(rec);
    }
    let list = cfg.cni.load()?;
    let att = Attachment {
        container_id: &id,
        netns: &netns_path,
        pod,
    };
    let result = cfg.cni.add(&list, &att).context("CNI ADD")?;
    // From here on a failure must DEL what ADD made, or the address stays
    // held in IPAM and the veth in the node.
    undo.cni = Some((list.clone(), id.clone(), result.clone()));
    stages.mark("cni");
    let ip = CniResult::from_json(&result)
        .context("reading the CNI ADD result")?
        .pod_ipv4()
        .map(|a| a.addr());
    std::fs::write(&hosts, files::hosts(pod, ip))?;
    // Kept as the plugin's text: DEL gets it back as its prevResult.
    let result = serde_json::value::to_raw_value(&result)?;
    let rec = SandboxRecord {
        pod: pod.clone(),
        id,
        netns,
        pause,
        ip,
        cni_network: Some(list.conf.name.clone()),
        cni_result: Some(result),
        containers: ByName::new(),
        host_network: false,
    };
    save(cfg, &rec)?;
    undo.disarm();
    stages.mark("record");
    Ok(rec)
}

/// Tear a sandbox down: containers, CNI DEL, netns name, pause, records,
/// logs. Everything is attempted; the failures are reported together.
pub fn destroy(cfg: &RuntimeConfig, rec: &SandboxRecord) -> Result<()> {
    let res = destroy_keeping_logs(cfg, rec);
    super::logs::remove(cfg, &rec.pod);
    res
}

/// All of [`destroy`] but the logs: a pod that has run to completion keeps
/// them (`kubectl logs`) until it is deleted.
pub fn destroy_keeping_logs(cfg: &RuntimeConfig, rec: &SandboxRecord) -> Result<()> {
    let mut errors = Vec::new();
    for (name, c) in &rec.containers {
        if let Some(p) = c.process {
            if let Err(e) = super::container::stop(&p, std::time::Duration::from_secs(5)) {
                errors.push(format!("stopping container {name}: {e:#}"));
            }
        }
    }
    let netns_path = netns_path(cfg, rec);
    match cfg.cni.load() {
        // Nothing of the network to release.
        _ if rec.host_network => {}
        Ok(list) => {
            let att = Attachment {
                container_id: &rec.id,
                netns: &netns_path,
                pod: &rec.pod,
            };
            let on_disk;
            let raw = match &rec.cni_result {
                Some(r) => Some(r),
                None => {
                    on_disk = cni_result_on_disk(&pod_dir(cfg, &rec.pod.uid));
                    on_disk.as_ref()
                }
            };
            let prev = raw.and_then(|r| serde_json::from_str(r.get()).ok());
            if let Err(e) = cfg.cni.del(&list, &att, prev.as_ref()) {
                errors.push(format!("CNI DEL: {e:#}"));
            }
        }
        Err(e) => errors.push(format!("CNI config: {e:#}")),
    }
    if let Err(e) = unname_netns(&netns_path) {
        errors.push(e.to_string());
    }
    end_pause(&rec.pause);
    let _ = std::fs::remove_dir_all(pod_dir(cfg, &rec.pod.uid));
    let _ = std::fs::remove_dir_all(cfg.rootfs_dir.join(&rec.pod.uid));
    if errors.is_empty() {
        Ok(())
    } else {
        bail!(
            "tearing down pod {}/{}: {}",
            rec.pod.namespace,
            rec.pod.name,
            errors.join("; ")
        )
    }
}

fn unname_netns(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => bail!("unmounting {}: {e}", path.display()),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Rollback of a half-made sandbox.
struct Undo<'a> {
    cfg: &'a RuntimeConfig,
    pod: &'a PodRef,
    pause: Option<ProcessRef>,
    netns: Option<PathBuf>,
    /// The network, container id and result of a successful CNI ADD.
    cni: Option<(std::sync::Arc<NetworkList>, String, Value)>,
    armed: bool,
}

impl<'a> Undo<'a> {
    fn new(cfg: &'a RuntimeConfig, pod: &'a PodRef) -> Self {
        Undo {
            cfg,
            pod,
            pause: None,
            netns: None,
            cni: None,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }

    fn run(&mut self) {
        if !self.armed {
            return;
        }
        // DEL first, while the pod's namespace still has its name: the
        // plugins release the address and take the veth away.
        if let (Some((list, id, result)), Some(path)) = (&self.cni, &self.netns) {
            let att = Attachment {
                container_id: id,
                netns: path,
                pod: self.pod,
            };
            if let Err(e) = self.cfg.cni.del(list, &att, Some(result)) {
                tracing::warn!(pod = %self.pod.label(), "CNI DEL while undoing a sandbox: {e:#}");
            }
        }
        if let Some(path) = &self.netns {
            let _ = unname_netns(path);
        }
        if let Some(p) = self.pause {
            end_pause(&p);
        }
        let _ = std::fs::remove_dir_all(pod_dir(self.cfg, &self.pod.uid));
    }
}

/// SIGKILL a pod's pause process (the pod's PID 1: the kernel kills the
/// rest of the pod's PID namespace with it) and reap it if it is ours. It
/// is the node init's child since the process that forked it exited
/// (`build`): `waitpid` then fails at once with ECHILD and the init reaps
/// it. (A sandbox of an older agent may still be its child.)
fn end_pause(p: &ProcessRef) {
    let pid = Pid::from_raw(p.pid as i32);
    if p.alive() {
        let _ = kill(pid, Signal::SIGKILL);
    }
    if p.exists() {
        // Blocks only until the kernel has finished the SIGKILLed process.
        let _ = nix::sys::wait::waitpid(pid, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> RuntimeConfig {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("labyrinth-sandbox-test-{}-{nanos}", std::process::id()));
        let dns = files::DnsConfig::cluster(std::net::Ipv4Addr::new(10, 96, 0, 10), "cluster.local");
        let mut cfg = RuntimeConfig::standard(dns);
        cfg.state_dir = dir;
        cfg
    }

    fn record(network: bool) -> SandboxRecord {
        let result =
            r#"{"cniVersion":"1.1.0","interfaces":[{"name":"lxc1"}],"ips":[{"address":"10.0.1.5/32"}]}"#;
        SandboxRecord {
            pod: PodRef {
                uid: "u-1".into(),
                namespace: "n".into(),
                name: "p".into(),
            },
            id: "u1".into(),
            netns: "cni-u-1".into(),
            pause: ProcessRef::of(std::process::id()).unwrap(),
            ip: Some(std::net::Ipv4Addr::new(10, 0, 1, 5)),
            cni_network: network.then(|| "labyrinth".to_string()),
            cni_result: network.then(|| serde_json::value::RawValue::from_string(result.into()).unwrap()),
            containers: ByName::new(),
            host_network: !network,
        }
    }

    #[test]
    fn sysctls_reach_the_pause_program_as_paths_and_only_for_the_pods_own_namespaces() {
        let s = |name: &str, value: &str| Sysctl {
            name: name.into(),
            value: value.into(),
        };
        assert!(pause_args(Sharing::default(), &[]).unwrap().is_empty());
        let host = Sharing {
            network: Some(std::net::Ipv4Addr::new(10, 168, 0, 3)),
            ..Default::default()
        };
        assert_eq!(pause_args(host, &[]).unwrap(), ["net"]);
        let list = [
            s("net.ipv4.ip_local_port_range", "20000 30000"),
            s("net/ipv4/conf/eth0.100/rp_filter", "0"),
            s("kernel.shm_rmid_forced", "1"),
        ];
        assert_eq!(
            pause_args(Sharing::default(), &list).unwrap(),
            [
                "",
                "net/ipv4/ip_local_port_range=20000 30000\nnet/ipv4/conf/eth0.100/rp_filter=0\nkernel/shm_rmid_forced=1"
            ]
        );
        for (share, bad) in [
            (host, s("net.ipv4.tcp_syncookies", "1")),
            (
                Sharing {
                    ipc: true,
                    ..Default::default()
                },
                s("kernel.msgmax", "1"),
            ),
            (Sharing::default(), s("kernel.panic", "0")),
            (
                Sharing::default(),
                s("net.ipv4.tcp_syncookies", "1\nkernel/panic=0"),
            ),
            (Sharing::default(), s("../../kernel/panic", "0")),
        ] {
            assert!(pause_args(share, std::slice::from_ref(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_record_kept_without_its_cni_result_saves_the_one_on_disk() {
        let cfg = scratch();
        let mut rec = record(true);
        let text = rec.cni_result.as_ref().unwrap().get().to_string();
        std::fs::create_dir_all(pod_dir(&cfg, &rec.pod.uid)).unwrap();
        save(&cfg, &rec).unwrap();
        forget_cni_result(&mut rec);
        assert!(rec.cni_result.is_none());
        // A later save (a container restarted) keeps the result on disk.
        rec.containers.insert(
            "c".into(),
            ContainerRecord {
                restarts: 1,
                ..Default::default()
            },
        );
        save(&cfg, &rec).unwrap();
        let on_disk = record::read(&pod_dir(&cfg, &rec.pod.uid)).unwrap().unwrap();
        assert_eq!(on_disk.cni_result.as_ref().map(|r| r.get()), Some(text.as_str()));
        assert_eq!(on_disk.containers.get("c").map(|c| c.restarts), Some(1));
        assert_eq!(
            cni_result_on_disk(&pod_dir(&cfg, &rec.pod.uid)).unwrap().get(),
            text
        );
        // The host side of the pod's veth is still found from the file.
        assert_eq!(on_disk.host_veth().as_deref(), Some("lxc1"));

        // A pod on the node's network has no result to carry.
        let mut host = record(false);
        host.pod.uid = "u-2".into();
        std::fs::create_dir_all(pod_dir(&cfg, &host.pod.uid)).unwrap();
        save(&cfg, &host).unwrap();
        let on_disk = record::read(&pod_dir(&cfg, &host.pod.uid)).unwrap().unwrap();
        assert!(on_disk.cni_result.is_none() && on_disk.host_network);
        std::fs::remove_dir_all(&cfg.state_dir).unwrap();
    }
}
