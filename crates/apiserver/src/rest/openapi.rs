//! OpenAPI v3 (/openapi/v3 and one document per group version), what
//! `kubectl explain` reads and what kubectl's client-side validation checks
//! against. The schemas are k8s-openapi's JsonSchema impls (its `schemars`
//! feature), generated from the same Kubernetes types the rest of the
//! project uses, with the field descriptions of the Kubernetes API; the
//! paths carry the `fieldValidation` parameter so kubectl leaves validation
//! to the server. Each document is built once and named in the index by a
//! hash of its content, so kubectl's cache never serves an older one.

use crate::resources::{self, RESOURCES};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The served kind's schema: its name among the definitions, added to
/// `gen` with everything it refers to. None for a kind without a type here.
fn add_kind(gen: &mut SchemaGenerator, group: &str, kind: &str) -> Option<String> {
    fn add<T: JsonSchema>(gen: &mut SchemaGenerator) -> Option<String> {
        gen.subschema_for::<T>();
        Some(T::schema_name().into_owned())
    }
    use k8s_openapi::api::{
        apps::v1 as apps, authorization::v1 as authz, batch::v1 as batch, coordination::v1 as coord,
        core::v1 as core, discovery::v1 as disc, events::v1 as events, networking::v1 as net,
        rbac::v1 as rbac,
    };
    match (group, kind) {
        ("", "Namespace") => add::<core::Namespace>(gen),
        ("", "Node") => add::<core::Node>(gen),
        ("", "Pod") => add::<core::Pod>(gen),
        ("", "Service") => add::<core::Service>(gen),
        ("", "ConfigMap") => add::<core::ConfigMap>(gen),
        ("", "Secret") => add::<core::Secret>(gen),
        ("", "Endpoints") => add::<core::Endpoints>(gen),
        ("", "ServiceAccount") => add::<core::ServiceAccount>(gen),
        ("", "Event") => add::<core::Event>(gen),
        ("apps", "Deployment") => add::<apps::Deployment>(gen),
        ("apps", "ReplicaSet") => add::<apps::ReplicaSet>(gen),
        ("apps", "DaemonSet") => add::<apps::DaemonSet>(gen),
        ("batch", "Job") => add::<batch::Job>(gen),
        ("rbac.authorization.k8s.io", "Role") => add::<rbac::Role>(gen),
        ("rbac.authorization.k8s.io", "ClusterRole") => add::<rbac::ClusterRole>(gen),
        ("rbac.authorization.k8s.io", "RoleBinding") => add::<rbac::RoleBinding>(gen),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => add::<rbac::ClusterRoleBinding>(gen),
        ("discovery.k8s.io", "EndpointSlice") => add::<disc::EndpointSlice>(gen),
        ("events.k8s.io", "Event") => add::<events::Event>(gen),
        ("networking.k8s.io", "NetworkPolicy") => add::<net::NetworkPolicy>(gen),
        ("coordination.k8s.io", "Lease") => add::<coord::Lease>(gen),
        ("authorization.k8s.io", "SelfSubjectAccessReview") => add::<authz::SelfSubjectAccessReview>(gen),
        ("authorization.k8s.io", "SubjectAccessReview") => add::<authz::SubjectAccessReview>(gen),
        ("authorization.k8s.io", "LocalSubjectAccessReview") => add::<authz::LocalSubjectAccessReview>(gen),
        ("authorization.k8s.io", "SelfSubjectRulesReview") => add::<authz::SelfSubjectRulesReview>(gen),
        _ => None,
    }
}

/// (kind, plural, namespaced) served in a group: the stored kinds, and
/// the review kinds of authorization.k8s.io.
fn kinds(group: &str) -> Vec<(&'static str, &'static str, bool)> {
    let mut out: Vec<_> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == "v1")
        .map(|r| (r.kind, r.plural, r.namespaced))
        .collect();
    if group == super::access_review::GROUP {
        out.extend(super::access_review::REVIEWS.iter().map(|(r, k, n)| (*k, *r, *n)));
    }
    out
}

fn gv_path(group: &str) -> String {
    if group.is_empty() {
        "api/v1".into()
    } else {
        format!("apis/{group}/v1")
    }
}

/// One group version's document.
fn document(group: &str) -> Value {
    let mut gen = SchemaSettings::openapi3().into_generator();
    let mut named = Vec::new();
    let field_validation =
        json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let mut paths = Map::new();
    for (kind, plural, namespaced) in kinds(group) {
        let gvk = json!({"group": group, "version": "v1", "kind": kind});
        if let Some(name) = add_kind(&mut gen, group, kind) {
            named.push((name, gvk.clone()));
        }
        let gv = gv_path(group);
        let base = if namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{plural}")
        } else {
            format!("/{gv}/{plural}")
        };
        let op = json!({"x-kubernetes-group-version-kind": gvk, "parameters": [field_validation],
            "responses": {"200": {"description": "OK"}}});
        paths.insert(base.clone(), json!({"post": op}));
        paths.insert(format!("{base}/{{name}}"), json!({"put": op, "patch": op}));
    }
    let mut schemas = gen.take_definitions(true);
    // What kubectl keys a kind's schema by (a list: one schema may serve
    // several group versions).
    for (name, gvk) in named {
        if let Some(s) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
            s.insert("x-kubernetes-group-version-kind".into(), json!([gvk]));
        }
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": super::discovery::GIT_VERSION},
        "paths": paths, "components": {"schemas": schemas}})
}

/// Every document by its index path ("api/v1", "apis/apps/v1"), with the
/// hash the index names it by.
fn documents() -> &'static BTreeMap<String, (String, Value)> {
    static DOCS: OnceLock<BTreeMap<String, (String, Value)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut groups = vec![""];
        groups.extend(resources::groups());
        groups.push(super::access_review::GROUP);
        groups.dedup();
        groups
            .into_iter()
            .map(|g| {
                let doc = document(g);
                let digest = ring::digest::digest(&ring::digest::SHA256, doc.to_string().as_bytes());
                let hash: String = digest.as_ref()[..16].iter().map(|b| format!("{b:02X}")).collect();
                (gv_path(g), (hash, doc))
            })
            .collect()
    })
}

/// /openapi/v3: where each group version's document is.
pub fn index() -> Value {
    let paths: Map<String, Value> = documents()
        .iter()
        .map(|(p, (hash, _))| {
            (
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
            )
        })
        .collect();
    json!({"paths": paths})
}

/// /openapi/v3/<gv>: the document of that group version.
pub fn doc(gv: &str) -> Option<Value> {
    documents().get(gv).map(|(_, d)| d.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_schema_carries_its_kind_and_field_descriptions() {
        let d = doc("api/v1").expect("core document");
        let schemas = &d["components"]["schemas"];
        let pod = &schemas["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{"group": "", "version": "v1", "kind": "Pod"}])
        );
        let spec = &pod["properties"]["spec"];
        assert_eq!(
            spec["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.core.v1.PodSpec",
            "{spec}"
        );
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert!(
            containers["description"]
                .as_str()
                .unwrap()
                .starts_with("List of containers"),
            "{containers}"
        );
        assert_eq!(
            containers["items"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Container"
        );
        assert!(index()["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/apis/apps/v1?hash="));
        assert!(
            doc("apis/authorization.k8s.io/v1").unwrap()["components"]["schemas"]
                .get("io.k8s.api.authorization.v1.SelfSubjectAccessReview")
                .is_some()
        );
    }
}
