//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
//! strategic merge patch for the served kinds (lists merged by their
//! Kubernetes patch merge key, with the $patch / $setElementOrder /
//! $deleteFromPrimitiveList / $retainKeys directives kubectl sends).

use super::status::ApiError;
use serde_json::{Map, Value};

pub fn apply(content_type: &str, target: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let parse = |b: &[u8]| {
        serde_json::from_slice::<Value>(b)
            .or_else(|_| serde_yaml::from_slice::<Value>(b))
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
    };
    match ct {
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_slice(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut doc = target.clone();
            json_patch::patch(&mut doc, &ops)
                .map_err(|e| ApiError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: {e}")))?;
            Ok(doc)
        }
        "application/merge-patch+json" => {
            let mut doc = target.clone();
            merge(&mut doc, &parse(patch)?);
            Ok(doc)
        }
        "application/strategic-merge-patch+json" => {
            let p = parse(patch)?;
            let mut doc = target.clone();
            strategic(&mut doc, &p, "")?;
            Ok(doc)
        }
        "application/apply-patch+yaml" => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "server-side apply is not supported by this server; use client-side apply",
        )),
        other => Err(ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})"))),
    }
}

/// RFC 7386.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The patch merge key of a list field, by the field's path suffix. Lists not
/// named here are replaced whole (atomic), as for lists without a merge key.
fn merge_key(path: &str, field: &str) -> Option<&'static str> {
    let in_container = path.ends_with("containers")
        || path.ends_with("initContainers")
        || path.ends_with("ephemeralContainers");
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" | "volumes" | "env" | "imagePullSecrets" => {
            "name"
        }
        "ports" if in_container => "containerPort",
        "ports" if path.ends_with("spec") => "port",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "addresses" if path.ends_with("status") => "type",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ownerReferences" => "uid",
        "resourceClaims" => "name",
        _ => return None,
    })
}

/// Primitive lists merged as sets rather than replaced.
fn merges_primitives(field: &str) -> bool {
    matches!(field, "finalizers")
}

fn strategic(target: &mut Value, patch: &Value, path: &str) -> Result<(), ApiError> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if let Some(directive) = p.get("$patch").and_then(Value::as_str) {
        match directive {
            "replace" => {
                let mut v = p.clone();
                v.remove("$patch");
                *target = Value::Object(v);
                return Ok(());
            }
            "delete" => {
                *target = Value::Null;
                return Ok(());
            }
            _ => {}
        }
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let retain: Option<Vec<String>> = p
        .get("$retainKeys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if k.starts_with("$setElementOrder/")
            || k.starts_with("$deleteFromPrimitiveList/")
            || k == "$patch"
            || k == "$retainKeys"
        {
            continue;
        }
        let child_path = format!("{path}/{k}");
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(items)) => {
                if let Some(key) = merge_key(path, k) {
                    merge_list(cur, items, key, &child_path)?;
                } else if merges_primitives(k) {
                    for i in items {
                        if !cur.contains(i) {
                            cur.push(i.clone());
                        }
                    }
                } else {
                    *cur = items.clone();
                }
            }
            (Some(cur), Value::Object(_)) if cur.is_object() => {
                strategic(cur, v, &child_path)?;
                if cur.is_null() {
                    t.remove(k);
                }
            }
            _ => {
                let mut nv = Value::Null;
                strategic(&mut nv, v, &child_path)?;
                strip_directives(&mut nv);
                t.insert(k.clone(), nv);
            }
        }
    }
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Some(del)) = (t.get_mut(field), v.as_array()) {
                cur.retain(|x| !del.contains(x));
            }
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            if let (Some(key), Some(Value::Array(cur)), Some(order)) =
                (merge_key(path, field), t.get_mut(field), v.as_array())
            {
                reorder(cur, order, key);
            }
        }
    }
    if let Some(keep) = retain {
        t.retain(|k, _| keep.contains(k));
    }
    Ok(())
}

fn merge_list(cur: &mut Vec<Value>, items: &[Value], key: &str, path: &str) -> Result<(), ApiError> {
    for item in items {
        let Some(kv) = item.get(key) else {
            return Err(ApiError::bad_request(format!(
                "map: {item} does not contain declared merge key: {key} (at {path})"
            )));
        };
        let directive = item.get("$patch").and_then(Value::as_str);
        let pos = cur.iter().position(|c| c.get(key) == Some(kv));
        match (directive, pos) {
            (Some("delete"), Some(i)) => {
                cur.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => strategic(&mut cur[i], item, path)?,
            (_, None) => {
                let mut nv = Value::Null;
                strategic(&mut nv, item, path)?;
                strip_directives(&mut nv);
                cur.push(nv);
            }
        }
    }
    Ok(())
}

fn reorder(cur: &mut [Value], order: &[Value], key: &str) {
    let rank = |v: &Value| {
        order
            .iter()
            .position(|o| o.get(key) == v.get(key))
            .unwrap_or(usize::MAX)
    };
    cur.sort_by_key(rank);
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let cur = json!({"spec":{"template":{"spec":{"containers":[
            {"name":"a","image":"x","ports":[{"containerPort":80}]},{"name":"b","image":"y"}]}}}});
        let p = json!({"spec":{"template":{"spec":{
            "$setElementOrder/containers":[{"name":"b"},{"name":"a"}],
            "containers":[{"name":"a","image":"z"},{"name":"b","$patch":"delete"},{"name":"c","image":"w"}]}}}});
        let out = apply(
            "application/strategic-merge-patch+json",
            &cur,
            p.to_string().as_bytes(),
        )
        .unwrap();
        let cs = out
            .pointer("/spec/template/spec/containers")
            .unwrap()
            .as_array()
            .unwrap();
        let names: Vec<&str> = cs.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["a", "c"]);
        assert_eq!(cs[0]["image"], "z");
        assert_eq!(cs[0]["ports"][0]["containerPort"], 80);
    }

    #[test]
    fn merge_and_json_patch() {
        let cur = json!({"metadata":{"labels":{"a":"1","b":"2"}}});
        let out = apply(
            "application/merge-patch+json",
            &cur,
            br#"{"metadata":{"labels":{"a":null,"c":"3"}}}"#,
        )
        .unwrap();
        assert_eq!(out, json!({"metadata":{"labels":{"b":"2","c":"3"}}}));
        let out = apply(
            "application/json-patch+json",
            &cur,
            br#"[{"op":"replace","path":"/metadata/labels/a","value":"9"}]"#,
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"]["a"], "9");
    }
}
