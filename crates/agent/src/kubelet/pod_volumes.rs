//! The pod's volumes as the kubelet sets them up: each made on the node
//! before any container starts (an emptyDir's folder, a ConfigMap's or
//! Secret's keys as files, a hostPath checked or created), then each
//! container's `volumeMounts` resolved to mounts of the node's paths.

use labyrinth_contracts::pod::{Container, KeyToPath, Volume};

use super::nodepod::{ConfigMaps, EnvSources, NodePod};
use super::projected::{self, Facts};
use super::tokens::Fresh;
use crate::runtime::volumes::{self, Mount, Source};
use crate::runtime::{atomic_dir, host_path, ContainerSpec, RuntimeConfig};

/// The ConfigMaps and Secrets the pod's volumes hold.
pub fn source_names(pod: &NodePod) -> (Vec<String>, Vec<String>) {
    let maps = pod.spec.volumes.iter().filter_map(Volume::config_map);
    let secrets = pod.spec.volumes.iter().filter_map(Volume::secret);
    let (mut maps, mut secrets): (Vec<String>, Vec<String>) = (
        maps.map(|c| c.name.clone()).collect(),
        secrets.map(|s| s.secret_name.clone()).collect(),
    );
    let projected = pod.spec.volumes.iter().filter_map(Volume::projected);
    for s in projected.flat_map(|p| &p.sources) {
        maps.extend(s.config_map().map(|k| k.name.clone()));
        secrets.extend(s.secret().map(|k| k.name.clone()));
    }
    (maps, secrets)
}

/// Make every volume of the pod, in order; the first that cannot be made
/// is the error (the pod then waits, as kubelet's FailedMount leaves it).
/// The projected volumes that hold tokens are given back, to be kept fresh.
pub fn make_all(
    cfg: &RuntimeConfig,
    pod: &NodePod,
    src: &EnvSources,
    facts: &Facts,
) -> Result<Vec<Fresh>, String> {
    let mut fresh = Vec::new();
    for v in &pod.spec.volumes {
        let set_up = |e| format!("MountVolume.SetUp failed for volume {:?}: {e}", v.name);
        if let Some(p) = v.projected() {
            let files = projected::files(pod, &v.name, p, src, facts).map_err(set_up)?;
            let dir = volumes::dir(&cfg.state_dir, pod.uid(), &v.name);
            std::fs::create_dir_all(&dir).map_err(|e| set_up(format!("{}: {e}", dir.display())))?;
            // atomic_dir gives each version the folder's owner.
            let owner = volumes::Owner {
                user: pod.fs_user(),
                group: pod.fs_group(),
            };
            owner
                .apply(&dir, true)
                .map_err(|e| set_up(format!("{}: {e}", dir.display())))?;
            atomic_dir::write(&dir, &files).map_err(set_up)?;
            let tokens: Vec<_> = facts
                .tokens
                .iter()
                .filter(|t| t.volume == v.name)
                .cloned()
                .collect();
            if !tokens.is_empty() {
                fresh.push(Fresh { tokens });
            }
            continue;
        }
        make(cfg, pod, v, src).map_err(set_up)?;
    }
    Ok(fresh)
}

fn make(cfg: &RuntimeConfig, pod: &NodePod, v: &Volume, src: &EnvSources) -> Result<(), String> {
    let uid = pod.uid();
    if v.is_empty_dir() {
        return volumes::make(&cfg.state_dir, uid, &v.name, &Source::EmptyDir, pod.fs_group());
    }
    if let Some(h) = v.host_path() {
        return host_path::resolve(&h.path, h.kind.as_deref()).map(|_| ());
    }
    let (kind, name, items, mode, optional, data) = match (v.config_map(), v.secret()) {
        (Some(c), _) => (
            "configmap",
            &c.name,
            &c.items,
            c.default_mode,
            c.optional,
            &src.config_maps,
        ),
        (None, Some(s)) => (
            "secret",
            &s.secret_name,
            &s.items,
            s.default_mode,
            s.optional,
            &src.secrets,
        ),
        (None, None) => {
            return Err(
                "no source this node agent provides (it knows emptyDir, hostPath, configMap, secret and projected)"
                    .into(),
            )
        }
    };
    let files = key_files(kind, name, items, mode, optional == Some(true), data)?;
    volumes::make(
        &cfg.state_dir,
        uid,
        &v.name,
        &Source::Files(files),
        pod.fs_group(),
    )
}

