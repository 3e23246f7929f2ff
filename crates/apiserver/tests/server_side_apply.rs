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

/// (manager, operation, subresource, the fields it owns, as paths).
fn entries(obj: &Value) -> Vec<(String, String, String, Vec<String>)> {
    fn leaves(v: &Value, path: &str, out: &mut Vec<String>) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, child) in m {
                    leaves(child, &format!("{path}/{k}"), out);
                }
            }
            _ => out.push(path.to_string()),
        }
    }
    obj["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields recorded")
        .iter()
        .map(|e| {
            assert_eq!(e["fieldsType"], "FieldsV1", "{e}");
            assert_eq!(e["apiVersion"], "apps/v1", "{e}");
            assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
            let mut fields = Vec::new();
            leaves(&e["fieldsV1"], "", &mut fields);
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("manager"), s("operation"), s("subresource"), fields)
        })
        .collect()
}

/// Ordinary writes are recorded as `Update` managers, as the real server
/// records them: `kubectl create` as `kubectl-create`, `kubectl scale` as
/// `kubectl` (its User-Agent) with subresource `scale`; an apply that
/// changes the replicas `scale` set is a 409 naming that manager, and
/// `--force-conflicts` takes them over.
#[test]
fn ordinary_writes_record_update_managers_that_apply_conflicts_with() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let get = || -> Value {
        serde_json::from_str(&s.ok(&["get", "deploy", "web", "-o", "json", "--show-managed-fields"])).unwrap()
    };
    const REPLICAS: &str = "/f:spec/f:replicas";
    const IMAGE: &str = "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"nginx\"}/f:image";

    s.ok(&["create", "deployment", "web", "--image=nginx", "--replicas=1"]);
    let created = entries(&get());
    assert_eq!(created.len(), 1, "{created:?}");
    let (m, op, sub, fields) = &created[0];
    assert_eq!(
        (m.as_str(), op.as_str(), sub.as_str()),
        ("kubectl-create", "Update", "")
    );
    assert!(fields.iter().any(|f| f == REPLICAS), "{fields:?}");
    assert!(fields.iter().any(|f| f == IMAGE), "{fields:?}");
    assert!(!fields.iter().any(|f| f.starts_with("/f:status")), "{fields:?}");

    // Scaled twice: one entry for the scale manager, owning the replicas,
    // which kubectl-create no longer owns.
    s.ok(&["scale", "deployment", "web", "--replicas=3"]);
    s.ok(&["scale", "deployment", "web", "--replicas=4"]);
    let scaled = entries(&get());
    let scalers: Vec<_> = scaled.iter().filter(|e| e.2 == "scale").collect();
    assert_eq!(scalers.len(), 1, "{scaled:?}");
    assert_eq!(
        (scalers[0].0.as_str(), scalers[0].1.as_str(), &scalers[0].3),
        ("kubectl", "Update", &vec![REPLICAS.to_string()])
    );
    let create = scaled.iter().find(|e| e.0 == "kubectl-create").unwrap();
    assert!(!create.3.iter().any(|f| f == REPLICAS), "{create:?}");

    // An apply of other replicas conflicts with the scaler; the image it
    // applies unchanged is shared with kubectl-create, no conflict.
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 5\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: nginx, image: nginx}]\n";
    let f = dir.path().join("web.yaml");
    std::fs::write(&f, yaml).unwrap();
    let f = f.to_str().unwrap();
    let (ok, _, err) = s.kubectl(&["apply", "--server-side", "-f", f]);
    assert!(!ok, "a conflict fails");
    assert!(
        err.contains(
            r#"Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas"#
        ),
        "{err}"
    );
    assert_eq!(get()["spec"]["replicas"], 4);

    s.ok(&["apply", "--server-side", "--force-conflicts", "-f", f]);
    let obj = get();
    assert_eq!(obj["spec"]["replicas"], 5);
    let forced = entries(&obj);
    assert!(
        !forced.iter().any(|e| e.2 == "scale"),
        "the scaler owned only the replicas: {forced:?}"
    );
    let applier = forced.iter().find(|e| e.1 == "Apply").expect("an Apply entry");
    assert_eq!(applier.0, "kubectl");
    assert!(applier.3.iter().any(|f| f == REPLICAS), "{applier:?}");
    // Apply entries come first, as the real server orders them.
    assert_eq!(forced[0].1, "Apply", "{forced:?}");

    // A client-side edit of the image moves it to that manager, and a
    // write that changes nothing adds no entry.
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:2"]);
    let before = entries(&get());
    s.ok(&["label", "deployment", "web", "x=1", "--overwrite"]);
    s.ok(&["label", "deployment", "web", "x=1", "--overwrite"]);
    let after = entries(&get());
    assert_eq!(after.len(), before.len() + 1, "{before:?}\n{after:?}");
    let image_owners: Vec<&String> = after
        .iter()
        .filter(|e| e.3.iter().any(|f| f == IMAGE))
        .map(|e| &e.0)
        .collect();
    assert_eq!(image_owners, ["kubectl-set"], "{after:?}");
}
