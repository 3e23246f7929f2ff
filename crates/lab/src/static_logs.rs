//! The control plane's logs for `lab logs`: its components are node-0's
//! static pods (`crate::manifests`), whose output the container runtime
//! keeps where the kubelet keeps any container's,
//! /var/log/pods/<namespace>_<pod>_<uid>/<container>/<start>.log. Each
//! component is listed under its manifest's name (kube-apiserver, etcd, …),
//! its log being that of its latest start.

use std::path::{Path, PathBuf};

/// (component, the log of its latest start as the node sees it) for each
/// manifest in the node's manifest folder; `root` is the node's root as
/// the host reaches it (/proc/<init>/root).
pub fn latest(root: &Path, node: &str) -> Vec<(String, PathBuf)> {
    let manifests = root.join(crate::manifests::MANIFEST_DIR.trim_start_matches('/'));
    let mut names: Vec<String> = std::fs::read_dir(&manifests)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".yaml").map(String::from))
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let pods = root.join("var/log/pods");
    let folders: Vec<PathBuf> = std::fs::read_dir(&pods)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for name in names {
        let prefix = format!("kube-system_{name}-{node}_");
        let newest = folders
            .iter()
            .filter(|f| {
                f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .filter_map(|f| newest_start(&f.join(&name)))
            .max_by_key(|(_, modified)| *modified);
        if let Some((file, _)) = newest {
            let inside = Path::new("/").join(file.strip_prefix(root).unwrap_or(&file));
            out.push((name, inside));
        }
    }
    out
}

/// The container's log with the highest start number, and when it changed.
fn newest_start(dir: &Path) -> Option<(PathBuf, std::time::SystemTime)> {
    let best = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let n: u32 = e.file_name().to_str()?.strip_suffix(".log")?.parse().ok()?;
            Some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n)?;
    let modified = std::fs::metadata(&best.1).and_then(|m| m.modified()).ok()?;
    Some((best.1, modified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_manifest_lists_the_log_of_its_latest_start() {
        let root = std::env::temp_dir().join(format!("static-logs-{}", std::process::id()));
        let m = root.join("etc/kubernetes/manifests");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("kube-apiserver.yaml"), "").unwrap();
        std::fs::write(m.join("etcd.yaml"), "").unwrap();
        let c = root.join("var/log/pods/kube-system_kube-apiserver-node-0_u1/kube-apiserver");
        std::fs::create_dir_all(&c).unwrap();
        for f in ["0.log", "1.log", "10.log", "2.log"] {
            std::fs::write(c.join(f), "x").unwrap();
        }
        // Another node's pod of the same name is not this node's.
        let other = root.join("var/log/pods/kube-system_etcd-node-1_u2/etcd");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("0.log"), "x").unwrap();
        let got = latest(&root, "node-0");
        assert_eq!(
            got,
            [(
                "kube-apiserver".to_string(),
                PathBuf::from("/var/log/pods/kube-system_kube-apiserver-node-0_u1/kube-apiserver/10.log")
            )]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
