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
    for id in [["f:metadata", "f:name"], ["f:metadata", "f:namespace"]] {
        out.remove(&id.iter().map(|s| s.to_string()).collect::<Path>());
    }
    out.remove(&vec!["f:apiVersion".to_string()]);
    out.remove(&vec!["f:kind".to_string()]);
    out
}

fn walk(v: &Value, path: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let field = k.clone();
                let key = match child {
                    Value::Array(_) => list_key(path, &field),
                    _ => None,
                };
                path.push(format!("f:{field}"));
                match (child, key) {
                    (Value::Array(items), Some(key)) => {
                        for item in items {
                            let Some(kv) = item.get(key) else { continue };
                            path.push(format!("k:{}", json!({ key: kv })));
                            out.insert(with(path, "."));
                            walk(item, path, out);
                            path.pop();
                        }
                    }
                    _ => walk(child, path, out),
                }
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
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
