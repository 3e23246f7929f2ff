//! A restart keeps every object and the resourceVersion counter, and a watch
//! resumes from a revision seen before the restart.

mod common;
use common::TestServer;

#[test]
fn restart_keeps_objects_and_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestServer::start(dir.path());
    s.ok(&["create", "namespace", "wrk-1"]);
    s.ok(&["-n", "wrk-1", "create", "configmap", "a", "--from-literal=k=v"]);
    let rv_before: u64 = s.running().state.store.current_rv();
    let svc_ip = s.ok(&["get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]);
    let cm_rv = s.ok(&[
        "-n",
        "wrk-1",
        "get",
        "cm",
        "a",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    s.stop();
    drop(s);

    let s = TestServer::start(dir.path());
    assert!(
        s.running().state.store.current_rv() >= rv_before,
        "the revision counter continues"
    );
    assert_eq!(
        s.ok(&["-n", "wrk-1", "get", "cm", "a", "-o", "jsonpath={.data.k}"]),
        "v"
    );
    assert_eq!(
        s.ok(&[
            "-n",
            "wrk-1",
            "get",
            "cm",
            "a",
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ]),
        cm_rv
    );
    assert_eq!(
        s.ok(&["get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"]),
        svc_ip
    );
    s.ok(&["-n", "wrk-1", "create", "configmap", "b"]);
    let b_rv: u64 = s
        .ok(&[
            "-n",
            "wrk-1",
            "get",
            "cm",
            "b",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    assert!(b_rv > rv_before, "new revisions are above the old ones");
    // The history survived: a watch from before the restart replays b's ADDED.
    let ws = s
        .running()
        .state
        .store
        .watch("configmaps", cm_rv.parse().unwrap())
        .expect("not too old");
    assert!(ws.backlog.iter().any(|e| e.object["metadata"]["name"] == "b"));
}
