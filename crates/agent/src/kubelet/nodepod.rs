//! The pods bound to this node as the agent keeps them. The watch decodes
//! the slim Pod (identity, deletion, phase, each container's name, image,
//! command and env, the restart policy: see `labyrinth_contracts::pod`);
//! the agent then keeps a [`NodePod`], which holds just that, sized to fit.
//! A full `Pod` costs kilobytes in memory (every spec field, managedFields,
//! the status the agent itself wrote); kept in kube's reflector even the
//! slim watch type cost ~1.5 KiB (its ObjectMeta alone is 360 bytes, the
//! store's key four more strings); a NodePod costs a few hundred bytes.

use std::net::Ipv4Addr;

use labyrinth_contracts::pod::{EnvVar, SlimPod, Spec};

use crate::runtime::{ContainerSpec, PodRef};

/// A pod bound to this node, as the agent keeps it.
#[derive(Clone, Debug)]
pub struct NodePod {
    uid: String,
    namespace: String,
    name: String,
    deleting: bool,
    /// deletionGracePeriodSeconds, once it is being deleted.
    grace: Option<i64>,
    terminal: bool,
    pub spec: Spec,
}

impl NodePod {
    /// None for an object without uid or name (nothing can be run for it).
    pub fn from_watched(w: SlimPod) -> Option<NodePod> {
        let terminal = w.terminal();
        let mut spec = w.spec;
        // Decoded lists grow by doubling (room for four containers when
        // there is one); this copy is kept for the pod's whole life.
        spec.containers.shrink_to_fit();
        Some(NodePod {
            uid: w.metadata.uid?,
            namespace: w.metadata.namespace.unwrap_or_else(|| "default".into()),
            name: w.metadata.name?,
            deleting: w.metadata.deletion_timestamp.is_some(),
            grace: w.metadata.deletion_grace_period_seconds,
            terminal,
            spec,
        })
    }

