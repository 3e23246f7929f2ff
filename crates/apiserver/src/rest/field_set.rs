//! Field sets of server-side apply: which fields a manager owns, as the
//! `fieldsV1` of `metadata.managedFields` spells them (`f:<field>` for a
//! map key, `k:{"name":"c"}` for a list element by its merge key, `.` for
//! the element itself). A path is the list of those tokens.

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// The merge key of a list field, by the parent path's last token and the
/// field (the strategic-merge keys the served kinds use).
fn list_key(parent: &[String], field: &str) -> Option<&'static str> {
    let last = parent.last().map(String::as_str).unwrap_or("");
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" | "volumes" | "env" | "imagePullSecrets" => {
            "name"
        }
        "ports" if last.starts_with("k:") => "containerPort",
        "ports" if last == "f:spec" => "port",
        "volumeMounts" => "mountPath",
        "conditions" => "type",
        _ => return None,
    })
}

/// Every field `config` sets but its status (an applier never owns
/// status): see [`of_object`].
pub fn of_config(config: &Value) -> FieldSet {
    let mut out = of_object(config);
    out.retain(|p| p.first().map(String::as_str) != Some("f:status"));
    out
}

/// Every field `obj` sets: a leaf per scalar, atomic list and empty map;
/// list elements with a merge key by that key. `apiVersion`, `kind`, and
/// the name and namespace are identity, not fields anyone owns.
pub fn of_object(obj: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    walk(obj, &mut Vec::new(), &mut out);
    drop_identity(&mut out);
    out
}

/// `of_object`, of the top-level fields `keep` takes only: a status write
/// owns status fields alone, so the rest of the object is not walked.
pub fn of_object_where(obj: &Value, keep: impl Fn(&str) -> bool) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(m) = obj {
        for (k, child) in m.iter().filter(|(k, _)| keep(k)) {
            walk_field(k, child, &mut Vec::new(), &mut out);
        }
    }
    drop_identity(&mut out);
    out
}

fn drop_identity(out: &mut FieldSet) {
    for id in [["f:metadata", "f:name"], ["f:metadata", "f:namespace"]] {
        out.remove(&id.iter().map(|s| s.to_string()).collect::<Path>());
    }
    out.remove(&vec!["f:apiVersion".to_string()]);
    out.remove(&vec!["f:kind".to_string()]);
}

fn walk(v: &Value, path: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                walk_field(k, child, path, out);
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// `child`'s elements and their merge key, when it is a list whose
/// elements are owned one by one (`list_key`) rather than as a whole.
fn keyed_list<'a>(parent: &[String], field: &str, child: &'a Value) -> Option<(&'a [Value], &'static str)> {
    match child {
        Value::Array(items) => list_key(parent, field).map(|key| (items.as_slice(), key)),
        _ => None,
    }
}

/// A list element's token: `k:{"name":"c"}`.
fn element(key: &str, value: &Value) -> String {
    format!("k:{}", json!({ key: value }))
}

fn walk_field(field: &str, child: &Value, path: &mut Path, out: &mut FieldSet) {
    let keyed = keyed_list(path, field, child);
    path.push(format!("f:{field}"));
    match keyed {
        Some((items, key)) => {
            for item in items {
                let Some(kv) = item.get(key) else { continue };
                path.push(element(key, kv));
                out.insert(with(path, "."));
                walk(item, path, out);
                path.pop();
            }
        }
        None => walk(child, path, out),
    }
    path.pop();
}

/// The paths of `after` (as `walk` finds them) where `before` does not
/// agree (`same_at` is false), found by walking both at once and skipping
/// every subtree the two hold equal: an update's cost follows what it
/// changed, not the object's size. A list element is matched by its merge
/// key, the first one holding it on either side, as `get` matches it.
pub fn changed(before: &Value, after: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    walk_changed(Some(before), after, &mut Vec::new(), &mut out);
    out
}

