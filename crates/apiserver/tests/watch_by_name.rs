//! A watch selected by name sees an object deleted and made again under the
//! same name as two events: DELETED of the old one (its uid), then ADDED of
//! the new one. `kubectl delete` waits this way (a list and a watch on
//! `metadata.name`, done once it sees the old uid gone or replaced), so a
//! lost DELETED or a lost ADDED hangs it. Checked for a watch open before
//! the delete and for one started afterwards from an older resourceVersion
//! (replayed from the store's history), on both store backends.

mod common;
use common::etcd::Etcd;
use common::text::TextClient;
use common::TestServer;
use serde_json::{json, Value};

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";

/// (type, uid) of each event of a watch's body, in order.
fn events(body: &str) -> Vec<(String, String)> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("watch line {l:?}: {e}"));
            let uid = v["object"]["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (v["type"].as_str().unwrap().to_string(), uid)
        })
        .filter(|(t, _)| t != "BOOKMARK")
        .collect()
}

fn uid(v: &Value) -> String {
    v["metadata"]["uid"].as_str().unwrap().to_string()
}

fn check(s: &TestServer, coll: &str, obj: impl Fn() -> Value) {
    let c = TextClient::new(s);
    let name = obj()["metadata"]["name"].as_str().unwrap().to_string();
    let first: Value = serde_json::from_str(&c.text("POST", coll, Some(&obj()), None)).unwrap();
    let (uid1, rv1) = (
        uid(&first),
        first["metadata"]["resourceVersion"].as_str().unwrap().to_string(),
    );

    // A watch open before the delete, as kubectl's informer is when the
    // delete and the new object come after its list.
    let watch =
        format!("{coll}?watch=1&fieldSelector=metadata.name%3D{name}&resourceVersion={rv1}&timeoutSeconds=3");
    let open = std::thread::spawn({
        let c2 = TextClient::new(s);
        let w = watch.clone();
        move || c2.get(&w)
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    c.text("DELETE", &format!("{coll}/{name}"), None, None);
    let second: Value = serde_json::from_str(&c.text("POST", coll, Some(&obj()), None)).unwrap();
    let uid2 = uid(&second);
    assert_ne!(uid1, uid2, "a new object gets a new uid");
    let want = vec![
        ("DELETED".to_string(), uid1.clone()),
        ("ADDED".to_string(), uid2.clone()),
    ];
    assert_eq!(
        events(&open.join().unwrap()),
        want,
        "watch open across the delete"
    );

    // A watch started afterwards from the first object's version replays both.
    let replay =
        format!("{coll}?watch=1&fieldSelector=metadata.name%3D{name}&resourceVersion={rv1}&timeoutSeconds=1");
    assert_eq!(events(&c.get(&replay)), want, "watch replayed from history");

    // And a list by name shows only the new one, as kubectl's informer lists.
    let list: Value =
        serde_json::from_str(&c.get(&format!("{coll}?fieldSelector=metadata.name%3D{name}"))).unwrap();
    let uids: Vec<String> = list["items"].as_array().unwrap().iter().map(uid).collect();
    assert_eq!(uids, vec![uid2]);
}

fn config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "again"}, "data": {"k": "v"}})
}

/// Unbound, so deleting it is immediate (no kubelet to confirm).
fn pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "again"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

fn both(s: &TestServer) {
    check(s, CMS, config_map);
    check(s, PODS, pod);
}

#[test]
fn embedded_watch_by_name_sees_delete_then_add() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    both(&s);
}

#[test]
fn etcd_watch_by_name_sees_delete_then_add() {
    let Some(etcd) = Etcd::start("etcd_watch_by_name_sees_delete_then_add") else {
        return;
    };
    let s = etcd.server();
    both(&s);
}
