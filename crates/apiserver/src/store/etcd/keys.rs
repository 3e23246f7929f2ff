//! Where objects live in etcd: the layout kube-apiserver uses, so that
//! `etcdctl get --prefix /registry/pods/` reads as on any cluster.
//!
//! `/registry/<resource>/<namespace>/<name>` for namespaced objects and
//! `/registry/<resource>/<name>` for cluster-scoped ones. Built-in groups go
//! without their group (`/registry/deployments/…`), and the three historic
//! exceptions keep their old names (Services under `services/specs`,
//! Endpoints under `services/endpoints`, Nodes under `minions`). Other groups
//! are prefixed with the group, as custom resources are.

use crate::resources::{ResourceDef, RESOURCES};

pub const ROOT: &str = "/registry/";

/// The historic key names kube-apiserver keeps for three core resources.
const RENAMED: &[(&str, &str)] = &[
    ("services", "services/specs"),
    ("endpoints", "services/endpoints"),
    ("nodes", "minions"),
];

/// Groups that are part of Kubernetes itself (stored without their group).
fn builtin_group(group: &str) -> bool {
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

/// The segment(s) after /registry/ for a store resource key ("pods",
/// "apps/deployments", "example.com/widgets").
fn folder(resource: &str) -> String {
    if let Some((_, renamed)) = RENAMED.iter().find(|(r, _)| *r == resource) {
        return (*renamed).to_string();
    }
    let (group, plural) = resource.rsplit_once('/').unwrap_or(("", resource));
    // events.k8s.io/v1 Events are the same objects as core Events in
    // kube-apiserver (one storage, converted per version); this server
    // stores each version's shape as written, so the two keep apart.
    let shadows_core =
        !group.is_empty() && RESOURCES.iter().any(|r| r.group.is_empty() && r.plural == plural);
    if builtin_group(group) && !shadows_core {
        plural.to_string()
    } else {
        format!("{group}/{plural}")
    }
}

/// The prefix of every key of a resource, or of one namespace of it.
pub fn prefix(resource: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) if !ns.is_empty() => format!("{ROOT}{}/{ns}/", folder(resource)),
        _ => format!("{ROOT}{}/", folder(resource)),
    }
}

/// The key of one object (`ns` is "" for cluster-scoped objects).
pub fn key(resource: &str, ns: &str, name: &str) -> String {
    if ns.is_empty() {
        format!("{ROOT}{}/{name}", folder(resource))
    } else {
        format!("{ROOT}{}/{ns}/{name}", folder(resource))
    }
}

/// Which store resource an etcd key belongs to, with its namespace and name;
/// None for keys this server did not write (another writer's, or a
/// resource it does not serve).
pub fn parse(key: &str) -> Option<(String, String, String)> {
    let rest = key.strip_prefix(ROOT)?;
    // The longest folder that matches wins: `services/specs/…` before any
    // one-segment folder.
    let (res, tail) = RESOURCES
        .iter()
        .map(ResourceDef::key)
        .filter_map(|res| {
            let f = folder(&res);
            let tail = rest.strip_prefix(f.as_str())?.strip_prefix('/')?;
            Some((f.len(), res, tail))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, res, tail)| (res, tail))?;
    let mut parts = tail.split('/');
    let (ns, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) => ("", name),
        (Some(ns), Some(name), None) => (ns, name),
        _ => return None,
    };
    if name.is_empty() {
        return None;
    }
    Some((res, ns.to_string(), name.to_string()))
}

/// The first key after every key starting with `prefix` (etcd's range_end
/// for a prefix read: the last byte plus one).
pub fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff: to the end of the keyspace.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_as_kube_apiserver_lays_them() {
        assert_eq!(key("pods", "default", "x"), "/registry/pods/default/x");
        assert_eq!(
            key("apps/deployments", "default", "web"),
            "/registry/deployments/default/web"
        );
        assert_eq!(key("namespaces", "", "default"), "/registry/namespaces/default");
        assert_eq!(
            key("services", "default", "kubernetes"),
            "/registry/services/specs/default/kubernetes"
        );
        assert_eq!(
            key("endpoints", "default", "kubernetes"),
            "/registry/services/endpoints/default/kubernetes"
        );
        assert_eq!(key("nodes", "", "node-1"), "/registry/minions/node-1");
        assert_eq!(
            key("rbac.authorization.k8s.io/clusterroles", "", "admin"),
            "/registry/clusterroles/admin"
        );
        assert_eq!(
            key("example.com/widgets", "a", "w"),
            "/registry/example.com/widgets/a/w"
        );
        assert_eq!(prefix("pods", Some("kube-system")), "/registry/pods/kube-system/");
    }

    #[test]
    fn every_served_resource_has_its_own_folder_and_parses_back() {
        let all: Vec<String> = RESOURCES.iter().map(ResourceDef::key).collect();
        for a in &all {
            for b in &all {
                if a != b {
                    let (pa, pb) = (prefix(a, None), prefix(b, None));
                    assert!(!pa.starts_with(&pb), "{a} ({pa}) lies inside {b} ({pb})");
                }
            }
            let ns = if RESOURCES.iter().any(|r| r.key() == *a && r.namespaced) {
                "ns1"
            } else {
                ""
            };
            let k = key(a, ns, "obj");
            assert_eq!(
                parse(&k),
                Some((a.clone(), ns.to_string(), "obj".to_string())),
                "{k}"
            );
        }
    }

    #[test]
    fn foreign_keys_are_not_ours() {
        assert_eq!(parse("/registry/unknownthings/a/b"), None);
        assert_eq!(parse("/other/pods/a/b"), None);
        assert_eq!(parse("/registry/pods/a/b/c"), None);
    }

    #[test]
    fn a_prefix_range_ends_at_the_next_key() {
        assert_eq!(range_end("/registry/"), b"/registry0".to_vec());
        assert_eq!(range_end("a\u{7f}"), b"a\x80".to_vec());
    }
}
