//! authorization.k8s.io/v1 reviews (`kubectl auth can-i`): a
//! SelfSubjectAccessReview asks "may I …?", a SubjectAccessReview (and
//! its namespaced LocalSubjectAccessReview) "may this user …?", a
//! SelfSubjectRulesReview "what may I do in this namespace?" (`can-i
//! --list`). Each is answered by the same decision the server enforces on
//! requests (auth::allowed, auth::rbac), never stored.

use super::status::{ApiError, ApiResult};
use crate::auth::{self, rbac, Identity};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const GROUP: &str = "authorization.k8s.io";

/// (resource, kind, namespaced) of each review.
pub const REVIEWS: [(&str, &str, bool); 4] = [
    ("localsubjectaccessreviews", "LocalSubjectAccessReview", true),
    ("selfsubjectaccessreviews", "SelfSubjectAccessReview", false),
    ("selfsubjectrulesreviews", "SelfSubjectRulesReview", false),
    ("subjectaccessreviews", "SubjectAccessReview", false),
];

/// The review resource a POST path names: (resource, namespace of a local
/// review).
pub fn target<'a>(segs: &[&'a str]) -> Option<(&'a str, Option<&'a str>)> {
    match segs {
        ["apis", GROUP, "v1", r] => Some((*r, None)),
        ["apis", GROUP, "v1", "namespaces", ns, r] => Some((*r, Some(*ns))),
        _ => None,
    }
}

/// The discovery list of the group.
pub fn resource_list() -> Value {
    let rs: Vec<Value> = REVIEWS
        .iter()
        .map(|(r, kind, namespaced)| {
            json!({"name": r, "singularName": r.trim_end_matches('s'), "namespaced": namespaced,
                "kind": kind, "verbs": ["create"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/v1"), "resources": rs})
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Answer one review: `resource` from the path, `ns` for a local review,
/// `body` the review as JSON.
pub fn serve(
    st: &AppState,
    user: &Identity,
    resource: &str,
    ns: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> ApiResult<Response> {
    let Some(&(_, kind, _)) = REVIEWS
        .iter()
        .find(|(r, _, n)| *r == resource && *n == ns.is_some())
    else {
        return Err(ApiError::page_not_found());
    };
    // Asking is itself a request: system:basic-user grants the self
    // reviews to every authenticated caller, the others need a grant.
    let ask = rbac::Attrs {
        verb: "create",
        group: GROUP,
        resource,
        ns,
        ..Default::default()
    };
    if !auth::allowed(st, user, &ask, None) {
        let scope = match ns {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".into(),
        };
        return Err(ApiError::forbidden(format!(
            "{resource}.{GROUP} is forbidden: User \"{}\" cannot create resource \"{resource}\" in API group \"{GROUP}\" {scope}",
            user.username()
        )));
    }
    // kubectl's typed client sends protobuf.
    let mut review: Value = if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        super::protobuf::decode(body)?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("unable to decode the {kind}: {e}")))?
    };
    if !review.is_object() {
        return Err(ApiError::bad_request(format!("the {kind} must be an object")));
    }
    let spec = review.get("spec").cloned().unwrap_or(json!({}));
    let status = match kind {
        "SelfSubjectRulesReview" => rules(st, user, text(&spec, "namespace")),
        "SelfSubjectAccessReview" => access(st, user, &spec, kind, None)?,
        _ => {
            let user = subject(&spec, kind)?;
            access(st, &user, &spec, kind, ns)?
        }
    };
    review["apiVersion"] = json!(format!("{GROUP}/v1"));
    review["kind"] = json!(kind);
    if review.get("metadata").is_none_or(Value::is_null) {
        review["metadata"] = json!({"creationTimestamp": null});
    }
    review["status"] = status;
    Ok((StatusCode::CREATED, axum::Json(review)).into_response())
}

/// The user a SubjectAccessReview names.
fn subject(spec: &Value, kind: &str) -> ApiResult<Identity> {
    let name = text(spec, "user");
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    if name.is_empty() && groups.is_empty() {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!("{kind}.{GROUP} \"\" is invalid: spec.user: Invalid value: \"\": at least one of user or group must be specified"),
        ));
    }
    Ok(Identity::from_user_info(name, &groups, text(spec, "uid")))
}

/// The status of an access review: allowed or not, by the server's own
/// decision.
fn access(
    st: &AppState,
    user: &Identity,
    spec: &Value,
    kind: &str,
    local_ns: Option<&str>,
) -> ApiResult<Value> {
    let invalid = |field: &str, why: &str| {
        ApiError::new(
            422,
            "Invalid",
            format!("{kind}.{GROUP} \"\" is invalid: {field}: {why}"),
        )
    };
    let allowed = match (spec.get("resourceAttributes"), spec.get("nonResourceAttributes")) {
        (Some(r), None) => {
            let ns = text(r, "namespace");
            if let Some(local) = local_ns {
                if !ns.is_empty() && ns != local {
                    return Err(invalid(
                        "spec.resourceAttributes.namespace",
                        &format!("Invalid value: {ns:?}: must match metadata.namespace"),
                    ));
                }
            }
            let ns = local_ns.unwrap_or(ns);
            let (resource, sub) = (text(r, "resource"), text(r, "subresource"));
            let name = text(r, "name");
            let a = rbac::Attrs {
                verb: text(r, "verb"),
                group: text(r, "group"),
                resource,
                subresource: (!sub.is_empty()).then_some(sub),
                name: (!name.is_empty()).then_some(name),
                ns: (!ns.is_empty()).then_some(ns),
            };
            auth::allowed(st, user, &a, a.name)
        }
        (None, Some(n)) => {
            let (path, verb) = (text(n, "path"), text(n, "verb"));
            user.groups().iter().any(|g| g == auth::identity::MASTERS)
                || rbac::rules_for(st.store.as_ref(), user, None)
                    .iter()
                    .any(|rule| rbac::url_rule_allows(rule, verb, path))
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "spec.nonResourceAttributes",
                "Invalid value: \"null\": cannot be specified in combination with resourceAttributes",
            ))
        }
        (None, None) => {
            return Err(invalid(
                "spec.resourceAttributes",
                "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ))
        }
    };
    Ok(json!({"allowed": allowed}))
}

/// What the caller may do in `ns`: the rules of every binding that names
/// it, split into resource and non-resource rules as the real server
/// lists them. A node's own rules are not rules RBAC holds, so its answer
/// says it is incomplete, as the real server's does.
fn rules(st: &AppState, user: &Identity, ns: &str) -> Value {
    let ns = (!ns.is_empty()).then_some(ns);
    let mut resource_rules = Vec::new();
    let mut url_rules = Vec::new();
    for rule in rbac::rules_for(st.store.as_ref(), user, ns) {
        let field = |k: &str| rule.get(k).cloned().unwrap_or(json!([]));
        if rule
            .get("nonResourceURLs")
            .is_some_and(|u| u.as_array().is_some_and(|a| !a.is_empty()))
        {
            url_rules.push(json!({"verbs": field("verbs"), "nonResourceURLs": field("nonResourceURLs")}));
        } else {
            let mut r = json!({"verbs": field("verbs"), "apiGroups": field("apiGroups"), "resources": field("resources")});
            if let Some(names) = rule
                .get("resourceNames")
                .filter(|n| n.as_array().is_some_and(|a| !a.is_empty()))
            {
                r["resourceNames"] = names.clone();
            }
            resource_rules.push(r);
        }
    }
    json!({
        "resourceRules": resource_rules,
        "nonResourceRules": url_rules,
        "incomplete": matches!(user, Identity::Node(_)),
    })
}
