//! `labyrinth _pause`: the pod sandbox, in the role of the pause container.
//! It makes the pod's network, UTS, IPC and mount namespaces, shows the pod
//! its own /etc/resolv.conf, /etc/hosts, /etc/hostname and /tmp, brings up
//! loopback, reports `ready` and then only waits to be told to stop.
//!
//! Runs as a freshly exec'd single-threaded process (unshare of a mount
//! namespace requires it).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{SigSet, Signal};

#[derive(Debug, Clone, clap::Args)]
pub struct PauseArgs {
    #[arg(long)]
    pub hostname: String,
    /// Files to show the pod at /etc/resolv.conf, /etc/hosts, /etc/hostname.
    #[arg(long)]
    pub resolv_conf: PathBuf,
    #[arg(long)]
    pub hosts: PathBuf,
    #[arg(long)]
    pub hostname_file: PathBuf,
}

pub fn run(args: PauseArgs) -> Result<i32> {
    let mut out = std::io::stdout();
    match setup(&args) {
        Ok(()) => {
            writeln!(out, "ready")?;
        }
        Err(e) => {
            writeln!(out, "error {e:#}")?;
            return Ok(1);
        }
    }
    out.flush()?;
    let null = std::fs::File::open("/dev/null")?;
    nix::unistd::dup2_stdout(&null)?;

    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    mask.thread_block()?;
    // Like pause(2) in the real pause container: nothing to do but wait.
    let _ = mask.wait();
    Ok(0)
}

fn setup(args: &PauseArgs) -> Result<()> {
    unshare(
        CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWNS,
    )
    .context("unsharing the pod's namespaces")?;
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none).context("making / private")?;
    for (src, dst) in [
        (&args.resolv_conf, "/etc/resolv.conf"),
        (&args.hosts, "/etc/hosts"),
        (&args.hostname_file, "/etc/hostname"),
    ] {
        bind_file(src, Path::new(dst))?;
    }
    // A container's /tmp is its own, as with an image's root filesystem.
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .context("mounting the pod's /tmp")?;
    nix::unistd::sethostname(&args.hostname).context("setting the pod's hostname")?;
    let mut h = labyrinth_netlink::Handle::current("pod")?;
    let lo = h.index_of("lo")?;
    h.set_up(lo)?;
    Ok(())
}

fn bind_file(src: &Path, dst: &Path) -> Result<()> {
    if !dst.exists() {
        // Only ever inside the node's own copy-on-write /etc.
        std::fs::write(dst, b"").with_context(|| format!("creating {}", dst.display()))?;
    }
    let none: Option<&str> = None;
    mount(Some(src), dst, none, MsFlags::MS_BIND, none)
        .with_context(|| format!("showing {} at {}", src.display(), dst.display()))
}
