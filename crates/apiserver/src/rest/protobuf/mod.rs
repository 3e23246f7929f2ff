//! Protobuf request bodies: kubectl's typed generators (`kubectl create
//! namespace|deployment|service|secret|job|role|token …`) send
//! `application/vnd.kubernetes.protobuf` and have no JSON fallback. The
//! envelope's object is turned into the JSON the same object has, led by
//! the field tables in `schema`, and then goes through the same admission
//! as any JSON body. A field the tables do not know that carries a value is
//! refused (415), never silently dropped.

mod decode;
mod schema;
mod wire;

use serde_json::{json, Value};

use super::status::{ApiError, ApiResult};
use decode::Refusal;
use wire::{fields, Wire};

/// The envelope (`k8s\0` + runtime.Unknown: typeMeta 1 {apiVersion 1,
/// kind 2}, raw 2) to the object as JSON with apiVersion and kind.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let bad =
        |what: &str| ApiError::bad_request(format!("unable to decode the protobuf request body: {what}"));
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("no k8s envelope"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, w) in fields(rest).ok_or_else(|| bad("a malformed envelope"))? {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                for (tn, tw) in fields(tm).ok_or_else(|| bad("a malformed typeMeta"))? {
                    match (tn, tw) {
                        (1, Wire::Bytes(v)) => api_version = String::from_utf8_lossy(v).into_owned(),
                        (2, Wire::Bytes(v)) => kind = String::from_utf8_lossy(v).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let Some(schema) = schema::top_level(&api_version, &kind) else {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "this server does not decode {kind:?} ({api_version}) from protobuf; send application/json"
            ),
        ));
    };
    let mut obj = match decode::message(schema, raw) {
        Ok(v) => v,
        Err(Refusal::Malformed(what)) => return Err(bad(&what)),
        Err(Refusal::Unknown(what)) => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the protobuf {kind} carries {what}, which this server does not decode; send application/json"),
            ))
        }
    };
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests;
