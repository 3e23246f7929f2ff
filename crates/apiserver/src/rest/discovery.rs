//! Discovery (/api, /apis, group versions) and /version (the OpenAPI
//! documents are rest/openapi.rs).

use crate::resources::{self, ResourceDef, RESOURCES};
use serde_json::{json, Value};

/// The Kubernetes release whose API this server implements (the journey's
/// articles use 1.33); kubectl warns about skew past one minor version.
pub const GIT_VERSION: &str = "v1.33.0-labyrinth";

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": GIT_VERSION, "gitCommit": "labyrinth",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "rust",
        "compiler": "rustc", "platform": "linux/amd64",
    })
}

pub fn api_versions(server: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
}

fn group_entry(g: &str) -> Value {
    let gv = format!("{g}/v1");
    json!({"name": g, "versions": [{"groupVersion": gv, "version": "v1"}],
        "preferredVersion": {"groupVersion": gv, "version": "v1"}})
}

/// The stored kinds' groups, then the groups that only answer requests
/// (authentication.k8s.io: SelfSubjectReview, TokenRequest).
fn all_groups() -> Vec<&'static str> {
    let mut g = resources::groups();
    g.push(super::whoami::GROUP);
    g.push(super::access_review::GROUP);
    g
}

pub fn api_groups() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1",
        "groups": all_groups().into_iter().map(group_entry).collect::<Vec<_>>()})
}

pub fn api_group(g: &str) -> Option<Value> {
    all_groups().contains(&g).then(|| {
        let mut e = group_entry(g);
        e["kind"] = json!("APIGroup");
        e["apiVersion"] = json!("v1");
        e
    })
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn entry(r: &ResourceDef) -> Value {
    let mut e = json!({
        "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
        "kind": r.kind, "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        e["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        e["categories"] = json!(r.categories);
    }
    e
}

pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    if group == super::whoami::GROUP && version == "v1" {
        let r = json!({"name": super::whoami::RESOURCE, "singularName": "selfsubjectreview", "namespaced": false,
            "kind": "SelfSubjectReview", "verbs": ["create"]});
        return Some(json!({"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": format!("{group}/{version}"), "resources": [r]}));
    }
    if group == super::access_review::GROUP && version == "v1" {
        return Some(super::access_review::resource_list());
    }
    let rs: Vec<&ResourceDef> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for r in rs {
        out.push(entry(r));
        if r.status {
            out.push(
                json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"]}),
            );
        }
        if super::scale::served(r.kind) {
            out.push(json!({"name": format!("{}/scale", r.plural), "singularName": "", "namespaced": true,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        if r.kind == "ServiceAccount" {
            out.push(json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true,
                "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}));
        }
        if r.kind == "Pod" {
            out.push(
                json!({"name": "pods/exec", "singularName": "", "namespaced": true,
                "kind": "PodExecOptions", "verbs": ["create", "get"]}),
            );
            out.push(json!({"name": "pods/log", "singularName": "", "namespaced": true,
                "kind": "Pod", "verbs": ["get"]}));
            out.push(
                json!({"name": "pods/ephemeralcontainers", "singularName": "", "namespaced": true,
                "kind": "Pod", "verbs": ["get", "patch", "update"]}),
            );
            for (sub, kind) in [
                ("attach", "PodAttachOptions"),
                ("portforward", "PodPortForwardOptions"),
            ] {
                out.push(
                    json!({"name": format!("pods/{sub}"), "singularName": "", "namespaced": true,
                    "kind": kind, "verbs": ["create", "get"]}),
                );
            }
        }
    }
    for r in super::unstored::UNSTORED
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        out.push(
            json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": super::unstored::VERBS}),
        );
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}))
}
