//! Map contents for `labyrinth bpf map get <map>` (like `cilium map get`):
//! the typed rows of `labyrinth_contracts::bpf::rows`, printed as JSON (what
//! the tracer reads back) or as a table with readable columns (for people).

use std::path::Path;

use anyhow::{Context, Result};
use labyrinth_contracts::bpf::policy::{PolicyPodRow, PolicyRuleRow};
use labyrinth_contracts::bpf::{
    BackendRow, ConfigRow, CtRow, EndpointRow, IpcacheRow, MapDump, MapKind, RevNatRow, ServiceRow,
};
use serde::Serialize;

use crate::abi::LbyConfig;
use crate::maps::Maps;

/// A map's row type: how it is read from the pinned map, and its table.
pub trait MapRow: Serialize + Sized {
    const KIND: MapKind;
    const COLUMNS: &'static [&'static str];
    /// Every entry, in the order the table lists them.
    fn read(maps: &Maps) -> Result<Vec<Self>>;
    fn cells(&self) -> Vec<String>;
}

/// One map's rows: as a table for people, and as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub map: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
    /// The typed rows, serialized (the `entries` of `--json`).
    entries: Vec<serde_json::Value>,
}

impl Table {
    pub fn of<R: MapRow>(rows: &[R]) -> Result<Table> {
        Ok(Table {
            map: R::KIND.map_name(),
            columns: R::COLUMNS,
            rows: rows.iter().map(R::cells).collect(),
            entries: rows
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()
                .context("serializing the map's rows")?,
        })
    }

    /// `bpf map get --json`: a `MapDump` of the typed rows.
    pub fn to_json(&self) -> String {
        let dump = MapDump {
            map: self.map.to_string(),
            entries: self.entries.clone(),
        };
        serde_json::to_string_pretty(&dump).expect("JSON values serialize")
    }

    pub fn to_text(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.len()).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let line = |cells: Vec<&str>| {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            parts.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(self.columns.to_vec());
        for r in &self.rows {
            out += &line(r.iter().map(String::as_str).collect());
        }
        if self.rows.is_empty() {
            out += &format!("({} is empty)\n", self.map);
        }
        out
    }
}

pub fn mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Nanoseconds since boot on CLOCK_MONOTONIC, the programs' clock
/// (`bpf_ktime_get_ns`).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One map's rows under `pin_dir`.
pub fn rows<R: MapRow>(pin_dir: &Path) -> Result<Vec<R>> {
    R::read(&Maps::open(pin_dir)?)
}

/// Read one map under `pin_dir`.
pub fn dump(pin_dir: &Path, kind: MapKind) -> Result<Table> {
    fn table<R: MapRow>(dir: &Path) -> Result<Table> {
        Table::of(&rows::<R>(dir)?)
    }
    let read: fn(&Path) -> Result<Table> = match kind {
        MapKind::Services => table::<ServiceRow>,
        MapKind::Backends => table::<BackendRow>,
        MapKind::Revnat => table::<RevNatRow>,
        MapKind::Ct => table::<CtRow>,
        MapKind::Ipcache => table::<IpcacheRow>,
        MapKind::Endpoints => table::<EndpointRow>,
        MapKind::Config => table::<ConfigRow>,
        MapKind::PolPods => table::<PolicyPodRow>,
        MapKind::PolRules => table::<PolicyRuleRow>,
        MapKind::Nodeport => table::<labyrinth_contracts::bpf::NodePortRow>,
    };
    read(pin_dir)
}

fn name_of(names: &std::collections::BTreeMap<u16, String>, id: u16) -> String {
    names.get(&id).cloned().unwrap_or_default()
}

impl MapRow for ServiceRow {
    const KIND: MapKind = MapKind::Services;
    const COLUMNS: &'static [&'static str] = &[
        "SERVICE",
        "SLOT",
        "BACKEND ID",
        "COUNT",
        "REV NAT ID",
        "BACKEND",
        "NAME",
    ];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let lb = maps.read_lb()?;
        let mut rows: Vec<ServiceRow> = lb
            .services
            .iter()
            .map(|(k, v)| {
                ServiceRow::new(
                    k,
                    v,
                    lb.backends.get(&v.backend_id),
                    name_of(&lb.names, v.rev_nat_index),
                )
            })
            .collect();
        rows.sort_by_key(|r| (*r.frontend.ip(), r.frontend.port(), r.proto, r.slot));
        Ok(rows)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            format!("{}/{}", self.frontend, self.proto),
            self.slot.to_string(),
            self.backend_id.to_string(),
            self.count.to_string(),
            self.rev_nat_index.to_string(),
            self.backend.map(|b| b.to_string()).unwrap_or_default(),
            self.name.clone(),
        ]
    }
}

impl MapRow for BackendRow {
    const KIND: MapKind = MapKind::Backends;
    const COLUMNS: &'static [&'static str] = &["ID", "ADDRESS", "PROTO"];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let lb = maps.read_lb()?;
        Ok(lb
            .backends
            .iter()
            .map(|(id, b)| BackendRow::new(*id, b))
            .collect())
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.address.to_string(),
            self.proto.to_string(),
        ]
    }
}

