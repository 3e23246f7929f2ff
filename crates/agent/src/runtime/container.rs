//! A container: its image's program (or the manifest's command) started
//! in the pod sandbox's namespaces, in a root of its own (the node's
//! filesystem, copy-on-write) and a clean environment, its output in the
//! kubelet's log layout.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use labyrinth_contracts::node::MACHINE_DIRS;
use labyrinth_contracts::sandbox::SandboxRecord;
use labyrinth_netlink::process::ProcessRef;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::images::{self, Launch};
use super::privileges::Privileges;
use super::{ContainerSpec, RuntimeConfig};

/// A command that runs in a container of the pod: the pause program's
/// `run` joins the pod's IPC, UTS, network and PID namespaces and the mount
/// namespace of `mnt_pid` (a container's process: its root), forks the
/// command there and relays signals to it. A helper process because
/// setns(CLONE_NEWPID) only moves the caller's children, and a static one
/// because it runs for every container and every exec.
pub fn command_in_container(
    pause: &Path,
    rec: &SandboxRecord,
    mnt_pid: u32,
    argv: &[String],
) -> Result<Command> {
    anyhow::ensure!(!argv.is_empty(), "empty command");
    // The container's working directory, as its process has it (as the
    // node reads it: the path inside the container's own root).
    let cwd = std::fs::read_link(format!("/proc/{mnt_pid}/cwd")).ok();
    let workdir = cwd
        .as_deref()
        .and_then(|p| p.to_str())
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/");
    // What the container's process was left (an exec gets no more).
    let privileges = Privileges::of_process(mnt_pid);
    Ok(run_command(pause, rec, mnt_pid, "-", workdir, &privileges, argv))
}

fn run_command(
    pause: &Path,
    rec: &SandboxRecord,
    mnt_pid: u32,
    root: &str,
    workdir: &str,
    privileges: &Privileges,
    argv: &[String],
) -> Command {
    let mut cmd = Command::new(pause);
    cmd.arg("run")
        .arg(rec.pause.pid.to_string())
        .arg(mnt_pid.to_string())
        .arg(root)
        .arg(workdir)
        .arg(privileges.arg())
        .args(argv);
    cmd
}

/// The pod's process (its sandbox's pause) when a container has no
/// process of its own to join.
pub fn pod_process(rec: &SandboxRecord) -> u32 {
    rec.pause.pid
}

/// The container's writable root: `<rootfs_dir>/<pod uid>/<container>`,
/// made afresh at every start (a restarted container starts from its
/// image, as with a container runtime), with the image's files in it and
/// the list of its volumes' mounts.
fn prepare_root(
    cfg: &RuntimeConfig,
    rec: &SandboxRecord,
    name: &str,
    launch: &Launch,
    mounts: &[super::volumes::Mount],
) -> Result<PathBuf> {
    let root = cfg.rootfs_dir.join(&rec.pod.uid).join(name);
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("clearing {}", root.display()))?;
    }
    let layers = std::iter::once("_").chain(MACHINE_DIRS);
    for layer in layers {
        for d in ["u", "w"] {
            let p = root.join(d).join(layer);
            std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        }
    }
    std::fs::create_dir_all(root.join("m"))?;
    // The empty lower layer of the container's own /root (native/pause.c).
    std::fs::create_dir_all(root.join("e"))?;
    let at = |path: &str| upper_path(&root, path);
    if launch.working_dir != "/" {
        std::fs::create_dir_all(at(&launch.working_dir))?;
    }
    for (path, content) in &launch.files {
        let p = at(path);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&p, content).with_context(|| format!("writing the image's {path}"))?;
    }
    for (path, target) in &launch.links {
        let p = at(path);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::os::unix::fs::symlink(target, &p).with_context(|| format!("linking the image's {path}"))?;
    }
    if !mounts.is_empty() {
        let text = super::volumes::mounts_file(mounts).map_err(anyhow::Error::msg)?;
        std::fs::write(root.join("mounts"), text).context("writing the container's mounts")?;
    }
    Ok(root)
}

/// Where `path` of the container's root is in its upper layers: the
/// node's copy-on-write directories are layers of their own.
fn upper_path(root: &Path, path: &str) -> PathBuf {
    let rel = path.trim_start_matches('/');
    let (first, rest) = rel.split_once('/').unwrap_or((rel, ""));
    if MACHINE_DIRS.contains(&first) {
        root.join("u").join(first).join(rest)
    } else {
        root.join("u").join("_").join(rel)
    }
}

