//! The `ephemeralcontainers` subresource of Pods, which `kubectl debug POD
//! --image=… [--target=C]` patches: GET answers the Pod; PUT (a Pod) and
//! PATCH (applied to the current Pod) change nothing but
//! `spec.ephemeralContainers`. As the real server has it, ephemeral
//! containers are only ever added: one already there can be neither
//! changed nor removed, a new one's name is unique across all of the pod's
//! containers, its target (if any) is one of the pod's other containers,
//! and the fields a pod relies on (ports, probes, lifecycle, resources)
//! cannot be set for it. Every refusal is a 422 naming the field.

use super::crud::{json_response, save_update};
use super::ctx::Ctx;
use super::managed_fields::Track;
use super::status::{ApiError, ApiResult, FieldError};
use crate::state::AppState;
use crate::store::object_rv;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashSet;

/// The subresource's name in a path.
pub const SUBRESOURCE: &str = "ephemeralcontainers";

/// Fields of a container an ephemeral one may not set: what a pod's own
/// service depends on (the real server's list is an allow-list; these are
/// the Container fields outside it).
const FORBIDDEN: &[&str] = &[
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
    "resizePolicy",
    "restartPolicy",
];

fn current(st: &AppState, ctx: &Ctx) -> ApiResult<crate::store::Obj> {
    st.store
        .get(&ctx.res().key(), &ctx.ns(), ctx.name())
        .ok_or_else(|| ApiError::not_found(ctx.res(), ctx.name()))
}

pub fn get(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    Ok(json_response(StatusCode::OK, &*current(st, ctx)?, &[]))
}

/// PUT: the body is the Pod; only its ephemeral containers are read.
pub fn update(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let mut body = super::admit::parse_body(ctx)?;
    super::admit::check_kind(ctx.res(), &mut body)?;
    super::admit::check_name(&body, ctx.name())?;
    let cur = current(st, ctx)?;
    let pinned = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))
        })
        .transpose()?;
    if pinned.is_some_and(|rv| Some(rv) != object_rv(&cur)) {
        return Err(ApiError::conflict(ctx.res(), ctx.name()));
    }
    write(st, ctx, &cur, &body)
}

/// PATCH: applied to the current Pod (kubectl sends a strategic merge
/// patch adding one entry); retried on a concurrent change of the pod, as
/// the main resource's PATCH is.
pub fn patch(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let ct = ctx.header("content-type");
    for _ in 0..5 {
        let cur = current(st, ctx)?;
        let patched = super::patch::apply(&ct, &cur, &ctx.body)?;
        match write(st, ctx, &cur, &patched) {
            Err(e) if e.reason == "Conflict" => continue,
            other => return other,
        }
    }
    Err(ApiError::conflict(ctx.res(), ctx.name()))
}

