//! The status of a pod with init containers, as the kubelet reports it:
//! `status.initContainerStatuses`, and until they have all completed the
//! whole status (Pending, or Failed under restartPolicy Never; the
//! Initialized condition False; the containers waiting PodInitializing).
//! `kubectl get` shows `Init:1/2`, `Init:CrashLoopBackOff` or `Init:Error`
//! from it (the API server's table printer, as the real one).

use serde_json::{json, Value};

use super::container_state::{condition, not_started, pod_status, rfc3339, terminated};
use super::init_containers::{self, Progress};
use super::lifecycle::unix_now;
use super::nodepod::NodePod;
use crate::runtime::sandbox::SandboxRecord;

/// The waiting reason of a container whose init containers have not all
/// completed (and of an init container not started yet).
const INITIALIZING: &str = "PodInitializing";

/// `status.initContainerStatuses`; null (left out of the merge patch) for
/// a pod without init containers, as most are.
pub fn statuses(pod: &NodePod, rec: &SandboxRecord) -> Value {
    if pod.spec.init_containers.is_empty() {
        return Value::Null;
    }
    let list = pod.spec.init_containers.iter().map(|c| {
        let r = rec.containers.get(&c.name);
        let running = r.is_some_and(|r| r.process.is_some());
        let state = match r {
            None => json!({"waiting": {"reason": INITIALIZING}}),
            Some(r) if r.process.is_some() => {
                json!({"running": {"startedAt": r.started_at.map(rfc3339)}})
            }
            Some(r) if r.restart_at.is_some() => json!({"waiting": {
                "reason": "CrashLoopBackOff",
                "message": format!("back-off {}s restarting failed container={} pod={}", r.backoff, c.name, pod.name()),
            }}),
            Some(r) => match r.last_exit {
                Some(code) => terminated(code, r.started_at, r.finished_at),
                None => json!({"waiting": {"reason": INITIALIZING}}),
            },
        };
        let mut s = json!({
            "name": c.name,
            "image": c.image.clone().unwrap_or_default(),
            "imageID": "",
            "containerID": format!("labyrinth://{}-{}", rec.id, c.name),
            "ready": r.is_some_and(init_containers::completed),
            "started": running,
            "restartCount": r.map(|r| r.restarts).unwrap_or(0),
            "state": state,
        });
        // The failed run before this one (or before the back-off).
        if let Some(code) = r
            .filter(|r| r.process.is_some() || r.restart_at.is_some())
            .and_then(|r| r.last_exit)
        {
            s["lastState"] = terminated(code, None, r.and_then(|r| r.finished_at));
        }
        s
    });
    Value::Array(list.collect())
}

