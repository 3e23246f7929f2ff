//! Pieces of a container's status as the kubelet reports it, which the
//! pod's status (`super::status`) and its init containers' statuses
//! (`super::init_status`) both use.

use serde_json::{json, Value};

/// Unix seconds as the API's RFC 3339 time.
pub fn rfc3339(secs: u64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(secs as i64)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A pod condition.
pub fn condition(kind: &str, ok: bool, since: &str) -> Value {
    json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": since})
}

/// A container's `terminated` state: Completed for 0, else Error.
pub fn terminated(code: i32, started: Option<u64>, finished: Option<u64>) -> Value {
    let reason = if code == 0 { "Completed" } else { "Error" };
    json!({"terminated": {
        "exitCode": code,
        "reason": reason,
        "startedAt": started.map(rfc3339),
        "finishedAt": finished.map(rfc3339),
    }})
}

/// The status of a container not started yet: ready false, no restarts,
/// `waiting` as its state (`{"reason": …, "message": …}`).
pub fn not_started(name: &str, image: Option<&str>, waiting: Value) -> Value {
    json!({
        "name": name, "image": image.unwrap_or_default(), "imageID": "",
        "ready": false, "started": false, "restartCount": 0,
        "state": {"waiting": waiting},
    })
}

/// A pod's status as the kubelet reports it: its phase, the conditions
/// (`initialized` and `ready` as given; ContainersReady is Ready's twin),
/// where it runs and since when; `extra` (its containers' statuses) added.
pub fn pod_status(
    phase: &str,
    initialized: Value,
    ready: Value,
    since: &str,
    host_ip: &str,
    pod_ip: Option<std::net::Ipv4Addr>,
    extra: Value,
) -> Value {
    let mut containers_ready = ready.clone();
    containers_ready["type"] = json!("ContainersReady");
    let ip = pod_ip.map(|i| i.to_string());
    let mut st = json!({
        "phase": phase,
        "conditions": [
            condition("PodReadyToStartContainers", true, since),
            initialized,
            ready,
            containers_ready,
            condition("PodScheduled", true, since),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": ip,
        "podIPs": ip.iter().map(|i| json!({"ip": i})).collect::<Vec<_>>(),
        "startTime": since,
    });
    if let (Some(st), Value::Object(extra)) = (st.as_object_mut(), extra) {
        st.extend(extra);
    }
    json!({ "status": st })
}
