//! The ServiceAccount admission plugin's token volume: a new pod whose
//! account does not opt out (`automountServiceAccountToken: false` on the
//! pod, or else on its ServiceAccount) gets the projected volume
//! `kube-api-access-<5 random>` (a bound token, the cluster CA from the
//! `kube-root-ca.crt` ConfigMap, its namespace) mounted read-only where
//! in-cluster clients look for it, in every container and init container.

use crate::state::AppState;
use labyrinth_contracts::service_account::{ROOT_CA_CONFIGMAP, ROOT_CA_KEY};
use serde_json::{json, Value};

/// Where in-cluster clients (client-go, the Python client, kube-rs) read
/// `token`, `ca.crt` and `namespace`.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The token's lifetime as kube-apiserver asks for it: an hour and seven
/// seconds (the seven tell a kubelet-made token from others).
const TOKEN_SECONDS: i64 = 3607;

/// Add the volume and mounts to a Pod being created (its
/// `serviceAccountName` already defaulted).
pub fn admit(st: &AppState, pod: &mut Value) {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let Some(spec) = pod.get_mut("spec") else {
        return;
    };
    let account = spec["serviceAccountName"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let from_account = || {
        st.store
            .get("serviceaccounts", &ns, &account)
            .and_then(|sa| sa.get("automountServiceAccountToken").and_then(Value::as_bool))
    };
    let mount = spec["automountServiceAccountToken"]
        .as_bool()
        .or_else(from_account)
        .unwrap_or(true);
    if mount {
        add_volume(spec);
    }
}

fn add_volume(spec: &mut Value) {
    let taken = |spec: &Value, name: &str| {
        spec["volumes"]
            .as_array()
            .is_some_and(|vs| vs.iter().any(|v| v["name"] == name))
    };
    let name = loop {
        let n = format!("kube-api-access-{}", super::admit::random_suffix(5));
        if !taken(spec, &n) {
            break n;
        }
    };
    let volume = json!({
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": ROOT_CA_KEY, "path": ROOT_CA_KEY}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    });
    let mut mounted = false;
    for list in ["containers", "initContainers"] {
        let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs {
            let mounts = &mut c["volumeMounts"];
            if !mounts.is_array() {
                *mounts = json!([]);
            }
            let mounts = mounts.as_array_mut().expect("made an array");
            // A container that mounts something there itself keeps it.
            if mounts.iter().any(|m| m["mountPath"] == MOUNT_PATH) {
                continue;
            }
            mounts.push(json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH}));
            mounted = true;
        }
    }
    if !mounted {
        return;
    }
    match spec.get_mut("volumes").and_then(Value::as_array_mut) {
        Some(vs) => vs.push(volume),
        None => spec["volumes"] = json!([volume]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_container_mounts_one_projected_volume() {
        let mut spec = json!({
            "volumes": [{"name": "data", "emptyDir": {}}],
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "a", "volumeMounts": [{"name": "data", "mountPath": "/d"}]},
                {"name": "own", "volumeMounts": [{"name": "data", "mountPath": MOUNT_PATH}]}],
        });
        add_volume(&mut spec);
        let vs = spec["volumes"].as_array().unwrap();
        assert_eq!(vs.len(), 2);
        let name = vs[1]["name"].as_str().unwrap();
        assert!(name.starts_with("kube-api-access-") && name.len() == 21, "{name}");
        let sources = &vs[1]["projected"]["sources"];
        assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
        assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
        assert_eq!(
            sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
            "metadata.namespace"
        );
        let mine = json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH});
        assert_eq!(spec["initContainers"][0]["volumeMounts"], json!([mine]));
        assert_eq!(spec["containers"][0]["volumeMounts"][1], mine);
        assert_eq!(spec["containers"][1]["volumeMounts"].as_array().unwrap().len(), 1);
    }
}
