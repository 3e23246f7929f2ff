//! Just enough of the Kubernetes protobuf envelope to read the metadata of a
//! created object: some kubectl generators (`kubectl create namespace`) send
//! protobuf and do not fall back to JSON. Spec and status are not decoded, so
//! only Namespace and ConfigMap (metadata + data) are accepted this way, and
//! a ServiceAccount (`kubectl create serviceaccount`) holding only metadata;
//! of a TokenRequest (`kubectl create token`), its spec.

use super::status::{ApiError, ApiResult};
use serde_json::{json, Map, Value};

fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// (field number, bytes) of the length-delimited fields; other fields skipped.
/// None when a field runs past the end (a length the body does not hold).
fn fields(b: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    Some(scan(b)?.0)
}

/// (field number, value) of the varint fields.
fn ints(b: &[u8]) -> Option<Vec<(u64, u64)>> {
    Some(scan(b)?.1)
}

/// The length-delimited and the varint fields of a message.
#[allow(clippy::type_complexity)]
fn scan(b: &[u8]) -> Option<(Vec<(u64, &[u8])>, Vec<(u64, u64)>)> {
    let mut out = Vec::new();
    let mut nums = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let tag = varint(b, &mut i)?;
        let len = match tag & 7 {
            0 => {
                nums.push((tag >> 3, varint(b, &mut i)?));
                0
            }
            1 => 8,
            5 => 4,
            2 => usize::try_from(varint(b, &mut i)?).ok()?,
            _ => return None,
        };
        let end = i.checked_add(len).filter(|&end| end <= b.len())?;
        if tag & 7 == 2 {
            out.push((tag >> 3, &b[i..end]));
        }
        i = end;
    }
    Some((out, nums))
}

/// A TokenRequest's spec (`kubectl create token` sends protobuf):
/// audiences (1, repeated), boundObjectRef (3: kind, apiVersion, name, uid)
/// and expirationSeconds (4).
fn token_spec(spec: &[u8]) -> Option<Value> {
    let mut out = json!({});
    let mut audiences = Vec::new();
    for (n, v) in fields(spec)? {
        match n {
            1 => audiences.push(text(v)),
            3 => {
                let mut r = json!({});
                for (rn, rv) in fields(v)? {
                    let k =
                        ["kind", "apiVersion", "name", "uid"].get(usize::try_from(rn).ok()?.checked_sub(1)?);
                    if let Some(k) = k {
                        r[*k] = text(rv);
                    }
                }
                out["boundObjectRef"] = r;
            }
            _ => {}
        }
    }
    if !audiences.is_empty() {
        out["audiences"] = Value::Array(audiences);
    }
    if let Some((_, secs)) = ints(spec)?.into_iter().find(|(n, _)| *n == 4) {
        // int64 as a varint: two's complement for a negative number.
        out["expirationSeconds"] = json!(secs as i64);
    }
    Some(out)
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn string_map(entries: &[&[u8]]) -> Option<Value> {
    let mut m = Map::new();
    for e in entries {
        let f = fields(e)?;
        let k = f
            .iter()
            .find(|(n, _)| *n == 1)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())?;
        let v = f
            .iter()
            .find(|(n, _)| *n == 2)
            .map(|(_, v)| text(v))
            .unwrap_or(json!(""));
        m.insert(k, v);
    }
    Some(Value::Object(m))
}

