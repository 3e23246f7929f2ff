//! v1 Endpoints: each subset's addresses are IPs a Service may send to, and
//! its ports are in range with a supported protocol and unique names (a name
//! is required once there are several, as Service ports need).

use super::ports::{port_name, port_range, protocol};
use crate::rest::status::FieldError;
use serde_json::Value;
use std::collections::HashSet;
use std::net::IpAddr;

pub fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let subsets = obj.get("subsets").and_then(Value::as_array);
    for (i, sub) in subsets.into_iter().flatten().enumerate() {
        let base = format!("subsets[{i}]");
        for list in ["addresses", "notReadyAddresses"] {
            let addrs = sub.get(list).and_then(Value::as_array);
            for (j, a) in addrs.into_iter().flatten().enumerate() {
                address(&a["ip"], format!("{base}.{list}[{j}].ip"), errs);
            }
        }
        let ports = sub
            .get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut seen = HashSet::new();
        for (k, p) in ports.iter().enumerate() {
            let pb = format!("{base}.ports[{k}]");
            let name = p["name"].as_str().unwrap_or("");
            if name.is_empty() && ports.len() > 1 {
                errs.push(FieldError::required(format!("{pb}.name"), ""));
            }
            port_name(name, format!("{pb}.name"), &mut seen, errs);
            port_range(&p["port"], format!("{pb}.port"), errs);
            match p.get("protocol").filter(|v| !v.is_null()) {
                None => errs.push(FieldError::required(format!("{pb}.protocol"), "")),
                given => protocol(given, format!("{pb}.protocol"), errs),
            }
        }
    }
}

/// An endpoint's address: an IP, not a loopback one (EndpointSlices' too).
pub(super) fn address(ip: &Value, field: String, errs: &mut Vec<FieldError>) {
    match ip.as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
        None => errs.push(FieldError::invalid(
            field,
            ip,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        )),
        Some(a) if a.is_loopback() => errs.push(FieldError::invalid(
            field,
            ip,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        )),
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[test]
    fn field_paths() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.1.5"}, {"ip": "nope"}],
            "notReadyAddresses": [{"ip": "127.0.0.1"}],
            "ports": [{"name": "a", "port": 80, "protocol": "TCP"}, {"port": 0, "protocol": "ICMP"}]}]});
        let mut errs = Vec::new();
        validate(&ep, &mut errs);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "subsets[0].addresses[1].ip",
                "subsets[0].notReadyAddresses[0].ip",
                "subsets[0].ports[1].name",
                "subsets[0].ports[1].port",
                "subsets[0].ports[1].protocol"
            ]
        );
    }
}
