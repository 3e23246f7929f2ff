//! The eBPF datapath's service maps, read back with `labyrinth bpf map get
//! services --json` inside the node: the frontend slot (slot 0, holding the
//! backend count) for ClusterIP:port/proto and the backend slot that names
//! the chosen backend.

use anyhow::{Context, Result};
use serde_json::Value;

use super::translation::Translation;

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or_default()
}

/// The explanation, or None when the maps do not hold this translation.
pub fn explain(t: &Translation, services_json: &str) -> Result<Option<String>> {
    let v: Value = serde_json::from_str(services_json).context("parsing the services map dump")?;
    let entries = v["entries"]
        .as_array()
        .context("services map dump without entries")?;
    let service = format!("{}:{}/{}", t.vip, t.vport, t.proto.to_uppercase());
    let backend = format!("{}:{}", t.backend, t.bport);
    let of_service: Vec<&Value> = entries
        .iter()
        .filter(|e| field(e, "service") == service)
        .collect();
    let Some(front) = of_service.iter().find(|e| field(e, "slot") == "0") else {
        return Ok(None);
    };
    let Some(chosen) = of_service.iter().find(|e| field(e, "backend") == backend) else {
        return Ok(None);
    };
    Ok(Some(format!(
        "{}: the eBPF program on the pod's veth {}: services map {service} ({}, {} backends, rev NAT {}) \
         slot {} → backends map id {} {backend}",
        t.node,
        t.rewrite(),
        field(front, "name"),
        field(front, "count"),
        field(front, "rev_nat_id"),
        field(chosen, "slot"),
        field(chosen, "backend_id"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dump() -> String {
        let e = |slot: &str, id: &str, count: &str, backend: &str| {
            json!({"service": "10.96.0.12:9999/TCP", "slot": slot, "backend_id": id, "count": count,
                   "rev_nat_id": "4", "backend": backend, "name": "wrk-2/node-wrk-2-ubuntu24:tcp-9999"})
        };
        json!({"entries": [e("0", "0", "2", ""), e("1", "6", "0", "10.0.2.5:9999"),
                           e("2", "7", "0", "10.0.2.6:9999")]})
        .to_string()
    }

    #[test]
    fn names_the_frontend_and_the_backend_slot() {
        let text = explain(&Translation::example("10.0.2.6"), &dump())
            .unwrap()
            .unwrap();
        assert!(text.starts_with("node-1: the eBPF program"), "{text}");
        assert!(
            text.contains("services map 10.96.0.12:9999/TCP (wrk-2/node-wrk-2-ubuntu24:tcp-9999, 2 backends"),
            "{text}"
        );
        assert!(
            text.contains("slot 2 → backends map id 7 10.0.2.6:9999"),
            "{text}"
        );
    }

    #[test]
    fn none_when_the_maps_do_not_hold_it() {
        assert_eq!(explain(&Translation::example("10.0.2.9"), &dump()).unwrap(), None);
        assert!(explain(&Translation::example("10.0.2.5"), "not json").is_err());
    }
}
