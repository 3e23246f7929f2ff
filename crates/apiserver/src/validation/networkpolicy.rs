//! networking.k8s.io/v1 NetworkPolicy: the checks the real server makes
//! after decoding (ports, protocols, peers, ipBlocks, policyTypes), each a
//! 422 field error naming the path.

use super::ports::protocol;
use crate::rest::status::FieldError;
use ipnet::IpNet;
use serde_json::{json, Value};

const POLICY_TYPES: [&str; 2] = ["Egress", "Ingress"];

fn forbidden(field: String, detail: &str) -> FieldError {
    FieldError {
        reason: "FieldValueForbidden",
        field,
        message: format!("Forbidden: {detail}"),
    }
}

fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

pub fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(spec) = obj.get("spec") else {
        return;
    };
    let types = items(spec, "policyTypes");
    for (i, t) in types.iter().enumerate() {
        if !t.as_str().is_some_and(|t| POLICY_TYPES.contains(&t)) {
            errs.push(FieldError::not_supported(
                format!("spec.policyTypes[{i}]"),
                t,
                &POLICY_TYPES,
            ));
        }
    }
    if types.len() > 2 {
        errs.push(FieldError::invalid(
            "spec.policyTypes",
            &spec["policyTypes"],
            "may not specify more than two policyTypes",
        ));
    }
    for (dir, peers_key) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in items(spec, dir).iter().enumerate() {
            let base = format!("spec.{dir}[{i}]");
            for (j, p) in items(rule, "ports").iter().enumerate() {
                port(p, &format!("{base}.ports[{j}]"), errs);
            }
            for (j, p) in items(rule, peers_key).iter().enumerate() {
                peer(p, &format!("{base}.{peers_key}[{j}]"), errs);
            }
        }
    }
}