fn walk_changed(b: Option<&Value>, a: &Value, path: &mut Path, out: &mut FieldSet) {
    let m = match a {
        Value::Object(m) if !m.is_empty() => m,
        _ => {
            if b != Some(a) {
                out.insert(path.clone());
            }
            return;
        }
    };
    for (field, child) in m {
        let bchild = b.and_then(|b| b.get(field));
        if bchild == Some(child) {
            continue;
        }
        let keyed = keyed_list(path, field, child);
        path.push(format!("f:{field}"));
        match keyed {
            Some((items, key)) => {
                let mut seen: Vec<&Value> = Vec::new();
                for item in items {
                    let Some(kv) = item.get(key) else { continue };
                    if seen.contains(&kv) {
                        continue;
                    }
                    seen.push(kv);
                    let bitem = bchild
                        .and_then(Value::as_array)
                        .and_then(|l| l.iter().find(|i| i.get(key) == Some(kv)));
                    if bitem == Some(item) {
                        continue;
                    }
                    path.push(element(key, kv));
                    if bitem.is_none() {
                        out.insert(with(path, "."));
                    }
                    walk_changed(bitem, item, path, out);
                    path.pop();
                }
            }
            None => walk_changed(bchild, child, path, out),
        }
        path.pop();
    }
}

/// Whether `obj`'s set (as [`of_object`] walks it, identity aside) holds
/// `p`: a list element's `.` entry for an element it has, else a value it
/// has that `walk` takes as a leaf (a scalar, a list owned as a whole, an
/// empty map).
pub fn has(obj: &Value, p: &Path) -> bool {
    let Some(v) = get(obj, p) else {
        return false;
    };
    let Some((last, parent)) = p.split_last() else {
        return false;
    };
    if last == "." {
        return true;
    }
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(_) => last
            .strip_prefix("f:")
            .is_none_or(|field| list_key(parent, field).is_none()),
        _ => true,
    }
}

fn with(path: &Path, tail: &str) -> Path {
    let mut p = path.clone();
    p.push(tail.into());
    p
}

/// `fieldsV1` of a set.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for p in set {
        let mut node = &mut root;
        for tok in p {
            node = node
                .entry(tok.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("built as objects");
        }
    }
    Value::Object(root)
}

/// The set a `fieldsV1` stands for (its leaves, and `.` entries).
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn go(v: &Value, path: &mut Path, out: &mut FieldSet) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    go(child, path, out);
                    path.pop();
                }
            }
            _ if !path.is_empty() => {
                out.insert(path.clone());
            }
            _ => {}
        }
    }
    let mut out = FieldSet::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

/// A path as the real server prints it: `.spec.replicas`,
/// `.spec.containers[name="c"].image`.
pub fn display(p: &Path) -> String {
    let mut s = String::new();
    for tok in p {
        if let Some(f) = tok.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = tok.strip_prefix("k:") {
            let pairs: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", inner.join(",")));
        }
    }
    s
}

/// The value at a path (`.` is the element itself), if any.
pub fn get<'a>(obj: &'a Value, p: &Path) -> Option<&'a Value> {
    let mut cur = obj;
    for tok in p {
        cur = step(cur, tok)?;
    }
    Some(cur)
}

fn step<'a>(cur: &'a Value, tok: &str) -> Option<&'a Value> {
    if tok == "." {
        return Some(cur);
    }
    if let Some(f) = tok.strip_prefix("f:") {
        return cur.get(f);
    }
    let key: Map<String, Value> = serde_json::from_str(tok.strip_prefix("k:")?).ok()?;
    cur.as_array()?
        .iter()
        .find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))
}

/// Whether two objects agree at a path: the same value, or for a list
/// element's `.` entry, both holding the element (its fields are compared
/// on their own paths).
pub fn same_at(a: &Value, b: &Value, p: &Path) -> bool {
    if p.last().map(String::as_str) == Some(".") {
        return get(a, p).is_some() == get(b, p).is_some();
    }
    get(a, p) == get(b, p)
}

