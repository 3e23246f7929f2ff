//! Response bodies made of stored objects' bytes. A list is spliced:
//! `{"kind":…,"apiVersion":…,"metadata":{…},"items":[` + each object's
//! stored JSON joined by commas + `]}`; no item is decoded or re-encoded, so
//! a list costs a copy of its bytes however large it is.

use crate::store::Stored;
use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::ops::Deref;

/// The JSON text of a list of `items` (the list's own fields written as
/// `serde_json` would, in the order the real server writes them).
pub fn list_json<O: Deref<Target = Stored>>(
    kind: &str,
    api_version: &str,
    meta: &Value,
    items: &[O],
) -> Vec<u8> {
    let size: usize = items.iter().map(|o| o.json().len() + 1).sum();
    let mut out = Vec::with_capacity(size + 256);
    out.extend_from_slice(b"{\"kind\":");
    write_value(&mut out, &Value::from(kind));
    out.extend_from_slice(b",\"apiVersion\":");
    write_value(&mut out, &Value::from(api_version));
    out.extend_from_slice(b",\"metadata\":");
    write_value(&mut out, meta);
    out.extend_from_slice(b",\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(o.json());
    }
    out.extend_from_slice(b"]}");
    out
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    serde_json::to_writer(out, v).expect("writing JSON to a Vec cannot fail");
}

/// A JSON body as it is, with the warnings as `Warning` headers.
pub fn json_bytes_response(code: StatusCode, body: Vec<u8>, warnings: &[String]) -> Response {
    let mut r = Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("valid response");
    for w in warnings {
        if let Ok(h) = format!("299 - {w:?}").parse() {
            r.headers_mut().append("warning", h);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn a_spliced_list_is_the_list_serde_json_would_write() {
        let objs = [
            json!({"metadata": {"name": "a", "resourceVersion": "3"}, "data": {"k": "v \"q\""}}),
            json!({"metadata": {"name": "b", "resourceVersion": "4"}}),
        ];
        let items: Vec<Arc<Stored>> = objs.iter().map(|o| Arc::new(Stored::new(o))).collect();
        let meta = json!({"resourceVersion": "9", "continue": "x"});
        let text = list_json("ConfigMapList", "v1", &meta, &items);
        let want = json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": meta, "items": objs});
        assert_eq!(serde_json::from_slice::<Value>(&text).unwrap(), want);
        let empty = list_json::<Arc<Stored>>("PodList", "v1", &meta, &[]);
        assert_eq!(
            serde_json::from_slice::<Value>(&empty).unwrap()["items"],
            json!([])
        );
    }
}
