//! `metadata.managedFields` of ordinary writes (create, update, the
//! non-apply patches, and the `status` and `scale` subresources), recorded
//! as the real server records them, so that a later server-side apply
//! conflicts with what `kubectl create`, `edit`, `scale` or a controller
//! set:
//! - the manager is `?fieldManager=`, else the User-Agent up to its first
//!   '/' (kubectl's `kubectl/v1.32.0 (linux/amd64) …` is `kubectl`);
//! - one `Update` entry per manager, apiVersion and subresource: a write
//!   adds the fields it changed to it and takes them from every other
//!   manager (an update never conflicts); fields it removed leave every
//!   entry; a write that changes nothing leaves the entries as they were;
//! - the status subresource owns status fields only, every other write
//!   everything but status and the server's own metadata;
//! - at most ten `Update` entries: the oldest are merged into one
//!   `ancient-changes` entry per apiVersion, so a controller that writes
//!   under many names cannot grow an object without bound.

use super::ctx::Ctx;
use super::field_set::{self, FieldSet};
use serde_json::{json, Value};
use std::cmp::Ordering;

/// How many `Update` entries an object keeps (the real server's default).
const MAX_UPDATE_MANAGERS: usize = 10;
/// The manager the oldest `Update` entries are merged into.
const ANCIENT: &str = "ancient-changes";
/// Metadata the server itself sets: nobody owns it.
const SERVER_METADATA: [&str; 7] = [
    "f:managedFields",
    "f:resourceVersion",
    "f:uid",
    "f:creationTimestamp",
    "f:generation",
    "f:deletionTimestamp",
    "f:deletionGracePeriodSeconds",
];

/// Who records the managers of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// An ordinary write: recorded here as an `Update`.
    Update,
    /// A server-side apply, which has set the entries itself.
    Apply,
}

/// The manager of an ordinary write, as the real server names it: the
/// `fieldManager` parameter, else the User-Agent's product (its part
/// before the first '/'), printable characters only, at most 128 bytes. kube-rs sends
/// no User-Agent: its writes are recorded under "", as the real server
/// records them.
pub fn manager(ctx: &Ctx) -> String {
    if let Some(m) = ctx.q("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let ua = ctx.header("user-agent");
    let product = ua.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in product.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(c);
    }
    out
}

/// The time of an entry, as managedFields spell it (seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How a conflict names a manager, as the real server prints it:
/// `"kubectl"`, `"kubectl" with subresource "scale" using apps/v1`.
pub fn label(entry: &Value) -> String {
    let mut s = format!("{:?}", entry["manager"].as_str().unwrap_or(""));
    if let Some(sub) = entry["subresource"].as_str().filter(|s| !s.is_empty()) {
        s.push_str(&format!(" with subresource {sub:?}"));
    }
    if entry["operation"] == "Update" {
        s.push_str(&format!(" using {}", entry["apiVersion"].as_str().unwrap_or("")));
    }
    s
}

/// The fields a write to `sub` may own in `obj`.
fn tracked(obj: &Value, sub: Option<&str>) -> FieldSet {
    let status = sub == Some("status");
    let mut set = field_set::of_object_where(obj, |k| (k == "status") == status);
    set.retain(|p| !server_metadata(p));
    set
}

fn server_metadata(p: &field_set::Path) -> bool {
    p.first().map(String::as_str) == Some("f:metadata")
        && p.get(1).is_some_and(|f| SERVER_METADATA.contains(&f.as_str()))
}

/// Whether a path of an object's set is one `tracked` keeps: the status
/// write's status fields or every other write's other fields, neither the
/// server's metadata nor the object's identity.
fn is_tracked(p: &field_set::Path, sub: Option<&str>) -> bool {
    let first = p.first().map(String::as_str);
    let identity = matches!(first, Some("f:apiVersion" | "f:kind")) && p.len() == 1
        || first == Some("f:metadata") && p.len() == 2 && matches!(p[1].as_str(), "f:name" | "f:namespace");
    (first == Some("f:status")) == (sub == Some("status")) && !server_metadata(p) && !identity
}

/// The fields an update of `old` to `new` changed (set or altered, in
/// `new`) and removed (in `old`, gone from `new`'s set), among those the
/// write may own. Found by walking both objects at once each way, skipping
/// what they hold equal, so that a pod's status PATCH costs what it
/// changed: building both objects' whole sets to compare them was an
/// eighth of the API server's CPU in a burst of pod starts.
fn changed_and_removed(old: &Value, new: &Value, sub: Option<&str>) -> (FieldSet, FieldSet) {
    let mut changed = field_set::changed(old, new);
    changed.retain(|p| is_tracked(p, sub));
    // Every path old has where new disagrees; those new still has (with
    // another value) were changed, not removed.
    let mut removed = field_set::changed(new, old);
    removed.retain(|p| is_tracked(p, sub) && !field_set::has(new, p));
    (changed, removed)
}