impl MapRow for RevNatRow {
    const KIND: MapKind = MapKind::Revnat;
    const COLUMNS: &'static [&'static str] = &["ID", "FRONTEND", "PROTO", "NAME"];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let lb = maps.read_lb()?;
        Ok(lb
            .revnat
            .iter()
            .map(|(id, r)| RevNatRow::new(*id, r, name_of(&lb.names, *id)))
            .collect())
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.frontend.to_string(),
            self.proto.to_string(),
            self.name.clone(),
        ]
    }
}

impl MapRow for CtRow {
    const KIND: MapKind = MapKind::Ct;
    const COLUMNS: &'static [&'static str] = &[
        "DIR",
        "PROTO",
        "SOURCE",
        "DESTINATION",
        "BACKEND",
        "REV NAT ID",
        "FLAGS",
        "STATE",
        "IDLE S",
        "SERVICE",
    ];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let lb = maps.read_lb()?;
        let now = monotonic_ns();
        let mut entries = maps.ct_entries()?;
        entries.sort_by_key(|(k, _)| (k.dir, k.saddr, k.sport, k.daddr, k.dport));
        Ok(entries
            .iter()
            .map(|(k, v)| CtRow::new(k, v, now, name_of(&lb.names, v.rev_nat_index)))
            .collect())
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.dir.as_str().to_string(),
            self.proto.to_string(),
            self.source.to_string(),
            self.destination.to_string(),
            self.backend.to_string(),
            self.rev_nat_index.to_string(),
            [(self.hairpin, "hairpin"), (self.answered, "answered")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, name)| *name)
                .collect::<Vec<_>>()
                .join(","),
            self.state.name().to_string(),
            (self.idle_ns / 1_000_000_000).to_string(),
            self.service.clone(),
        ]
    }
}

impl MapRow for IpcacheRow {
    const KIND: MapKind = MapKind::Ipcache;
    const COLUMNS: &'static [&'static str] = &["PREFIX", "TUNNEL ENDPOINT", "IDENTITY"];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let mut rows = maps
            .ipcache_entries()?
            .iter()
            .map(|(len, addr, v)| IpcacheRow::new(*len, *addr, v).map_err(anyhow::Error::msg))
            .collect::<Result<Vec<_>>>()?;
        rows.sort_by_key(|r| (r.prefix.addr(), r.prefix.prefix_len()));
        Ok(rows)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.prefix.to_string(),
            self.tunnel_endpoint.to_string(),
            self.identity.to_string(),
        ]
    }
}

impl MapRow for EndpointRow {
    const KIND: MapKind = MapKind::Endpoints;
    const COLUMNS: &'static [&'static str] = &["ADDRESS", "IFINDEX", "POD MAC", "NODE MAC"];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let mut rows: Vec<EndpointRow> = maps
            .endpoint_entries()?
            .iter()
            .map(|(ip, v)| EndpointRow::new(*ip, v))
            .collect();
        rows.sort_by_key(|r| r.address);
        Ok(rows)
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.address.to_string(),
            self.ifindex.to_string(),
            mac(&self.pod_mac),
            mac(&self.node_mac),
        ]
    }
}

impl MapRow for ConfigRow {
    const KIND: MapKind = MapKind::Config;
    const COLUMNS: &'static [&'static str] = &[
        "TUNNEL IFINDEX",
        "VNI",
        "NODE IP",
        "HAIRPIN IP",
        "ROUTING",
        "TRACE LEVEL",
        "DELIVERY",
    ];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let c: LbyConfig = maps.config.get(&0, 0).context("reading the config map")?;
        Ok(vec![ConfigRow::new(&c)])
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.tunnel_ifindex.to_string(),
            self.vni.to_string(),
            self.node_ip.to_string(),
            self.hairpin_ip.to_string(),
            self.routing.to_string(),
            self.trace_level.to_string(),
            self.delivery.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use labyrinth_contracts::bpf::IpProto;

    fn slot(slot: u16, backend: Option<&str>) -> ServiceRow {
        ServiceRow {
            frontend: "10.96.0.50:80".parse().unwrap(),
            proto: IpProto::TCP,
            slot,
            backend_id: u32::from(slot) * 4,
            count: if slot == 0 { 1 } else { 0 },
            rev_nat_index: 5,
            backend: backend.map(|b| b.parse().unwrap()),
            name: "wrk-2/web:http".into(),
        }
    }

    /// The table people read and the JSON the tracer reads come from the
    /// same rows.
    #[test]
    fn text_and_json_of_the_same_rows() {
        let rows = [slot(0, None), slot(1, Some("10.0.1.10:8080"))];
        let t = Table::of(&rows).unwrap();
        assert_eq!(
            t.to_text(),
            "SERVICE            SLOT  BACKEND ID  COUNT  REV NAT ID  BACKEND         NAME\n\
             10.96.0.50:80/TCP  0     0           1      5                           wrk-2/web:http\n\
             10.96.0.50:80/TCP  1     4           0      5           10.0.1.10:8080  wrk-2/web:http\n"
        );
        let back: MapDump<ServiceRow> = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(
            (back.map.as_str(), back.entries.as_slice()),
            ("lby_lb4_services_v1", &rows[..])
        );
        let empty = Table::of::<ServiceRow>(&[]).unwrap();
        assert!(empty.to_text().ends_with("(lby_lb4_services_v1 is empty)\n"));
    }
}
