//! Taking an attachment's veth pair away without making DEL wait for the
//! kernel's unregistration.
//!
//! Deleting a veth returns only after the kernel's RCU barrier (every CPU
//! through a grace period): 12–25 ms on a VM, against ~1 ms for all the rest
//! of DEL, and nothing the runtime needs waits on it. So DEL *retires* the
//! pair: both ends down (which drops their routes at once) and renamed to a
//! tombstone `lxd<ifindex>`, freeing `lxc<hash>` and the pod's `eth0` for the
//! next ADD; the address is released as before. A child process then deletes
//! the tombstone and exits; DEL does not wait for it.
//!
//! If that child dies first, the tombstone is an idle, down, routeless
//! device: it goes with the pod's namespace (deleting either end of a veth
//! takes the other), and GC deletes any that remain.

use anyhow::{Context, Result};
use labyrinth_netlink::{Handle, LinkKind};

/// Prefix of retired veth ends; ours alone in the node (the `lxc` family).
pub use labyrinth_contracts::node::RETIRED_VETH_PREFIX as TOMBSTONE_PREFIX;

fn tombstone(index: u32) -> String {
    format!("{TOMBSTONE_PREFIX}{index:x}")
}

/// Down and rename our host-side veth `host` (and, given a handle in the
/// pod's namespace, its peer `pod_if` there). Returns the host tombstone's
/// name, or `None` if there was no such veth.
pub fn retire_veth(
    node: &mut Handle,
    host: &str,
    pod: Option<(&mut Handle, &str)>,
) -> Result<Option<String>> {
    let Some(link) = node.link_by_name(host)?.filter(|l| l.kind == LinkKind::Veth) else {
        return Ok(None);
    };
    if let Some((pod, pod_if)) = pod {
        // Only the peer of our host side: a same-named device of anyone else
        // is not ours to touch.
        if let Some(peer) = pod
            .link_by_name(pod_if)?
            .filter(|p| p.kind == LinkKind::Veth && p.link == Some(link.index))
        {
            let done = pod
                .set_down(peer.index)
                .and_then(|_| pod.rename(peer.index, &tombstone(peer.index)));
            gone_is_done(done).with_context(|| format!("retiring the pod's {pod_if}"))?;
        }
    }
    let name = tombstone(link.index);
    let done = node
        .set_down(link.index)
        .and_then(|_| node.rename(link.index, &name));
    if gone_is_done(done).with_context(|| format!("retiring {host}"))? {
        Ok(Some(name))
    } else {
        Ok(None)
    }
}

/// The pod's namespace may be torn down while DEL runs (a runtime that
/// deletes it concurrently): a device that vanished between the lookup and
/// the change was retired by the kernel, which is what DEL wanted.
/// `Ok(false)` for that case.
fn gone_is_done(r: labyrinth_netlink::Result<()>) -> labyrinth_netlink::Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Ok(false),
        Err(e) => Err(e),
    }
}

/// How the slow unregistration leaves the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detach {
    /// A child process (the plugin is a single-threaded process of its own).
    Fork,
    /// A thread (inside a multi-threaded process, where a fork could copy a
    /// lock some other thread holds).
    Thread,
}

/// Delete the node's tombstones `names` from a detached child process or
/// thread, so the caller returns without waiting for the kernel. If none
/// can be made, they are deleted here.
pub fn unregister_detached(node: &mut Handle, names: Vec<String>, how: Detach) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    if how == Detach::Thread {
        // The thread's netlink socket is in the namespace it starts in:
        // threads inherit their creator's, the node's.
        let spawned = std::thread::Builder::new().name("cni-unregister".into()).spawn({
            let names = names.clone();
            move || delete_quietly(&names)
        });
        return match spawned {
            Ok(_) => Ok(()),
            Err(_) => delete_all(node, &names),
        };
    }
    // SAFETY: the plugin is single-threaded here (netlink's namespace helper
    // threads are joined), so the child may allocate and use sockets.
    match unsafe { libc::fork() } {
        0 => {
            detach_stdio();
            delete_quietly(&names);
            // No destructors, no flushing of the parent's buffered stdout.
            unsafe { libc::_exit(0) }
        }
        -1 => delete_all(node, &names),
        _ => Ok(()),
    }
}

/// The runtime reads our stdout and stderr to their end: the child must let
/// go of them at once, and of the runtime's session too.
fn detach_stdio() {
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        } else {
            for fd in 0..3 {
                libc::close(fd);
            }
        }
    }
}

/// Where nobody waits for an answer: a missing pair went with its pod's
/// namespace, and a failure leaves an idle pair for GC.
fn delete_quietly(names: &[String]) {
    if let Ok(mut h) = Handle::current("node") {
        for n in names {
            let _ = h.del_link_by_name(n);
        }
    }
}

fn delete_all(node: &mut Handle, names: &[String]) -> Result<()> {
    for n in names {
        match node.del_link_by_name(n) {
            // Gone between lookup and delete: a detached deleter (or the
            // pod's namespace going) got there first.
            Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => {}
            r => {
                r.with_context(|| format!("deleting {n}"))?;
            }
        }
    }
    Ok(())
}

/// Delete every tombstone veth left in this namespace (GC's sweep).
pub fn sweep_tombstones(node: &mut Handle) -> Result<usize> {
    let names: Vec<String> = node
        .links()?
        .into_iter()
        .filter(|l| l.kind == LinkKind::Veth && !l.up && l.name.starts_with(TOMBSTONE_PREFIX))
        .map(|l| l.name)
        .collect();
    delete_all(node, &names)?;
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_fit_the_kernel_limit_and_never_look_like_ours() {
        let t = tombstone(u32::MAX);
        assert_eq!(t, "lxdffffffff");
        assert!(t.len() <= 15);
        assert!(crate::spec::env::validate_ifname(&t).is_ok());
        assert!(!t.starts_with("lxc"), "not an attachment's name");
        assert!(!crate::netsetup::host_ifname("c", "eth0").starts_with(TOMBSTONE_PREFIX));
    }

    #[test]
    fn a_device_that_vanished_mid_retirement_is_retired_other_errors_are_not() {
        use labyrinth_netlink::Error;
        use nix::errno::Errno;
        let refused = |errno| -> labyrinth_netlink::Result<()> {
            Err(Error::Kernel {
                op: "renaming link 2 to lxd2".into(),
                errno,
            })
        };
        assert!(gone_is_done(Ok(())).unwrap());
        assert!(!gone_is_done(refused(Errno::ENODEV)).unwrap());
        let err = gone_is_done(refused(Errno::EEXIST)).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::EEXIST));
    }
}