/// A ConfigMap's or Secret's keys as files: every key, or the `items`
/// asked for, with their modes (0644 unless `defaultMode` says).
fn key_files(
    kind: &str,
    name: &str,
    items: &[KeyToPath],
    default_mode: Option<i32>,
    optional: bool,
    data: &ConfigMaps,
) -> Result<Vec<(String, Vec<u8>, u32)>, String> {
    let mode = |m: Option<i32>| m.or(default_mode).unwrap_or(0o644) as u32 & 0o777;
    let Some(keys) = data.get(name) else {
        return if optional {
            Ok(Vec::new())
        } else {
            Err(format!("{kind} {name:?} not found"))
        };
    };
    if items.is_empty() {
        return Ok(keys
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes(), mode(None)))
            .collect());
    }
    let mut files = Vec::new();
    for it in items {
        match keys.get(&it.key) {
            Some(v) => files.push((it.path.clone(), v.clone().into_bytes(), mode(it.mode))),
            None if optional => {}
            None => return Err(format!("{kind} {name:?} has no key {:?}", it.key)),
        }
    }
    Ok(files)
}

/// Each container's (or init container's) mounts, resolved on the node.
pub fn attach(cfg: &RuntimeConfig, pod: &NodePod, specs: &mut [ContainerSpec]) -> Result<(), String> {
    for spec in specs {
        let mut all = pod.spec.containers.iter().chain(&pod.spec.init_containers);
        let Some(c) = all.find(|c| c.name == spec.name) else {
            continue;
        };
        spec.mounts = mounts(cfg, pod, c).map_err(|e| format!("container {}: {e}", c.name))?;
    }
    Ok(())
}

fn mounts(cfg: &RuntimeConfig, pod: &NodePod, c: &Container) -> Result<Vec<Mount>, String> {
    let mut out = Vec::with_capacity(c.volume_mounts.len());
    for m in &c.volume_mounts {
        let v = pod
            .spec
            .volumes
            .iter()
            .find(|v| v.name == m.name)
            .ok_or_else(|| format!("volumeMount {:?}: no volume of that name", m.name))?;
        let sub = m.sub_path.as_deref().filter(|s| !s.is_empty());
        let mount = if let Some(h) = v.host_path() {
            let (path, kind) = match sub {
                Some(s) => {
                    volumes::check_relative("subPath", s)?;
                    (format!("{}/{s}", h.path.trim_end_matches('/')), None)
                }
                None => (h.path.clone(), h.kind.as_deref()),
            };
            let r = host_path::resolve(&path, kind)?;
            Mount {
                source: r.source,
                target: m.mount_path.clone(),
                read_only: m.read_only || !r.node_own,
                file: r.file,
                writable_below: if m.read_only { Vec::new() } else { r.own_below },
            }
        } else {
            // A ConfigMap's or Secret's files are read-only, as kubelet
            // mounts them.
            let read_only = m.read_only || !v.is_empty_dir();
            volumes::mount_of_dir(&cfg.state_dir, pod.uid(), &v.name, sub, &m.mount_path, read_only)?
        };
        out.push(mount);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> ConfigMaps {
        let keys = [("a", "1"), ("b", "2")].map(|(k, v)| (k.to_string(), v.to_string()));
        [("cfg".to_string(), keys.into())].into()
    }

    #[test]
    fn every_key_or_the_items_with_their_modes() {
        let all = key_files("configmap", "cfg", &[], Some(0o600), false, &data()).unwrap();
        assert_eq!(
            all,
            [
                ("a".to_string(), b"1".to_vec(), 0o600),
                ("b".to_string(), b"2".to_vec(), 0o600)
            ]
        );
        let items = [KeyToPath {
            key: "b".into(),
            path: "sub/b.txt".into(),
            mode: Some(0o400),
        }];
        let one = key_files("configmap", "cfg", &items, None, false, &data()).unwrap();
        assert_eq!(one, [("sub/b.txt".to_string(), b"2".to_vec(), 0o400)]);
        let missing = [KeyToPath {
            key: "z".into(),
            ..items[0].clone()
        }];
        let e = key_files("configmap", "cfg", &missing, None, false, &data()).unwrap_err();
        assert_eq!(e, "configmap \"cfg\" has no key \"z\"");
        let e = key_files("secret", "gone", &[], None, false, &data()).unwrap_err();
        assert_eq!(e, "secret \"gone\" not found");
        assert!(key_files("secret", "gone", &[], None, true, &data())
            .unwrap()
            .is_empty());
    }
}