    pub fn uid(&self) -> &str {
        &self.uid
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn deleting(&self) -> bool {
        self.deleting
    }

    /// How long its containers have to end once it is being deleted.
    pub fn grace_period(&self) -> std::time::Duration {
        let s = self
            .grace
            .or(self.spec.termination_grace_period_seconds)
            .unwrap_or(30);
        std::time::Duration::from_secs(s.max(0) as u64)
    }

    /// Each container's preStop exec command, if it has one.
    pub fn pre_stops(&self) -> Vec<(String, Vec<String>)> {
        self.spec
            .containers
            .iter()
            .filter_map(|c| {
                let cmd = c
                    .lifecycle
                    .as_ref()?
                    .pre_stop
                    .as_ref()?
                    .exec
                    .as_ref()?
                    .command
                    .clone();
                (!cmd.is_empty()).then(|| (c.name.clone(), cmd))
            })
            .collect()
    }

    pub fn terminal(&self) -> bool {
        self.terminal
    }

    pub fn pod_ref(&self) -> PodRef {
        PodRef {
            uid: self.uid.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Each container to run, its env's `valueFrom` resolved from the pod
    /// (`fieldRef`) and where it runs: `node` (its name and IP) and the
    /// pod's IP. A source not resolved here is an error naming the
    /// variable and the field: the container does not start without it.
    pub fn container_specs(
        &self,
        node: &NodeFacts,
        pod_ip: Option<Ipv4Addr>,
        maps: &ConfigMaps,
    ) -> Result<Vec<ContainerSpec>, String> {
        self.spec
            .containers
            .iter()
            .map(|c| {
                let env = self
                    .container_env(c, node, pod_ip, maps)
                    .map_err(|e| format!("container {}: {e}", c.name))?;
                Ok(ContainerSpec {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    command: c.command.clone().unwrap_or_default(),
                    args: c.args.clone().unwrap_or_default(),
                    env,
                })
            })
            .collect()
    }

    /// The ConfigMaps its containers' env and envFrom refer to.
    pub fn config_map_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.spec
                .containers
                .iter()
                .flat_map(|c| {
                    let keys = c.env.iter().filter_map(|e| {
                        Some(e.value_from.as_ref()?.config_map_key_ref.as_ref()?.name.clone())
                    });
                    let all = c
                        .env_from
                        .iter()
                        .filter_map(|f| Some(f.config_map_ref.as_ref()?.name.clone()));
                    keys.chain(all).collect::<Vec<_>>()
                })
                .collect();
        names.sort();
        names.dedup();
        names
    }

    /// As the kubelet orders it: every `envFrom` source's keys (with its
    /// prefix), then `env`, a later name replacing an earlier one.
    fn container_env(
        &self,
        c: &labyrinth_contracts::pod::Container,
        node: &NodeFacts,
        pod_ip: Option<Ipv4Addr>,
        maps: &ConfigMaps,
    ) -> Result<Vec<(String, String)>, String> {
        let mut env: Vec<(String, String)> = Vec::new();
        for f in &c.env_from {
            let prefix = f.prefix.as_deref().unwrap_or("");
            if let Some(r) = &f.config_map_ref {
                match maps.get(&r.name) {
                    Some(data) => env.extend(data.iter().map(|(k, v)| (format!("{prefix}{k}"), v.clone()))),
                    None if r.optional == Some(true) => {}
                    None => return Err(format!("envFrom: configmap {:?} not found", r.name)),
                }
            } else if f.secret_ref.is_some() {
                return Err("envFrom.secretRef is not resolved by this node agent".into());
            }
        }
        for e in &c.env {
            if let Some(v) = self.env_value(e, node, pod_ip, maps)? {
                env.push((e.name.clone(), v));
            }
        }
        Ok(env)
    }

    fn env_value(
        &self,
        e: &EnvVar,
        node: &NodeFacts,
        pod_ip: Option<Ipv4Addr>,
        maps: &ConfigMaps,
    ) -> Result<Option<String>, String> {
        let Some(from) = &e.value_from else {
            return Ok(Some(e.value.clone().unwrap_or_default()));
        };
        let name = &e.name;
        if let Some(f) = &from.field_ref {
            let ip = || pod_ip.map(|i| i.to_string()).unwrap_or_default();
            return Ok(Some(match f.field_path.as_str() {
                "metadata.name" => self.name.clone(),
                "metadata.namespace" => self.namespace.clone(),
                "metadata.uid" => self.uid.clone(),
                "spec.nodeName" => node.name.clone(),
                "spec.serviceAccountName" => self
                    .spec
                    .service_account_name
                    .clone()
                    .unwrap_or_else(|| "default".into()),
                // One address family here: the list is the one address.
                "status.podIP" | "status.podIPs" => ip(),
                "status.hostIP" | "status.hostIPs" => node.ip.clone(),
                other => {
                    return Err(format!(
                    "env {name}: valueFrom.fieldRef.fieldPath {other:?} is not resolved by this node agent"
                ))
                }
            }));
        }
        if let Some(k) = &from.config_map_key_ref {
            let optional = k.optional == Some(true);
            return match maps.get(&k.name) {
                Some(data) => match data.get(&k.key) {
                    Some(v) => Ok(Some(v.clone())),
                    None if optional => Ok(None),
                    None => Err(format!(
                        "env {name}: couldn't find key {} in ConfigMap {}/{}",
                        k.key, self.namespace, k.name
                    )),
                },
                None if optional => Ok(None),
                None => Err(format!("env {name}: configmap {:?} not found", k.name)),
            };
        }
        let what = if from.secret_key_ref.is_some() {
            "secretKeyRef"
        } else {
            "(empty)"
        };
        Err(format!(
            "env {name}: valueFrom.{what} is not resolved by this node agent"
        ))
    }
}

/// The ConfigMaps of the pod's namespace its containers refer to, by name
/// (each one's data); one missing is absent.
pub type ConfigMaps = std::collections::HashMap<String, std::collections::BTreeMap<String, String>>;

/// The node a pod runs on, as its `fieldRef`s read it.
#[derive(Clone, Debug, Default)]
pub struct NodeFacts {
    pub name: String,
    pub ip: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_what_the_agent_reads_and_drops_the_rest() {
        let w: SlimPod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7",
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "x"}, "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"nodeName": "node-1", "restartPolicy": "Never", "tolerations": [{"key": "k"}],
                "containers": [{"name": "c", "image": "i", "command": ["sh"], "args": ["-c", "x"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        assert_eq!(w.metadata.resource_version.as_deref(), Some("7"));
        assert!(w.metadata.labels.is_none() && w.metadata.managed_fields.is_none());
        let p = NodePod::from_watched(w).unwrap();
        assert_eq!((p.name(), p.namespace(), p.uid()), ("a", "n", "u"));
        assert!(p.deleting() && !p.terminal());
        assert_eq!(p.spec.containers.capacity(), 1, "kept sized to fit");
        let err = p
            .container_specs(&NodeFacts::default(), None, &ConfigMaps::new())
            .unwrap_err();
        assert!(err.contains("env B") && err.contains("\"x\""), "{err}");
        assert_eq!(p.spec.restart_policy.as_deref(), Some("Never"));
    }

    #[test]
    fn a_pod_without_uid_is_not_kept_and_one_without_spec_still_reads() {
        let w: SlimPod = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
        assert!(NodePod::from_watched(w).is_none());
        let w: SlimPod = serde_json::from_value(json!({"metadata": {"name": "a", "uid": "u"},
            "status": {"phase": "Succeeded"}}))
        .unwrap();
        let p = NodePod::from_watched(w).unwrap();
        assert!(
            p.container_specs(&NodeFacts::default(), None, &ConfigMaps::new())
                .unwrap()
                .is_empty()
                && p.namespace() == "default"
                && p.terminal()
        );
    }

    #[test]
    fn env_from_the_pods_fields_and_where_it_runs() {
        let w: SlimPod = serde_json::from_value(json!({
            "metadata": {"name": "a", "namespace": "n", "uid": "u-1"},
            "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "command": ["sh"], "args": ["-c", "x"], "env": [
                {"name": "LIT", "value": "1"},
                {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
                {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]}]}
        }))
        .unwrap();
        let p = NodePod::from_watched(w).unwrap();
        let node = NodeFacts {
            name: "node-1".into(),
            ip: "192.168.0.11".into(),
        };
        let specs = p
            .container_specs(&node, Some(Ipv4Addr::new(10, 244, 1, 7)), &ConfigMaps::new())
            .unwrap();
        assert_eq!(
            (specs[0].command.as_slice(), specs[0].args.as_slice()),
            (&["sh".to_string()][..], &["-c".to_string(), "x".to_string()][..])
        );
        let got: Vec<(&str, &str)> = specs[0]
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("LIT", "1"),
                ("NAME", "a"),
                ("NS", "n"),
                ("UID", "u-1"),
                ("NODE", "node-1"),
                ("SA", "robot"),
                ("IP", "10.244.1.7"),
                ("IPS", "10.244.1.7"),
                ("HOST", "192.168.0.11")
            ]
        );
    }