/// Decode an envelope into {apiVersion, kind, metadata}.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let bad = || ApiError::bad_request("unable to decode the protobuf request body");
    let rest = body.strip_prefix(b"k8s\0").ok_or_else(bad)?;
    let env = fields(rest).ok_or_else(bad)?;
    let mut obj = json!({});
    let mut raw: &[u8] = &[];
    for (n, v) in env {
        match n {
            1 => {
                for (tn, tv) in fields(v).ok_or_else(bad)? {
                    match tn {
                        1 => obj["apiVersion"] = text(tv),
                        2 => obj["kind"] = text(tv),
                        _ => {}
                    }
                }
            }
            2 => raw = v,
            _ => {}
        }
    }
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    let unsupported = || {
        ApiError::new(415, "UnsupportedMediaType", format!("protobuf bodies are only accepted for Namespace, ConfigMap and a ServiceAccount without secrets (got {kind:?}); send application/json"))
    };
    if kind == "TokenRequest" {
        for (n, v) in fields(raw).ok_or_else(bad)? {
            if n == 2 {
                obj["spec"] = token_spec(v).ok_or_else(bad)?;
            }
        }
        return Ok(obj);
    }
    if !matches!(kind.as_str(), "Namespace" | "ConfigMap" | "ServiceAccount") {
        return Err(unsupported());
    }
    let mut meta = Map::new();
    let mut data = Vec::new();
    let raw_fields = fields(raw).ok_or_else(bad)?;
    // Its other fields (secrets, image pull secrets) would be lost.
    if kind == "ServiceAccount" && raw_fields.iter().any(|(n, _)| *n != 1) {
        return Err(unsupported());
    }
    for (n, v) in raw_fields {
        if kind == "ConfigMap" && n == 2 {
            data.push(v);
        }
        if n != 1 {
            continue;
        }
        let mf = fields(v).ok_or_else(bad)?;
        let mut labels = Vec::new();
        let mut annotations = Vec::new();
        for (mn, mv) in mf {
            match mn {
                1 => drop(meta.insert("name".into(), text(mv))),
                2 => drop(meta.insert("generateName".into(), text(mv))),
                3 => drop(meta.insert("namespace".into(), text(mv))),
                11 => labels.push(mv),
                12 => annotations.push(mv),
                _ => {}
            }
        }
        if !labels.is_empty() {
            meta.insert("labels".into(), string_map(&labels).ok_or_else(bad)?);
        }
        if !annotations.is_empty() {
            meta.insert("annotations".into(), string_map(&annotations).ok_or_else(bad)?);
        }
    }
    obj["metadata"] = Value::Object(meta);
    if !data.is_empty() {
        obj["data"] = string_map(&data).ok_or_else(bad)?;
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn namespace_envelope() {
        // k8s\0 + Unknown{typeMeta{apiVersion:"v1",kind:"Namespace"}, raw: Namespace{metadata{name:"wrk-1"}}}
        let meta = [&[0x0a, 5][..], b"wrk-1"].concat();
        let ns = [&[0x0a, meta.len() as u8][..], &meta].concat();
        let tm = [&[0x0a, 2][..], b"v1", &[0x12, 9], b"Namespace"].concat();
        let body = [
            &b"k8s\0"[..],
            &[0x0a, tm.len() as u8],
            &tm,
            &[0x12, ns.len() as u8],
            &ns,
        ]
        .concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"wrk-1"}})
        );
    }

    /// Found by fuzz/apiserver_body: a field length near u64::MAX overflowed
    /// the end offset. Any length past the body is a 400, never a panic.
    #[test]
    fn a_length_past_the_body_is_refused() {
        let tm = [&[0x0a, 2][..], b"v1", &[0x12, 9], b"Namespace"].concat();
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        for raw_len in [&huge[..], &[0x7f]] {
            let body = [
                &b"k8s\0"[..],
                &[0x0a, tm.len() as u8],
                &tm,
                &[0x12],
                raw_len,
                b"ab",
            ]
            .concat();
            let e = decode(&body).unwrap_err();
            assert_eq!(e.code, 400);
            assert!(e.message.contains("protobuf"), "{}", e.message);
        }
        // A fixed64 field cut short is as malformed.
        let body = [&b"k8s\0"[..], &[0x0a, tm.len() as u8], &tm, &[0x09, 1, 2]].concat();
        assert_eq!(decode(&body).unwrap_err().code, 400);
        // The input the fuzzer saved, as it came.
        let found =
            b"k8s\0\x0a\x0f\xb9\x23v1\x12\x09Nam%space\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x25\xff\xffi";
        assert_eq!(decode(found).unwrap_err().code, 400);
    }
}
