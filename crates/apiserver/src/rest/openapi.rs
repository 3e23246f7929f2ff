//! OpenAPI v3 (/openapi/v3 and one document per group version), what
//! `kubectl explain` reads and what kubectl's client-side validation checks
//! against. The schemas are k8s-openapi's JsonSchema impls (its `schemars`
//! feature), generated from the same Kubernetes types the rest of the
//! project uses, with the field descriptions of the Kubernetes API; the
//! paths carry the `fieldValidation` parameter so kubectl leaves validation
//! to the server. Each document is built once and named in the index by a
//! hash of its content, so kubectl's cache never serves an older one.

use crate::resources::{self, RESOURCES};
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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

/// One served document: its JSON, written once, and the hash the index
/// names it by (also its ETag).
struct Document {
    hash: String,
    body: Bytes,
}

/// Every document by its index path ("api/v1", "apis/apps/v1").
fn documents() -> &'static BTreeMap<String, Document> {
    static DOCS: OnceLock<BTreeMap<String, Document>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut groups = vec![""];
        groups.extend(resources::groups());
        groups.push(super::access_review::GROUP);
        groups.dedup();
        groups
            .into_iter()
            .map(|g| {
                let body = Bytes::from(document(g).to_string());
                (
                    gv_path(g),
                    Document {
                        hash: hash_of(&body),
                        body,
                    },
                )
            })
            .collect()
    })
}

fn hash_of(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    digest.as_ref()[..16].iter().map(|b| format!("{b:02X}")).collect()
}

/// /openapi/v3: where each group version's document is, and its ETag.
fn index() -> &'static Document {
    static INDEX: OnceLock<Document> = OnceLock::new();
    INDEX.get_or_init(|| {
        let paths: Map<String, Value> = documents()
            .iter()
            .map(|(p, d)| {
                let url = format!("/openapi/v3/{p}?hash={}", d.hash);
                (p.clone(), json!({ "serverRelativeURL": url }))
            })
            .collect();
        let body = Bytes::from(json!({ "paths": paths }).to_string());
        Document {
            hash: hash_of(&body),
            body,
        }
    })
}

/// GET /openapi/v3 (`gv` empty) or /openapi/v3/<gv>, as kube-apiserver
/// serves them, so that clients cache them: every answer has an ETag and a
/// matching `If-None-Match` gets 304; a document asked for by the hash the
/// index gives is immutable (kubectl's HTTP cache then reads it from disk,
/// without a request, until the index names another hash), and one asked
/// for by an older hash is redirected to the current one. None for a group
/// version not served.
pub fn serve(gv: &str, query: Option<&str>, if_none_match: Option<&HeaderValue>) -> Option<Response> {
    let doc = if gv.is_empty() {
        index()
    } else {
        documents().get(gv)?
    };
    let etag = format!("\"{}\"", doc.hash);
    let asked_hash = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("hash="));
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).ok()?);
    if let Some(asked) = asked_hash.filter(|_| !gv.is_empty()) {
        if asked != doc.hash {
            let url = format!("/openapi/v3/{gv}?hash={}", doc.hash);
            headers.insert(header::LOCATION, HeaderValue::from_str(&url).ok()?);
            return Some((StatusCode::MOVED_PERMANENTLY, headers).into_response());
        }
        let a_year = std::time::SystemTime::now() + std::time::Duration::from_secs(365 * 24 * 3600);
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, immutable"),
        );
        headers.insert(
            header::EXPIRES,
            HeaderValue::from_str(&httpdate::fmt_http_date(a_year)).ok()?,
        );
        headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    }
    let matches = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Some((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Some((StatusCode::OK, headers, doc.body.clone()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(gv: &str) -> Option<Value> {
        documents()
            .get(gv)
            .map(|d| serde_json::from_slice(&d.body).unwrap())
    }

    fn index_value() -> Value {
        serde_json::from_slice(&index().body).unwrap()
    }

    fn header(r: &Response, name: header::HeaderName) -> Option<&str> {
        r.headers().get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn a_document_asked_for_by_its_hash_is_immutable_and_an_old_hash_is_redirected() {
        let url = index_value()["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .to_string();
        let hash = url.split_once("?hash=").unwrap().1;
        let r = serve("apis/apps/v1", Some(&format!("hash={hash}")), None).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, header::CACHE_CONTROL), Some("public, immutable"));
        assert_eq!(header(&r, header::ETAG), Some(format!("\"{hash}\"").as_str()));
        let expires = httpdate::parse_http_date(header(&r, header::EXPIRES).unwrap()).unwrap();
        assert!(expires > std::time::SystemTime::now() + std::time::Duration::from_secs(300 * 24 * 3600));

        let old = serve("apis/apps/v1", Some("hash=0123"), None).unwrap();
        assert_eq!(old.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(header(&old, header::LOCATION), Some(url.as_str()));

        // Without a hash: no promise that it never changes.
        let plain = serve("apis/apps/v1", None, None).unwrap();
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(header(&plain, header::CACHE_CONTROL), None);
    }

    #[test]
    fn a_client_holding_the_current_etag_gets_304_and_any_other_the_document() {
        for gv in ["", "api/v1"] {
            let first = serve(gv, None, None).unwrap();
            let etag = header(&first, header::ETAG).unwrap().to_string();
            let same = HeaderValue::from_str(&format!("\"other\", {etag}")).unwrap();
            assert_eq!(
                serve(gv, None, Some(&same)).unwrap().status(),
                StatusCode::NOT_MODIFIED
            );
            let other = HeaderValue::from_static("\"other\"");
            assert_eq!(serve(gv, None, Some(&other)).unwrap().status(), StatusCode::OK);
        }
        assert!(serve("apis/nope/v1", None, None).is_none());
    }

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
        assert!(index_value()["paths"]["apis/apps/v1"]["serverRelativeURL"]
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
