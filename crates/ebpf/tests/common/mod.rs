//! Scratch namespaces for the datapath tests: network namespaces held by a
//! `sleep` (`labyrinth_testkit::netns`), and a private bpffs visible only to
//! the calling thread's mount namespace, so pins never touch the host's.
#![allow(dead_code)]

pub mod iperf;
pub mod lab;
pub mod topo;
pub mod traffic;

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

/// Test namespaces (see `labyrinth_testkit::netns`).
pub use labyrinth_testkit::netns::Netns;
