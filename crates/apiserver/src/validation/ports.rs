//! The port rules every kind with ports shares (Services, pods, Endpoints,
//! EndpointSlices, NetworkPolicies): the number's range, the name and the
//! protocol.

use super::names;
use crate::rest::status::FieldError;
use serde_json::{json, Value};
use std::collections::HashSet;

/// A port number must be 1–65535; a non-number is the decoder's business.
pub(super) fn port_range(v: &Value, field: String, errs: &mut Vec<FieldError>) {
    if let Some(p) = v.as_i64() {
        if !(1..=65535).contains(&p) {
            errs.push(FieldError::invalid(
                field,
                v,
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
}

/// A port's name, when not empty: a DNS label, and unique among the ports
/// of its list (`seen` holds those before it).
pub(super) fn port_name<'a>(
    name: &'a str,
    field: String,
    seen: &mut HashSet<&'a str>,
    errs: &mut Vec<FieldError>,
) {
    if name.is_empty() {
        return;
    }
    for m in names::label(name) {
        errs.push(FieldError::invalid(field.clone(), &json!(name), &m));
    }
    if !seen.insert(name) {
        errs.push(FieldError::duplicate(field, &json!(name)));
    }
}

/// The transport protocols the API accepts wherever a port has one.
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// A port's protocol, when given, is one the API accepts (absent, the
/// server's default, TCP, applies).
pub(super) fn protocol(v: Option<&Value>, field: String, errs: &mut Vec<FieldError>) {
    if let Some(p) = v.filter(|v| !v.is_null()) {
        if !p.as_str().is_some_and(|s| PROTOCOLS.contains(&s)) {
            errs.push(FieldError::not_supported(field, p, &PROTOCOLS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_checked_where_given() {
        let check = |v: Option<Value>| {
            let mut errs = Vec::new();
            protocol(v.as_ref(), "p".into(), &mut errs);
            errs.into_iter().map(|e| e.message).collect::<Vec<_>>()
        };
        assert!(check(None).is_empty());
        assert!(check(Some(Value::Null)).is_empty());
        assert!(check(Some(json!("UDP"))).is_empty());
        assert_eq!(
            check(Some(json!("tcp"))),
            ["Unsupported value: \"tcp\": supported values: \"SCTP\", \"TCP\", \"UDP\""]
        );
        assert_eq!(check(Some(json!(6))).len(), 1, "a number is no protocol");
    }
}
