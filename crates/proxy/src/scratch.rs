//! A throwaway network namespace held open by a `sleep` child (never
//! `ip netns add`), for benchmarks and dry runs that must not touch the
//! caller's namespace. Dropping it kills the holder and the namespace goes.

use std::fs::File;
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

pub struct ScratchNetns {
    holder: Child,
    file: File,
}

impl ScratchNetns {
    pub fn new() -> Result<Self> {
        let mut holder = Command::new("unshare")
            .args(["--net", "sleep", "3600"])
            .stdin(Stdio::null())
            .spawn()
            .context("starting `unshare --net sleep` (needs root)")?;
        let mine = std::fs::read_link("/proc/self/ns/net")?;
        let path = format!("/proc/{}/ns/net", holder.id());
        for _ in 0..500 {
            if let Ok(l) = std::fs::read_link(&path) {
                if l != mine {
                    let file = File::open(&path)?;
                    return Ok(ScratchNetns { holder, file });
                }
            }
            if let Some(status) = holder.try_wait()? {
                bail!("unshare exited early ({status})");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = holder.kill();
        let _ = holder.wait();
        bail!("the namespace holder never entered a new network namespace")
    }

    /// The holder's pid (for `ip link … netns <pid>`).
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// Run `f` on a background thread inside the namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<std::thread::JoinHandle<Result<T>>> {
        let file = self.file.try_clone()?;
        Ok(std::thread::spawn(move || {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .context("entering the scratch namespace")?;
            Ok(f())
        }))
    }

    /// Run a shell command inside; its stdout, or an error with its output.
    pub fn sh(&self, cmd: &str) -> Result<String> {
        let cmd = cmd.to_string();
        self.run(move || {
            let out = crate::exec::run("sh", &["-c", &cmd], None)?;
            Ok(crate::exec::stdout(&out))
        })?
    }

    /// Run `f` on a thread inside the namespace (processes it spawns too).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(self.file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .context("entering the scratch namespace")?;
                Ok(f())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("thread in scratch namespace panicked"))?
        })
    }
}

impl Drop for ScratchNetns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
