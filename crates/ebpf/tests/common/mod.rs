//! Scratch namespaces for the datapath tests: network namespaces held by a
//! `sleep` (named with the test's pid), and a private bpffs visible only to
//! the calling thread's mount namespace, so pins never touch the host's.
#![allow(dead_code)]

pub mod iperf;
pub mod lab;
pub mod topo;
pub mod traffic;

use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Return from a root-only test where it may skip; fail it where root is
/// required (see `labyrinth_testkit::root`).
#[macro_export]
macro_rules! need_root {
    ($name:expr) => {
        if !labyrinth_testkit::root::require($name) {
            return;
        }
    };
}

/// Give this thread (and the threads and processes it starts) its own
/// mount namespace with a fresh bpffs on /sys/fs/bpf. Gone with the test.
pub fn private_bpffs() {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare mount namespace");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make mounts private");
    mount(
        Some("bpffs"),
        "/sys/fs/bpf",
        Some("bpf"),
        MsFlags::empty(),
        None::<&str>,
    )
    .expect("mount bpffs");
}

/// A network namespace alive as long as its holder process.
pub struct Netns {
    holder: Child,
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let holder = Command::new("unshare")
            .args(["--net", "sleep", "1200"])
            .stdin(Stdio::null())
            .spawn()
            .expect("starting a namespace holder");
        let ns = Netns {
            holder,
            name: format!("{name}-{}", std::process::id()),
        };
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        for _ in 0..500 {
            match std::fs::read_link(ns.path()) {
                Ok(l) if l != own => {
                    ns.sh("ip link set lo up");
                    return ns;
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        panic!("{name}: the holder never left our namespace");
    }

    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    pub fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.holder.id())
    }

    /// `sh -c cmd` inside; panics with the output when it fails.
    pub fn sh(&self, cmd: &str) -> String {
        let (ok, out) = self.try_sh(cmd);
        assert!(ok, "[{}] {cmd}: {out}", self.name);
        out
    }

    pub fn try_sh(&self, cmd: &str) -> (bool, String) {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .args(["sh", "-c", cmd])
            .output()
            .expect("running nsenter");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    /// Start `f` on a thread living in this namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let ns = std::fs::File::open(self.path()).expect("opening the namespace");
        std::thread::spawn(move || {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("entering the namespace");
            f()
        })
    }

    /// Run `f` inside and wait for it.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f)
            .join()
            .expect("thread inside the namespace panicked")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
