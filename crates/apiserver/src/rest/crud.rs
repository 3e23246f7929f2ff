//! get / list / create / update / patch / delete of stored objects.

use super::admit;
use super::chunk;
use super::ctx::Ctx;
use super::delete_options::{DeleteOptions, Propagation};
use super::limits;
use super::managed_fields::{self, Track};
use super::select::Selector;
use super::service_alloc;
use super::status::{ApiError, ApiResult};
use super::stored_body;
use super::table;
use crate::resources::{self, ResourceDef};
use crate::state::AppState;
use crate::store::{object_rv, StoreError, Stored};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub(super) fn store_err(res: &ResourceDef, name: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found(res, name),
        StoreError::AlreadyExists => ApiError::already_exists(res, name),
        StoreError::Conflict { .. } => ApiError::conflict(res, name),
        StoreError::TooOld { requested, oldest } => ApiError::gone(requested, oldest),
        StoreError::Io(e) => ApiError::internal(e),
        StoreError::Unavailable(m) => ApiError::new(503, "ServiceUnavailable", m),
    }
}

pub fn json_response(code: StatusCode, v: &Value, warnings: &[String]) -> Response {
    let mut r = (code, axum::Json(v)).into_response();
    for w in warnings {
        if let Ok(h) = format!("299 - {w:?}").parse() {
            r.headers_mut().append("warning", h);
        }
    }
    r
}

/// A stored object as a Table (when asked for) or as its stored bytes.
fn one_stored(ctx: &Ctx, code: StatusCode, obj: &Stored, warnings: &[String]) -> Response {
    if table::wants_table(&ctx.accept) {
        return one(ctx, code, &obj.parse(), warnings);
    }
    stored_body::json_bytes_response(code, obj.json().to_vec(), warnings)
}

/// An object as a Table (when asked for) or as itself.
fn one(ctx: &Ctx, code: StatusCode, obj: &Value, warnings: &[String]) -> Response {
    if table::wants_table(&ctx.accept) {
        let t = table::table(ctx.res(), &[obj], None, &ctx.include_object(), true);
        return json_response(code, &t, warnings);
    }
    json_response(code, obj, warnings)
}

pub fn get(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let res = ctx.res();
    let name = ctx.name();
    let obj = st
        .store
        .get(&res.key(), &ctx.ns(), name)
        .ok_or_else(|| ApiError::not_found(res, name))?;
    Ok(one_stored(ctx, StatusCode::OK, &obj, &[]))
}

pub fn list(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let res = ctx.res();
    let sel = Selector::parse(ctx.q("labelSelector"), ctx.q("fieldSelector"))?;
    let ns = ctx.target.ns.as_deref();
    let filtered = ctx.q("labelSelector").is_some_and(|s| !s.is_empty())
        || ctx.q("fieldSelector").is_some_and(|s| !s.is_empty());
    let page = chunk::page(
        st.store.as_ref(),
        &res.key(),
        ns,
        |o| sel.matches_stored(o),
        chunk::parse_limit(ctx.q("limit"))?,
        ctx.q("continue"),
        filtered,
    )?;
    if table::wants_table(&ctx.accept) {
        // Rows need the objects' fields: parsed for this answer only.
        let parsed: Vec<Value> = page.items.iter().map(|o| o.parse()).collect();
        let items: Vec<&Value> = parsed.iter().collect();
        let mut t = table::table(res, &items, Some(page.rv), &ctx.include_object(), true);
        t["metadata"] = page.meta();
        return Ok(json_response(StatusCode::OK, &t, &[]));
    }
    let body = stored_body::list_json(
        &format!("{}List", res.kind),
        &res.api_version(),
        &page.meta(),
        &page.items,
    );
    Ok(stored_body::json_bytes_response(StatusCode::OK, body, &[]))
}

fn namespace_exists(st: &AppState, res: &ResourceDef, ns: &str) -> ApiResult<()> {
    if res.namespaced && st.store.get("namespaces", "", ns).is_none() {
        let nsres = resources::by_kind("Namespace").expect("namespaces served");
        return Err(ApiError::not_found(nsres, ns));
    }
    Ok(())
}

pub fn create(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    create_as(st, ctx, Track::Update)
}

