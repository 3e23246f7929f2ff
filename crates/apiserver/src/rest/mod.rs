//! The REST API: one dispatcher that parses Kubernetes resource paths and hands
//! off to discovery, CRUD, patch and watch.

pub mod access_review;
pub mod admit;
pub mod apply;
pub mod binding;
pub mod chunk;
pub mod crud;
pub mod ctx;
pub mod delete_options;
pub mod discovery;
pub mod ephemeral_containers;
pub mod exec;
pub mod field_set;
pub mod finalizers;
pub mod graceful;
pub mod limits;
pub mod log;
pub mod managed_fields;
pub mod mirror_pod_update;
pub mod openapi;
pub mod patch;
pub mod portforward;
pub mod protobuf;
pub mod sa_admission;
pub mod scale;
pub mod select;
pub mod service_alloc;
pub mod service_defaults;
pub mod status;
pub mod stored_body;
pub mod table;
mod table_cells;
mod table_pod_init;
mod table_rbac;
mod table_workloads;
pub mod token;
mod token_binding;
pub mod unstored;
pub mod watch;
pub mod whoami;
mod workload_defaults;

use crate::auth::{self, Identity};
use crate::resources;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ctx::{Ctx, Target};
use status::{ApiError, ApiResult};
use std::collections::HashMap;
use std::sync::Arc;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

fn json_ok(v: serde_json::Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// Parse /api/v1/... and /apis/<g>/<v>/... resource paths. Ok(None) for a
/// group-version root (discovery).
pub fn parse_target(segs: &[&str]) -> ApiResult<Option<Target>> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::page_not_found()),
    };
    let (watch_path, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let nf = ApiError::page_not_found;
    let find = |plural: &str| {
        resources::find(group, version, plural).or_else(|| unstored::find(group, version, plural))
    };
    let t = if rest.len() >= 3 && rest[0] == "namespaces" && find(rest[2]).is_some() {
        let res = find(rest[2]).ok_or_else(nf)?;
        if !res.namespaced || rest.len() > 5 {
            return Err(nf());
        }
        Target {
            res,
            ns: Some(rest[1].into()),
            name: rest.get(3).map(|s| s.to_string()),
            sub: rest.get(4).map(|s| s.to_string()),
            watch_path,
        }
    } else {
        let res = find(rest[0]).ok_or_else(nf)?;
        if rest.len() > 3 || (res.namespaced && rest.len() > 1) {
            return Err(nf());
        }
        Target {
            res,
            ns: None,
            name: rest.get(1).map(|s| s.to_string()),
            sub: rest.get(2).map(|s| s.to_string()),
            watch_path,
        }
    };
    if let Some(sub) = &t.sub {
        let served = match sub.as_str() {
            "status" => t.res.status,
            "exec" | "log" | "portforward" | "attach" => t.res.kind == "Pod",
            ephemeral_containers::SUBRESOURCE | binding::SUBRESOURCE => t.res.kind == "Pod",
            "scale" => scale::served(t.res.kind),
            "token" => t.res.kind == "ServiceAccount",
            _ => false,
        };
        if !served {
            return Err(nf());
        }
    }
    Ok(Some(t))
}

