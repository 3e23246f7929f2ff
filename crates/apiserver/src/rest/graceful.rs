//! Graceful deletion of Pods, as kube-apiserver does it: a DELETE of a pod
//! running on a node only marks it (`deletionTimestamp` = now + the grace
//! period, `deletionGracePeriodSeconds`); the node agent stops its
//! containers (preStop, SIGTERM, SIGKILL after the grace period) and then
//! deletes it for good with grace 0. Grace 0 (`--grace-period=0 --force`),
//! a pod no node runs (unbound, or bound to a node that does not exist)
//! and a pod that has ended go at once.

use serde_json::{json, Value};

use super::status::ApiResult;
use crate::resources::ResourceDef;
use crate::state::AppState;

/// The kubelet's default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE: i64 = 30;

/// The grace period asked for: DeleteOptions' gracePeriodSeconds (body or
/// query, `super::delete_options`), else the pod's
/// terminationGracePeriodSeconds, else 30 s.
fn grace(pod: &Value, asked: Option<i64>) -> i64 {
    asked
        .or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(DEFAULT_GRACE)
        .max(0)
}

/// Mark the pod for deletion instead of deleting it, if it is to end
/// gracefully: Some(the marked pod) then, None when it is to go at once.
pub fn mark_pod(
    st: &AppState,
    res: &ResourceDef,
    ns: &str,
    name: &str,
    asked: Option<i64>,
) -> ApiResult<Option<Value>> {
    if res.kind != "Pod" {
        return Ok(None);
    }
    let Some(cur) = st.store.get(&res.key(), ns, name) else {
        return Ok(None);
    };
    let grace = grace(&cur, asked);
    // Bound to a node that exists: its agent will end the pod. A pod bound
    // to no Node object has nobody to end it; it goes at once, as the pod
    // garbage collector force-deletes such orphans on a real cluster.
    let on_node = cur
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty() && st.store.get("nodes", "", n).is_some());
    let ended = matches!(
        cur.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if grace == 0 || !on_node || ended {
        return Ok(None);
    }
    if cur.pointer("/metadata/deletionTimestamp").is_some() {
        // Already terminating: the first grace period stands.
        return Ok(Some((*cur).clone()));
    }
    let mut pod = (*cur).clone();
    let at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(grace))
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    pod["metadata"]["deletionTimestamp"] = json!(at);
    pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
    let rv = crate::store::object_rv(&cur);
    let marked = st
        .store
        .update(&res.key(), ns, name, pod, rv)
        .map_err(|_| super::status::ApiError::conflict(res, name))?;
    Ok(Some((*marked).clone()))
}
