//! TokenRequest (`POST …/serviceaccounts/<name>/token`, what `kubectl create
//! token` sends): a token for the service account, for the audiences asked
//! (this server when none), lasting `expirationSeconds` (an hour when
//! unset, at least ten minutes).

use super::ctx::Ctx;
use super::status::{ApiError, ApiResult, FieldError};
use crate::auth::sa_token::{sign, Claims};
use crate::resources::ResourceDef;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

static TOKEN_REQUEST: ResourceDef = ResourceDef {
    group: "authentication.k8s.io",
    version: "v1",
    kind: "TokenRequest",
    plural: "token",
    singular: "",
    namespaced: true,
    short_names: &[],
    status: false,
    categories: &[],
};

/// kube-apiserver's default lifetime and its floor.
const DEFAULT_SECONDS: i64 = 3600;
const MIN_SECONDS: i64 = 600;

pub fn create(st: &AppState, ctx: &Ctx) -> ApiResult<Response> {
    let (ns, name) = (ctx.ns(), ctx.name().to_string());
    let ct = ctx.header("content-type");
    let body = if ctx.body.is_empty() {
        json!({})
    } else if ct.starts_with("application/vnd.kubernetes.protobuf") {
        super::protobuf::decode(&ctx.body)?
    } else {
        super::admit::parse_bytes(&ctx.body, &ct)?
    };
    if let Some(k) = body["kind"].as_str().filter(|k| *k != "TokenRequest") {
        return Err(ApiError::bad_request(format!(
            "{k} in version \"v1\" cannot be handled as a TokenRequest: kind mismatch"
        )));
    }
    let spec = &body["spec"];
    let mut audiences: Vec<String> = spec["audiences"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences.push(st.api_audience.clone());
    }
    let secs = &spec["expirationSeconds"];
    let ttl = if secs.is_null() {
        DEFAULT_SECONDS
    } else {
        secs.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!("spec.expirationSeconds: {secs} is not an integer"))
        })?
    };
    let too = if ttl < MIN_SECONDS {
        Some("may not specify a duration less than 10 minutes")
    } else if ttl > 1 << 32 {
        Some("may not specify a duration larger than 2^32 seconds")
    } else {
        None
    };
    if let Some(why) = too {
        return Err(ApiError::invalid(
            &TOKEN_REQUEST,
            "",
            &[FieldError::invalid("spec.expirationSeconds", &json!(ttl), why)],
        ));
    }
    let sa = st
        .store
        .get("serviceaccounts", &ns, &name)
        .ok_or_else(|| ApiError::not_found(ctx.res(), &name))?;
    let uid = sa.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
    let pod = super::token_binding::bound_pod(st, &ctx.user, &ns, &name, spec)?;
    let now = jiff::Timestamp::now().as_second();
    let mut claims = Claims::new(&st.api_audience, &ns, &name, uid, audiences.clone(), now, ttl);
    claims.k8s.pod = pod;
    let exp = jiff::Timestamp::from_second(claims.exp)
        .map_err(ApiError::internal)?
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let out = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": Value::Null},
        "spec": {"audiences": audiences, "expirationSeconds": ttl, "boundObjectRef": spec.get("boundObjectRef").cloned().unwrap_or(Value::Null)},
        "status": {"token": sign(&st.sa_key, &claims), "expirationTimestamp": exp},
    });
    Ok(super::crud::json_response(StatusCode::CREATED, &out, &[]))
}
