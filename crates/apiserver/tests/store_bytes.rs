//! The store keeps each object's JSON bytes and the server answers from
//! them: a list is spliced from the same bytes a get of each object
//! returns and a watch event carries, with each object's own
//! resourceVersion inside; selectors, pages and Tables still work. On the
//! embedded store and on etcd's watch cache alike.

mod common;
use common::etcd::Etcd;
use common::item_names as names;
use common::text::TextClient as Client;
use common::TestServer;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("p-{i}"), "labels": {"app": if i.is_multiple_of(2) { "a" } else { "b" }}},
        "spec": {"nodeName": format!("node-{}", i % 3), "containers": [{"name": "c", "image": "busybox"}]}})
}

fn rv(v: &Value) -> &str {
    v["metadata"]["resourceVersion"].as_str().unwrap()
}

fn lists_are_spliced_from_the_stored_bytes(s: &TestServer) {
    let c = Client::new(s);
    for i in 0..5 {
        let created: Value = serde_json::from_str(&c.text("POST", PODS, Some(&pod(i)), None)).unwrap();
        assert_eq!(created["metadata"]["name"], format!("p-{i}"), "{created}");
    }
    // A change after the creates: its new revision must be the one listed.
    let patched: Value = serde_json::from_str(&c.text(
        "PATCH",
        &format!("{PODS}/p-1"),
        Some(&json!({"metadata": {"labels": {"tier": "web"}}})),
        None,
    ))
    .unwrap();

    let list_text = c.get(PODS);
    let list: Value = serde_json::from_str(&list_text).unwrap();
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(names(&list), ["p-0", "p-1", "p-2", "p-3", "p-4"]);
    let mut item_bytes = 0;
    for (i, item) in list["items"].as_array().unwrap().iter().enumerate() {
        let got_text = c.get(&format!("{PODS}/p-{i}"));
        assert!(
            list_text.contains(&got_text),
            "the list holds p-{i} byte for byte as a get returns it:\nget:  {got_text}\nlist: {list_text}"
        );
        item_bytes += got_text.len();
        let got: Value = serde_json::from_str(&got_text).unwrap();
        assert_eq!(item, &got);
        assert_eq!(rv(item), rv(&got));
    }
    // Nothing but the items and their commas between "items":[ and ]}.
    let at = list_text.find("\"items\":[").unwrap() + "\"items\":[".len();
    assert_eq!(list_text.len() - at - "]}".len(), item_bytes + 4);
    assert_eq!(rv(&list["items"][1]), rv(&patched), "p-1 as patched");
    assert_eq!(list["items"][1]["metadata"]["labels"]["tier"], "web");
    assert!(
        rv(&list["items"][1]).parse::<u64>().unwrap() > rv(&list["items"][0]).parse::<u64>().unwrap(),
        "each item carries its own revision"
    );
    assert!(
        list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= rv(&patched).parse().unwrap()
    );

    // Selectors, on labels and on fields, indexed (spec.nodeName) or not.
    let sel = |q: &str| -> Vec<String> {
        let l: Value = serde_json::from_str(&c.get(&format!("{PODS}?{q}"))).unwrap();
        names(&l)
    };
    assert_eq!(sel("labelSelector=app%3Da"), ["p-0", "p-2", "p-4"]);
    assert_eq!(sel("labelSelector=app%3Db,tier"), ["p-1"]);
    assert_eq!(
        sel("labelSelector=tier%20notin%20(web)"),
        ["p-0", "p-2", "p-3", "p-4"]
    );
    assert_eq!(sel("fieldSelector=spec.nodeName%3Dnode-1"), ["p-1", "p-4"]);
    assert_eq!(
        sel("fieldSelector=spec.nodeName!%3Dnode-1,metadata.name!%3Dp-0&labelSelector=app%3Da"),
        ["p-2"]
    );
    // Paths the store does not index: the object is read for them.
    assert_eq!(sel("fieldSelector=spec.containers.0.image%3Dbusybox").len(), 5);
    assert_eq!(
        sel("fieldSelector=status.podIP%3D").len(),
        5,
        "absent compares as empty"
    );
    assert_eq!(sel("fieldSelector=spec.hostname%3Dx").len(), 0);

    // Pages of two: every object once, each as its get returns it.
    let mut seen = Vec::new();
    let mut cont = String::new();
    for page in 0.. {
        let text = c.get(&format!("{PODS}?limit=2&continue={cont}"));
        let p: Value = serde_json::from_str(&text).unwrap();
        if page == 0 {
            assert_eq!(p["metadata"]["remainingItemCount"], 3);
        }
        for n in names(&p) {
            assert!(
                text.contains(&c.get(&format!("{PODS}/{n}"))),
                "{n} on page {page}"
            );
            seen.push(n);
        }
        match p["metadata"]["continue"].as_str() {
            Some(next) if !next.is_empty() => cont = next.to_string(),
            _ => break,
        }
    }
    assert_eq!(seen, names(&list));

    // A Table (what kubectl get asks for) has a row per object.
    let table: Value = serde_json::from_str(&c.text(
        "GET",
        PODS,
        None,
        Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
    ))
    .unwrap();
    assert_eq!(table["kind"], "Table");
    let rows: BTreeSet<&str> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cells"][0].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["p-0", "p-1", "p-2", "p-3", "p-4"].into());

    // A watch from the start: each ADDED event wraps the same bytes.
    let events = c.get(&format!("{PODS}?watch=1&resourceVersion=0&timeoutSeconds=1"));
    let lines: Vec<&str> = events.lines().collect();
    assert_eq!(lines.len(), 5, "{events}");
    for (i, line) in lines.iter().enumerate() {
        let want = format!(
            "{{\"type\":\"ADDED\",\"object\":{}}}",
            c.get(&format!("{PODS}/p-{i}"))
        );
        assert_eq!(*line, want);
    }
}

#[test]
fn embedded_lists_are_spliced_from_the_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    lists_are_spliced_from_the_stored_bytes(&s);
}

#[test]
fn etcd_lists_are_spliced_from_the_stored_bytes() {
    let Some(etcd) = Etcd::start("etcd_lists_are_spliced_from_the_stored_bytes") else {
        return;
    };
    let s = etcd.server();
    lists_are_spliced_from_the_stored_bytes(&s);
}