/// The current pod with `wanted`'s ephemeral containers, checked, stored
/// with the current resourceVersion as precondition.
fn write(st: &AppState, ctx: &Ctx, cur: &Value, wanted: &Value) -> ApiResult<Response> {
    let res = ctx.res();
    let (typed, _) = super::admit::decode(res, wanted, &ctx.field_validation())?;
    let mut list: Vec<Value> = typed
        .pointer("/spec/ephemeralContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let old: Vec<Value> = cur
        .pointer("/spec/ephemeralContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let errs = check(&cur["spec"], &old, &mut list);
    if !errs.is_empty() {
        return Err(ApiError::invalid(res, ctx.name(), &errs));
    }
    let mut new = cur.clone();
    new["spec"]["ephemeralContainers"] = json!(list);
    let saved = save_update(st, ctx, cur, new, object_rv(cur), Track::Update)?;
    Ok(json_response(StatusCode::OK, &saved, &[]))
}

/// The real server's rules for an ephemeral containers update; new
/// entries get the container defaults the real server gives them.
fn check(spec: &Value, old: &[Value], new: &mut [Value]) -> Vec<FieldError> {
    let base = "spec.ephemeralContainers";
    let mut errs = Vec::new();
    for o in old {
        let name = o["name"].as_str().unwrap_or("");
        match new.iter().position(|n| n["name"] == o["name"]) {
            None => errs.push(FieldError::forbidden(
                base,
                &format!("existing ephemeral containers {name:?} may not be removed"),
            )),
            Some(i) if &new[i] != o => errs.push(FieldError::forbidden(
                format!("{base}[{i}]"),
                &format!("existing ephemeral containers {name:?} may not be changed"),
            )),
            Some(_) => {}
        }
    }
    let others: HashSet<&str> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let mut all: HashSet<String> = others.iter().map(|s| s.to_string()).collect();
    for (i, c) in new.iter_mut().enumerate() {
        let at = format!("{base}[{i}]");
        let name = c["name"].as_str().unwrap_or("").to_string();
        if name.is_empty() {
            errs.push(FieldError::required(format!("{at}.name"), ""));
        } else if !all.insert(name.clone()) {
            errs.push(FieldError::duplicate(format!("{at}.name"), &json!(name)));
        }
        if old.iter().any(|o| o["name"] == c["name"]) {
            continue;
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("{at}.image"), ""));
        }
        if let Some(t) = c["targetContainerName"].as_str().filter(|t| !t.is_empty()) {
            if !others.contains(t) {
                errs.push(FieldError {
                    reason: "FieldValueNotFound",
                    field: format!("{at}.targetContainerName"),
                    message: format!("Not found: {t:?}"),
                });
            }
        }
        for f in FORBIDDEN {
            if c.get(*f).is_some_and(set) {
                errs.push(FieldError::forbidden(
                    format!("{at}.{f}"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        for (j, m) in c["volumeMounts"].as_array().into_iter().flatten().enumerate() {
            if m["subPath"].as_str().is_some_and(|s| !s.is_empty()) {
                errs.push(FieldError::forbidden(
                    format!("{at}.volumeMounts[{j}].subPath"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        defaults(c);
    }
    errs
}

/// A value that counts as set: not null and not empty (kubectl sends
/// `resources: {}` for every container).
fn set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

/// The container defaults of the real server, for a new entry.
fn defaults(c: &mut Value) {
    if c.get("terminationMessagePath").is_none() {
        c["terminationMessagePath"] = json!("/dev/termination-log");
    }
    if c.get("terminationMessagePolicy").is_none() {
        c["terminationMessagePolicy"] = json!("File");
    }
    if c.get("imagePullPolicy").is_none() {
        let image = c["image"].as_str().unwrap_or("");
        let tagged = image.rsplit('/').next().is_some_and(|last| last.contains(':'));
        let latest = !tagged || image.ends_with(":latest");
        c["imagePullPolicy"] = json!(if latest { "Always" } else { "IfNotPresent" });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn only_additions_of_valid_containers() {
        let spec = json!({"containers": [{"name": "app", "image": "nginx"}]});
        let dbg = json!({"name": "dbg", "image": "busybox", "targetContainerName": "app", "resources": {}});
        let mut new = vec![dbg.clone()];
        assert!(check(&spec, &[], &mut new).is_empty());
        assert_eq!(new[0]["terminationMessagePolicy"], "File");
        assert_eq!(new[0]["imagePullPolicy"], "Always");
        let old = new.clone();

        // Changed, removed.
        let mut changed = vec![json!({"name": "dbg", "image": "alpine"})];
        let e = fields(&check(&spec, &old, &mut changed));
        assert_eq!(e, ["spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers \"dbg\" may not be changed"]);
        let e = fields(&check(&spec, &old, &mut []));
        assert_eq!(e, ["spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be removed"]);

        // A second one: its name, target and fields.
        let mut more = old.clone();
        more.push(
            json!({"name": "app", "image": "busybox", "targetContainerName": "nope",
            "ports": [{"containerPort": 80}], "readinessProbe": {"exec": {"command": ["true"]}}}),
        );
        let e = fields(&check(&spec, &old, &mut more));
        assert_eq!(
            e,
            [
                "spec.ephemeralContainers[1].name: Duplicate value: \"app\"",
                "spec.ephemeralContainers[1].targetContainerName: Not found: \"nope\"",
                "spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[1].readinessProbe: Forbidden: cannot be set for an Ephemeral Container",
            ]
        );
        let mut twice = vec![dbg.clone(), dbg];
        let e = fields(&check(&spec, &[], &mut twice));
        assert_eq!(e, ["spec.ephemeralContainers[1].name: Duplicate value: \"dbg\""]);
    }
}
