//! A pod spec's volumes and its containers' volumeMounts, checked as the
//! real server checks them (names unique and known, one source per
//! volume, relative paths without `..`, file modes within 0777).

use crate::rest::status::FieldError;
use serde_json::{json, Value};
use std::collections::HashSet;

/// Every source a core/v1 VolumeSource may name: exactly one is set.
const SOURCES: &[&str] = &[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "hostPath",
    "image",
    "iscsi",
    "nfs",
    "persistentVolumeClaim",
    "photonPersistentDisk",
    "portworxVolume",
    "projected",
    "quobyte",
    "rbd",
    "scaleIO",
    "secret",
    "storageos",
    "vsphereVolume",
];

const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

/// Checks `spec.volumes` and the volumeMounts of every container list.
pub(super) fn volumes(spec: &Value, base: &str, errs: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    let vols = spec.get("volumes").and_then(Value::as_array);
    for (i, v) in vols.into_iter().flatten().enumerate() {
        let vb = format!("{base}.volumes[{i}]");
        match v["name"].as_str().filter(|n| !n.is_empty()) {
            None => errs.push(FieldError::required(format!("{vb}.name"), "")),
            Some(n) if !names.insert(n.to_string()) => {
                errs.push(FieldError::duplicate(format!("{vb}.name"), &json!(n)))
            }
            Some(_) => {}
        }
        let set: Vec<&str> = SOURCES.iter().copied().filter(|s| !v[*s].is_null()).collect();
        match set.as_slice() {
            [] => errs.push(FieldError::required(vb.clone(), "must specify a volume type")),
            [_] => {}
            [_, second, ..] => errs.push(FieldError::forbidden(
                format!("{vb}.{second}"),
                "may not specify more than 1 volume type",
            )),
        }
        if let Some(h) = v.get("hostPath") {
            let path = h["path"].as_str().unwrap_or("");
            if path.is_empty() {
                errs.push(FieldError::required(format!("{vb}.hostPath.path"), ""));
            } else if has_backstep(path) {
                errs.push(FieldError::invalid(
                    format!("{vb}.hostPath.path"),
                    &json!(path),
                    "must not contain '..'",
                ));
            }
            if let Some(t) = h.get("type").filter(|t| !t.is_null()) {
                if !t.as_str().is_some_and(|t| HOST_PATH_TYPES.contains(&t)) {
                    errs.push(FieldError::not_supported(
                        format!("{vb}.hostPath.type"),
                        t,
                        HOST_PATH_TYPES,
                    ));
                }
            }
        }
        for (src, name_field) in [("configMap", "name"), ("secret", "secretName")] {
            let Some(s) = v.get(src) else { continue };
            let sb = format!("{vb}.{src}");
            if src == "configMap" && s[name_field].as_str().is_none_or(str::is_empty) {
                errs.push(FieldError::required(format!("{sb}.{name_field}"), ""));
            }
            mode(&s["defaultMode"], format!("{sb}.defaultMode"), errs);
            let items = s.get("items").and_then(Value::as_array);
            for (j, it) in items.into_iter().flatten().enumerate() {
                let ib = format!("{sb}.items[{j}]");
                if it["key"].as_str().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!("{ib}.key"), ""));
                }
                relative_path(&it["path"], format!("{ib}.path"), true, errs);
                mode(&it["mode"], format!("{ib}.mode"), errs);
            }
        }
        projected_tokens(v, &vb, errs);
    }
    for list in ["containers", "initContainers"] {
        let cs = spec.get(list).and_then(Value::as_array);
        for (i, c) in cs.into_iter().flatten().enumerate() {
            mounts(c, &format!("{base}.{list}[{i}]"), &names, errs);
        }
    }
}

fn mounts(c: &Value, cb: &str, volumes: &HashSet<String>, errs: &mut Vec<FieldError>) {
    let mut paths = HashSet::new();
    let ms = c.get("volumeMounts").and_then(Value::as_array);
    for (j, m) in ms.into_iter().flatten().enumerate() {
        let mb = format!("{cb}.volumeMounts[{j}]");
        match m["name"].as_str().filter(|n| !n.is_empty()) {
            None => errs.push(FieldError::required(format!("{mb}.name"), "")),
            Some(n) if !volumes.contains(n) => errs.push(FieldError {
                reason: "FieldValueNotFound",
                field: format!("{mb}.name"),
                message: format!("Not found: {:?}", n),
            }),
            Some(_) => {}
        }
        match m["mountPath"].as_str().filter(|p| !p.is_empty()) {
            None => errs.push(FieldError::required(format!("{mb}.mountPath"), "")),
            Some(p) if !paths.insert(p.to_string()) => errs.push(FieldError::invalid(
                format!("{mb}.mountPath"),
                &json!(p),
                "must be unique",
            )),
            Some(_) => {}
        }
        relative_path(&m["subPath"], format!("{mb}.subPath"), false, errs);
    }
}