/// A create whose managers are recorded by `track`.
pub fn create_as(st: &AppState, ctx: &Ctx, track: Track) -> ApiResult<Response> {
    let res = ctx.res();
    let mut obj = admit::parse_body(ctx)?;
    admit::check_kind(res, &mut obj)?;
    let ns = ctx.ns();
    if res.namespaced {
        let body_ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        obj["metadata"]["namespace"] = json!(ns);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        if let Some(g) = obj.pointer("/metadata/generateName").and_then(Value::as_str) {
            obj["metadata"]["name"] = json!(format!("{g}{}", admit::random_suffix(5)));
        }
    }
    let (mut obj, warnings) = admit::decode(res, &obj, &ctx.field_validation())?;
    admit::validate(res, &obj)?;
    namespace_exists(st, res, &ns)?;
    admit::new_metadata(&mut obj);
    admit::defaults(res, &mut obj);
    // As the real server: the writer's fields are recorded before mutating
    // admission, so what admission adds is nobody's.
    if track == Track::Update {
        managed_fields::record(ctx, None, &mut obj);
    }
    if res.kind == "Pod" {
        super::sa_admission::admit(st, &mut obj);
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    limits::check_object_size(&obj)?;
    if st.store.get(&res.key(), &ns, &name).is_some() {
        return Err(ApiError::already_exists(res, &name));
    }
    let taken = service_alloc::allocate(st, res, &mut obj, None)?;
    if ctx.dry_run() {
        // Checked as a real create would be, then given back.
        taken.rollback(st);
        return Ok(one(ctx, StatusCode::CREATED, &obj, &warnings));
    }
    match st.store.create(&res.key(), &ns, &name, obj) {
        Ok(saved) => Ok(one_stored(ctx, StatusCode::CREATED, &saved, &warnings)),
        Err(e) => {
            taken.rollback(st);
            Err(store_err(res, &name, e))
        }
    }
}

/// Carry what a client may not change, decide status vs. main resource, bump
/// generation, then validate and store with `expected_rv` as precondition.
fn finish_update(
    st: &AppState,
    ctx: &Ctx,
    cur: &Value,
    new: Value,
    expected_rv: Option<u64>,
    warnings: Vec<String>,
) -> ApiResult<Response> {
    let saved = save_update(st, ctx, cur, new, expected_rv, Track::Update)?;
    Ok(one(ctx, StatusCode::OK, &saved, &warnings))
}

/// [`finish_update`] without the response: the object as stored (or as it
/// would be, under dryRun), for subresources that answer with another kind.
pub fn save_update(
    st: &AppState,
    ctx: &Ctx,
    cur: &Value,
    mut new: Value,
    expected_rv: Option<u64>,
    track: Track,
) -> ApiResult<Value> {
    let res = ctx.res();
    let name = ctx.name().to_string();
    let ns = ctx.ns();
    let status_only = ctx.target.sub.as_deref() == Some("status");
    if status_only {
        let mut merged = cur.clone();
        merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
        new = merged;
    } else if res.status {
        match cur.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    for k in [
        "uid",
        "creationTimestamp",
        "name",
        "namespace",
        "generateName",
        "deletionTimestamp",
    ] {
        match cur["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    if res.kind == "Service" {
        super::service_defaults::prepare_update(res, &name, cur, &mut new)?;
    }
    if res.kind == "Pod" {
        super::mirror_pod_update::check(res, &name, cur, &new)?;
    }
    let generation = cur
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let changed = new.get("spec") != cur.get("spec");
    new["metadata"]["generation"] = json!(if changed { generation + 1 } else { generation });
    if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    admit::defaults(res, &mut new);
    if res.kind == "Namespace" {
        new["status"] = cur.get("status").cloned().unwrap_or(json!({"phase": "Active"}));
    }
    if track == Track::Update {
        managed_fields::record(ctx, Some(cur), &mut new);
    }
    admit::validate(res, &new)?;
    limits::check_object_size(&new)?;
    let taken = service_alloc::allocate(st, res, &mut new, Some(cur))?;
    if ctx.dry_run() {
        taken.rollback(st);
        return Ok(new);
    }
    if super::finalizers::released(res, &new) {
        // The last finalizer went: the deletion asked for earlier completes.
        taken.rollback(st);
        return delete_one(st, res, &ns, &name, expected_rv);
    }
    let saved = match st.store.update(&res.key(), &ns, &name, new, expected_rv) {
        Ok(saved) => saved,
        Err(e) => {
            taken.rollback(st);
            return Err(store_err(res, &name, e));
        }
    };
    if res.kind == "Service" {
        service_alloc::commit(st, cur, &saved);
    }
    Ok(saved.parse())
}

pub fn update(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let res = ctx.res();
    let name = ctx.name();
    let mut obj = admit::parse_body(ctx)?;
    admit::check_kind(res, &mut obj)?;
    admit::check_name(&obj, name)?;
    let expected = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let expected = match expected {
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))?,
        ),
        None => None,
    };
    if res.namespaced {
        obj["metadata"]["namespace"] = json!(ctx.ns());
    }
    let (obj, warnings) = admit::decode(res, &obj, &ctx.field_validation())?;
    let cur = st
        .store
        .get(&res.key(), &ctx.ns(), name)
        .ok_or_else(|| ApiError::not_found(res, name))?;
    finish_update(st, ctx, &cur, obj, expected, warnings)
}

