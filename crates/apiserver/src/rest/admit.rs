//! What happens to an object between the request and the store: decoding
//! through the typed model, server-set metadata, defaults, validation and
//! allocation (rest::service_alloc). Nothing is stored or allocated for a
//! refused object.

use super::status::{ApiError, ApiResult};
use crate::resources::ResourceDef;
use crate::validation;
use serde_json::{json, Value};

/// The request body as a JSON value: JSON when the content type says JSON
/// (or protobuf, already turned into JSON), YAML when it says YAML, and
/// JSON-then-YAML only when it says neither. The nesting depth is checked
/// first, in one pass over the bytes, so a hostile `[[[…]]]` is refused
/// before any decoder recurses into it.
pub fn parse_body(ctx: &super::ctx::Ctx) -> ApiResult<Value> {
    parse_bytes(&ctx.body, &ctx.header("content-type"))
}

pub fn parse_bytes(body: &[u8], content_type: &str) -> ApiResult<Value> {
    super::limits::check_depth(body)?;
    let err = |e: &dyn std::fmt::Display| ApiError::bad_request(format!("error decoding request body: {e}"));
    let ct = content_type.to_ascii_lowercase();
    if ct.contains("json") || ct.contains("protobuf") {
        serde_json::from_slice::<Value>(body).map_err(|e| err(&e))
    } else if ct.contains("yaml") {
        serde_yaml::from_slice::<Value>(body).map_err(|e| err(&e))
    } else {
        serde_json::from_slice::<Value>(body)
            .or_else(|_| serde_yaml::from_slice::<Value>(body))
            .map_err(|e| err(&e))
    }
}

/// The body's name must be the one on the URL (PUT, apply).
pub fn check_name(obj: &Value, name: &str) -> ApiResult<()> {
    let body_name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

/// Kind/apiVersion of the body must be the resource's (filled when absent).
pub fn check_kind(res: &ResourceDef, obj: &mut Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the request body is not a JSON object"));
    }
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    let av = obj["apiVersion"].as_str().unwrap_or("").to_string();
    if !kind.is_empty() && kind != res.kind {
        if crate::resources::by_kind(&kind).is_none() {
            return Err(ApiError::bad_request(format!(
                "no kind \"{kind}\" is registered for version \"{}\" in scheme \"labyrinth\"",
                if av.is_empty() { res.api_version() } else { av }
            )));
        }
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {}: kind mismatch",
            res.version, res.kind
        )));
    }
    if !av.is_empty() && av != res.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            res.api_version()
        )));
    }
    obj["kind"] = json!(res.kind);
    obj["apiVersion"] = json!(res.api_version());
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    Ok(())
}

/// Typed decode plus unknown-field handling. Returns the normalized object and
/// warnings (fieldValidation=Warn, the default).
pub fn decode(res: &ResourceDef, obj: &Value, field_validation: &str) -> ApiResult<(Value, Vec<String>)> {
    let typed_kind = if res.group == "events.k8s.io" {
        format!("{}/{}", res.group, res.kind)
    } else {
        res.kind.to_string()
    };
    let typed = validation::decode_typed(&typed_kind, obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {e}",
            res.kind, res.version, res.kind
        ))
    })?;
    let unknown = validation::unknown_fields(obj, &typed);
    let mut warnings = Vec::new();
    if !unknown.is_empty() {
        match field_validation {
            "Strict" => {
                let list: Vec<String> = unknown.iter().map(|u| format!("unknown field \"{u}\"")).collect();
                return Err(ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                    res.kind,
                    res.version,
                    res.kind,
                    list.join(", ")
                )));
            }
            "Ignore" => {}
            _ => warnings = unknown.iter().map(|u| format!("unknown field \"{u}\"")).collect(),
        }
    }
    Ok((typed, warnings))
}

pub fn random_suffix(n: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut b = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("system randomness");
    b.iter()
        .map(|x| ALPHA[*x as usize % ALPHA.len()] as char)
        .collect()
}