/// A projected volume's serviceAccountToken sources: a relative path, and
/// a lifetime the TokenRequest API grants (10 minutes to 2^32 seconds), so
/// that a pod the kubelet could not give its token is refused here rather
/// than left Pending on its node.
fn projected_tokens(v: &Value, vb: &str, errs: &mut Vec<FieldError>) {
    let sources = v["projected"]["sources"].as_array();
    for (j, src) in sources.into_iter().flatten().enumerate() {
        let Some(t) = src.get("serviceAccountToken").filter(|t| !t.is_null()) else {
            continue;
        };
        let tb = format!("{vb}.projected.sources[{j}].serviceAccountToken");
        relative_path(&t["path"], format!("{tb}.path"), true, errs);
        let secs = &t["expirationSeconds"];
        let why = match secs.as_i64() {
            Some(s) if s < 600 => "may not specify a duration less than 10 minutes",
            Some(s) if s > 1 << 32 => "may not specify a duration larger than 2^32 seconds",
            _ => continue,
        };
        errs.push(FieldError::invalid(format!("{tb}.expirationSeconds"), secs, why));
    }
}

fn has_backstep(path: &str) -> bool {
    path.split('/').any(|p| p == "..")
}

/// A relative path without `..` (`required`: also not empty).
fn relative_path(v: &Value, field: String, required: bool, errs: &mut Vec<FieldError>) {
    let p = v.as_str().unwrap_or("");
    if p.is_empty() {
        if required {
            errs.push(FieldError::required(field, ""));
        }
    } else if p.starts_with('/') {
        errs.push(FieldError::invalid(field, v, "must be a relative path"));
    } else if has_backstep(p) {
        errs.push(FieldError::invalid(field, v, "must not contain '..'"));
    }
}

fn mode(v: &Value, field: String, errs: &mut Vec<FieldError>) {
    if v.is_null() {
        return;
    }
    if !v.as_i64().is_some_and(|m| (0..=0o777).contains(&m)) {
        errs.push(FieldError::invalid(
            field,
            v,
            "must be a number between 0 and 0777 (octal), both inclusive",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        volumes(&spec, "spec", &mut errs);
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn names_sources_and_mounts_as_the_real_server_says() {
        let errs = check(json!({
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "data", "emptyDir": {}},
                {"name": "none"},
                {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
                {"name": "h", "hostPath": {"path": "/a/../b", "type": "Dir"}},
                {"name": "c", "configMap": {"name": "m", "defaultMode": 1000,
                    "items": [{"key": "k", "path": "/abs"}]}}
            ],
            "containers": [{"name": "c", "volumeMounts": [
                {"name": "nope", "mountPath": "/d"},
                {"name": "data", "mountPath": "/d", "subPath": "../x"}
            ]}]
        }));
        assert_eq!(
            errs,
            [
                "spec.volumes[1].name: Duplicate value: \"data\"",
                "spec.volumes[2]: Required value: must specify a volume type",
                "spec.volumes[3].hostPath: Forbidden: may not specify more than 1 volume type",
                "spec.volumes[4].hostPath.path: Invalid value: \"/a/../b\": must not contain '..'",
                "spec.volumes[4].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"",
                "spec.volumes[5].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive",
                "spec.volumes[5].configMap.items[0].path: Invalid value: \"/abs\": must be a relative path",
                "spec.containers[0].volumeMounts[0].name: Not found: \"nope\"",
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique",
                "spec.containers[0].volumeMounts[1].subPath: Invalid value: \"../x\": must not contain '..'",
            ]
        );
    }

    #[test]
    fn a_projected_token_needs_a_path_and_a_lifetime_the_token_api_grants() {
        let token = |t: Value| json!({"volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": t}]}}]});
        let at = "spec.volumes[0].projected.sources[0].serviceAccountToken";
        assert_eq!(
            check(token(json!({"path": "token", "expirationSeconds": 60}))),
            [format!(
                "{at}.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"
            )]
        );
        assert_eq!(
            check(token(json!({"path": "token", "expirationSeconds": 5_000_000_000_i64}))),
            [format!("{at}.expirationSeconds: Invalid value: 5000000000: may not specify a duration larger than 2^32 seconds")]
        );
        assert_eq!(
            check(token(json!({"expirationSeconds": 600}))),
            [format!("{at}.path: Required value")]
        );
        assert!(check(token(json!({"path": "token", "expirationSeconds": 3607}))).is_empty());
        assert!(check(token(json!({"path": "token"}))).is_empty());
    }

    #[test]
    fn a_good_spec_passes() {
        let errs = check(json!({
            "volumes": [{"name": "d", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}}],
            "containers": [{"name": "c", "volumeMounts": [{"name": "d", "mountPath": "/d", "subPath": "a/b"},
                {"name": "s", "mountPath": "/s", "readOnly": true}]}]
        }));
        assert!(errs.is_empty(), "{errs:?}");
    }
}
