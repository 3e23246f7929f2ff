//! The "firmware" of the lab's machines: the process that becomes pid 1 of a
//! fresh set of namespaces (pid, network, mount, UTS, IPC) and holds them
//! alive, like the init of a VM.
//!
//! Both the VPC (the lab's top-level namespace with the underlay bridge) and
//! every node are one of these. Nodes are created inside the VPC's pid
//! namespace, so killing the VPC's pid 1 makes the kernel kill every process
//! of the lab and, with the last process, free every namespace: nothing is
//! bind-mounted on the host, so nothing can be left behind.
//!
//! This runs as a freshly exec'd, single-threaded process (`labyrinth lab
//! _sandbox`), because unshare(CLONE_NEWPID) + fork and mount-namespace
//! changes need a single thread.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult};

/// What the new machine is.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Hostname inside the new UTS namespace.
    #[arg(long)]
    pub hostname: String,
    /// Append stderr here (the node's console log).
    #[arg(long)]
    pub log: std::path::PathBuf,
    /// Treat stdin as the setup pipe: if it closes before a commit byte
    /// arrives, the creator died half-way and this machine (with everything
    /// under it) shuts down.
    #[arg(long)]
    pub setup_pipe: bool,
}

/// Entry point of `labyrinth lab _sandbox`; never returns on success.
pub fn run(args: SandboxArgs) -> Result<i32> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .with_context(|| format!("opening console log {}", args.log.display()))?;

    unshare(
        CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC,
    )
    .context("unsharing namespaces")?;

    // SAFETY: this process is single-threaded (fresh exec, no threads started).
    match unsafe { fork() }.context("forking the init process")? {
        ForkResult::Parent { .. } => {
            // The creator reads the child's report from the stdout pipe, which
            // the child inherited; this shim is done.
            // SAFETY: _exit skips destructors that could touch shared state.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Child => {}
    }

    let mut out = std::io::stdout();
    let host_pid = match boot(&args) {
        Ok(host_pid) => {
            let _ = writeln!(out, "ready {host_pid}");
            let _ = out.flush();
            host_pid
        }
        Err(e) => {
            let _ = writeln!(out, "error {e:#}");
            let _ = out.flush();
            // SAFETY: see above.
            unsafe { libc::_exit(1) }
        }
    };
    // From now on we talk only to the console log (`lab logs NODE console`):
    // what a VM's serial console shows, its boot and its orphans' exits.
    let _ = nix::unistd::dup2_stdout(&log);
    let _ = nix::unistd::dup2_stderr(&log);
    eprintln!(
        "{}: booted as pid 1 of its own namespaces (pid {host_pid} on the host)",
        args.hostname
    );
    init_loop(args.setup_pipe)
}

/// Make the new namespaces look like a machine of their own.
fn boot(args: &SandboxArgs) -> Result<u32> {
    // Read our host-visible pid while /proc is still the host's.
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let host_pid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|p| p.parse::<u32>().ok())
        .context("no NSpid in /proc/self/status")?;

    let exe = std::env::current_exe().context("finding our own executable")?;
    let none: Option<&str> = None;
    // Nothing we mount may propagate back to the host.
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none).context("making / private")?;
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // Our own pid namespace's processes (ps, top, kill see the node only).
    mount(Some("proc"), "/proc", Some("proc"), nosuid, none).context("mounting /proc")?;
    // The host's cgroup tree, held open before the new sysfs covers it: a
    // container runtime on the node (containerd and runc) needs cgroupfs, as
    // on any machine; optional, as bpffs is.
    let cgroups = std::fs::File::open("/sys/fs/cgroup").ok();
    // sysfs shows the network devices of the namespace that mounts it.
    mount(Some("sysfs"), "/sys", Some("sysfs"), nosuid, none).context("mounting /sys")?;
    if let Some(tree) = &cgroups {
        let from = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(tree));
        let _ = mount(
            Some(from.as_str()),
            "/sys/fs/cgroup",
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            none,
        );
    }
    drop(cgroups);
    // bpffs for pinned maps and programs (the eBPF datapath); optional.
    let _ = mount(
        Some("bpf"),
        "/sys/fs/bpf",
        Some("bpf"),
        MsFlags::empty(),
        Some("mode=700"),
    );
    // A private /run: `ip netns list` inside sees this machine's namespaces.
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .context("mounting /run")?;
    std::fs::create_dir_all("/run/netns").context("creating /run/netns")?;
    // A VM's own /tmp: what a node (or a pod on it) writes there must not
    // land in the host's /tmp.
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .context("mounting /tmp")?;
    // Copy-on-write /etc, /opt, /var and /root, as a VM has its own disk: a node can
    // write /etc/cni/net.d, /opt/cni/bin or /var/lib/cni (and its hostname,
    // hosts, logs) without changing the host's files or the other nodes'.
    for dir in labyrinth_contracts::node::MACHINE_DIRS {
        let upper = format!("/run/.machine/{dir}/upper");
        let work = format!("/run/.machine/{dir}/work");
        std::fs::create_dir_all(&upper).context("creating overlay dirs")?;
        std::fs::create_dir_all(&work).context("creating overlay dirs")?;
        let opts = format!("lowerdir=/{dir},upperdir={upper},workdir={work}");
        mount(
            Some("overlay"),
            format!("/{dir}").as_str(),
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .with_context(|| format!("mounting a copy-on-write /{dir}"))?;
    }
    mount_state_filesystems()?;
    install_self(&exe)?;
    std::fs::write("/etc/hostname", format!("{}\n", args.hostname)).context("writing /etc/hostname")?;
    nix::unistd::sethostname(&args.hostname).context("setting hostname")?;
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(host_pid)
}