pub fn patch(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let res = ctx.res();
    let name = ctx.name();
    let ct = ctx.header("content-type");
    // Optimistic retries, as the real server's GuaranteedUpdate does.
    for _ in 0..5 {
        let cur = st
            .store
            .get(&res.key(), &ctx.ns(), name)
            .ok_or_else(|| ApiError::not_found(res, name))?;
        let cur_rv = object_rv(&cur);
        let mut patched = super::patch::apply(&ct, &cur, &ctx.body)?;
        admit::check_kind(res, &mut patched)?;
        let prec = object_rv(&patched);
        if prec != cur_rv && patched.pointer("/metadata/resourceVersion").is_some() {
            return Err(ApiError::conflict(res, name));
        }
        let (typed, warnings) = admit::decode(res, &patched, &ctx.field_validation())?;
        match finish_update(st, ctx, &cur, typed, cur_rv, warnings) {
            Err(e) if e.reason == "Conflict" => continue,
            other => return other,
        }
    }
    Err(ApiError::conflict(res, name))
}

fn delete_one(
    st: &AppState,
    res: &ResourceDef,
    ns: &str,
    name: &str,
    expected: Option<u64>,
) -> ApiResult<Value> {
    if res.kind == "Namespace" {
        // Everything in the namespace goes first, as namespace deletion does.
        for r in resources::RESOURCES.iter().filter(|r| r.namespaced) {
            let (items, _) = st.store.list(&r.key(), Some(name));
            for o in items {
                let n = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                if let Ok(gone) = st.store.delete(&r.key(), name, n, None) {
                    if r.kind == "Service" {
                        service_alloc::release_all(st, &gone);
                    }
                }
            }
        }
    }
    let gone = st
        .store
        .delete(&res.key(), ns, name, expected)
        .map_err(|e| store_err(res, name, e))?;
    if res.kind == "Service" {
        service_alloc::release_all(st, &gone);
    }
    Ok(gone.parse())
}

pub fn delete(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let res = ctx.res();
    let name = ctx.name();
    let opts = DeleteOptions::parse(ctx)?;
    let cur = st
        .store
        .get(&res.key(), &ctx.ns(), name)
        .ok_or_else(|| ApiError::not_found(res, name))?;
    if let Some(uid) = &opts.preconditions.uid {
        if cur.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid.as_str()) {
            return Err(ApiError::conflict(res, name));
        }
    }
    if opts.dry_run {
        return Ok(json_response(StatusCode::OK, &cur, &[]));
    }
    if let Some(marked) = super::graceful::mark_pod(st, res, &ctx.ns(), name, opts.grace_period_seconds)? {
        return Ok(json_response(StatusCode::OK, &marked, &[]));
    }
    if let Some(marked) = super::finalizers::mark(st, res, &ctx.ns(), &cur, opts.propagation)? {
        return Ok(json_response(StatusCode::OK, &marked, &[]));
    }
    if opts.propagation == Some(Propagation::Orphan) {
        orphan_dependents(st, &ctx.ns(), &cur);
    }
    let gone = delete_one(st, res, &ctx.ns(), name, opts.preconditions.resource_version)?;
    Ok(json_response(StatusCode::OK, &gone, &[]))
}

/// Orphan propagation: the dependents lose their ownerReference to `owner`
/// before it goes, so the garbage collector leaves them (as
/// `kubectl delete --cascade=orphan` expects).
fn orphan_dependents(st: &AppState, ns: &str, owner: &Value) {
    let Some(uid) = owner.pointer("/metadata/uid").and_then(Value::as_str) else {
        return;
    };
    for r in resources::RESOURCES.iter().filter(|r| r.namespaced) {
        let (items, _) = st.store.list(&r.key(), Some(ns));
        for o in items {
            let Some(refs) = o.pointer("/metadata/ownerReferences").and_then(Value::as_array) else {
                continue;
            };
            if !refs.iter().any(|x| x["uid"] == uid) {
                continue;
            }
            let mut upd = o.parse();
            let kept: Vec<Value> = refs.iter().filter(|x| x["uid"] != uid).cloned().collect();
            if kept.is_empty() {
                if let Some(m) = upd["metadata"].as_object_mut() {
                    m.remove("ownerReferences");
                }
            } else {
                upd["metadata"]["ownerReferences"] = json!(kept);
            }
            let n = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            // A concurrent change wins; the dependent then keeps its
            // reference and the collector may remove it, as with a racing
            // real orphan delete.
            let _ = st.store.update(&r.key(), ns, n, upd, object_rv(&o));
        }
    }
}

pub fn delete_collection(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let res = ctx.res();
    let sel = Selector::parse(ctx.q("labelSelector"), ctx.q("fieldSelector"))?;
    let opts = DeleteOptions::parse(ctx)?;
    let (items, _) = st.store.list(&res.key(), ctx.target.ns.as_deref());
    let mut gone = Vec::new();
    for o in items.iter().filter(|o| sel.matches_stored(o)) {
        if opts.dry_run {
            gone.push(o.parse());
            continue;
        }
        let ns = o
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let n = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        if opts.propagation == Some(Propagation::Orphan) {
            orphan_dependents(st, ns, o);
        }
        if let Ok(v) = delete_one(st, res, ns, n, None) {
            gone.push(v);
        }
    }
    let list = json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(),
        "metadata": {"resourceVersion": st.store.current_rv().to_string()}, "items": gone});
    Ok(json_response(StatusCode::OK, &list, &[]))
}