async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    match handle(st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(st: Arc<AppState>, req: Request) -> ApiResult<Response> {
    let (mut parts, body) = req.into_parts();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let path = parts.uri.path().to_string();
    let query: HashMap<String, String> = parts.uri.query().map(serde_urlencoded_parse).unwrap_or_default();
    let user = auth::authenticate(&st, &parts.headers)?;
    let user = auth::impersonate::apply(&st, user, &parts.headers)?;
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();

    // Paths outside the resource tree.
    match (parts.method.clone(), segs.as_slice()) {
        (Method::GET, ["healthz"] | ["readyz"] | ["livez"]) => return Ok("ok".into_response()),
        (Method::GET, ["version"]) => return Ok(json_ok(discovery::version())),
        (Method::POST, ["labyrinth", "v1", "join"]) => {
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            return auth::join::serve_join(&st, &user, &body);
        }
        _ => {}
    }
    if matches!(user, Identity::Anonymous) && !auth::anonymous_allowed(&path, &parts.method) {
        return Err(ApiError::unauthorized("Unauthorized"));
    }
    // A bootstrap token joins, and reads what RBAC grants its group (kubeadm's
    // Roles for kube-system/kubeadm-config and kubeadm-certs); nothing else.
    if matches!(user, Identity::Bootstrap(_))
        && parts.method != Method::GET
        && !auth::anonymous_allowed(&path, &parts.method)
    {
        return Err(ApiError::forbidden(format!(
            "User \"{}\" cannot access {path}: bootstrap tokens may only join and read what RBAC grants them",
            user.username()
        )));
    }
    if parts.method == Method::POST && segs == ["apis", whoami::GROUP, "v1", whoami::RESOURCE] {
        return Ok(whoami::review(&user));
    }
    if let (&Method::POST, Some((resource, ns))) = (&parts.method, access_review::target(&segs)) {
        let body = axum::body::to_bytes(body, limits::MAX_BODY_BYTES)
            .await
            .map_err(|_| limits::body_too_large())?;
        let ct = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return access_review::serve(&st, &user, resource, ns, ct, &body);
    }
    if parts.method == Method::GET {
        match segs.as_slice() {
            ["api"] => return Ok(json_ok(discovery::api_versions(&st.advertise))),
            ["apis"] => return Ok(json_ok(discovery::api_groups())),
            ["apis", g] => {
                return discovery::api_group(g)
                    .map(json_ok)
                    .ok_or_else(ApiError::page_not_found)
            }
            ["openapi", "v3", gv @ ..] => {
                let inm = parts.headers.get(axum::http::header::IF_NONE_MATCH);
                return openapi::serve(&gv.join("/"), parts.uri.query(), inm)
                    .ok_or_else(ApiError::page_not_found);
            }
            _ => {}
        }
    }
    let Some(target) = parse_target(&segs)? else {
        let (g, v) = match segs.as_slice() {
            ["api", v] => ("", *v),
            ["apis", g, v] => (*g, *v),
            _ => return Err(ApiError::page_not_found()),
        };
        return discovery::resource_list(g, v)
            .map(json_ok)
            .ok_or_else(ApiError::page_not_found);
    };
    // A declared length over the limit is refused before the body is
    // touched: hyper sends `100 Continue` only once the body is polled, so a
    // client that waits for it (`Expect: 100-continue`) reads the 413
    // instead of a reset halfway through its upload.
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits::MAX_BODY_BYTES as u64) {
        return Err(limits::body_too_large());
    }
    // Otherwise the limit is checked while reading: a bigger body is never
    // buffered.
    let body = axum::body::to_bytes(body, limits::MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let over =
                std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over || e.to_string().contains("length limit exceeded") {
                limits::body_too_large()
            } else {
                ApiError::bad_request(e.to_string())
            }
        })?;
    let accept = parts
        .headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ctx = Ctx {
        target,
        query,
        headers: parts.headers,
        body,
        accept,
        user,
    };
    if let sub @ Some("exec" | "portforward" | "attach") = ctx.target.sub.as_deref() {
        // kube-apiserver asks for "create" on pods/exec (attach,
        // portforward) whatever the method.
        if !matches!(parts.method, Method::GET | Method::POST) {
            return Err(ApiError::method_not_allowed());
        }
        auth::authorize(&st, &ctx, "create")?;
        let q = parts.uri.query().unwrap_or("");
        return match sub {
            Some("portforward") => portforward::port_forward(&st, &ctx, &parts.method, q, upgrade).await,
            Some(verb) => exec::exec(&st, &ctx, verb, &parts.method, q, upgrade).await,
            None => Err(ApiError::page_not_found()),
        };
    }
    if ctx.target.sub.as_deref() == Some("token") {
        if parts.method != Method::POST {
            return Err(ApiError::method_not_allowed());
        }
        auth::authorize(&st, &ctx, "create")?;
        return token::create(&st, &ctx);
    }
    if ctx.target.sub.as_deref() == Some(binding::SUBRESOURCE) {
        if parts.method != Method::POST {
            return Err(ApiError::method_not_allowed());
        }
        auth::authorize(&st, &ctx, "create")?;
        return binding::create(&st, &ctx);
    }
    if ctx.target.sub.as_deref() == Some("log") {
        if parts.method != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        auth::authorize(&st, &ctx, "get")?;
        return log::logs(&st, &ctx, parts.uri.query().unwrap_or("")).await;
    }
    let has_name = ctx.target.name.is_some();
    let watching = ctx.target.watch_path || ctx.flag("watch");
    let verb = match (&parts.method, has_name) {
        (&Method::GET, _) if watching => "watch",
        (&Method::GET, true) => "get",
        (&Method::GET, false) => "list",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => return Err(ApiError::method_not_allowed()),
    };
    if ctx.res().namespaced && ctx.target.ns.is_none() && !matches!(verb, "list" | "watch") {
        return Err(ApiError::page_not_found());
    }
    if unstored::is_unstored(ctx.res()) && !unstored::VERBS.contains(&verb) {
        return Err(unstored::refuse(ctx.res(), verb));
    }
    auth::authorize(&st, &ctx, verb)?;
    if verb == "watch" {
        return watch::watch(st.clone(), &ctx);
    }
    // Decoding, validating and storing are CPU work on a body the client
    // chose: a large body, and a list or a delete (of many objects), run on
    // the blocking pool so that one costly request never holds up the
    // async threads every other connection (and its TLS handshake) is
    // served by. A read, create or change of one object with a small body
    // costs a fraction of a millisecond, less than handing it to a pool
    // thread and back (two thread wake-ups and switches, a sixth of the
    // server's CPU in a 100-pod burst, which is all such requests): those
    // run where they arrived.
    let small = matches!(verb, "get" | "create" | "update" | "patch") && ctx.body.len() <= INLINE_BODY_MAX;
    if small {
        return serve(&st, ctx, verb);
    }
    tokio::task::spawn_blocking(move || serve(&st, ctx, verb))
        .await
        .map_err(ApiError::internal)?
}

