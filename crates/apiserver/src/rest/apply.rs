//! Server-side apply (`kubectl apply --server-side`, PATCH with
//! `application/apply-patch+yaml`): the object is created when absent;
//! each field manager owns the fields its last apply set (recorded in
//! `metadata.managedFields` as fieldsV1); applying a different value to a
//! field another manager owns is a 409 listing the conflicting fields, as
//! the real server words it, unless `force=true`, which takes them over;
//! a field the manager applied before and no longer applies is removed
//! when nobody else owns it.
//! Ordinary writes record `Update` managers (`managed_fields.rs`), and an
//! apply conflicts with those too.

use super::ctx::Ctx;
use super::field_set::{self, FieldSet};
use super::managed_fields::{self, Track};
use super::status::{ApiError, ApiResult};
use super::{admit, crud};
use crate::state::AppState;
use crate::store::object_rv;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

pub const CONTENT_TYPE: &str = "application/apply-patch+yaml";

/// One `managedFields` entry, read.
struct Entry {
    raw: Value,
    manager: String,
    apply: bool,
    fields: FieldSet,
}

fn entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    raw: e.clone(),
                    manager: e["manager"].as_str().unwrap_or("").to_string(),
                    apply: e["operation"] == "Apply",
                    fields: field_set::from_fields_v1(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn entry(manager: &str, api_version: &str, fields: &FieldSet) -> Value {
    json!({"manager": manager, "operation": "Apply", "apiVersion": api_version,
        "time": managed_fields::now(),
        "fieldsType": "FieldsV1", "fieldsV1": field_set::to_fields_v1(fields)})
}

/// The 409 of an apply whose fields other managers own: (the manager as
/// [`managed_fields::label`] prints it, path).
fn conflict_error(conflicts: &[(String, String)]) -> ApiError {
    let message = if let [(m, p)] = conflicts {
        format!("Apply failed with 1 conflict: conflict with {m}: {p}")
    } else {
        let mut managers: Vec<&String> = conflicts.iter().map(|(m, _)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(
                conflicts
                    .iter()
                    .filter(|(x, _)| x == m)
                    .map(|(_, p)| format!("- {p}")),
            );
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": p}))
        .collect();
    ApiError {
        details: Some(json!({"causes": causes})),
        ..ApiError::new(409, "Conflict", message)
    }
}

pub fn apply(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let res = ctx.res();
    let name = ctx.name();
    let manager = ctx.q("fieldManager").unwrap_or("").to_string();
    if manager.is_empty() {
        return Err(ApiError::bad_request(
            "fieldManager is required for apply requests",
        ));
    }
    let force = ctx.flag("force");
    let mut config = admit::parse_bytes(&ctx.body, "application/yaml")?;
    admit::check_kind(res, &mut config)?;
    admit::check_name(&config, name)?;
    if let Some(m) = config["metadata"].as_object_mut() {
        // Ownership is the server's to record.
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    let mine = field_set::of_config(&config);
    let api_version = res.api_version();
    // Optimistic retries, as for any patch.
    for _ in 0..5 {
        let Some(cur) = st.store.get(&res.key(), &ctx.ns(), name) else {
            let mut obj = config.clone();
            obj["metadata"]["managedFields"] = json!([entry(&manager, &api_version, &mine)]);
            return create(st, ctx, obj);
        };
        let cur: Value = (*cur).clone();
        let all = entries(&cur);
        let mut conflicts = Vec::new();
        for e in all.iter().filter(|e| e.manager != manager || !e.apply) {
            for p in e.fields.intersection(&mine) {
                if !field_set::same_at(&cur, &config, p) {
                    conflicts.push((managed_fields::label(&e.raw), field_set::display(p)));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflict_error(&conflicts));
        }
        let before: FieldSet = all
            .iter()
            .find(|e| e.manager == manager && e.apply)
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        let owned_by_others = |p: &Vec<String>| {
            all.iter()
                .filter(|e| e.manager != manager || !e.apply)
                .any(|e| e.fields.contains(p))
        };
        let mut merged = cur.clone();
        // Fields this manager stopped applying go, unless shared.
        for p in before.difference(&mine).filter(|p| !owned_by_others(p)) {
            field_set::remove(&mut merged, p);
        }
        let patch_body = serde_json::to_vec(&config).map_err(ApiError::internal)?;
        let mut merged = super::patch::apply("application/strategic-merge-patch+json", &merged, &patch_body)?;
        // Ownership: this manager's entry is what it applied; with force,
        // the others lose what it took.
        let mut managed = Vec::new();
        let mut placed = false;
        for e in &all {
            if e.manager == manager && e.apply {
                managed.push(entry(&manager, &api_version, &mine));
                placed = true;
                continue;
            }
            let mut raw = e.raw.clone();
            if force {
                let kept: FieldSet = e
                    .fields
                    .iter()
                    .filter(|p| !mine.contains(*p) || field_set::same_at(&cur, &config, p))
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                raw["fieldsV1"] = field_set::to_fields_v1(&kept);
            }
            managed.push(raw);
        }
        if !placed {
            managed.push(entry(&manager, &api_version, &mine));
        }
        managed_fields::arrange(&mut managed);
        merged["metadata"]["managedFields"] = json!(managed);
        let (typed, warnings) = admit::decode(res, &merged, &ctx.field_validation())?;
        match crud::save_update(st, ctx, &cur, typed, object_rv(&cur), Track::Apply) {
            Err(e) if e.reason == "Conflict" => continue,
            Err(e) => return Err(e),
            Ok(saved) => return Ok(crud::json_response(StatusCode::OK, &saved, &warnings)),
        }
    }
    Err(ApiError::conflict(res, name))
}

/// Create from an apply: the same admission as a POST of the object.
fn create(st: &AppState, ctx: &Ctx, obj: Value) -> ApiResult<Response> {
    let create_ctx = Ctx {
        target: ctx.target.clone(),
        query: ctx.query.clone(),
        headers: {
            let mut h = ctx.headers.clone();
            h.insert(
                "content-type",
                axum::http::HeaderValue::from_static("application/json"),
            );
            h
        },
        body: Bytes::from(serde_json::to_vec(&obj).map_err(ApiError::internal)?),
        accept: ctx.accept.clone(),
        user: ctx.user.clone(),
    };
    crud::create_as(st, &create_ctx, Track::Apply)
}