fn identity(e: &Value) -> (&str, &str, &str, &str) {
    let s = |k: &str| e[k].as_str().unwrap_or("");
    (s("manager"), s("operation"), s("apiVersion"), s("subresource"))
}

/// The entries a write starts from: the ones it sent, when it sent some
/// (a client may rewrite them; `[{}]` clears them), else the live ones,
/// so that clients unaware of managedFields never drop them.
fn base(old: Option<&Value>, new: &Value, sub: Option<&str>) -> Vec<Value> {
    let live = || {
        old.and_then(|o| o.pointer("/metadata/managedFields"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    match new.pointer("/metadata/managedFields").and_then(Value::as_array) {
        Some(sent) if !sent.is_empty() && sub.is_none() && old.is_some() => sent
            .iter()
            .filter(|e| !e.as_object().is_some_and(|m| m.is_empty()))
            .cloned()
            .collect(),
        _ => live(),
    }
}

/// Record an ordinary write of `new` over `old` (None for a create) in
/// `new`'s managedFields.
pub fn record(ctx: &Ctx, old: Option<&Value>, new: &mut Value) {
    let sub = ctx.target.sub.as_deref();
    let manager = manager(ctx);
    let api_version = ctx.res().api_version();
    let cleared = matches!(
        new.pointer("/metadata/managedFields").and_then(Value::as_array),
        Some(sent) if sent.len() == 1 && sent[0].as_object().is_some_and(|m| m.is_empty())
    );
    let entries = base(old, new, sub);
    if cleared {
        new["metadata"]["managedFields"] = json!([]);
        return;
    }
    // A create changes every field it sets: no field-by-field comparison
    // with nothing (a burst's Events and Pods are mostly creates).
    let (changed, removed) = match old {
        None => (tracked(new, sub), FieldSet::new()),
        Some(old) => changed_and_removed(old, new, sub),
    };
    if changed.is_empty() && removed.is_empty() {
        set_entries(new, entries);
        return;
    }
    let me = (
        manager.as_str(),
        "Update",
        api_version.as_str(),
        sub.unwrap_or(""),
    );
    let mut mine = FieldSet::new();
    let mut out = Vec::new();
    for mut e in entries {
        let set = field_set::from_fields_v1(&e["fieldsV1"]);
        if identity(&e) == me {
            mine = set;
            continue;
        }
        let kept: FieldSet = set
            .iter()
            .filter(|p| !changed.contains(*p) && !removed.contains(*p))
            .cloned()
            .collect();
        if kept.is_empty() {
            continue;
        }
        if kept.len() != set.len() {
            e["fieldsV1"] = field_set::to_fields_v1(&kept);
        }
        out.push(e);
    }
    mine.extend(changed);
    let mine: FieldSet = mine.difference(&removed).cloned().collect();
    if !mine.is_empty() {
        let mut e = json!({"manager": manager, "operation": "Update", "apiVersion": api_version,
            "time": now(), "fieldsType": "FieldsV1", "fieldsV1": field_set::to_fields_v1(&mine)});
        if let Some(sub) = sub {
            e["subresource"] = json!(sub);
        }
        out.push(e);
    }
    set_entries(new, out);
}

/// Cap the `Update` entries and put them in the real server's order.
pub fn arrange(entries: &mut Vec<Value>) {
    cap(entries);
    entries.sort_by(order);
}

fn set_entries(obj: &mut Value, mut entries: Vec<Value>) {
    arrange(&mut entries);
    if entries.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        return;
    }
    obj["metadata"]["managedFields"] = json!(entries);
}

/// The real server's order: Apply before Update, then oldest first.
fn order(a: &Value, b: &Value) -> Ordering {
    let t = |e: &Value| e["time"].as_str().unwrap_or("").to_string();
    let (am, ao, av, asub) = identity(a);
    let (bm, bo, bv, bsub) = identity(b);
    ao.cmp(bo)
        .then_with(|| t(a).cmp(&t(b)))
        .then_with(|| (am, av, asub).cmp(&(bm, bv, bsub)))
}

/// Merge the oldest `Update` entries into `ancient-changes` until at most
/// [`MAX_UPDATE_MANAGERS`] are left.
fn cap(entries: &mut Vec<Value>) {
    let updates = entries.iter().filter(|e| e["operation"] == "Update").count();
    if updates <= MAX_UPDATE_MANAGERS {
        return;
    }
    entries.sort_by(order);
    let mut excess = updates - MAX_UPDATE_MANAGERS;
    let mut i = 0;
    while excess > 0 && i < entries.len() {
        let e = &entries[i];
        if e["operation"] != "Update" || identity(e).0 == ANCIENT {
            i += 1;
            continue;
        }
        let e = entries.remove(i);
        let version = identity(&e).2.to_string();
        let fields = field_set::from_fields_v1(&e["fieldsV1"]);
        let bucket = entries
            .iter_mut()
            .find(|b| identity(b) == (ANCIENT, "Update", version.as_str(), ""));
        match bucket {
            // Merging into an existing bucket removes an entry.
            Some(b) => {
                let mut all: FieldSet = field_set::from_fields_v1(&b["fieldsV1"]);
                all.extend(fields);
                b["fieldsV1"] = field_set::to_fields_v1(&all);
                excess -= 1;
            }
            // The first merged entry becomes the bucket: no fewer entries
            // yet, the next merge into it removes one.
            None => entries.push(json!({"manager": ANCIENT, "operation": "Update",
                "apiVersion": version, "time": e["time"], "fieldsType": "FieldsV1",
                "fieldsV1": field_set::to_fields_v1(&fields)})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sets compared whole, as `record` found them before
    /// `changed_and_removed`: the oracle it must agree with.
    fn by_whole_sets(old: &Value, new: &Value, sub: Option<&str>) -> (FieldSet, FieldSet) {
        let (old_set, new_set) = (tracked(old, sub), tracked(new, sub));
        let mut changed = field_set::changed(old, new);
        changed.retain(|p| new_set.contains(p));
        (changed, old_set.difference(&new_set).cloned().collect())
    }

    #[test]
    fn walking_both_objects_finds_what_comparing_their_whole_sets_finds() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "d", "uid": "u", "resourceVersion": "5",
                "labels": {"app": "web", "tier": "front"}, "annotations": {}},
            "spec": {"nodeName": "", "containers": [
                {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}], "args": ["a"]},
                {"name": "s", "image": "busybox", "env": [{"name": "X", "value": "1"}]}],
                "volumes": [{"name": "v", "emptyDir": {}}], "tolerations": [{"key": "k"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}});
        type Edit = (Option<&'static str>, fn(&mut Value));
        let edits: Vec<Edit> = vec![
            (Some("status"), |p| {
                p["status"] = json!({"phase": "Running", "podIP": "10.0.0.5",
                    "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "c", "ready": true}]});
            }),
            (Some("status"), |p| {
                p["status"] = json!({"phase": "Pending"});
            }),
            (None, |p| {
                p["metadata"]["labels"] = json!({"app": "web2"});
                p["metadata"]["resourceVersion"] = json!("6");
            }),
            (None, |p| {
                p["spec"]["containers"] = json!([{"name": "c", "image": "nginx:2", "ports": []}]);
            }),
            (None, |p| {
                p["spec"]["volumes"] = json!([]);
                p["spec"]["tolerations"] = json!([]);
                p["spec"]["nodeName"] = json!({"odd": "map"});
                p["metadata"]["annotations"] = json!({"a": "b"});
            }),
            (None, |p| {
                p["spec"]["containers"][1]["env"] = json!("not a list");
                p["spec"].as_object_mut().unwrap().remove("volumes");
                p["metadata"]["name"] = json!("renamed");
            }),
            (None, |_| {}),
        ];
        for (i, (sub, edit)) in edits.into_iter().enumerate() {
            let mut new = pod.clone();
            edit(&mut new);
            for (old, new) in [(&pod, &new), (&new, &pod)] {
                assert_eq!(
                    changed_and_removed(old, new, sub),
                    by_whole_sets(old, new, sub),
                    "edit {i} ({sub:?})"
                );
            }
        }
    }

    fn update(manager: &str, time: &str, field: &str) -> Value {
        json!({"manager": manager, "operation": "Update", "apiVersion": "v1", "time": time,
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {format!("f:{field}"): {}}}})
    }

    #[test]
    fn the_oldest_updates_merge_into_ancient_changes() {
        let mut entries: Vec<Value> = (0..13)
            .map(|i| {
                update(
                    &format!("m{i:02}"),
                    &format!("2026-01-01T00:00:{i:02}Z"),
                    &format!("k{i}"),
                )
            })
            .collect();
        entries.push(
            json!({"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}),
        );
        cap(&mut entries);
        entries.sort_by(order);
        let updates: Vec<&str> = entries
            .iter()
            .filter(|e| e["operation"] == "Update")
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(updates.len(), MAX_UPDATE_MANAGERS, "{updates:?}");
        assert_eq!(entries[0]["operation"], "Apply");
        let ancient = entries.iter().find(|e| e["manager"] == ANCIENT).unwrap();
        let keys: Vec<&String> = ancient["fieldsV1"]["f:data"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["f:k0", "f:k1", "f:k2", "f:k3"]);
        assert!(
            !updates.contains(&"m03") && updates.contains(&"m04"),
            "{updates:?}"
        );
    }

    #[test]
    fn conflicts_name_update_managers_with_version_and_subresource() {
        let e = json!({"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1", "subresource": "scale"});
        assert_eq!(label(&e), r#""kubectl" with subresource "scale" using apps/v1"#);
        assert_eq!(
            label(&json!({"manager": "ops", "operation": "Apply"})),
            r#""ops""#
        );
    }
}