    #[test]
    fn env_from_config_maps_with_prefix_optional_and_missing_keys() {
        let w: SlimPod = serde_json::from_value(json!({
            "metadata": {"name": "a", "namespace": "n", "uid": "u"},
            "spec": {"containers": [{"name": "c",
                "envFrom": [{"prefix": "P_", "configMapRef": {"name": "m"}}, {"configMapRef": {"name": "gone", "optional": true}}],
                "env": [
                    {"name": "P_x", "value": "mine"},
                    {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "m", "key": "y"}}},
                    {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "m", "key": "none", "optional": true}}}]}]}
        }))
        .unwrap();
        let p = NodePod::from_watched(w).unwrap();
        assert_eq!(p.config_map_names(), ["gone", "m"]);
        let mut maps = ConfigMaps::new();
        maps.insert(
            "m".into(),
            [("x", "1"), ("y", "2")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
        );
        let specs = p.container_specs(&NodeFacts::default(), None, &maps).unwrap();
        let got: Vec<(&str, &str)> = specs[0]
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, [("P_x", "1"), ("P_y", "2"), ("P_x", "mine"), ("K", "2")]);
        maps.get_mut("m").unwrap().remove("y");
        let e = p.container_specs(&NodeFacts::default(), None, &maps).unwrap_err();
        assert_eq!(e, "container c: env K: couldn't find key y in ConfigMap n/m");
        let e = p
            .container_specs(&NodeFacts::default(), None, &ConfigMaps::new())
            .unwrap_err();
        assert!(e.contains("configmap \"m\" not found"), "{e}");
    }
}
