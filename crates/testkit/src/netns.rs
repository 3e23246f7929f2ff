//! Network namespaces for tests and benchmarks, each held by a `sleep`
//! process that `unshare` moved into it — never `ip netns add`, so a test
//! that dies leaves nothing in /run/netns. Dropping a [`Netns`] kills its
//! holder, and the namespace goes with the last process or socket in it;
//! drop runs while a panicking test unwinds, so a failed assertion cleans
//! up too. The holder's `sleep` is bounded, a backstop for a test process
//! killed outright.
//!
//! Every failure here panics: a test cannot go on without its namespace.

use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a holder lives if its test never drops it (killed, not
/// unwound): longer than any benchmark, short of forever.
const HOLDER_SECONDS: &str = "3600";

/// A network namespace alive as long as its holder process.
pub struct Netns {
    holder: Child,
    /// For messages: which of the test's namespaces this is.
    pub name: String,
}

impl Netns {
    /// A fresh network namespace with its loopback up.
    pub fn new(name: &str) -> Netns {
        let ns = Netns::unshared(name, &[]);
        ns.sh("ip link set lo up");
        ns
    }

    /// A holder made by `unshare --net <more…>` (e.g. `--mount
    /// --propagation private` for a node with its own mounts), with nothing
    /// set up inside: the loopback is down, as the kernel makes it.
    pub fn unshared(name: &str, more: &[&str]) -> Netns {
        let holder = Command::new("unshare")
            .arg("--net")
            .args(more)
            .args(["sleep", HOLDER_SECONDS])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: starting `unshare --net sleep`: {e}"));
        let mut ns = Netns {
            holder,
            name: name.to_string(),
        };
        // Until unshare() has run, the holder's namespace is still ours.
        let ours = std::fs::read_link("/proc/self/ns/net").expect("reading our own network namespace");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::fs::read_link(ns.path()) {
                Ok(l) if l != ours => return ns,
                _ => {}
            }
            if let Ok(Some(status)) = ns.holder.try_wait() {
                panic!("{name}: `unshare --net` exited ({status}); making namespaces needs root");
            }
            assert!(
                Instant::now() < deadline,
                "{name}: the holder never left our namespace"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The holder's pid (for `ip link … netns <pid>`).
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `/proc/<holder>/ns/net`, for `nsenter --net=` and `setns`.
    pub fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.holder.id())
    }

    /// `sh -c cmd` inside: its stdout and stderr; panics with them when it
    /// fails.
    pub fn sh(&self, cmd: &str) -> String {
        let (ok, out) = self.try_sh(cmd);
        assert!(ok, "[{}] `{cmd}` failed: {out}", self.name);
        out
    }

    /// `sh -c cmd` inside: whether it succeeded, and its stdout and stderr.
    pub fn try_sh(&self, cmd: &str) -> (bool, String) {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .args(["sh", "-c", cmd])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("[{}] running nsenter: {e}", self.name));
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Start `f` on a thread inside this namespace (sockets it opens and
    /// processes it spawns live here).
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
        let file = std::fs::File::open(self.path())
            .unwrap_or_else(|e| panic!("[{}] opening {}: {e}", self.name, self.path()));
        let name = self.name.clone();
        std::thread::spawn(move || {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("[{name}] entering the namespace: {e}"));
            f()
        })
    }

    /// Run `f` on a thread inside this namespace and wait for it; a panic
    /// in `f` goes on in the caller.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let file = std::fs::File::open(self.path())
            .unwrap_or_else(|e| panic!("[{}] opening {}: {e}", self.name, self.path()));
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("[{}] entering the namespace: {e}", self.name));
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// End the holder now (the namespace goes once nothing else is in it).
    pub fn kill(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests;
