//! Issue 17, list chunking: `kubectl get pods --chunk-size=2` over 10 pods
//! lists each once, in pages of two; a continued list keeps to its first
//! page's snapshot; a token the server did not write is answered 400.

mod common;
use common::item_names as names;
use common::{call, TestServer};
use serde_json::json;

fn pods_yaml(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i:02}, namespace: chunks}}\nspec:\n  containers: [{{name: c, image: busybox}}]\n---\n"
            )
        })
        .collect()
}

#[test]
fn chunked_lists_serve_each_object_once_from_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    s.ok(&["create", "namespace", "chunks"]);
    s.apply(&pods_yaml(10), &[]);

    // kubectl follows the continue tokens: every pod once, in five requests.
    let (ok, out, err) = s.kubectl(&[
        "get",
        "pods",
        "-n",
        "chunks",
        "--chunk-size=2",
        "-o",
        "name",
        "-v=6",
    ]);
    assert!(ok, "{err}");
    let want: Vec<String> = (0..10).map(|i| format!("pod/p{i:02}")).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
    let pages = err
        .lines()
        .filter(|l| l.contains("/pods?") && l.contains("limit=2"))
        .count();
    assert_eq!(pages, 5, "five pages of two: {err}");
    assert_eq!(err.matches("continue=").count(), 4, "{err}");

    // As a table: one header, ten rows.
    let table = s.ok(&["get", "pods", "-n", "chunks", "--chunk-size=2"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 11, "{table}");
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("NAME")).count(),
        1,
        "{table}"
    );

    // Raw pages: the count of what is left, and the first page's snapshot
    // kept while pods come and go between pages.
    let base = "/api/v1/namespaces/chunks/pods";
    let (code, p1) = call(&s, "GET", &format!("{base}?limit=4"), None);
    assert_eq!(code, 200, "{p1}");
    assert_eq!(names(&p1), ["p00", "p01", "p02", "p03"]);
    assert_eq!(p1["metadata"]["remainingItemCount"], json!(6), "{p1}");
    let cont = p1["metadata"]["continue"].as_str().unwrap().to_string();
    let (code, _) = call(&s, "DELETE", &format!("{base}/p05?gracePeriodSeconds=0"), None);
    assert_eq!(code, 200);
    s.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p04a, namespace: chunks}\nspec:\n  containers: [{name: c, image: busybox}]\n",
        &[],
    );
    let (code, now) = call(&s, "GET", base, None);
    assert_eq!(code, 200);
    assert!(names(&now).contains(&"p04a".to_string()) && !names(&now).contains(&"p05".to_string()));
    let (code, p2) = call(&s, "GET", &format!("{base}?limit=100&continue={cont}"), None);
    assert_eq!(code, 200, "{p2}");
    assert_eq!(names(&p2), ["p04", "p05", "p06", "p07", "p08", "p09"], "{p2}");
    assert_eq!(
        p2["metadata"]["resourceVersion"],
        p1["metadata"]["resourceVersion"]
    );
    assert!(p2["metadata"].get("continue").is_none(), "{p2}");

    // A selector still pages, without a remaining count.
    let (_, sel) = call(
        &s,
        "GET",
        "/api/v1/pods?limit=1&fieldSelector=metadata.namespace%3Dchunks",
        None,
    );
    assert_eq!(names(&sel), ["p00"], "{sel}");
    assert!(
        sel["metadata"]["continue"].is_string() && sel["metadata"].get("remainingItemCount").is_none(),
        "{sel}"
    );

    // A token this server never wrote.
    let (code, bad) = call(&s, "GET", &format!("{base}?limit=2&continue=not-a-token"), None);
    assert_eq!(code, 400, "{bad}");
    assert_eq!(bad["reason"], "BadRequest");
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid continue token: continue key is not valid"),
        "{bad}"
    );
}