/// The largest body a request may have to be served on the async thread
/// it arrived on (a pod with its status is a few KiB).
const INLINE_BODY_MAX: usize = 32 * 1024;

/// One stored-object request, once authorized.
fn serve(st: &AppState, mut ctx: Ctx, verb: &str) -> ApiResult<Response> {
    if ctx
        .header("content-type")
        .starts_with("application/vnd.kubernetes.protobuf")
    {
        ctx.body = Bytes::from(serde_json::to_vec(&protobuf::decode(&ctx.body)?).unwrap_or_default());
    }
    if ctx.target.sub.as_deref() == Some("scale") {
        return match verb {
            "get" => scale::get(st, &ctx),
            "update" => scale::update(st, &ctx),
            "patch" => scale::patch(st, &ctx),
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    if ctx.target.sub.as_deref() == Some(ephemeral_containers::SUBRESOURCE) {
        return match verb {
            "get" => ephemeral_containers::get(st, &ctx),
            "update" => ephemeral_containers::update(st, &ctx),
            "patch" => ephemeral_containers::patch(st, &ctx),
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    match verb {
        "get" => crud::get(st, &ctx),
        "list" => crud::list(st, &ctx),
        "create" => crud::create(st, &ctx),
        "update" => crud::update(st, &ctx),
        "patch" if ctx.header("content-type").starts_with(apply::CONTENT_TYPE) => apply::apply(st, &ctx),
        "patch" => crud::patch(st, &ctx),
        "delete" => crud::delete(st, &ctx),
        _ => crud::delete_collection(st, &ctx),
    }
}

fn serde_urlencoded_parse(q: &str) -> HashMap<String, String> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(
        &format!("/?{q}").parse().expect("valid uri"),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn paths() {
        let t = parse_target(&["api", "v1", "namespaces", "wrk-1", "pods", "p", "status"])
            .unwrap()
            .unwrap();
        assert_eq!(
            (t.res.plural, t.ns.as_deref(), t.name.as_deref(), t.sub.as_deref()),
            ("pods", Some("wrk-1"), Some("p"), Some("status"))
        );
        let t = parse_target(&["api", "v1", "namespaces", "wrk-1"])
            .unwrap()
            .unwrap();
        assert_eq!((t.res.plural, t.name.as_deref()), ("namespaces", Some("wrk-1")));
        let t = parse_target(&["apis", "apps", "v1", "deployments"])
            .unwrap()
            .unwrap();
        assert!(t.ns.is_none() && t.name.is_none());
        assert!(parse_target(&["api", "v1", "pods", "x"]).is_err());
        assert!(parse_target(&["api", "v1"]).unwrap().is_none());
    }
}
