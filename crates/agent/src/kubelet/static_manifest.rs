//! A static pod's manifest, as the kubelet reads its staticPodPath
//! (kubeadm's /etc/kubernetes/manifests): one Pod per file, `.yaml`,
//! `.yml` or `.json`. Nothing of it comes from the API: the pod's uid is
//! a hash of the file's content and the node (a changed file is a new
//! pod), its name gets the node's name appended (`kube-apiserver` on
//! node-0 runs as `kube-apiserver-node-0`, the name its mirror pod takes).

use std::path::{Path, PathBuf};

use labyrinth_contracts::pod::SlimPod;

use super::nodepod::NodePod;

/// One manifest read from the folder.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub file: PathBuf,
    pub pod: NodePod,
    /// The file's text, as read: the mirror pod is made from it.
    pub text: String,
}

/// Every manifest in `dir`, in file-name order, and a message for each
/// file that is not one (named by file and field). A folder that does not
/// exist (yet) holds no pods.
pub fn read_folder(dir: &Path, node: &str) -> (Vec<Manifest>, Vec<String>) {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => return (Vec::new(), Vec::new()),
    };
    files.retain(|f| {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        // Editors' and our own temporary files start with a dot.
        let hidden = f
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        matches!(ext, "yaml" | "yml" | "json") && !hidden
    });
    files.sort();
    let mut pods = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let read = std::fs::read_to_string(&file).map_err(|e| e.to_string());
        match read.and_then(|text| parse(&text, node).map(|pod| (pod, text))) {
            Ok((pod, text)) => pods.push(Manifest { file, pod, text }),
            Err(e) => errors.push(format!("static pod manifest {}: {e}", file.display())),
        }
    }
    (pods, errors)
}

/// The pod a manifest's text describes, on the node `node`.
pub fn parse(text: &str, node: &str) -> Result<NodePod, String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    match value.get("kind").and_then(|k| k.as_str()) {
        Some("Pod") => {}
        Some(other) => return Err(format!("kind: {other:?}, but a static pod manifest holds a Pod")),
        None => return Err("kind: missing (a static pod manifest holds a Pod)".into()),
    }
    let mut slim: SlimPod = serde_yaml::from_value(value).map_err(|e| format!("not a Pod: {e}"))?;
    let name = slim
        .metadata
        .name
        .take()
        .filter(|n| !n.is_empty())
        .ok_or("metadata.name: missing")?;
    if slim.spec.containers.is_empty() {
        return Err("spec.containers: a pod needs at least one container".into());
    }
    slim.metadata.name = Some(format!("{name}-{node}"));
    slim.metadata
        .namespace
        .get_or_insert_with(|| "default".to_string());
    slim.metadata.uid = Some(uid(text, node));
    NodePod::from_watched(slim).ok_or_else(|| "metadata: no name or uid".to_string())
}

/// The static pod's uid: the content's hash, formatted as a UUID (two
/// FNV-1a passes with different offsets; stable across builds, unlike
/// std's hasher, so a restarted agent finds the pods it started).
pub fn uid(text: &str, node: &str) -> String {
    let hash = |offset: u64| {
        let mut h = offset;
        for b in node.bytes().chain([0]).chain(text.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const APISERVER: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  \
        namespace: kube-system\nspec:\n  hostNetwork: true\n  containers:\n  - name: kube-apiserver\n    \
        image: registry.k8s.io/kube-apiserver\n    command: [labyrinth, server]\n";

    #[test]
    fn a_manifest_runs_as_name_dash_node_with_a_content_uid() {
        let pod = parse(APISERVER, "node-0").unwrap();
        assert_eq!(pod.name(), "kube-apiserver-node-0");
        assert_eq!(pod.namespace(), "kube-system");
        assert_eq!(pod.spec.host_network, Some(true));
        assert_eq!(pod.uid(), uid(APISERVER, "node-0"));
        assert_eq!(pod.uid().len(), 36);
        // Another node, or a changed file, is another pod.
        assert_ne!(pod.uid(), uid(APISERVER, "node-1"));
        assert_ne!(
            pod.uid(),
            uid(&APISERVER.replace("server]", "server, -v]"), "node-0")
        );
    }

    #[test]
    fn bad_manifests_name_the_field() {
        let err = parse("kind: Deployment\nmetadata: {name: x}\n", "n").unwrap_err();
        assert!(err.starts_with("kind:"), "{err}");
        let err = parse("kind: Pod\nmetadata: {}\nspec: {containers: [{name: c}]}\n", "n").unwrap_err();
        assert!(err.starts_with("metadata.name"), "{err}");
        let err = parse("kind: Pod\nmetadata: {name: x}\nspec: {}\n", "n").unwrap_err();
        assert!(err.starts_with("spec.containers"), "{err}");
        assert!(parse("{{{", "n").unwrap_err().starts_with("not YAML"));
    }

    #[test]
    fn the_folder_is_read_in_file_order_skipping_other_files() {
        let dir = std::env::temp_dir().join(format!("static-manifests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.yaml"), APISERVER).unwrap();
        std::fs::write(
            dir.join("a.yaml"),
            APISERVER.replace("kube-apiserver\n  namespace", "etcd\n  namespace"),
        )
        .unwrap();
        std::fs::write(dir.join(".b.yaml.swp"), "junk").unwrap();
        std::fs::write(dir.join("README"), "junk").unwrap();
        std::fs::write(dir.join("bad.yaml"), "kind: Service\n").unwrap();
        let (pods, errors) = read_folder(&dir, "node-0");
        let names: Vec<&str> = pods.iter().map(|m| m.pod.name()).collect();
        assert_eq!(names, ["etcd-node-0", "kube-apiserver-node-0"]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("bad.yaml") && errors[0].contains("kind:"),
            "{errors:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(read_folder(&dir, "node-0").0.is_empty());
    }
}
