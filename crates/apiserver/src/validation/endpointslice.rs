//! discovery.k8s.io/v1 EndpointSlice: what the real server's
//! ValidateEndpointSlice checks of a slice a user writes by hand (for a
//! Service without a selector): the address type, each endpoint's
//! addresses in that family, and the ports (in range, a supported protocol
//! or none for TCP, unique names). The network agents program Services from these, so a
//! slice they could not read is refused here, naming the field.

use super::endpoints::address;
use super::names;
use super::ports::{port_name, port_range, protocol};
use crate::rest::status::FieldError;
use serde_json::{json, Value};
use std::collections::HashSet;

const ADDRESS_TYPES: [&str; 3] = ["FQDN", "IPv4", "IPv6"];
/// The real server's bound on one endpoint's addresses.
const MAX_ADDRESSES: usize = 100;

pub fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let family = obj["addressType"].as_str();
    match family {
        None => errs.push(FieldError::required("addressType", "")),
        Some(t) if !ADDRESS_TYPES.contains(&t) => errs.push(FieldError::not_supported(
            "addressType",
            &obj["addressType"],
            &ADDRESS_TYPES,
        )),
        Some(_) => {}
    }
    let endpoints = obj.get("endpoints").and_then(Value::as_array);
    for (i, ep) in endpoints.into_iter().flatten().enumerate() {
        let at = format!("endpoints[{i}].addresses");
        let addrs = ep
            .get("addresses")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if addrs.is_empty() {
            errs.push(FieldError::required(&at, "must contain at least 1 address"));
        } else if addrs.len() > MAX_ADDRESSES {
            errs.push(FieldError {
                reason: "FieldValueTooMany",
                field: at.clone(),
                message: format!(
                    "Too many: {}: must have at most {MAX_ADDRESSES} items",
                    addrs.len()
                ),
            });
        }
        for (j, a) in addrs.iter().enumerate() {
            let field = format!("{at}[{j}]");
            let text = a.as_str().unwrap_or("");
            match family {
                Some("IPv4") if text.parse::<std::net::Ipv4Addr>().is_err() => {
                    errs.push(FieldError::invalid(field, a, "must be a valid IPv4 address"))
                }
                Some("IPv6") if text.parse::<std::net::Ipv6Addr>().is_err() => {
                    errs.push(FieldError::invalid(field, a, "must be a valid IPv6 address"))
                }
                Some("IPv4" | "IPv6") => address(a, field, errs),
                Some("FQDN") => {
                    for m in names::subdomain(text.strip_suffix('.').unwrap_or(text)) {
                        errs.push(FieldError::invalid(field.clone(), a, &m));
                    }
                }
                _ => {}
            }
        }
    }
    let ports = obj.get("ports").and_then(Value::as_array);
    let mut seen = HashSet::new();
    for (k, p) in ports.into_iter().flatten().enumerate() {
        let pb = format!("ports[{k}]");
        let name = p["name"].as_str().unwrap_or("");
        // Unlike a Service's, two unnamed ports are two of one name ("").
        if name.is_empty() && !seen.insert(name) {
            errs.push(FieldError::duplicate(format!("{pb}.name"), &json!(name)));
        }
        port_name(name, format!("{pb}.name"), &mut seen, errs);
        port_range(&p["port"], format!("{pb}.port"), errs);
        // Absent, the server's default (TCP) applies, as for a Service.
        protocol(p.get("protocol"), format!("{pb}.protocol"), errs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(slice: Value) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        validate(&slice, &mut errs);
        errs.into_iter().map(|e| (e.field, e.message)).collect()
    }

    #[test]
    fn a_hand_written_slice_is_checked_as_the_real_server_does() {
        let good = json!({"addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.1.9"]}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]});
        assert!(fields(good).is_empty());
        let bad = json!({"addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.1"]}, {"addresses": []}, {"addresses": ["127.0.0.1", "fd00::1"]}],
            "ports": [{"port": 0, "protocol": "XTCP"}, {"port": 80}, {"name": "a"}, {"name": "a", "protocol": "TCP"}]});
        let got: Vec<String> = fields(bad).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            got,
            [
                "endpoints[0].addresses[0]",
                "endpoints[1].addresses",
                "endpoints[2].addresses[0]",
                "endpoints[2].addresses[1]",
                "ports[0].port",
                "ports[0].protocol",
                "ports[1].name",
                "ports[3].name",
            ]
        );
        let got = fields(json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.1"]}]}));
        assert_eq!(
            got[0].1,
            "Invalid value: \"10.0.1\": must be a valid IPv4 address"
        );
        assert_eq!(
            fields(json!({"addressType": "IPv5"}))[0].1,
            "Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""
        );
        assert_eq!(fields(json!({}))[0].0, "addressType");
        assert!(
            fields(json!({"addressType": "FQDN", "endpoints": [{"addresses": ["db.example.com."]}]}))
                .is_empty()
        );
    }
}
