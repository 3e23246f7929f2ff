//! Issue 17, `kubectl explain` through the machine's kubectl: the OpenAPI v3
//! documents carry every served kind's schema with the Kubernetes field
//! descriptions.

mod common;
use common::TestServer;

/// The value after a `LABEL:` line's label.
fn header(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn explain_shows_fields_with_their_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());

    let out = s.ok(&["explain", "pod.spec.containers"]);
    assert_eq!(header(&out, "KIND:"), "Pod", "{out}");
    assert_eq!(header(&out, "VERSION:"), "v1", "{out}");
    assert_eq!(header(&out, "FIELD:"), "containers <[]Container>", "{out}");
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("List of containers belonging to the pod."), "{out}");
    let field = |name: &str| {
        out.lines()
            .find(|l| {
                l.trim_start().starts_with(&format!("{name}\t"))
                    || l.trim_start().starts_with(&format!("{name} "))
            })
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    assert_eq!(field("image"), Some(vec!["image", "<string>"]), "{out}");
    assert_eq!(field("ports"), Some(vec!["ports", "<[]ContainerPort>"]), "{out}");
    assert!(flat.contains("Container image name."), "{out}");

    let out = s.ok(&["explain", "deployment.spec", "--recursive"]);
    assert_eq!(header(&out, "GROUP:"), "apps", "{out}");
    assert_eq!(header(&out, "KIND:"), "Deployment", "{out}");
    assert_eq!(header(&out, "VERSION:"), "v1", "{out}");
    assert_eq!(header(&out, "FIELD:"), "spec <DeploymentSpec>", "{out}");
    for nested in [
        "replicas",
        "template",
        "containers",
        "containerPort",
        "matchLabels",
    ] {
        assert!(
            // kubectl prints `name<type>` in the recursive listing.
            out.lines()
                .any(|l| l.trim_start().split(['<', '\t', ' ']).next() == Some(nested)),
            "{nested} in {out}"
        );
    }

    // Every served kind explains, cluster-scoped and grouped ones too.
    for kind in [
        "node",
        "service",
        "endpointslice",
        "networkpolicy",
        "clusterrole",
        "lease",
        "job",
    ] {
        let out = s.ok(&["explain", kind]);
        assert!(
            out.contains("DESCRIPTION:") && out.contains("FIELDS:"),
            "{kind}: {out}"
        );
    }
    let (ok, _, err) = s.kubectl(&["explain", "pod.spec.nosuchfield"]);
    assert!(
        !ok && err.contains("field \"nosuchfield\" does not exist"),
        "{err}"
    );
}

/// The headers kubectl logged (`-v=8`) for its response to the GET of
/// `path`'s document.
fn response_headers_for(log: &str, path: &str) -> String {
    let asked = log
        .find(&format!("/openapi/v3/{path}?hash="))
        .unwrap_or_else(|| panic!("no request for {path} in {log}"));
    let rest = &log[asked..];
    let response = rest.find("\"Response\"").expect("a response after the request");
    let block = &rest[response..];
    block[..block.find("\n >").unwrap_or(block.len())].to_string()
}

/// The documents are served as kube-apiserver serves them, so that
/// kubectl's HTTP cache keeps them: a second kubectl run reads apps/v1's
/// document from its cache (named by the hash the index gives, immutable)
/// and revalidates the index by its ETag, instead of fetching 200 KB again.
#[test]
fn kubectl_reads_a_document_it_already_has_from_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let (ok, _, first) = s.kubectl(&["explain", "deployment.spec", "-v=8"]);
    assert!(ok, "{first}");
    let fetched = response_headers_for(&first, "apis/apps/v1");
    assert!(fetched.contains("Cache-Control: public, immutable"), "{fetched}");
    assert!(!fetched.contains("X-From-Cache"), "{fetched}");

    let (ok, out, second) = s.kubectl(&["explain", "deployment.spec", "-v=8"]);
    assert!(ok, "{second}");
    assert!(out.contains("DeploymentSpec"), "{out}");
    let cached = response_headers_for(&second, "apis/apps/v1");
    assert!(cached.contains("X-From-Cache: 1"), "{cached}");
}
