//! Issue 17, `kubectl apply --prune -l app=x -f dir/` with kubectl's default
//! allow-list: what left the directory is deleted, what never carried the
//! label stays; the default kinds this server does not run are listed
//! (empty) and refuse writes.

mod common;
use common::TestServer;

fn cm(name: &str, labels: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default, labels: {{{labels}}}}}\ndata: {{k: v}}\n")
}

#[test]
fn prune_deletes_what_left_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    let put = |file: &str, yaml: &str| std::fs::write(manifests.join(file), yaml).unwrap();
    put("a.yaml", &cm("a", "app: x"));
    put("b.yaml", &cm("b", "app: x"));
    put(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default, labels: {app: x}}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: nginx}]\n",
    );
    // Outside the directory: one with the label, applied on its own, and
    // one without.
    s.apply(&cm("other-team", "app: other"), &[]);
    let d = manifests.to_str().unwrap();

    let out = s.ok(&["apply", "--prune", "-l", "app=x", "-f", d]);
    assert!(
        out.contains("configmap/a created") && out.contains("deployment.apps/web created"),
        "{out}"
    );

    std::fs::remove_file(manifests.join("b.yaml")).unwrap();
    std::fs::remove_file(manifests.join("web.yaml")).unwrap();
    let out = s.ok(&["apply", "--prune", "-l", "app=x", "-f", d]);
    assert!(out.contains("configmap/a unchanged"), "{out}");
    assert!(out.contains("configmap/b pruned"), "{out}");
    assert!(out.contains("deployment.apps/web pruned"), "{out}");
    let left = s.ok(&["get", "configmaps", "-o", "name"]);
    let names: Vec<&str> = left.lines().collect();
    assert!(
        names.contains(&"configmap/a") && names.contains(&"configmap/other-team"),
        "{left}"
    );
    assert!(!names.contains(&"configmap/b"), "{left}");
    let (ok, _, _) = s.kubectl(&["get", "deployment", "web"]);
    assert!(!ok, "the pruned Deployment is gone");

    // The default kinds it does not run: listed, empty, and no writes.
    let out = s.ok(&["get", "statefulsets,cronjobs,ingresses", "-A"]);
    assert!(out.trim().is_empty(), "{out}");
    let (ok, _, err) = s.kubectl(&["create", "ingress", "web", "--rule=example.com/=web:80"]);
    assert!(
        !ok && err.contains("this server does not run Ingress objects"),
        "{err}"
    );
}
