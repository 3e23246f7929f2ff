//! Bearer-token authentication and the authorization rules: the admin may do
//! anything; a node (system:node:<name>) reads everything but secrets (only
//! those its pods refer to, by name) and
//! changes only its own Node, its own Lease and the status of pods bound to
//! it; a bootstrap token may only join and get what RBAC grants its group
//! (kubeadm's Roles); anonymous callers see health, version
//! and the public cluster-info; service accounts may do what RBAC grants
//! them (auth::rbac).

pub mod client;
pub mod identity;
pub mod impersonate;
pub mod join;
pub mod join_control_plane;
pub mod rbac;
pub mod rbac_defaults;
pub mod sa_token;
pub mod tokens;

use crate::rest::ctx::Ctx;
use crate::rest::status::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::{HeaderMap, Method};
use serde_json::Value;

pub use identity::Identity;

pub fn authenticate(st: &AppState, headers: &HeaderMap) -> ApiResult<Identity> {
    let Some(h) = headers.get("authorization") else {
        return Ok(Identity::Anonymous);
    };
    let h = h.to_str().unwrap_or("");
    let Some(token) = h.strip_prefix("Bearer ").map(str::trim) else {
        return Err(ApiError::unauthorized("Unauthorized"));
    };
    if !st.admin_token.is_empty() && tokens::ct_eq(token.as_bytes(), st.admin_token.as_bytes()) {
        return Ok(Identity::Admin);
    }
    if let Some(id) = tokens::check_bootstrap(st.store.as_ref(), token)? {
        return Ok(Identity::Bootstrap(id));
    }
    if let Some(node) = tokens::check_node(st.store.as_ref(), token) {
        return Ok(Identity::Node(node));
    }
    if sa_token::is_jwt(token) {
        return service_account(st, token);
    }
    Err(ApiError::unauthorized("Unauthorized"))
}

/// A service-account token: signed by us, for us, unexpired, and its
/// account still there with the uid it was issued for.
fn service_account(st: &AppState, token: &str) -> ApiResult<Identity> {
    let now = jiff::Timestamp::now().as_second();
    let claims = sa_token::verify(&st.sa_key, token, &st.api_audience, now).map_err(|why| {
        tracing::debug!(%why, "service-account token refused");
        ApiError::unauthorized("Unauthorized")
    })?;
    let k = claims.k8s;
    let live = st
        .store
        .get("serviceaccounts", &k.namespace, &k.serviceaccount.name)
        .is_some_and(|sa| sa.pointer("/metadata/uid").and_then(Value::as_str) == Some(&k.serviceaccount.uid));
    // A token bound to a pod dies with it (and with a new pod of the
    // same name), as the real server checks.
    let pod_live = k.pod.as_ref().is_none_or(|p| {
        st.store
            .get("pods", &k.namespace, &p.name)
            .is_some_and(|pod| pod.pointer("/metadata/uid").and_then(Value::as_str) == Some(&p.uid))
    });
    if !live || !pod_live {
        return Err(ApiError::unauthorized("Unauthorized"));
    }
    Ok(Identity::ServiceAccount {
        ns: k.namespace,
        name: k.serviceaccount.name,
        uid: k.serviceaccount.uid,
    })
}

/// Reachable without credentials (and with a bootstrap token).
pub fn anonymous_allowed(path: &str, method: &Method) -> bool {
    method == Method::GET
        && matches!(
            path,
            "/healthz"
                | "/readyz"
                | "/livez"
                | "/version"
                | "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        )
}

fn forbidden(ctx: &Ctx, verb: &str) -> ApiError {
    let res = ctx.res();
    let resource = match &ctx.target.sub {
        Some(s) => format!("{}/{s}", res.plural),
        None => res.plural.to_string(),
    };
    let scope = match &ctx.target.ns {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".into(),
    };
    let what = match &ctx.target.name {
        Some(n) => format!("{} \"{n}\"", res.qualified()),
        None => res.qualified(),
    };
    ApiError::forbidden(format!(
        "{what} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
        ctx.user.username(),
        res.group
    ))
}

/// Whether a pod of namespace `ns` bound to `node` refers to Secret `name`
/// (env secretKeyRef, envFrom secretRef, a secret volume).
fn node_pod_uses_secret(st: &AppState, node: &str, ns: &str, name: &str) -> bool {
    let (pods, _) = st.store.list("pods", Some(ns));
    pods.iter()
        .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node))
        .any(|p| secrets_of(p).contains(&name))
}

/// Whether a pod of namespace `ns` bound to `node` runs as ServiceAccount
/// `name`.
pub(crate) fn node_pod_runs_as(st: &AppState, node: &str, ns: &str, name: &str) -> bool {
    let (pods, _) = st.store.list("pods", Some(ns));
    pods.iter().any(|p| {
        p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node)
            && p.pointer("/spec/serviceAccountName").and_then(Value::as_str) == Some(name)
    })
}