/// The pod's whole status while its init containers have not all
/// completed; None once they have (or it has none).
pub fn initializing(pod: &NodePod, rec: &SandboxRecord, host_ip: &str) -> Option<Value> {
    if pod.spec.init_containers.is_empty() {
        return None;
    }
    let phase = match init_containers::progress(pod, rec) {
        Progress::Done => return None,
        Progress::At(_) => "Pending",
        Progress::Failed(_) => "Failed",
    };
    let start = rec
        .containers
        .iter()
        .filter_map(|(_, r)| r.started_at)
        .min()
        .unwrap_or_else(unix_now);
    let since = rfc3339(start);
    let incomplete: Vec<&str> = pod
        .spec
        .init_containers
        .iter()
        .filter(|c| {
            !rec.containers
                .get(&c.name)
                .is_some_and(init_containers::completed)
        })
        .map(|c| c.name.as_str())
        .collect();
    let mut initialized = condition("Initialized", false, &since);
    initialized["reason"] = json!("ContainersNotInitialized");
    initialized["message"] = json!(format!(
        "containers with incomplete status: [{}]",
        incomplete.join(" ")
    ));
    let names: Vec<&str> = pod.spec.containers.iter().map(|c| c.name.as_str()).collect();
    let mut ready = condition("Ready", false, &since);
    ready["reason"] = json!("ContainersNotReady");
    ready["message"] = json!(format!("containers with unready status: [{}]", names.join(" ")));
    let waiting: Vec<Value> = pod
        .spec
        .containers
        .iter()
        .map(|c| not_started(&c.name, c.image.as_deref(), json!({"reason": INITIALIZING})))
        .collect();
    let containers = json!({
        "initContainerStatuses": statuses(pod, rec),
        "containerStatuses": waiting,
    });
    Some(pod_status(
        phase,
        initialized,
        ready,
        &since,
        host_ip,
        rec.ip,
        containers,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_contracts::by_name::ByName;
    use labyrinth_contracts::pod::SlimPod;
    use labyrinth_contracts::sandbox::{ContainerRecord, PodRef};
    use labyrinth_netlink::process::ProcessRef;

    fn pod(policy: &str) -> NodePod {
        let w: SlimPod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u"},
            "spec": {"restartPolicy": policy,
                "initContainers": [{"name": "one", "image": "busybox"}, {"name": "two", "image": "busybox"}],
                "containers": [{"name": "app", "image": "busybox"}]}
        }))
        .unwrap();
        NodePod::from_watched(w).unwrap()
    }

    fn rec(containers: &[(&str, ContainerRecord)]) -> SandboxRecord {
        let mut by = ByName::new();
        for (n, r) in containers {
            by.insert(n.to_string(), r.clone());
        }
        SandboxRecord {
            pod: PodRef {
                uid: "u".into(),
                namespace: "n".into(),
                name: "p".into(),
            },
            id: "u".into(),
            netns: "cni-u".into(),
            pause: ProcessRef::of(std::process::id()).unwrap(),
            ip: None,
            cni_network: None,
            cni_result: None,
            containers: by,
            host_network: false,
        }
    }

    fn exited(code: i32, restart_at: Option<u64>, restarts: u32) -> ContainerRecord {
        ContainerRecord {
            last_exit: Some(code),
            started_at: Some(1),
            finished_at: Some(2),
            restart_at,
            restarts,
            backoff: restart_at.map_or(0, |_| 10),
            ..Default::default()
        }
    }

    #[test]
    fn pending_at_the_second_with_the_first_completed() {
        let p = pod("Always");
        let running = ContainerRecord {
            process: Some(ProcessRef::of(std::process::id()).unwrap()),
            started_at: Some(3),
            ..Default::default()
        };
        let r = rec(&[("one", exited(0, None, 0)), ("two", running)]);
        assert_eq!(init_containers::progress(&p, &r), Progress::At(1));
        let st = initializing(&p, &r, "10.0.0.1").unwrap();
        let s = &st["status"];
        assert_eq!(s["phase"], "Pending");
        assert_eq!(s["conditions"][1]["type"], "Initialized");
        assert_eq!(s["conditions"][1]["status"], "False");
        assert_eq!(
            s["conditions"][1]["message"],
            "containers with incomplete status: [two]"
        );
        let init = &s["initContainerStatuses"];
        assert_eq!(init[0]["state"]["terminated"]["reason"], "Completed");
        assert_eq!(init[0]["ready"], true);
        assert!(init[1]["state"]["running"].is_object(), "{init}");
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
    }

    #[test]
    fn a_failed_one_backs_off_or_fails_the_pod_under_never() {
        let r = rec(&[("one", exited(1, Some(99), 2))]);
        let p = pod("OnFailure");
        assert_eq!(init_containers::progress(&p, &r), Progress::At(0));
        let s = initializing(&p, &r, "h").unwrap();
        let one = &s["status"]["initContainerStatuses"][0];
        assert_eq!(one["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(one["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(one["restartCount"], 2);
        assert_eq!(
            s["status"]["initContainerStatuses"][1]["state"]["waiting"]["reason"],
            "PodInitializing"
        );

        let r = rec(&[("one", exited(3, None, 0))]);
        let p = pod("Never");
        assert_eq!(init_containers::progress(&p, &r), Progress::Failed(0));
        let s = initializing(&p, &r, "h").unwrap();
        assert_eq!(s["status"]["phase"], "Failed");
        let one = &s["status"]["initContainerStatuses"][0];
        assert_eq!(one["state"]["terminated"]["reason"], "Error");
        assert_eq!(one["state"]["terminated"]["exitCode"], 3);
    }

    #[test]
    fn done_once_all_completed_and_none_without_init_containers() {
        let p = pod("Always");
        let r = rec(&[("one", exited(0, None, 0)), ("two", exited(0, None, 1))]);
        assert_eq!(init_containers::progress(&p, &r), Progress::Done);
        assert!(initializing(&p, &r, "h").is_none());
        assert_eq!(statuses(&p, &r)[1]["restartCount"], 1);
        let w: SlimPod = serde_json::from_value(json!({"metadata": {"name": "a", "uid": "u"},
            "spec": {"containers": [{"name": "c"}]}}))
        .unwrap();
        let plain = NodePod::from_watched(w).unwrap();
        assert!(statuses(&plain, &r).is_null() && initializing(&plain, &r, "h").is_none());
    }
}
