//! A TokenRequest's `boundObjectRef`, as kube-apiserver checks it: a Pod
//! that exists (with the uid given, if one is), runs as the account the
//! token is for, and, when a node asks, is bound to that node (the
//! NodeRestriction admission plugin: a node gets tokens only for its own
//! pods). The token then names the pod and dies with it (auth::authenticate).

use super::status::{ApiError, ApiResult};
use crate::auth::identity::Identity;
use crate::auth::sa_token::AccountRef;
use crate::state::AppState;
use serde_json::Value;

/// The pod a token is to be bound to, or none (an unbound token).
pub fn bound_pod(
    st: &AppState,
    user: &Identity,
    ns: &str,
    account: &str,
    spec: &Value,
) -> ApiResult<Option<AccountRef>> {
    let r = &spec["boundObjectRef"];
    let node = match user {
        Identity::Node(n) => Some(n.as_str()),
        _ => None,
    };
    if r.is_null() {
        return match node {
            Some(n) => Err(ApiError::forbidden(format!(
                "node \"{n}\" may only request tokens bound to its own pods (spec.boundObjectRef)"
            ))),
            None => Ok(None),
        };
    }
    let kind = r["kind"].as_str().unwrap_or("");
    if kind != "Pod" {
        return Err(ApiError::bad_request(format!(
            "spec.boundObjectRef.kind: cannot bind a token to a {kind:?} (this server binds to Pods only)"
        )));
    }
    let name = r["name"].as_str().unwrap_or("");
    let pods = crate::resources::by_kind("Pod").expect("Pods are served");
    let pod = st
        .store
        .get("pods", ns, name)
        .ok_or_else(|| ApiError::not_found(pods, name))?;
    let uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
    if let Some(want) = r["uid"].as_str().filter(|u| !u.is_empty()) {
        if want != uid {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
    }
    if pod.pointer("/spec/serviceAccountName").and_then(Value::as_str) != Some(account) {
        return Err(ApiError::bad_request(format!(
            "cannot bind token for serviceaccount \"{account}\" to pod running with different serviceaccount name."
        )));
    }
    if let Some(n) = node {
        if pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(n) {
            return Err(ApiError::forbidden(format!(
                "node \"{n}\" can only request tokens bound to pods scheduled on it"
            )));
        }
    }
    Ok(Some(AccountRef {
        name: name.to_string(),
        uid: uid.to_string(),
    }))
}
