//! Test namespaces made with holder processes (never `ip netns add`), and
//! running code or commands inside them. Everything is torn down on drop.
#![allow(dead_code)]

pub mod lab;

use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Return from a root-only test where it may skip; fail it where root is
/// required (see `labyrinth_testkit::root`).
#[macro_export]
macro_rules! require_root {
    ($name:expr) => {
        if !labyrinth_testkit::root::require($name) {
            return;
        }
    };
}

/// A network namespace kept alive by a `sleep` in it.
pub struct Netns {
    child: Child,
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let child = Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare holder");
        let ns = Netns {
            child,
            name: name.to_string(),
        };
        let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
        for _ in 0..500 {
            if let Ok(l) = std::fs::read_link(ns.path()) {
                if l != mine {
                    ns.sh("ip link set lo up");
                    return ns;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("holder for {name} never entered a new namespace");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.child.id())
    }

    /// Run a shell command inside; panics with its output on failure.
    pub fn sh(&self, cmd: &str) -> String {
        let out = self.sh_status(cmd);
        assert!(out.0, "[{}] `{cmd}` failed: {}", self.name, out.1);
        out.1
    }

    /// (success, stdout+stderr)
    pub fn sh_status(&self, cmd: &str) -> (bool, String) {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .args(["sh", "-c", cmd])
            .output()
            .expect("nsenter");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Run `f` on a thread inside this namespace (sockets it opens, and
    /// processes it spawns, live here).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn(f).join().expect("thread in namespace panicked")
    }

    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let file = std::fs::File::open(self.path()).expect("open netns");
        std::thread::spawn(move || {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