/// Remove the field at a path (a list element for a `.` path).
pub fn remove(obj: &mut Value, p: &Path) {
    let Some((last, parent)) = p.split_last() else {
        return;
    };
    let (target, tok) = if last == "." {
        match parent.split_last() {
            Some((elem, grand)) => (grand, elem),
            None => return,
        }
    } else {
        (parent, last)
    };
    let mut cur = obj;
    for t in target {
        let next = if let Some(f) = t.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            let Ok(key) = serde_json::from_str::<Map<String, Value>>(t.trim_start_matches("k:")) else {
                return;
            };
            cur.as_array_mut().and_then(|a| {
                a.iter_mut()
                    .find(|i| key.iter().all(|(k, v)| i.get(k) == Some(v)))
            })
        };
        let Some(n) = next else { return };
        cur = n;
    }
    if let Some(f) = tok.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(Ok(key)) = tok
        .strip_prefix("k:")
        .map(serde_json::from_str::<Map<String, Value>>)
    {
        if let Some(a) = cur.as_array_mut() {
            a.retain(|i| !key.iter().all(|(k, v)| i.get(k) == Some(v)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `changed` and `of_object_where` stand in for, computed the
    /// long way: every path of the object, compared one at a time.
    fn changed_the_long_way(before: &Value, after: &Value) -> FieldSet {
        of_object(after)
            .into_iter()
            .filter(|p| !same_at(before, after, p))
            .collect()
    }

    #[test]
    fn one_walk_of_both_objects_finds_what_comparing_every_path_finds() {
        let pending = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "n", "labels": {"app": "x"}, "resourceVersion": "5"},
            "spec": {"nodeName": "node-1", "containers": [
                {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}, {"containerPort": 81}]},
                {"name": "d", "image": "busybox", "env": [{"name": "A", "value": "1"}]}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}});
        let mut running = pending.clone();
        running["metadata"]["resourceVersion"] = json!("6");
        running["status"] = json!({"phase": "Running", "podIP": "10.0.1.5",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "c", "ready": true, "state": {"running": {}}}]});
        let mut edited = running.clone();
        edited["spec"]["containers"][0]["image"] = json!("nginx:2");
        edited["spec"]["containers"][0]["ports"] = json!([{"containerPort": 81}, {"containerPort": 82}]);
        edited["spec"]["containers"][1]["env"] =
            json!([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]);
        edited["metadata"]["labels"] = json!({});
        edited["spec"]["containers"].as_array_mut().unwrap().swap(0, 1);
        let scalar_to_map = json!({"spec": {"nodeName": {"x": 1}}, "status": "odd"});
        let objects = [json!({}), pending, running, edited, scalar_to_map];
        for before in &objects {
            for after in &objects {
                let mut fast = changed(before, after);
                let all = of_object(after);
                fast.retain(|p| all.contains(p));
                assert_eq!(fast, changed_the_long_way(before, after), "{before}\n→ {after}");
            }
        }
        // A status write's fields, and the rest, each from its own part.
        for obj in &objects[1..4] {
            let all = of_object(obj);
            let status = of_object_where(obj, |k| k == "status");
            let rest = of_object_where(obj, |k| k != "status");
            assert!(status.iter().all(|p| p[0] == "f:status"));
            assert!(!rest.iter().any(|p| p[0] == "f:status"));
            assert_eq!(status.union(&rest).cloned().collect::<FieldSet>(), all);
        }
    }

    #[test]
    fn config_fields_round_trip_through_fields_v1() {
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app": "x"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        let set = of_config(&config);
        let shown: Vec<String> = set.iter().map(display).collect();
        assert!(shown.contains(&".spec.replicas".to_string()), "{shown:?}");
        assert!(
            shown.contains(&".spec.template.spec.containers[name=\"c\"].image".to_string()),
            "{shown:?}"
        );
        assert!(
            !shown.iter().any(|s| s == ".metadata.name" || s == ".kind"),
            "{shown:?}"
        );
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["."],
            json!({})
        );
        assert_eq!(from_fields_v1(&v1), set);
        let image = set.iter().find(|p| display(p).ends_with("image")).unwrap();
        assert_eq!(get(&config, image), Some(&json!("nginx")));
        let mut obj = config.clone();
        remove(&mut obj, image);
        assert!(obj["spec"]["template"]["spec"]["containers"][0]
            .get("image")
            .is_none());
        let elem = set
            .iter()
            .find(|p| p.last().map(String::as_str) == Some("."))
            .unwrap();
        remove(&mut obj, elem);
        assert_eq!(obj["spec"]["template"]["spec"]["containers"], json!([]));
    }
}
