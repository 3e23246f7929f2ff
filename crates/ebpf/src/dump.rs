//! Map contents as tables for `labyrinth bpf map get <map>` (like
//! `cilium map get`): readable columns, or JSON objects with the same keys.

use std::net::SocketAddrV4;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::abi::*;
use crate::maps::Maps;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MapKind {
    Services,
    Backends,
    Revnat,
    Ct,
    Ipcache,
    Endpoints,
    Config,
}

impl MapKind {
    pub fn map_name(self) -> &'static str {
        match self {
            MapKind::Services => SERVICES_MAP,
            MapKind::Backends => BACKENDS_MAP,
            MapKind::Revnat => REVNAT_MAP,
            MapKind::Ct => CT_MAP,
            MapKind::Ipcache => IPCACHE_MAP,
            MapKind::Endpoints => ENDPOINTS_MAP,
            MapKind::Config => CONFIG_MAP,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Table {
    pub map: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
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
        let mut out = line(self.columns.clone());
        for r in &self.rows {
            out += &line(r.iter().map(String::as_str).collect());
        }
        if self.rows.is_empty() {
            out += &format!("({} is empty)\n", self.map);
        }
        out
    }

    /// One JSON object per row, keyed by lower-case column names.
    pub fn to_json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                let obj: serde_json::Map<String, serde_json::Value> = self
                    .columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| (c.to_lowercase().replace(' ', "_"), v.clone().into()))
                    .collect();
                obj.into()
            })
            .collect();
        serde_json::json!({ "map": self.map, "entries": rows })
    }
}

pub fn proto_name(p: u8) -> String {
    match p {
        PROTO_TCP => "TCP".into(),
        PROTO_UDP => "UDP".into(),
        1 => "ICMP".into(),
        n => n.to_string(),
    }
}

pub fn sock(addr: u32, port_be: u16) -> SocketAddrV4 {
    SocketAddrV4::new(addr_of(addr), u16::from_be(port_be))
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

/// Read one map under `pin_dir` as a table.
pub fn dump(pin_dir: &Path, kind: MapKind) -> Result<Table> {
    let maps = Maps::open(pin_dir)?;
    let lb = maps.read_lb()?;
    let name_of = |id: u16| lb.names.get(&id).cloned().unwrap_or_default();
    let (columns, rows): (Vec<&'static str>, Vec<Vec<String>>) = match kind {
        MapKind::Services => (
            vec![
                "SERVICE",
                "SLOT",
                "BACKEND ID",
                "COUNT",
                "REV NAT ID",
                "BACKEND",
                "NAME",
            ],
            {
                let mut rows: Vec<_> = lb.services.iter().collect();
                rows.sort_by_key(|(k, _)| (addr_of(k.address), u16::from_be(k.dport), k.proto, k.slot));
                rows
            }
            .into_iter()
            .map(|(k, v)| {
                let be = lb.backends.get(&v.backend_id).filter(|_| k.slot > 0);
                vec![
                    format!("{}/{}", sock(k.address, k.dport), proto_name(k.proto)),
                    k.slot.to_string(),
                    v.backend_id.to_string(),
                    v.count.to_string(),
                    v.rev_nat_index.to_string(),
                    be.map(|b| sock(b.address, b.port).to_string())
                        .unwrap_or_default(),
                    name_of(v.rev_nat_index),
                ]
            })
            .collect(),
        ),
        MapKind::Backends => (
            vec!["ID", "ADDRESS", "PROTO"],
            lb.backends
                .iter()
                .map(|(id, b)| {
                    vec![
                        id.to_string(),
                        sock(b.address, b.port).to_string(),
                        proto_name(b.proto),
                    ]
                })
                .collect(),
        ),
        MapKind::Revnat => (
            vec!["ID", "FRONTEND", "PROTO", "NAME"],
            lb.revnat
                .iter()
                .map(|(id, r)| {
                    vec![
                        id.to_string(),
                        sock(r.address, r.port).to_string(),
                        proto_name(r.proto),
                        name_of(*id),
                    ]
                })
                .collect(),
        ),
        MapKind::Ct => {
            let now = monotonic_ns();
            let mut entries = maps.ct_entries()?;
            entries.sort_by_key(|(k, _)| (k.dir, k.saddr, k.sport, k.daddr, k.dport));
            (
                vec![
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
                ],
                entries
                    .iter()
                    .map(|(k, v)| {
                        vec![
                            if k.dir == CT_DIR_SERVICE {
                                "service"
                            } else {
                                "reply"
                            }
                            .to_string(),
                            proto_name(k.proto),
                            sock(k.saddr, k.sport).to_string(),
                            sock(k.daddr, k.dport).to_string(),
                            sock(v.backend_addr, v.backend_port).to_string(),
                            v.rev_nat_index.to_string(),
                            if v.flags & CT_F_HAIRPIN != 0 {
                                "hairpin"
                            } else {
                                ""
                            }
                            .to_string(),
                            crate::ct_gc::FlowState::of(k.proto, v.tcp_seen)
                                .name()
                                .to_string(),
                            (now.saturating_sub(v.last_seen_ns) / 1_000_000_000).to_string(),
                            name_of(v.rev_nat_index),
                        ]
                    })
                    .collect(),
            )
        }
        MapKind::Ipcache => {
            let mut e = maps.ipcache_entries()?;
            e.sort_by_key(|(len, addr, _)| (addr_of(*addr), *len));
            (
                vec!["PREFIX", "TUNNEL ENDPOINT", "IDENTITY"],
                e.iter()
                    .map(|(len, addr, v)| {
                        vec![
                            format!("{}/{len}", addr_of(*addr)),
                            addr_of(v.tunnel_endpoint).to_string(),
                            v.identity.to_string(),
                        ]
                    })
                    .collect(),
            )
        }
        MapKind::Endpoints => {
            let mut e: Vec<_> = maps.endpoint_entries()?.into_iter().collect();
            e.sort_by_key(|(ip, _)| addr_of(*ip));
            (
                vec!["ADDRESS", "IFINDEX", "POD MAC", "NODE MAC"],
                e.iter()
                    .map(|(ip, v)| {
                        vec![
                            addr_of(*ip).to_string(),
                            v.ifindex.to_string(),
                            mac(&v.pod_mac),
                            mac(&v.node_mac),
                        ]
                    })
                    .collect(),
            )
        }
        MapKind::Config => {
            let c = maps.config.get(&0, 0)?;
            (
                vec![
                    "TUNNEL IFINDEX",
                    "VNI",
                    "NODE IP",
                    "HAIRPIN IP",
                    "ROUTING",
                    "TRACE LEVEL",
                ],
                vec![vec![
                    c.tunnel_ifindex.to_string(),
                    c.vni.to_string(),
                    addr_of(c.node_ip).to_string(),
                    addr_of(c.hairpin_ip).to_string(),
                    if c.routing == ROUTING_NATIVE {
                        "native"
                    } else {
                        "tunnel"
                    }
                    .to_string(),
                    c.trace_level.to_string(),
                ]],
            )
        }
    };
    Ok(Table {
        map: kind.map_name(),
        columns,
        rows,
    })
}