fn uid() -> String {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("system randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Server-set metadata on create.
pub fn new_metadata(obj: &mut Value) {
    let m = &mut obj["metadata"];
    m["uid"] = json!(uid());
    m["creationTimestamp"] = json!(now());
    m["generation"] = json!(1);
    if let Some(map) = m.as_object_mut() {
        map.remove("resourceVersion");
        map.remove("deletionTimestamp");
    }
}

fn default_protocols(list: Option<&mut Value>) {
    if let Some(Value::Array(ports)) = list {
        for p in ports {
            if p.get("protocol").is_none_or(Value::is_null) {
                p["protocol"] = json!("TCP");
            }
        }
    }
}

/// The ServiceAccount admission plugin's default, for pods only (templates
/// keep what their author wrote). It does not insist the account exists: a
/// server run without the controllers (which make `default` in every
/// namespace) still takes pods.
fn default_service_account(spec: &mut Value) {
    if spec
        .get("serviceAccountName")
        .is_none_or(|v| v.is_null() || v == "")
    {
        let sa = spec
            .get("serviceAccount")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            .cloned()
            .unwrap_or(json!("default"));
        spec["serviceAccountName"] = sa;
    }
    if spec.get("serviceAccount").is_none_or(|v| v.is_null() || v == "") {
        spec["serviceAccount"] = spec["serviceAccountName"].clone();
    }
}

fn default_pod_spec(spec: &mut Value) {
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = spec.get_mut(list) {
            for c in cs {
                default_protocols(c.get_mut("ports"));
                if c.get("terminationMessagePath").is_none() {
                    c["terminationMessagePath"] = json!("/dev/termination-log");
                }
            }
        }
    }
    for (k, v) in [
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
    ] {
        if spec.get(k).is_none_or(Value::is_null) {
            spec[k] = json!(v);
        }
    }
    // As the real server: kubectl debug reads the pod's securityContext
    // without checking it is there.
    if spec.get("securityContext").is_none_or(Value::is_null) {
        spec["securityContext"] = json!({});
    }
}

/// Defaults the real server fills, for the fields clients and controllers read.
pub fn defaults(res: &ResourceDef, obj: &mut Value) {
    match res.kind {
        "Pod" => {
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
                default_service_account(spec);
            }
            if obj.pointer("/status/phase").is_none() {
                obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            }
        }
        "Namespace" => {
            obj["status"] = json!({"phase": "Active"});
            // The label every namespace carries, so NetworkPolicies and
            // selectors can name a namespace by its name.
            let name = obj.pointer("/metadata/name").cloned().unwrap_or(json!(""));
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
        }
        "Secret" => secret_defaults(obj),
        "Service" => {
            if !obj["spec"].is_object() {
                obj["spec"] = json!({});
            }
            super::service_defaults::defaults(&mut obj["spec"]);
        }
        "Job" => {
            super::workload_defaults::job(obj);
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                default_pod_spec(spec);
            }
        }
        "DaemonSet" => {
            super::workload_defaults::daemonset(obj);
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                default_pod_spec(spec);
            }
        }
        "Deployment" | "ReplicaSet" => {
            if obj.pointer("/spec/replicas").is_none() {
                obj["spec"]["replicas"] = json!(1);
            }
            if res.kind == "Deployment" {
                let spec = &mut obj["spec"];
                if spec.get("strategy").is_none() {
                    spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
                }
                if spec.get("revisionHistoryLimit").is_none() {
                    spec["revisionHistoryLimit"] = json!(10);
                }
                if spec.get("progressDeadlineSeconds").is_none() {
                    spec["progressDeadlineSeconds"] = json!(600);
                }
            }
            if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
                default_pod_spec(spec);
            }
        }
        _ => {}
    }
}

/// `stringData` is a write-only convenience: merged into `data` (base64,
/// winning over the same key there) and dropped; `type` defaults to Opaque.
fn secret_defaults(obj: &mut Value) {
    use base64::Engine;
    if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        for (k, v) in sd {
            let plain = v.as_str().unwrap_or("").as_bytes().to_vec();
            obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(plain));
        }
    }
    if obj.get("type").is_none_or(|t| t.is_null() || t == "") {
        obj["type"] = json!("Opaque");
    }
}

pub fn validate(res: &ResourceDef, obj: &Value) -> ApiResult<()> {
    let errs = validation::validate(res.kind, obj);
    if errs.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(ApiError::invalid(res, name, &errs))
}