/// The folders a pod start writes into (`NODE_STATE_FILESYSTEMS`) on
/// filesystems of the node's own, as a VM keeps /var/lib/kubelet on its own
/// disk rather than in a copy of another machine's: nothing of the host's
/// shows there, and the files each start makes (its folder, its token
/// volume, its log folder, its address lease, read back by every later
/// ADD) skip the copy-on-write layer, where each create, rename or open
/// costs about 1.6× what it costs on a tmpfs (docs/performance.md). A
/// container's root still hides them itself (the agent's native/pause.c),
/// as on a real node.
fn mount_state_filesystems() -> Result<()> {
    for dir in labyrinth_contracts::node::NODE_STATE_FILESYSTEMS {
        let at = format!("/{dir}");
        std::fs::create_dir_all(&at).with_context(|| format!("creating {at}"))?;
        mount(
            Some("tmpfs"),
            at.as_str(),
            Some("tmpfs"),
            MsFlags::empty(),
            Some("mode=755"),
        )
        .with_context(|| format!("mounting the node's own {at}"))?;
    }
    Ok(())
}

/// The lab's binary on the machine's PATH (see `enter::node_path`), as the
/// articles' nodes have their tools installed: a link in the machine's own
/// copy-on-write /opt, so the host's /usr stays untouched.
fn install_self(exe: &std::path::Path) -> Result<()> {
    let dir = std::path::Path::new(labyrinth_contracts::node::BIN_DIR);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let link = dir.join("labyrinth");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(exe, &link).with_context(|| format!("linking {}", link.display()))
}

/// pid 1's job: reap orphans, and exit (taking the machine down) on SIGTERM,
/// or when the setup pipe closes before the creator committed.
///
/// A machine outlives the terminal that created it, as a VM outlives the
/// ssh session that booted it: the init leaves the creator's session (so a
/// terminal's hang-up, or Ctrl-C in it, never reaches it) and ignores
/// SIGHUP and SIGINT. Until the lab is committed, a creator that dies still
/// takes the machine down through the setup pipe.
fn init_loop(watch_setup: bool) -> ! {
    // Fails only if we already lead a process group, which we do not.
    let _ = nix::unistd::setsid();
    let mut mask = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        mask.add(s);
    }
    // Blocked signals are queued even for a namespace's init, so signalfd
    // sees a SIGTERM sent from the host.
    if nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).is_err() {
        unsafe { libc::_exit(2) }
    }
    let sfd = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
        Ok(s) => s,
        Err(_) => unsafe { libc::_exit(2) },
    };
    let mut setup_open = watch_setup;
    let stdin = std::io::stdin();
    loop {
        let stdin_fd = stdin.as_fd();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if setup_open {
            // SAFETY: fd 0 stays open for the life of the process.
            fds.push(PollFd::new(
                unsafe { BorrowedFd::borrow_raw(stdin_fd.as_raw_fd()) },
                PollFlags::POLLIN,
            ));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => unsafe { libc::_exit(2) },
        }
        let sig_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let setup_ready = setup_open
            && fds
                .get(1)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty());
        drop(fds);
        if setup_ready {
            let mut buf = [0u8; 16];
            match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => {
                    eprintln!("creator went away before the machine was committed; shutting down");
                    unsafe { libc::_exit(1) }
                }
                Ok(n) if buf[..n].contains(&b'c') => {
                    eprintln!("committed: the lab is complete; this machine now outlives its creator");
                    setup_open = false
                }
                Ok(_) => {}
            }
        }
        if sig_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                match info.ssi_signo as i32 {
                    libc::SIGCHLD => reap_all(),
                    libc::SIGTERM => {
                        eprintln!("SIGTERM: shutting down");
                        unsafe { libc::_exit(0) }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Reap every exited child, orphans of the machine included, and say on
/// the console which ended how (a service that died shows here).
fn reap_all() {
    loop {
        // Peek first (WNOWAIT): a zombie's name is readable until reaped.
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: a valid pointer to our own siginfo_t.
        if unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) } != 0 {
            return;
        }
        // SAFETY: waitid filled a SIGCHLD siginfo, whose pid field is set.
        let pid = unsafe { info.si_pid() };
        if pid == 0 {
            return; // children, none exited
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => {
                eprintln!("pid {pid} ({}) exited with status {code}", comm.trim())
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => eprintln!("pid {pid} ({}) killed by {sig}", comm.trim()),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}