/// The environment a container's process was started with (what an exec
/// in it gets).
pub fn process_env(pid: u32) -> Vec<(String, String)> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// A clean environment, as a container runtime and the kubelet give it:
/// nothing of the agent's own; the basics, the image's env, the
/// `kubernetes` Service's variables, then the manifest's env.
pub fn environment(
    cfg: &RuntimeConfig,
    rec: &SandboxRecord,
    launch: &Launch,
    spec: &ContainerSpec,
) -> Vec<(String, String)> {
    let api = cfg.api_service;
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), super::container_path()),
        ("HOSTNAME".into(), rec.pod.hostname()),
        ("HOME".into(), spec.privileges.home()),
    ];
    env.extend(launch.env.iter().cloned());
    env.extend([
        ("KUBERNETES_SERVICE_HOST".into(), api.ip().to_string()),
        ("KUBERNETES_SERVICE_PORT".into(), api.port().to_string()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), api.port().to_string()),
        ("KUBERNETES_PORT".into(), format!("tcp://{api}")),
        ("KUBERNETES_PORT_443_TCP".into(), format!("tcp://{api}")),
        ("KUBERNETES_PORT_443_TCP_PROTO".into(), "tcp".into()),
        ("KUBERNETES_PORT_443_TCP_PORT".into(), api.port().to_string()),
        ("KUBERNETES_PORT_443_TCP_ADDR".into(), api.ip().to_string()),
    ]);
    // The manifest's values may refer to the service variables and to
    // the values before them (`$(VAR)`), not to the image's.
    let services: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("KUBERNETES_"))
        .cloned()
        .collect();
    env.extend(super::expansion::expand_env(&services, &spec.env));
    // A later value replaces an earlier one, in place of the first.
    let mut out: Vec<(String, String)> = Vec::with_capacity(env.len());
    for (k, v) in env {
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// Start one container; its stdout and stderr go to its log writer
/// (`super::logs`).
pub fn start(cfg: &RuntimeConfig, rec: &SandboxRecord, spec: &ContainerSpec, restarts: u32) -> Result<Child> {
    let (stdout, stderr) = super::logs::start_writer(cfg, &rec.pod, &spec.name, restarts)?;
    // An image not in the catalog is the kubelet role's Warning event
    // (kubelet/events.rs), not an error: the container idles.
    let launch = images::launch(images::catalog(), &spec.image, &spec.command, &spec.args);
    let env = environment(cfg, rec, &launch, spec);
    // `$(VAR)` in command and args, from the container's environment.
    let command = super::expansion::expand_all(&spec.command, &env);
    let args = super::expansion::expand_all(&spec.args, &env);
    let launch = if command != spec.command || args != spec.args {
        images::launch(images::catalog(), &spec.image, &command, &args)
    } else {
        launch
    };
    let mut cmd = match &launch.argv {
        // Nothing to run: the pause program holds the container's place,
        // as the pause image's container would; it joins the pod by
        // itself.
        None => {
            let mut cmd = Command::new(&cfg.pause);
            // It keeps the container's capabilities too: an exec in the
            // container gets what this process has.
            cmd.arg("enter")
                .arg(rec.pause.pid.to_string())
                .arg(spec.privileges.arg());
            cmd
        }
        Some(argv) => {
            let root = prepare_root(cfg, rec, &spec.name, &launch, &spec.mounts)?;
            let root = root
                .to_str()
                .context("the container's root folder is not UTF-8")?;
            run_command(
                &cfg.pause,
                rec,
                pod_process(rec),
                root,
                &launch.working_dir,
                &spec.privileges,
                argv,
            )
        }
    };
    cmd.env_clear().envs(env);
    let stdin = if spec.stdin {
        Stdio::from(super::stdin::open(cfg, &rec.pod.uid, &spec.name)?)
    } else {
        Stdio::null()
    };
    cmd.stdin(stdin).stdout(stdout).stderr(stderr).process_group(0);
    let program = launch.argv.as_ref().and_then(|a| a.first());
    cmd.spawn()
        .with_context(|| format!("starting container {} ({program:?})", spec.name))
}

/// SIGTERM, then SIGKILL after `grace`.
pub fn stop(p: &ProcessRef, grace: Duration) -> Result<()> {
    if !p.alive() {
        return Ok(());
    }
    let pid = Pid::from_raw(p.pid as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while p.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if p.alive() {
        let _ = kill(pid, Signal::SIGKILL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_files_land_in_the_layer_of_their_directory() {
        let r = Path::new("/r");
        assert_eq!(
            upper_path(r, "/etc/nginx/nginx.conf"),
            Path::new("/r/u/etc/nginx/nginx.conf")
        );
        assert_eq!(upper_path(r, "/agnhost"), Path::new("/r/u/_/agnhost"));
        assert_eq!(upper_path(r, "/workspace"), Path::new("/r/u/_/workspace"));
        assert_eq!(upper_path(r, "/etcetera/x"), Path::new("/r/u/_/etcetera/x"));
    }
}
