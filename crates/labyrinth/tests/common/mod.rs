//! Shared helpers for the integration tests: root check, a lab guard that
//! always tears down, and a snapshot of the host's own network state.
#![allow(dead_code)]

pub mod agent;
pub mod control_plane;
pub mod ebpf;
pub mod held;
pub mod journey;
pub mod netpol;
pub mod netpol_model;
pub mod readiness;
pub mod role_cpu;
pub mod spread;
pub mod writer;
#[allow(unused_imports)]
pub use ebpf::*;
#[allow(unused_imports)]
pub use journey::*;
#[allow(unused_imports)]
pub use spread::{check_refused_by_backend, check_spread};

use std::process::{Command, Output, Stdio};
use std::sync::Once;

pub const BIN: &str = env!("CARGO_BIN_EXE_labyrinth");

/// Root-only tests skip, saying so, or fail where root is required (see
/// `labyrinth_testkit::root`).
pub fn need_root(test: &str) -> bool {
    if !labyrinth_testkit::root::require(test) {
        return false;
    }
    become_subreaper();
    true
}

/// Lab inits outlive the `up` that started them; as a subreaper the test
/// process gets them back when they die and can check nothing lingers.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    });
}

/// Reap a (re-parented) lab init that has exited.
pub fn reap(pid: u32) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    let _ = waitpid(nix::unistd::Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG));
}

/// A unique lab name for this test (labs of parallel tests never collide).
pub fn lab_name(tag: &str) -> String {
    format!("t{}-{tag}", std::process::id())
}

pub fn labyrinth(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running labyrinth")
}

/// Run our binary with `input` on its stdin.
pub fn labyrinth_with_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running labyrinth");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("writing stdin");
    child.wait_with_output().expect("waiting for labyrinth")
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The environment variable that puts every test's cluster on one store.
pub const TEST_STORE: &str = "LABYRINTH_TEST_STORE";

/// The store the tests' clusters run on: `LABYRINTH_TEST_STORE` (`embedded`
/// or `etcd`; unset or empty, the lab's default), so the whole suite runs
/// on etcd with `LABYRINTH_TEST_STORE=etcd cargo nextest run -p labyrinth`.
/// A test that passes `--store` itself keeps its own. Any other value
/// fails the test, naming the variable, rather than testing the default
/// while claiming another store.
pub fn test_store() -> Option<String> {
    let v = std::env::var(TEST_STORE).unwrap_or_default();
    match v.as_str() {
        "" => None,
        "embedded" | "etcd" => Some(v),
        other => panic!("{TEST_STORE}={other:?}: the store is embedded or etcd"),
    }
}

/// `args` and, when `store` (`test_store()`) names one and `args` have no
/// `--store`, `--store <it>`: for `lab up` and for commands that bring up a
/// lab of their own (`labyrinth journey`).
pub fn with_test_store<'a>(args: &[&'a str], store: &'a Option<String>) -> Vec<&'a str> {
    let mut all = args.to_vec();
    if let Some(store) = store.as_deref().filter(|_| !args.contains(&"--store")) {
        all.extend(["--store", store]);
    }
    all
}

/// A running lab that is always taken down, also when the test panics.
pub struct Lab {
    pub name: String,
}

impl Lab {
    /// Machines and VPC only (`up --bare`): what the lab-layer tests need.
    pub fn up(tag: &str, extra: &[&str]) -> Lab {
        let mut args = vec!["--bare"];
        args.extend_from_slice(extra);
        Lab::start(tag, &args)
    }

    /// The whole cluster: API server, controllers, joined nodes, agents.
    pub fn cluster(tag: &str, extra: &[&str]) -> Lab {
        Lab::start(tag, extra)
    }

    fn start(tag: &str, extra: &[&str]) -> Lab {
        let name = lab_name(tag);
        let store = test_store();
        let mut args = vec!["lab", "up", "--name", &name];
        args.extend(with_test_store(extra, &store));
        let lab = Lab { name: name.clone() };
        ok(&labyrinth(&args));
        lab
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&ok(&labyrinth(&[
            "lab", "status", "--name", &self.name, "--json",
        ])))
        .unwrap()
    }

    /// Run a command inside a node, returning its output (any exit status).
    pub fn ssh(&self, node: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["lab", "ssh", "--name", &self.name, node, "--"];
        args.extend_from_slice(cmd);
        labyrinth(&args)
    }

    pub fn ssh_ok(&self, node: &str, cmd: &[&str]) -> String {
        ok(&self.ssh(node, cmd))
    }

    pub fn vpc_pid(&self) -> u32 {
        self.status()["vpcPid"].as_u64().unwrap() as u32
    }

    pub fn down(self) {
        let pid = self.vpc_pid();
        ok(&labyrinth(&["lab", "down", "--name", &self.name]));
        reap(pid);
        std::mem::forget(self);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = labyrinth(&["lab", "down", "--name", &self.name]);
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the host's own namespace looks like (the parts a lab must not touch).
#[derive(Debug, PartialEq, Eq)]
pub struct HostSnapshot {
    pub links: String,
    pub addrs: String,
    pub routes: String,
    pub nft: String,
    pub iptables: String,
    pub run_netns: Vec<String>,
}

impl HostSnapshot {
    pub fn take() -> Self {
        let strip_counters = |s: String| {
            s.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| {
                    if l.starts_with(':') {
                        l.split(" [").next().unwrap_or(l)
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut run_netns: Vec<String> = std::fs::read_dir("/run/netns")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        run_netns.sort();
        // Link statistics and flags that the kernel changes by itself are
        // left out; names, indexes and addresses are what we compare.
        let links = run("ip", &["-o", "link", "show"])
            .lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n");
        HostSnapshot {
            links,
            addrs: run("ip", &["-o", "addr", "show"]),
            routes: run("ip", &["route", "show", "table", "all"]),
            nft: run("nft", &["list", "ruleset"]),
            iptables: strip_counters(run("iptables-save", &[])),
            run_netns,
        }
    }
}

/// Host pids of processes started from our binary for a given lab.
pub fn lab_processes(lab: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&format!("/run/labyrinth/{lab}/")) {
            pids.push(pid);
        }
    }
    pids
}

/// Mount count of this (the host's) mount namespace.
pub fn host_mounts() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count()
}

/// Open fds of this test process.
pub fn own_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Stop a `labyrinth lab ssh` child politely: it passes SIGTERM on to the
/// command inside the node and reaps it (SIGKILL would orphan the command).
pub fn stop(child: &mut std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait();
}
