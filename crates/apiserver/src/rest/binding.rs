//! The `binding` subresource of Pods: how a scheduler assigns a pod to a
//! node (POST a `Binding`). As the real server does it: the pod gets
//! `spec.nodeName` once (a pod already assigned, or being deleted, is a
//! 409), the Binding's uid, when given, must be the pod's, its
//! annotations are copied onto the pod, and the pod's `PodScheduled`
//! condition becomes True. The answer is a Status of Success (201).
//! kube-scheduler binds only this way; our own scheduler falls back to
//! patching `spec.nodeName` on a server without it.

use super::crud::{json_response, store_err};
use super::ctx::Ctx;
use super::status::{ApiError, ApiResult, FieldError};
use crate::state::AppState;
use crate::store::{object_rv, StoreError};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

/// The subresource's name in a path.
pub const SUBRESOURCE: &str = "binding";

/// What a Binding asks: the node, the pod uid it was meant for, the
/// annotations to add.
#[derive(Debug, PartialEq)]
struct Asked {
    node: String,
    uid: Option<String>,
    annotations: serde_json::Map<String, Value>,
}

fn read(body: &Value, pod: &str) -> ApiResult<Asked> {
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or("Binding");
    if kind != "Binding" {
        return Err(ApiError::bad_request(format!(
            "expected a Binding, got kind {kind:?}"
        )));
    }
    super::admit::check_name(body, pod)?;
    let invalid = |errs: Vec<FieldError>| {
        let res = crate::resources::by_kind("Pod").expect("pods are served");
        ApiError::invalid(res, pod, &errs)
    };
    let target_kind = body.pointer("/target/kind").and_then(Value::as_str).unwrap_or("");
    if !target_kind.is_empty() && target_kind != "Node" {
        return Err(invalid(vec![FieldError::invalid(
            "target.kind",
            &json!(target_kind),
            "must be empty or 'Node'",
        )]));
    }
    let node = body.pointer("/target/name").and_then(Value::as_str).unwrap_or("");
    if node.is_empty() {
        return Err(invalid(vec![FieldError::required("target.name", "")]));
    }
    Ok(Asked {
        node: node.to_string(),
        uid: body
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .map(String::from),
        annotations: body
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    })
}

/// The pod as `asked` assigns it, or why it cannot be.
fn assign(cur: &Value, asked: &Asked, now: &str) -> Result<Value, String> {
    let name = cur
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if cur
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return Err(format!(
            "pod {name} is being deleted, cannot be assigned to a host"
        ));
    }
    let uid = cur.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
    if let Some(want) = asked.uid.as_deref().filter(|w| *w != uid) {
        return Err(format!(
            "Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"
        ));
    }
    let assigned = cur
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !assigned.is_empty() {
        return Err(format!("pod {name} is already assigned to node {assigned:?}"));
    }
    let mut pod = cur.clone();
    pod["spec"]["nodeName"] = json!(asked.node);
    if !asked.annotations.is_empty() {
        let meta = &mut pod["metadata"];
        if !meta.get("annotations").is_some_and(Value::is_object) {
            meta["annotations"] = json!({});
        }
        for (k, v) in &asked.annotations {
            meta["annotations"][k] = v.clone();
        }
    }
    let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
        "lastTransitionTime": now});
    let status = &mut pod["status"];
    if !status.is_object() {
        *status = json!({});
    }
    let mut conds: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conds.retain(|c| c["type"] != "PodScheduled");
    conds.push(scheduled);
    status["conditions"] = json!(conds);
    Ok(pod)
}

/// POST pods/NAME/binding.
pub fn create(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let res = ctx.res();
    let body = if ctx
        .header("content-type")
        .starts_with("application/vnd.kubernetes.protobuf")
    {
        super::protobuf::decode(&ctx.body)?
    } else {
        super::admit::parse_body(ctx)?
    };
    let asked = read(&body, ctx.name())?;
    // Retried on a concurrent change of the pod (its kubelet or a
    // controller writing), as the real server's guaranteed update is.
    for _ in 0..5 {
        let cur = st
            .store
            .get(&res.key(), &ctx.ns(), ctx.name())
            .ok_or_else(|| ApiError::not_found(res, ctx.name()))?;
        let mut pod =
            assign(&cur, &asked, &super::admit::now()).map_err(|m| ApiError::new(409, "Conflict", m))?;
        if let Some(m) = pod["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        if ctx.dry_run() {
            return Ok(success());
        }
        match st
            .store
            .update(&res.key(), &ctx.ns(), ctx.name(), pod, object_rv(&cur))
        {
            Ok(_) => return Ok(success()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(store_err(res, ctx.name(), e)),
        }
    }
    // Changed under us every time: the scheduler retries, as it would
    // after the real server's conflict.
    Err(ApiError::conflict(res, ctx.name()))
}

fn success() -> Response {
    let done = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "code": 201});
    json_response(StatusCode::CREATED, &done, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(node: &str, deleting: bool) -> Value {
        let mut p = json!({"metadata": {"name": "web", "uid": "u1", "resourceVersion": "7"},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2026-12-05T00:00:00Z");
        }
        p
    }

    fn binding(name: &str, node: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "uid": "u1",
            "annotations": {"a": "b"}}, "target": {"kind": "Node", "name": node}})
    }

    #[test]
    fn a_binding_sets_the_node_once_with_its_annotations_and_pod_scheduled() {
        let asked = read(&binding("web", "node-1"), "web").unwrap();
        let bound = assign(&pod("", false), &asked, "T").unwrap();
        assert_eq!(bound["spec"]["nodeName"], "node-1");
        assert_eq!(bound["metadata"]["annotations"]["a"], "b");
        let conds = bound["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds.len(), 1, "{conds:?}");
        assert_eq!(
            (conds[0]["type"].as_str(), conds[0]["status"].as_str()),
            (Some("PodScheduled"), Some("True"))
        );
        let again = assign(&bound, &asked, "T").unwrap_err();
        assert!(again.contains("already assigned to node \"node-1\""), "{again}");
        let gone = assign(&pod("", true), &asked, "T").unwrap_err();
        assert!(gone.contains("being deleted"), "{gone}");
        let other = Asked {
            uid: Some("u2".into()),
            ..asked
        };
        let wrong = assign(&pod("", false), &other, "T").unwrap_err();
        assert!(wrong.contains("UID in precondition: u2"), "{wrong}");
    }

    #[test]
    fn a_bad_binding_is_refused_naming_what_is_wrong() {
        let e = read(&binding("other", "node-1"), "web").unwrap_err();
        assert!(
            e.code == 400 && e.message.contains("does not match the name on the URL"),
            "{e:?}"
        );
        let e = read(&binding("web", ""), "web").unwrap_err();
        assert!(e.code == 422 && e.message.contains("target.name"), "{e:?}");
        let mut b = binding("web", "node-1");
        b["target"]["kind"] = json!("Pod");
        let e = read(&b, "web").unwrap_err();
        assert!(e.code == 422 && e.message.contains("target.kind"), "{e:?}");
        let mut b = binding("web", "node-1");
        b["kind"] = json!("Pod");
        assert_eq!(read(&b, "web").unwrap_err().code, 400);
    }
}
