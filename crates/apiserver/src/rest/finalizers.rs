//! Finalizers and foreground deletion, as kube-apiserver does them for
//! every kind but Pods (whose deletion is graceful: `super::graceful`). A
//! DELETE of an object that holds finalizers, or one asking for Foreground
//! propagation, only marks it (`deletionTimestamp`, and the
//! `foregroundDeletion` finalizer for Foreground); whoever owns a finalizer
//! removes it when done (the garbage collector removes
//! `foregroundDeletion` once the object's dependents are gone), and the
//! update that removes the last one deletes the object.

use serde_json::{json, Value};

use super::delete_options::Propagation;
use super::status::{ApiError, ApiResult};
use crate::resources::ResourceDef;
use crate::state::AppState;

/// The finalizer of an owner waiting for its dependents to go.
pub const FOREGROUND: &str = "foregroundDeletion";

fn finalizers(obj: &Value) -> Vec<&str> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Mark `cur` for deletion instead of deleting it when it must wait:
/// Some(the marked object) then, None when it is to go at once.
pub fn mark(
    st: &AppState,
    res: &ResourceDef,
    ns: &str,
    cur: &Value,
    propagation: Option<Propagation>,
) -> ApiResult<Option<Value>> {
    if res.kind == "Pod" {
        return Ok(None);
    }
    let foreground = propagation == Some(Propagation::Foreground);
    let held = finalizers(cur);
    if held.is_empty() && !foreground {
        return Ok(None);
    }
    let marked_already = cur.pointer("/metadata/deletionTimestamp").is_some();
    if marked_already && (!foreground || held.contains(&FOREGROUND)) {
        return Ok(Some(cur.clone()));
    }
    let mut obj = cur.clone();
    if !marked_already {
        obj["metadata"]["deletionTimestamp"] =
            json!(jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    }
    if foreground && !held.contains(&FOREGROUND) {
        let mut list: Vec<Value> = held.iter().map(|f| json!(f)).collect();
        list.push(json!(FOREGROUND));
        obj["metadata"]["finalizers"] = json!(list);
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let saved = st
        .store
        .update(&res.key(), ns, &name, obj, crate::store::object_rv(cur))
        .map_err(|_| ApiError::conflict(res, &name))?;
    Ok(Some((*saved).clone()))
}

/// Whether an update leaves a marked object with no finalizer: its
/// deletion then completes instead of the update.
pub fn released(res: &ResourceDef, new: &Value) -> bool {
    res.kind != "Pod" && new.pointer("/metadata/deletionTimestamp").is_some() && finalizers(new).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_marked_object_without_finalizers_is_released() {
        let dep = crate::resources::by_kind("Deployment").unwrap();
        let pod = crate::resources::by_kind("Pod").unwrap();
        let marked = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": []}});
        assert!(released(dep, &marked));
        assert!(!released(pod, &marked), "pods end through graceful deletion");
        let held = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["x"]}});
        assert!(!released(dep, &held));
        assert!(!released(dep, &json!({"metadata": {"finalizers": []}})));
    }
}
