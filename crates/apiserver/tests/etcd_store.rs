//! The API server on a real etcd (`--store etcd`): objects land under
//! kube-apiserver's keys with etcd's revisions as resourceVersions, kubectl
//! works as on the embedded store, a watcher behind a compaction gets 410,
//! and an etcd killed and restarted mid-run costs errors, not data.

mod common;
use common::etcd::Etcd;
use common::{call, TestServer};
use serde_json::{json, Value};

fn cm(name: &str, v: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"}, "data": {"v": v}})
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// etcdctl's view of one key: (mod_revision, the stored JSON).
fn etcd_get(etcd: &Etcd, key: &str) -> Option<(u64, Value)> {
    let out: Value = serde_json::from_str(&etcd.ctl(&["get", key, "-w", "json"])).unwrap();
    let kv = out["kvs"].get(0)?;
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(kv["value"].as_str().unwrap())
        .unwrap();
    Some((
        kv["mod_revision"].as_u64().unwrap(),
        serde_json::from_slice(&raw).unwrap(),
    ))
}

/// The events of a ConfigMap watch from `rv`, as kubectl reads them (the
/// server ends the stream after a second).
fn watch_from(s: &TestServer, rv: &str) -> Vec<Value> {
    let raw = s.ok(&[
        "get",
        "--raw",
        &format!("{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=1"),
    ]);
    raw.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn objects_live_under_kube_apiserver_keys_with_etcd_revisions() {
    let Some(etcd) = Etcd::start("objects_live_under_kube_apiserver_keys_with_etcd_revisions") else {
        return;
    };
    let s = etcd.server();

    let (code, created) = call(&s, "POST", CMS, Some(&cm("a", "1")));
    assert_eq!(code, 201, "{created}");
    let (rev, stored) = etcd_get(&etcd, "/registry/configmaps/default/a").expect("key written");
    assert_eq!(rv_of(&created), rev, "resourceVersion is etcd's mod_revision");
    assert_eq!(stored["data"]["v"], "1");
    assert!(
        stored["metadata"].get("resourceVersion").is_none(),
        "the revision is etcd's, not in the bytes"
    );
    // What bootstrap wrote sits where kube-apiserver keeps it.
    assert!(etcd_get(&etcd, "/registry/namespaces/kube-system").is_some());
    assert!(etcd_get(&etcd, "/registry/services/specs/default/kubernetes").is_some());

    // Read your write, then a conflict on a stale revision.
    let (code, got) = call(&s, "GET", &format!("{CMS}/a"), None);
    assert_eq!((code, rv_of(&got)), (200, rev));
    let mut upd = got.clone();
    upd["data"]["v"] = json!("2");
    let (code, updated) = call(&s, "PUT", &format!("{CMS}/a"), Some(&upd));
    assert_eq!(code, 200, "{updated}");
    assert!(rv_of(&updated) > rev);
    let (code, conflict) = call(&s, "PUT", &format!("{CMS}/a"), Some(&upd));
    assert_eq!(code, 409, "a stale resourceVersion conflicts: {conflict}");
    assert_eq!(
        etcd_get(&etcd, "/registry/configmaps/default/a").unwrap().1["data"]["v"],
        "2"
    );

    let (code, dup) = call(&s, "POST", CMS, Some(&cm("a", "x")));
    assert_eq!(code, 409, "{dup}");
    assert_eq!(dup["reason"], "AlreadyExists");

    let (code, _) = call(&s, "DELETE", &format!("{CMS}/a"), None);
    assert_eq!(code, 200);
    assert!(etcd_get(&etcd, "/registry/configmaps/default/a").is_none());
    let (code, _) = call(&s, "GET", &format!("{CMS}/a"), None);
    assert_eq!(code, 404);

    // A second server on the same etcd (a restart) sees what the first wrote.
    call(&s, "POST", CMS, Some(&cm("kept", "1")));
    drop(s);
    let s2 = etcd.server();
    let (code, got) = call(&s2, "GET", &format!("{CMS}/kept"), None);
    assert_eq!((code, &got["data"]["v"]), (200, &json!("1")));
}

#[test]
fn kubectl_applies_gets_and_watches_on_etcd() {
    let Some(etcd) = Etcd::start("kubectl_applies_gets_and_watches_on_etcd") else {
        return;
    };
    let s = etcd.server();
    s.apply(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n",
        &[],
    );
    assert!(etcd_get(&etcd, "/registry/deployments/default/web").is_some());
    let out = s.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(out, "2");
    // Apply again with a change: a patch through the same store.
    let out = s.apply(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: nginx}]}\n",
        &[],
    );
    assert!(out.contains("configured"), "{out}");
    let stored = etcd_get(&etcd, "/registry/deployments/default/web").unwrap().1;
    assert_eq!(stored["spec"]["replicas"], 3);

    // A watch from a revision replays what came after it.
    let (_, list) = call(&s, "GET", CMS, None);
    let from = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    call(&s, "POST", CMS, Some(&cm("w1", "1")));
    call(&s, "POST", CMS, Some(&cm("w2", "1")));
    call(&s, "DELETE", &format!("{CMS}/w1"), None);
    let evs = watch_from(&s, &from);
    let seen: Vec<(&str, &str)> = evs
        .iter()
        .map(|v| {
            (
                v["type"].as_str().unwrap(),
                v["object"]["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [("ADDED", "w1"), ("ADDED", "w2"), ("DELETED", "w1")]);
}

#[test]
fn a_watcher_behind_a_compaction_gets_410_and_a_relist_works() {
    let Some(etcd) = Etcd::start("a_watcher_behind_a_compaction_gets_410_and_a_relist_works") else {
        return;
    };
    let s = etcd.server();
    let (_, first) = call(&s, "POST", CMS, Some(&cm("c0", "0")));
    let behind = rv_of(&first);
    let mut last = behind;
    for i in 1..5 {
        let (_, o) = call(&s, "POST", CMS, Some(&cm(&format!("c{i}"), "0")));
        last = rv_of(&o);
    }
    // Within the window (nothing compacted yet): served.
    let evs = watch_from(&s, &behind.to_string());
    assert_eq!(evs.len(), 4, "{evs:?}");

    etcd.ctl(&["compact", &last.to_string()]);
    let evs = watch_from(&s, &behind.to_string());
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["type"], "ERROR", "{evs:?}");
    assert_eq!(evs[0]["object"]["code"], 410, "{evs:?}");

    // The relist a client then does, and a watch from its revision.
    let (_, list) = call(&s, "GET", CMS, None);
    assert_eq!(list["items"].as_array().unwrap().len(), 5);
    let from = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    call(&s, "POST", CMS, Some(&cm("after", "1")));
    let evs = watch_from(&s, &from);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(
        (
            evs[0]["type"].as_str(),
            evs[0]["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("after"))
    );
}

#[test]
fn etcd_killed_mid_run_fails_writes_clearly_then_recovers_losing_nothing() {
    let Some(mut etcd) = Etcd::start("etcd_killed_mid_run_fails_writes_clearly_then_recovers_losing_nothing")
    else {
        return;
    };
    let s = etcd.server();
    let mut acked = Vec::new();
    for i in 0..20 {
        let name = format!("before-{i}");
        let (code, body) = call(&s, "POST", CMS, Some(&cm(&name, "1")));
        assert_eq!(code, 201, "{body}");
        acked.push(name);
    }

    etcd.kill();
    let (code, body) = call(&s, "POST", CMS, Some(&cm("while-down", "1")));
    assert_eq!(code, 503, "a write with etcd down fails as unavailable: {body}");
    let msg = body["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("etcd") && msg.contains(&etcd.url),
        "names etcd and where: {msg}"
    );
    // Reads are served from the cache meanwhile.
    let (code, list) = call(&s, "GET", CMS, None);
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 20);

    etcd.restart();
    // Writes work again once the store reconnects (each call is bounded;
    // the loop is bounded in count, not timed).
    let mut back = false;
    for i in 0..100 {
        let name = format!("after-{i}");
        let (code, _) = call(&s, "POST", CMS, Some(&cm(&name, "1")));
        if code == 201 {
            acked.push(name);
            back = true;
            if acked.len() >= 30 {
                break;
            }
        } else {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    assert!(back, "writes never worked again after etcd returned");
    // Read-your-writes across the reconnect: the cache resumed its watch.
    let (_, list) = call(&s, "GET", CMS, None);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    for n in &acked {
        assert!(
            names.contains(&n.as_str()),
            "acknowledged {n} is missing from the list"
        );
        assert!(
            etcd_get(&etcd, &format!("/registry/configmaps/default/{n}")).is_some(),
            "acknowledged {n} is missing from etcd"
        );
    }
    // The write etcd never took is nowhere.
    assert!(!names.contains(&"while-down"));
}