fn port(p: &Value, base: &str, errs: &mut Vec<FieldError>) {
    protocol(p.get("protocol"), format!("{base}.protocol"), errs);
    let port = p.get("port").filter(|v| !v.is_null());
    match port {
        Some(Value::Number(n)) if !n.as_i64().is_some_and(|n| (1..=65535).contains(&n)) => {
            errs.push(FieldError::invalid(
                format!("{base}.port"),
                &p["port"],
                "must be between 1 and 65535, inclusive",
            ));
        }
        Some(Value::String(name)) => {
            for m in port_name(name) {
                errs.push(FieldError::invalid(format!("{base}.port"), &p["port"], &m));
            }
        }
        _ => {}
    }
    let Some(end) = p.get("endPort").filter(|v| !v.is_null()) else {
        return;
    };
    match port {
        None => errs.push(FieldError::required(
            format!("{base}.port"),
            "must be specified when endPort is specified",
        )),
        Some(Value::String(_)) => errs.push(forbidden(
            format!("{base}.endPort"),
            "may not be specified when `port` is non-numeric",
        )),
        Some(start) => {
            if end.as_i64() < start.as_i64() {
                errs.push(FieldError::invalid(
                    format!("{base}.endPort"),
                    end,
                    "must be greater than or equal to `port`",
                ));
            }
            if !end.as_i64().is_some_and(|n| (1..=65535).contains(&n)) {
                errs.push(FieldError::invalid(
                    format!("{base}.endPort"),
                    end,
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
    }
}

/// An IANA_SVC_NAME: at most 15 characters, lower-case letters, digits and
/// '-', at least one letter, no '-' at either end nor two in a row.
fn port_name(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if name.len() > 15 {
        out.push("must be no more than 15 characters".to_string());
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if name.contains("--") {
        out.push("must not contain consecutive hyphens".into());
    }
    if !name.bytes().any(|c| c.is_ascii_lowercase()) {
        out.push("must contain at least one letter (a-z)".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        out.push("must not begin or end with a hyphen".into());
    }
    out
}

fn peer(p: &Value, base: &str, errs: &mut Vec<FieldError>) {
    let present = |k: &str| p.get(k).is_some_and(|v| !v.is_null());
    let n = ["podSelector", "namespaceSelector", "ipBlock"]
        .iter()
        .filter(|k| present(k))
        .count();
    if n == 0 {
        errs.push(FieldError::required(base.to_string(), "must specify a peer"));
        return;
    }
    if n > 1 && present("ipBlock") {
        errs.push(forbidden(
            base.to_string(),
            "may not specify both ipBlock and another peer",
        ));
        return;
    }
    if let Some(block) = p.get("ipBlock").filter(|v| !v.is_null()) {
        ip_block(block, &format!("{base}.ipBlock"), errs);
    }
}

fn ip_block(block: &Value, base: &str, errs: &mut Vec<FieldError>) {
    let cidr_text = block["cidr"].as_str().unwrap_or("");
    if cidr_text.is_empty() {
        errs.push(FieldError::required(format!("{base}.cidr"), ""));
        return;
    }
    let Ok(cidr) = cidr_text.parse::<IpNet>() else {
        errs.push(FieldError::invalid(
            format!("{base}.cidr"),
            &json!(cidr_text),
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ));
        return;
    };
    for (i, e) in items(block, "except").iter().enumerate() {
        let field = format!("{base}.except[{i}]");
        let text = e.as_str().unwrap_or("");
        match text.parse::<IpNet>() {
            Err(_) => errs.push(FieldError::invalid(
                field,
                e,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            )),
            Ok(ex) => {
                // A strict subset: inside the cidr and longer than it.
                if !(cidr.contains(&ex) && ex.prefix_len() > cidr.prefix_len()) {
                    errs.push(FieldError::invalid(field, e, "must be a strict subset of `cidr`"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&json!({"metadata": {"name": "p"}, "spec": spec}), &mut errs);
        errs.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn deny_all_is_valid() {
        assert!(fields(json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})).is_empty());
        let ok = json!({"podSelector": {}, "ingress": [{"from": [
            {"podSelector": {"matchLabels": {"a": "b"}}, "namespaceSelector": {}},
            {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.1.0/24"]}}],
            "ports": [{"port": "http"}, {"protocol": "UDP", "port": 53, "endPort": 60},
                      {"protocol": "SCTP"}]}]});
        assert_eq!(fields(ok), Vec::<String>::new());
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = json!({"podSelector": {}, "policyTypes": ["Sideways"],
            "ingress": [{"from": [
                {"ipBlock": {"cidr": "10.0.0.0/33"}},
                {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24", "10.0.0.0/16"]}},
                {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
                {}],
              "ports": [{"port": 0}, {"port": 80, "endPort": 79}, {"protocol": "ICMP"},
                        {"port": "http", "endPort": 90}, {"endPort": 90}, {"port": "Bad_Name"}]}]});
        assert_eq!(
            fields(bad),
            vec![
                "spec.policyTypes[0]",
                "spec.ingress[0].ports[0].port",
                "spec.ingress[0].ports[1].endPort",
                "spec.ingress[0].ports[2].protocol",
                "spec.ingress[0].ports[3].endPort",
                "spec.ingress[0].ports[4].port",
                "spec.ingress[0].ports[5].port",
                "spec.ingress[0].from[0].ipBlock.cidr",
                "spec.ingress[0].from[1].ipBlock.except[0]",
                "spec.ingress[0].from[1].ipBlock.except[1]",
                "spec.ingress[0].from[2]",
                "spec.ingress[0].from[3]",
            ]
        );
    }

    #[test]
    fn egress_is_checked_too() {
        let bad = json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "nope"}}],
            "ports": [{"port": 70000}]}]});
        assert_eq!(
            fields(bad),
            vec![
                "spec.egress[0].ports[0].port",
                "spec.egress[0].to[0].ipBlock.cidr"
            ]
        );
    }
}
