//! Network-namespace handles and "run this on a thread inside that namespace".
//!
//! `setns(CLONE_NEWNET)` changes only the calling thread, so we never move the
//! caller: work that must happen inside a namespace (opening a netlink socket,
//! writing a per-namespace sysctl) runs on a scoped thread that joins back.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use crate::{Error, Result};

/// An open reference to a network namespace (e.g. `/proc/<pid>/ns/net`).
#[derive(Debug)]
pub struct NetNs {
    file: File,
    label: String,
}

impl NetNs {
    pub fn open(path: impl AsRef<Path>, label: impl Into<String>) -> Result<Self> {
        let path = path.as_ref();
        let label = label.into();
        let file = File::open(path).map_err(|e| {
            Error::io(
                format!("opening network namespace {label} ({})", path.display()),
                e,
            )
        })?;
        Ok(NetNs { file, label })
    }

    /// The network namespace of a process, by host pid.
    pub fn of_pid(pid: u32, label: impl Into<String>) -> Result<Self> {
        Self::open(format!("/proc/{pid}/ns/net"), label)
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Run `f` on a fresh thread that has joined this namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(self.file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(
                    |errno| Error::Kernel {
                        op: format!("entering network namespace {}", self.label),
                        errno,
                    },
                )?;
                Ok(f())
            })
            .join()
            .expect("thread inside a network namespace panicked")
        })
    }

    /// Write a sysctl under /proc/sys as seen from inside this namespace
    /// (`net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let label = self.label.clone();
        self.run(move || {
            std::fs::write(&path, value)
                .map_err(|e| Error::io(format!("setting {key}={value} in {label}"), e))
        })?
    }

    /// Read a sysctl as seen from inside this namespace.
    pub fn read_sysctl(&self, key: &str) -> Result<String> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let label = self.label.clone();
        self.run(move || {
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_string())
                .map_err(|e| Error::io(format!("reading {key} in {label}"), e))
        })?
    }
}
