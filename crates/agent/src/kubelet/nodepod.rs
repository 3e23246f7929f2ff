//! The pods bound to this node as the agent keeps them. The watch decodes
//! the slim Pod (identity, deletion, phase, each container's name, image,
//! command and env, the restart policy: see `labyrinth_contracts::pod`);
//! the agent then keeps a [`NodePod`], which holds just that, sized to fit.
//! A full `Pod` costs kilobytes in memory (every spec field, managedFields,
//! the status the agent itself wrote); kept in kube's reflector even the
//! slim watch type cost ~1.5 KiB (its ObjectMeta alone is 360 bytes, the
//! store's key four more strings); a NodePod costs a few hundred bytes.

use std::net::Ipv4Addr;

use labyrinth_contracts::pod::{EnvVar, SlimPod, Spec, Volume};

use crate::runtime::{ContainerSpec, PodRef};

/// A pod bound to this node, as the agent keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        spec.init_containers.shrink_to_fit();
        spec.ephemeral_containers.shrink_to_fit();
        // Every pod has a volume now (the service-account token's, with
        // three sources of one item each, and its mount): left as decoded
        // they held ~1.5 KiB of empty slots per pod.
        spec.volumes.shrink_to_fit();
        for c in spec.containers.iter_mut().chain(&mut spec.init_containers) {
            c.volume_mounts.shrink_to_fit();
            c.env.shrink_to_fit();
        }
        spec.volumes.iter_mut().for_each(Volume::shrink_to_fit);
        // The API server gives every pod `securityContext: {}`: nothing
        // to keep for it.
        if spec.security_context.as_deref() == Some(&Default::default()) {
            spec.security_context = None;
        }
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

    /// The pod's sysctls (`securityContext.sysctls`).
    pub fn sysctls(&self) -> &[labyrinth_contracts::pod::Sysctl] {
        self.spec.security_context.as_deref().map_or(&[], |s| &s.sysctls)
    }

    /// The pod's `fsGroup`: it owns the pod's volumes (none when out of
    /// range: the container's start reports that field).
    pub fn fs_group(&self) -> Option<u32> {
        let g = self.spec.security_context.as_ref()?.fs_group?;
        u32::try_from(g).ok()
    }

    /// kubelet's fsUser: the user every container runs as, when each one
    /// (init containers too) has a `runAsUser`, its own or the pod's, and
    /// all are the same; a projected volume's files are then that user's.
    pub fn fs_user(&self) -> Option<u32> {
        let pod = self.spec.security_context.as_ref().and_then(|s| s.run_as_user);
        let mut users = self
            .spec
            .init_containers
            .iter()
            .chain(&self.spec.containers)
            .map(|c| c.security_context.as_ref().and_then(|s| s.run_as_user).or(pod));
        let first = users.next()??;
        users
            .all(|u| u == Some(first))
            .then_some(first)
            .and_then(|u| u32::try_from(u).ok())
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
        src: &EnvSources,
    ) -> Result<Vec<ContainerSpec>, String> {
        self.specs_of(&self.spec.containers, node, pod_ip, src)
    }

    /// Each init container to run, as [`Self::container_specs`] makes
    /// the containers'.
    pub fn init_container_specs(
        &self,
        node: &NodeFacts,
        pod_ip: Option<Ipv4Addr>,
        src: &EnvSources,
    ) -> Result<Vec<ContainerSpec>, String> {
        self.specs_of(&self.spec.init_containers, node, pod_ip, src)
    }

    fn specs_of(
        &self,
        list: &[labyrinth_contracts::pod::Container],
        node: &NodeFacts,
        pod_ip: Option<Ipv4Addr>,
        src: &EnvSources,
    ) -> Result<Vec<ContainerSpec>, String> {
        list.iter()
            .map(|c| {
                let env = self
                    .container_env(c, node, pod_ip, src)
                    .map_err(|e| format!("container {}: {e}", c.name))?;
                spec_of(self.spec.security_context.as_deref(), c, env)
                    .map_err(|e| format!("container {}: {e}", c.name))
            })
            .collect()
    }

    /// The ConfigMaps and the Secrets its containers' (and init
    /// containers') env and envFrom refer to.
    pub fn source_names(&self) -> (Vec<String>, Vec<String>) {
        let (mut maps, mut secrets) = (Vec::new(), Vec::new());
        for c in self.spec.init_containers.iter().chain(&self.spec.containers) {
            for e in c.env.iter().filter_map(|e| e.value_from.as_deref()) {
                maps.extend(e.config_map_key_ref.as_ref().map(|k| k.name.clone()));
                secrets.extend(e.secret_key_ref.as_ref().map(|k| k.name.clone()));
            }
            for f in &c.env_from {
                maps.extend(f.config_map_ref.as_ref().map(|r| r.name.clone()));
                secrets.extend(f.secret_ref.as_ref().map(|r| r.name.clone()));
            }
        }
        for v in [&mut maps, &mut secrets] {
            v.sort();
            v.dedup();
        }
        (maps, secrets)
    }

    /// As the kubelet orders it: every `envFrom` source's keys (with its
    /// prefix), then `env`, a later name replacing an earlier one.
    pub(super) fn container_env(
        &self,
        c: &labyrinth_contracts::pod::Container,
        node: &NodeFacts,
        pod_ip: Option<Ipv4Addr>,
        src: &EnvSources,
    ) -> Result<Vec<(String, String)>, String> {
        let mut env: Vec<(String, String)> = src.services.clone();
        for f in &c.env_from {
            let prefix = f.prefix.as_deref().unwrap_or("");
            let (kind, r, data) = match (&f.config_map_ref, &f.secret_ref) {
                (Some(r), _) => ("configmap", r, &src.config_maps),
                (None, Some(r)) => ("secret", r, &src.secrets),
                (None, None) => continue,
            };
            match data.get(&r.name) {
                Some(d) => env.extend(d.iter().map(|(k, v)| (format!("{prefix}{k}"), v.clone()))),
                None if r.optional == Some(true) => {}
                None => return Err(format!("envFrom: {kind} {:?} not found", r.name)),
            }
        }
        for e in &c.env {
            if let Some(v) = self.env_value(e, node, pod_ip, src)? {
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
        src: &EnvSources,
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
        let (kind, k, data) = match (&from.config_map_key_ref, &from.secret_key_ref) {
            (Some(k), _) => ("ConfigMap", k, &src.config_maps),
            (None, Some(k)) => ("Secret", k, &src.secrets),
            (None, None) => return Err(format!("env {name}: valueFrom names no source")),
        };
        let optional = k.optional == Some(true);
        match data.get(&k.name) {
            Some(d) => match d.get(&k.key) {
                Some(v) => Ok(Some(v.clone())),
                None if optional => Ok(None),
                None => Err(format!(
                    "env {name}: couldn't find key {} in {kind} {}/{}",
                    k.key, self.namespace, k.name
                )),
            },
            None if optional => Ok(None),
            None => Err(format!(
                "env {name}: {} {:?} not found",
                kind.to_lowercase(),
                k.name
            )),
        }
    }
}

/// What the runtime runs for container `c` with environment `env` (its
/// volumes' mounts are added by `pod_volumes::attach`), in a pod whose
/// `securityContext` is `pod`; an error names the field it cannot be
/// made from.
pub(super) fn spec_of(
    pod: Option<&labyrinth_contracts::pod::PodSecurityContext>,
    c: &labyrinth_contracts::pod::Container,
    env: Vec<(String, String)>,
) -> Result<ContainerSpec, String> {
    let privileges = crate::runtime::privileges::Privileges::of(pod, c.security_context.as_deref())?;
    Ok(ContainerSpec {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        command: c.command.clone().unwrap_or_default(),
        args: c.args.clone().unwrap_or_default(),
        env,
        stdin: c.stdin,
        mounts: Vec::new(),
        privileges,
    })
}

/// ConfigMaps or Secrets of the pod's namespace, by name (each one's data,
/// a Secret's decoded); one missing is absent.
pub type ConfigMaps = std::collections::HashMap<String, std::collections::BTreeMap<String, String>>;

/// What the pod's env refers to, read through the API at its start.
#[derive(Clone, Debug, Default)]
pub struct EnvSources {
    pub config_maps: ConfigMaps,
    pub secrets: ConfigMaps,
    /// The Service variables (`super::service_env`), first in every
    /// container's env: its own values may refer to them and replace them.
    pub services: Vec<(String, String)>,
}

impl EnvSources {
    /// Only what the containers' env refers to (and the Service
    /// variables): what restarts and later containers read. The volumes'
    /// sources (every pod's projected volume reads the cluster's CA) were
    /// written at the pod's start; kept per pod, they would only hold
    /// memory.
    pub fn for_env(mut self, pod: &NodePod) -> EnvSources {
        let (maps, secrets) = pod.source_names();
        self.config_maps.retain(|name, _| maps.contains(name));
        self.secrets.retain(|name, _| secrets.contains(name));
        self.config_maps.shrink_to_fit();
        self.secrets.shrink_to_fit();
        self
    }

    pub fn is_empty(&self) -> bool {
        self.config_maps.is_empty() && self.secrets.is_empty() && self.services.is_empty()
    }
}

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
    fn a_pod_keeps_only_the_sources_its_env_reads() {
        let w: SlimPod = serde_json::from_value(json!({
            "metadata": {"name": "a", "namespace": "n", "uid": "u"},
            "spec": {"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "settings"}}],
                "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "k"}}}]}]}
        }))
        .unwrap();
        let p = NodePod::from_watched(w).unwrap();
        let keys = |k: &str| [(k.to_string(), "v".to_string())].into();
        let mut src = EnvSources::default();
        src.config_maps.insert("settings".into(), keys("s"));
        // Read for a volume only: written at the start, not kept.
        src.config_maps.insert("kube-root-ca.crt".into(), keys("ca.crt"));
        src.secrets.insert("pw".into(), keys("k"));
        src.secrets.insert("volume-only".into(), keys("x"));
        src.services.push(("WEB_SERVICE_HOST".into(), "10.96.0.7".into()));
        let kept = src.for_env(&p);
        let mut maps: Vec<_> = kept.config_maps.keys().collect();
        maps.sort();
        assert_eq!(maps, ["settings"]);
        assert_eq!(kept.secrets.keys().collect::<Vec<_>>(), ["pw"]);
        assert_eq!(kept.services.len(), 1);
        let nothing = EnvSources::default().for_env(&p);
        assert!(nothing.is_empty());
    }

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
        assert_eq!(p.spec.containers[0].env.capacity(), 2, "kept sized to fit");
        let err = p
            .container_specs(&NodeFacts::default(), None, &EnvSources::default())
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
            p.container_specs(&NodeFacts::default(), None, &EnvSources::default())
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
            .container_specs(&node, Some(Ipv4Addr::new(10, 244, 1, 7)), &EnvSources::default())
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
        assert_eq!(
            p.source_names(),
            (vec!["gone".to_string(), "m".to_string()], vec![])
        );
        let mut maps = EnvSources::default();
        maps.config_maps.insert(
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
        maps.config_maps.get_mut("m").unwrap().remove("y");
        let e = p.container_specs(&NodeFacts::default(), None, &maps).unwrap_err();
        assert_eq!(e, "container c: env K: couldn't find key y in ConfigMap n/m");
        let e = p
            .container_specs(&NodeFacts::default(), None, &EnvSources::default())
            .unwrap_err();
        assert!(e.contains("configmap \"m\" not found"), "{e}");
    }

    #[test]
    fn env_from_secrets_like_config_maps() {
        let w: SlimPod = serde_json::from_value(json!({
            "metadata": {"name": "a", "namespace": "n", "uid": "u"},
            "spec": {"containers": [{"name": "c",
                "envFrom": [{"prefix": "S_", "secretRef": {"name": "s"}}],
                "env": [{"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}}]}]}
        }))
        .unwrap();
        let p = NodePod::from_watched(w).unwrap();
        assert_eq!(p.source_names(), (vec![], vec!["s".to_string()]));
        let mut src = EnvSources::default();
        src.secrets.insert(
            "s".into(),
            [("password".to_string(), "hunter2".to_string())].into(),
        );
        let specs = p.container_specs(&NodeFacts::default(), None, &src).unwrap();
        let got: Vec<(&str, &str)> = specs[0]
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, [("S_password", "hunter2"), ("PASS", "hunter2")]);
        let e = p
            .container_specs(&NodeFacts::default(), None, &EnvSources::default())
            .unwrap_err();
        assert!(e.contains("secret \"s\" not found"), "{e}");
    }

    /// What the kubelet role keeps of a Deployment's pod as the API server
    /// sends it (the service-account token's projected volume included),
    /// counted by the test allocator: 1868 bytes when a volume and each
    /// projected source had room for every kind of source, 1399 while the
    /// pod's empty `securityContext` was kept (1335 without).
    #[test]
    fn a_deployments_pod_is_kept_in_under_1350_bytes() {
        let text = r#"{"metadata": {"creationTimestamp": "2026-12-05T19:17:45Z", "generateName": "one-d84699d74-",
            "generation": 1, "labels": {"app": "one", "pod-template-hash": "d84699d74"},
            "name": "one-d84699d74-n4zdp", "namespace": "bench",
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true,
            "kind": "ReplicaSet", "name": "one-d84699d74", "uid": "9cb42e14-bad0-4ca2-99ee-55906aac5eb6"}],
            "resourceVersion": "2341", "uid": "6b2935a7-b37e-47c3-b446-389b934f943f"},
            "spec": {"containers": [{"image": "registry.k8s.io/pause:3.10", "name": "pause",
            "terminationMessagePath": "/dev/termination-log",
            "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            "name": "kube-api-access-x9kgw", "readOnly": true}]}], "dnsPolicy": "ClusterFirst",
            "nodeName": "node-1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "securityContext": {}, "serviceAccount": "default", "serviceAccountName": "default",
            "volumes": [{"name": "kube-api-access-x9kgw", "projected": {"defaultMode": 420,
            "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
            {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
            "path": "namespace"}]}}]}}]}}"#;
        let mut kept = Vec::new();
        let before = crate::test_alloc::held();
        for _ in 0..100 {
            let w: SlimPod = serde_json::from_str(text).unwrap();
            kept.push(NodePod::from_watched(w).unwrap());
        }
        let per_pod = (crate::test_alloc::held() - before) / 100;
        assert!(per_pod < 1350, "{per_pod} bytes per pod");
        // Each source is still read as what it is.
        let v = kept[0].spec.volumes[0].projected().unwrap();
        assert_eq!(v.sources[0].service_account_token().unwrap().path, "token");
        assert_eq!(v.sources[1].config_map().unwrap().name, "kube-root-ca.crt");
        assert_eq!(v.sources[2].downward_api().unwrap().items[0].path, "namespace");
    }
}
