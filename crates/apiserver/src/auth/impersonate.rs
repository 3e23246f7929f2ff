//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the
//! `Impersonate-User`, `Impersonate-Group` and `Impersonate-Uid` headers
//! turn the caller into another user when the caller may `impersonate` that
//! user (resource `users`, or `serviceaccounts` in the account's namespace
//! for a service account), each group (`groups`) and the uid (`uids` in
//! authentication.k8s.io), as the real server checks them.

use super::rbac::Attrs;
use super::{allowed, Identity};
use crate::rest::status::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::HeaderMap;
use serde_json::Value;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";

fn values<'h>(headers: &'h HeaderMap, name: &str) -> ApiResult<Vec<&'h str>> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::bad_request(format!("the {name} header is not valid text")))
        })
        .collect()
}

/// The caller the request acts as: `user` itself without impersonation
/// headers, else the impersonated user once every check has passed.
pub fn apply(st: &AppState, user: Identity, headers: &HeaderMap) -> ApiResult<Identity> {
    let names = values(headers, USER)?;
    let groups: Vec<String> = values(headers, GROUP)?.into_iter().map(String::from).collect();
    let uids = values(headers, UID)?;
    if names.is_empty() {
        if groups.is_empty() && uids.is_empty() {
            return Ok(user);
        }
        return Err(ApiError::bad_request(
            "requested impersonation of groups or a uid without impersonating a user (Impersonate-User)",
        ));
    }
    let [name] = names[..] else {
        return Err(ApiError::bad_request(
            "only one Impersonate-User header may be sent",
        ));
    };
    let uid = uids.first().copied().unwrap_or("");
    let sa = name
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'));
    let mut checks: Vec<Attrs> = vec![match sa {
        Some((ns, sa_name)) => Attrs {
            verb: "impersonate",
            resource: "serviceaccounts",
            name: Some(sa_name),
            ns: Some(ns),
            ..Default::default()
        },
        None => Attrs {
            verb: "impersonate",
            resource: "users",
            name: Some(name),
            ..Default::default()
        },
    }];
    checks.extend(groups.iter().map(|g| Attrs {
        verb: "impersonate",
        resource: "groups",
        name: Some(g),
        ..Default::default()
    }));
    if !uid.is_empty() {
        checks.push(Attrs {
            verb: "impersonate",
            group: "authentication.k8s.io",
            resource: "uids",
            name: Some(uid),
            ..Default::default()
        });
    }
    for a in &checks {
        if !allowed(st, &user, a, None) {
            let scope = match a.ns {
                Some(ns) => format!("in the namespace \"{ns}\""),
                None => "at the cluster scope".into(),
            };
            let qualified = if a.group.is_empty() {
                a.resource.to_string()
            } else {
                format!("{}.{}", a.resource, a.group)
            };
            return Err(ApiError::forbidden(format!(
                "{qualified} \"{}\" is forbidden: User \"{}\" cannot impersonate resource \"{}\" in API group \"{}\" {scope}",
                a.name.unwrap_or(""),
                user.username(),
                a.resource,
                a.group,
            )));
        }
    }
    // A service account keeps the uid of the account stored under its name
    // (what its own token would carry) unless one is named.
    let uid = match sa {
        Some((ns, sa_name)) if uid.is_empty() => st
            .store
            .get("serviceaccounts", ns, sa_name)
            .and_then(|o| {
                o.pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_default(),
        _ => uid.to_string(),
    };
    Ok(Identity::from_user_info(name, &groups, &uid))
}
