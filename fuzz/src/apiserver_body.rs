//! The API server's request-body decoding: the bytes and Content-Type of a
//! create (POST) or a PATCH → the object that would be stored, through the
//! same public steps the REST layer takes (protobuf envelope or JSON/YAML,
//! kind check, typed decode through k8s-openapi, validation, defaults; for
//! PATCH, the patch applied to a stored object first).
//!
//! Input: a header line `<Kind> <content type>` (the resource the URL names
//! and the request's Content-Type), then the body.
//!
//! Properties: no panic; every refusal is a 4xx Status with a message; an
//! accepted object is a JSON object of the URL's kind and apiVersion, and
//! decoding it again gives it back unchanged (what is stored re-reads the
//! same).

use labyrinth_apiserver::resources::{self, ResourceDef};
use labyrinth_apiserver::rest::status::ApiError;
use labyrinth_apiserver::rest::{admit, patch, protobuf};
use serde_json::{json, Value};

/// The stored object a PATCH applies to: a full object of each kind, as
/// `kubectl apply` of the examples leaves them.
fn stored(res: &ResourceDef) -> Value {
    let mut obj = json!({
        "apiVersion": res.api_version(),
        "kind": res.kind,
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                     "resourceVersion": "7", "uid": "0f6b1f0e-2c1a-4a51-9e0e-6d2b3c4d5e6f"},
    });
    let pod_spec = json!({"containers": [{"name": "web", "image": "nginx",
        "command": ["python3", "-m", "http.server", "8080"],
        "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]});
    match res.kind {
        "Pod" => obj["spec"] = pod_spec,
        "Service" => {
            obj["spec"] = json!({"type": "ClusterIP", "selector": {"app": "web"},
                "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
                "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "targetPort": 8080}]})
        }
        "Deployment" | "ReplicaSet" => {
            obj["spec"] = json!({"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}})
        }
        "ConfigMap" | "Secret" => obj["data"] = json!({"key": "dmFsdWU="}),
        "EndpointSlice" => {
            obj["addressType"] = json!("IPv4");
            obj["endpoints"] = json!([{"addresses": ["10.0.1.5"], "conditions": {"ready": true}}]);
            obj["ports"] = json!([{"name": "http", "port": 8080, "protocol": "TCP"}]);
        }
        _ => {}
    }
    obj
}

/// The create path's decoding: body (after the protobuf envelope, if that
/// is the content type) → the object.
fn create(res: &ResourceDef, content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let json_body;
    let body = if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        json_body = serde_json::to_vec(&protobuf::decode(body)?).expect("a Value serializes");
        &json_body[..]
    } else {
        body
    };
    let mut obj = admit::parse_bytes(body, content_type)?;
    admit::check_kind(res, &mut obj)?;
    typed(res, obj)
}

fn patch(res: &ResourceDef, content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let mut obj = patch::apply(content_type, &stored(res), body)?;
    admit::check_kind(res, &mut obj)?;
    typed(res, obj)
}

fn typed(res: &ResourceDef, obj: Value) -> Result<Value, ApiError> {
    let (mut obj, _warnings) = admit::decode(res, &obj, "Warn")?;
    admit::validate(res, &obj)?;
    admit::defaults(res, &mut obj);
    Ok(obj)
}

pub fn check(data: &[u8]) {
    let Some((head, body)) = crate::split_header(data) else {
        return;
    };
    let (kind, content_type) = head.split_once(' ').unwrap_or((head, "application/json"));
    let Some(res) = resources::by_kind(kind) else {
        return;
    };
    let is_patch = content_type.contains("patch");
    let result = if is_patch {
        patch(res, content_type, body)
    } else {
        create(res, content_type, body)
    };
    match result {
        Err(e) => {
            assert!(
                (400..500).contains(&e.code),
                "status {} for a bad body: {e:?}",
                e.code
            );
            assert!(!e.message.is_empty(), "a refusal without a message: {e:?}");
        }
        Ok(obj) => {
            assert!(obj.is_object(), "accepted a non-object: {obj}");
            assert_eq!(obj["kind"], json!(res.kind), "kind of the accepted object");
            assert_eq!(obj["apiVersion"], json!(res.api_version()), "apiVersion");
            let (again, _) = admit::decode(res, &obj, "Strict")
                .unwrap_or_else(|e| panic!("the accepted object does not decode again: {e:?}\n{obj}"));
            assert_eq!(again, obj, "the accepted object changes when decoded again");
        }
    }
}
