//! Issue 17, `kubectl apply --server-side` through the machine's kubectl:
//! create, update (a field no longer applied goes), a conflict between two
//! managers answered 409 naming the field, and `--force-conflicts` taking
//! the field over, with `managedFields` recording who owns what.

mod common;
use common::TestServer;
use serde_json::Value;

fn cm(a: &str, b: Option<&str>) -> String {
    let b = b.map(|b| format!("\n  b: \"{b}\"")).unwrap_or_default();
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: default}}\ndata:\n  a: \"{a}\"{b}\n")
}

fn live(s: &TestServer) -> Value {
    serde_json::from_str(&s.ok(&["get", "configmap", "cfg", "-o", "json", "--show-managed-fields"])).unwrap()
}

/// (manager, operation, the data keys it owns).
fn owners(obj: &Value) -> Vec<(String, String, Vec<String>)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let data = e["fieldsV1"]["f:data"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            (
                e["manager"].as_str().unwrap().to_string(),
                e["operation"].as_str().unwrap().to_string(),
                data,
            )
        })
        .collect()
}

#[test]
fn server_side_apply_creates_updates_conflicts_and_forces() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let file = |name: &str, yaml: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, yaml).unwrap();
        f.to_str().unwrap().to_string()
    };

    // Create.
    let out = s.ok(&[
        "apply",
        "--server-side",
        "-f",
        &file("v1.yaml", &cm("1", Some("2"))),
    ]);
    assert_eq!(out.trim(), "configmap/cfg serverside-applied");
    let obj = live(&s);
    assert_eq!(
        (obj["data"]["a"].as_str(), obj["data"]["b"].as_str()),
        (Some("1"), Some("2"))
    );
    assert_eq!(
        owners(&obj),
        [("kubectl".into(), "Apply".into(), vec!["f:a".into(), "f:b".into()])]
    );

    // Update by the same manager: a changes, b is no longer applied and goes.
    s.ok(&["apply", "--server-side", "-f", &file("v2.yaml", &cm("10", None))]);
    let obj = live(&s);
    assert_eq!(obj["data"]["a"], "10");
    assert!(obj["data"].get("b").is_none(), "{obj}");
    assert_eq!(
        owners(&obj),
        [("kubectl".into(), "Apply".into(), vec!["f:a".into()])]
    );

    // Another manager sets a to something else: 409, nothing changes.
    let other = file("other.yaml", &cm("20", None));
    let (ok, _, err) = s.kubectl(&["apply", "--server-side", "--field-manager=ops", "-f", &other]);
    assert!(!ok, "a conflict fails");
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .data.a"),
        "{err}"
    );
    assert_eq!(live(&s)["data"]["a"], "10");

    // The same value is shared, not a conflict.
    s.ok(&[
        "apply",
        "--server-side",
        "--field-manager=ops",
        "-f",
        &file("same.yaml", &cm("10", None)),
    ]);
    let shared = owners(&live(&s));
    assert!(
        shared.iter().any(|(m, _, d)| m == "ops" && d == &["f:a"]),
        "{shared:?}"
    );
    assert!(
        shared.iter().any(|(m, _, d)| m == "kubectl" && d == &["f:a"]),
        "{shared:?}"
    );

    // --force-conflicts: ops takes a over.
    s.ok(&[
        "apply",
        "--server-side",
        "--field-manager=ops",
        "--force-conflicts",
        "-f",
        &other,
    ]);
    let obj = live(&s);
    assert_eq!(obj["data"]["a"], "20");
    let now = owners(&obj);
    assert_eq!(
        now,
        [("ops".to_string(), "Apply".to_string(), vec!["f:a".to_string()])],
        "{now:?}"
    );

    // A Deployment: containers merged by name, replicas owned per manager.
    let deploy = |replicas: u32, image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: c, image: {image}}}]\n"
        )
    };
    let out = s.ok(&[
        "apply",
        "--server-side",
        "-f",
        &file("d1.yaml", &deploy(1, "nginx")),
    ]);
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    s.ok(&[
        "apply",
        "--server-side",
        "-f",
        &file("d2.yaml", &deploy(1, "nginx:2")),
    ]);
    let image = s.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[*].image}",
    ]);
    assert_eq!(image, "nginx:2");
    let (ok, _, err) = s.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=hpa",
        "-f",
        &file("d3.yaml", &deploy(3, "nginx:2")),
    ]);
    assert!(
        !ok && err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{err}"
    );
}
