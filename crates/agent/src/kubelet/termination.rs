//! A pod being deleted ends as the kubelet ends it: each container's
//! preStop hook runs, then its process gets SIGTERM, and whatever still
//! runs when the pod's grace period is over gets SIGKILL. All containers
//! at once, within one grace period, as the kubelet does.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use labyrinth_contracts::events::Reason;
use labyrinth_contracts::recorder::Recorder;

use super::nodepod::NodePod;
use crate::runtime::container;
use crate::runtime::sandbox::SandboxRecord;

/// preStop hooks, SIGTERM, SIGKILL at the end of the grace period.
pub fn end_gracefully(pause: &Path, events: &Arc<Recorder>, rec: &SandboxRecord, pod: &NodePod) {
    let deadline = Instant::now() + pod.grace_period();
    std::thread::scope(|s| {
        for (name, c) in &rec.containers {
            let Some(p) = c.process.filter(|p| p.alive()) else {
                continue;
            };
            let hook = pod
                .pre_stops()
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, cmd)| cmd);
            s.spawn(move || {
                if let Some(cmd) = hook {
                    run_hook(pause, events, rec, p.pid, name, &cmd, deadline);
                }
                let msg = format!("Stopping container {name}");
                super::events::emit(events, &rec.pod, Some(name), Reason::Killing, msg);
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = container::stop(&p, left);
            });
        }
    });
}

/// Run a preStop exec hook in the container (its root, its environment),
/// until it ends or the deadline.
fn run_hook(
    pause: &Path,
    events: &Arc<Recorder>,
    rec: &SandboxRecord,
    pid: u32,
    name: &str,
    argv: &[String],
    deadline: Instant,
) {
    let child = container::command_in_container(pause, rec, pid, argv).and_then(|mut c| {
        c.env_clear()
            .envs(container::process_env(pid))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(anyhow::Error::from)
    });
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("PreStopHook of container {name} failed: {e:#}");
            super::events::emit(events, &rec.pod, Some(name), Reason::FailedPreStopHook, msg);
            return;
        }
    };
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
