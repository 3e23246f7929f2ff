//! The eBPF datapath's service maps, read back as typed rows with
//! `labyrinth bpf map get services --json` inside the node: the frontend
//! slot (slot 0, holding the backend count) for ClusterIP:port/proto and
//! the backend slot that names the chosen backend.

use std::net::SocketAddrV4;

use anyhow::{Context, Result};
use labyrinth_contracts::bpf::{IpProto, MapDump, ServiceRow};

use super::translation::Translation;

/// The explanation, or None when the maps do not hold this translation.
pub fn explain(t: &Translation, services_json: &str) -> Result<Option<String>> {
    let dump: MapDump<ServiceRow> =
        serde_json::from_str(services_json).context("parsing the services map dump")?;
    let proto: IpProto = t.proto.parse().map_err(anyhow::Error::msg)?;
    let service = SocketAddrV4::new(t.vip, t.vport);
    let backend = SocketAddrV4::new(t.backend, t.bport);
    let Some((front, slots)) = ServiceRow::lookup(&dump.entries, service, proto) else {
        return Ok(None);
    };
    let Some(chosen) = slots.iter().find(|r| r.backend == Some(backend)) else {
        return Ok(None);
    };
    Ok(Some(format!(
        "{}: the eBPF program on the pod's veth {}: services map {service}/{proto} ({}, {} backend{}, rev NAT {}) \
         slot {} → backends map id {} {backend}",
        t.node,
        t.rewrite(),
        front.name,
        front.count,
        if front.count == 1 { "" } else { "s" },
        front.rev_nat_index,
        chosen.slot,
        chosen.backend_id,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The services map as `bpf map get services --json` prints it.
    fn dump() -> String {
        dump_of(2)
    }

    /// The same Service with its first `n` (1 or 2) backends.
    fn dump_of(n: u16) -> String {
        let e = |slot: u16, id: u32, count: u16, backend: Option<&str>| ServiceRow {
            frontend: "10.96.0.12:9999".parse().unwrap(),
            proto: IpProto::TCP,
            slot,
            backend_id: id,
            count,
            rev_nat_index: 4,
            backend: backend.map(|b| b.parse().unwrap()),
            name: "wrk-2/node-wrk-2-ubuntu24:tcp-9999".into(),
        };
        let dump = MapDump {
            map: "lby_lb4_services_v1".into(),
            entries: vec![
                e(0, 0, n, None),
                e(1, 6, 0, Some("10.0.2.5:9999")),
                e(2, 7, 0, Some("10.0.2.6:9999")),
            ]
            .into_iter()
            .take(1 + n as usize)
            .collect(),
        };
        serde_json::to_string(&dump).unwrap()
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
    fn one_backend_is_singular() {
        let text = explain(&Translation::example("10.0.2.5"), &dump_of(1))
            .unwrap()
            .unwrap();
        assert!(
            text.contains("(wrk-2/node-wrk-2-ubuntu24:tcp-9999, 1 backend, rev NAT 4)"),
            "{text}"
        );
    }

    #[test]
    fn none_when_the_maps_do_not_hold_it() {
        assert_eq!(explain(&Translation::example("10.0.2.9"), &dump()).unwrap(), None);
        assert!(explain(&Translation::example("10.0.2.5"), "not json").is_err());
        let old_table =
            r#"{"map": "lby_lb4_services_v1", "entries": [{"service": "10.96.0.12:9999/TCP", "slot": "0"}]}"#;
        let e = explain(&Translation::example("10.0.2.5"), old_table).unwrap_err();
        assert!(
            format!("{e:#}").contains("invalid type: string \"0\", expected u16"),
            "{e:#}"
        );
    }
}