/// The Secrets a pod's containers and volumes name.
fn secrets_of(pod: &Value) -> Vec<&str> {
    fn list(v: Option<&Value>) -> &[Value] {
        v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }
    let mut names = Vec::new();
    for key in ["/spec/containers", "/spec/initContainers"] {
        for c in list(pod.pointer(key)) {
            let env = list(c.get("env"))
                .iter()
                .filter_map(|e| e.pointer("/valueFrom/secretKeyRef/name"));
            let env_from = list(c.get("envFrom"))
                .iter()
                .filter_map(|e| e.pointer("/secretRef/name"));
            names.extend(env.chain(env_from).filter_map(Value::as_str));
        }
    }
    let volumes = list(pod.pointer("/spec/volumes"))
        .iter()
        .filter_map(|v| v.pointer("/secret/secretName"));
    names.extend(volumes.filter_map(Value::as_str));
    let projected = list(pod.pointer("/spec/volumes"))
        .iter()
        .flat_map(|v| list(v.pointer("/projected/sources")))
        .filter_map(|s| s.pointer("/secret/name"));
    names.extend(projected.filter_map(Value::as_str));
    names
}

fn rbac_attrs<'a>(ctx: &'a Ctx, verb: &'a str) -> rbac::Attrs<'a> {
    let res = ctx.res();
    rbac::Attrs {
        verb,
        group: res.group,
        resource: res.plural,
        subresource: ctx.target.sub.as_deref(),
        name: ctx.target.name.as_deref(),
        ns: ctx.target.ns.as_deref(),
    }
}

pub fn authorize(st: &AppState, ctx: &Ctx, verb: &str) -> ApiResult<()> {
    // Only a node's create needs the body's name (its own Node and Lease).
    let created = match &ctx.user {
        Identity::Node(_) if verb == "create" => {
            serde_json::from_slice::<Value>(&ctx.body).ok().and_then(|b| {
                b.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
        }
        _ => None,
    };
    let attrs = rbac_attrs(ctx, verb);
    // NodeRestriction: a node creates the mirror pods of its static pods,
    // bound to itself, and no other pod.
    if let Identity::Node(node) = &ctx.user {
        let pod_create = verb == "create" && attrs.group.is_empty() && attrs.resource == "pods";
        if pod_create && attrs.subresource.is_none() {
            let body = serde_json::from_slice::<Value>(&ctx.body).unwrap_or_default();
            if labyrinth_contracts::mirror_pod::is_mirror_of(&body, node) {
                return Ok(());
            }
        }
    }
    if allowed(st, &ctx.user, &attrs, created.as_deref()) {
        Ok(())
    } else {
        Err(forbidden(ctx, verb))
    }
}

/// The one decision every request and every access review gets, in the
/// real server's authorizer order: the privileged group
/// (system:masters), then the node rules for a node, then RBAC. `created`
/// is the name in a create's body.
pub fn allowed(st: &AppState, user: &Identity, a: &rbac::Attrs, created: Option<&str>) -> bool {
    if user.groups().iter().any(|g| g == identity::MASTERS) {
        return true;
    }
    // The one object public before trust: kube-public/cluster-info.
    if a.verb == "get"
        && a.group.is_empty()
        && a.resource == "configmaps"
        && a.subresource.is_none()
        && a.ns == Some("kube-public")
        && a.name == Some("cluster-info")
    {
        return true;
    }
    if let Identity::Node(node) = user {
        if node_allows(st, node, a, created) {
            return true;
        }
    }
    rbac::allows(st.store.as_ref(), user, a)
}

/// The Node authorizer: a node reads everything but secrets (only those
/// its pods refer to, by name) and changes only its own Node, its own
/// Lease, events and the pods bound to it.
fn node_allows(st: &AppState, node: &str, a: &rbac::Attrs, created: Option<&str>) -> bool {
    let name = a.name.unwrap_or("");
    let ns = a.ns.unwrap_or("");
    if matches!(a.verb, "get" | "list" | "watch") {
        let secret = a.group.is_empty() && a.resource == "secrets";
        return !secret || (a.verb == "get" && node_pod_uses_secret(st, node, ns, name));
    }
    let pod_here = || {
        st.store
            .get("pods", ns, name)
            .is_some_and(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node))
    };
    match (a.group, a.resource, a.verb) {
        ("", "nodes", "create") => created == Some(node),
        ("", "nodes", "update" | "patch") => name == node,
        ("coordination.k8s.io", "leases", "create") => ns == "kube-node-lease" && created == Some(node),
        ("coordination.k8s.io", "leases", "update" | "patch") => ns == "kube-node-lease" && name == node,
        // Node agents report what happened to their pods (Pulled, Started…).
        ("" | "events.k8s.io", "events", "create" | "update" | "patch") => true,
        // Its pods' status, and their final delete once they have ended
        // there (graceful deletion, rest/graceful.rs).
        ("", "pods", "update" | "patch") if a.subresource == Some("status") => pod_here(),
        ("", "pods", "delete") if a.subresource.is_none() => pod_here(),
        // Tokens of the accounts its pods run as (NodeRestriction: the
        // token must then be bound to such a pod, rest/token.rs).
        ("", "serviceaccounts", "create") if a.subresource == Some("token") => {
            node_pod_runs_as(st, node, ns, name)
        }
        _ => false,
    }
}
