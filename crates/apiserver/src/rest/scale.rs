//! The `scale` subresource of Deployments and ReplicaSets: an
//! autoscaling/v1 Scale view of the object (`spec.replicas`, and in status
//! the observed replicas with the selector as a label-selector string), read
//! with GET and written with PUT or PATCH (`kubectl scale` patches it).
//! A write changes only the owner's `spec.replicas`.

use super::crud::{json_response, save_update};
use super::ctx::Ctx;
use super::managed_fields::Track;
use super::status::{ApiError, ApiResult, FieldError};
use crate::resources::ResourceDef;
use crate::state::AppState;
use crate::store::object_rv;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

/// The Scale kind, for its 422s (it is served only as a subresource).
static SCALE: ResourceDef = ResourceDef {
    group: "autoscaling",
    version: "v1",
    kind: "Scale",
    plural: "scale",
    singular: "",
    namespaced: true,
    short_names: &[],
    status: false,
    categories: &[],
};

/// The kinds that have it.
pub fn served(kind: &str) -> bool {
    matches!(kind, "Deployment" | "ReplicaSet")
}

/// A label selector as the real server prints it in Scale's
/// `status.selector` (labels.Selector's String: terms sorted by key).
pub fn selector_string(sel: &Value) -> String {
    let mut terms: Vec<(String, String)> = Vec::new();
    for (k, v) in sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        terms.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or("").to_string();
        let mut vals: Vec<&str> = e["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        vals.sort();
        let term = match e["operator"].as_str().unwrap_or("") {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.clone(),
            _ => format!("!{key}"),
        };
        terms.push((key, term));
    }
    terms.sort();
    terms.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(",")
}

/// The Scale view of a Deployment or ReplicaSet.
pub fn scale_of(obj: &Value) -> Value {
    let m = &obj["metadata"];
    let mut meta = json!({});
    for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = m.get(k) {
            meta[k] = v.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string(obj.pointer("/spec/selector").unwrap_or(&Value::Null)),
        },
    })
}

fn current(st: &AppState, ctx: &Ctx) -> ApiResult<crate::store::Obj> {
    st.store
        .get(&ctx.res().key(), &ctx.ns(), ctx.name())
        .ok_or_else(|| ApiError::not_found(ctx.res(), ctx.name()))
}

pub fn get(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let cur = current(st, ctx)?;
    Ok(json_response(StatusCode::OK, &scale_of(&cur), &[]))
}

/// PUT: the body is a Scale.
pub fn update(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let body = super::admit::parse_body(ctx)?;
    write(st, ctx, body, None)
}

/// PATCH: the patch applies to the current Scale; retried on a concurrent
/// change of the owner unless the patch itself pins a resourceVersion.
pub fn patch(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let ct = ctx.header("content-type");
    for _ in 0..5 {
        let cur = current(st, ctx)?;
        let patched = super::patch::apply(&ct, &scale_of(&cur), &ctx.body)?;
        match write(st, ctx, patched, Some(cur)) {
            Err(e) if e.reason == "Conflict" && !pins_version(&ctx.body) => continue,
            other => return other,
        }
    }
    Err(ApiError::conflict(ctx.res(), ctx.name()))
}

fn pins_version(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/metadata/resourceVersion").cloned())
        .is_some()
}

/// Check the Scale, then set the owner's replicas with the Scale's
/// resourceVersion (when it has one) as precondition.
fn write(st: &AppState, ctx: &Ctx, scale: Value, cur: Option<crate::store::Obj>) -> ApiResult<Response> {
    let name = ctx.name();
    if !scale.is_object() {
        return Err(ApiError::bad_request("the request body is not a JSON object"));
    }
    let kind = scale["kind"].as_str().unwrap_or("Scale");
    if kind != "Scale" {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a Scale: kind mismatch"
        )));
    }
    let body_name = scale
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(name);
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let replicas = scale.pointer("/spec/replicas").unwrap_or(&Value::Null);
    let n = match replicas {
        Value::Null => 0,
        v => v.as_i64().filter(|n| i32::try_from(*n).is_ok()).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Scale in version \"v1\" cannot be handled as a Scale: spec.replicas: {v} is not an int32"
            ))
        })?,
    };
    if n < 0 {
        return Err(ApiError::invalid(
            &SCALE,
            name,
            &[FieldError::invalid(
                "spec.replicas",
                replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    let expected = match scale.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))?,
        ),
        _ => None,
    };
    let cur = match cur {
        Some(c) => c,
        None => current(st, ctx)?,
    };
    if expected.is_some_and(|e| Some(e) != object_rv(&cur)) {
        return Err(ApiError::conflict(ctx.res(), name));
    }
    let mut new = (*cur).clone();
    new["spec"]["replicas"] = json!(n);
    let saved = save_update(st, ctx, &cur, new, object_rv(&cur), Track::Update)?;
    Ok(json_response(StatusCode::OK, &scale_of(&saved), &[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn selector_strings_as_the_real_server_prints_them() {
        let sel = json!({"matchLabels": {"tier": "web", "app": "x"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]});
        assert_eq!(selector_string(&sel), "app=x,!canary,env in (dev,prod),tier=web");
    }
    #[test]
    fn scale_view() {
        let d = json!({"metadata": {"name": "d", "namespace": "n", "resourceVersion": "7", "labels": {"a": "b"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "d"}}}, "status": {"replicas": 2}});
        let s = scale_of(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"], json!({"replicas": 2, "selector": "app=d"}));
        assert_eq!(s["metadata"]["resourceVersion"], "7");
        assert!(s["metadata"].get("labels").is_none());
    }
}
