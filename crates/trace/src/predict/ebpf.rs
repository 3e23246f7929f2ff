//! The prediction on a node running the eBPF datapath: its maps (their
//! typed rows, read with `labyrinth bpf map get … --json` inside the node)
//! decide where a packet goes, not the node's routes or rules. A local pod
//! is reached by a redirect out of its host veth (or, with peer redirect,
//! into its eth0 past the host veth), a remote
//! one through the tunnel device with the ipcache's node in the tunnel key
//! (or, in native routing, out of the device the FIB names), and the far
//! node's from-overlay program redirects it into the pod.

use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;
use labyrinth_contracts::bpf::{ConfigRow, EndpointRow, IpProto, IpcacheRow, MapKind, ServiceRow};
use labyrinth_contracts::modes::{PodDelivery, Routing};

use crate::explain::service::bpf_map;

/// A node's eBPF maps, as their typed rows.
pub struct Maps {
    services: Vec<ServiceRow>,
    ipcache: Vec<IpcacheRow>,
    endpoints: Vec<EndpointRow>,
    config: Option<ConfigRow>,
}

impl Maps {
    /// None when the node runs no eBPF datapath (nothing pinned).
    pub fn read(lab: &str, node: &str) -> Option<Maps> {
        Some(Maps {
            services: bpf_map(lab, node, MapKind::Services)?,
            ipcache: bpf_map(lab, node, MapKind::Ipcache)?,
            endpoints: bpf_map(lab, node, MapKind::Endpoints)?,
            config: bpf_map::<ConfigRow>(lab, node, MapKind::Config)?
                .into_iter()
                .next(),
        })
    }

    /// As the program looks a Service up: the frontend slot of
    /// `vip:port/PROTO`, then its backend slots. `(text, backends)`; no
    /// backends means the program refuses the flow.
    pub fn service(&self, proto: &str, vip: Ipv4Addr, port: u16) -> Option<(String, Vec<String>)> {
        let proto: IpProto = proto.parse().ok()?;
        let (front, slots) = ServiceRow::lookup(&self.services, SocketAddrV4::new(vip, port), proto)?;
        let backends: Vec<String> = slots
            .iter()
            .map(|r| r.backend.map(|b| b.to_string()).unwrap_or_default())
            .collect();
        let n = backends.len().max(1) as f64;
        let list: Vec<String> = backends
            .iter()
            .map(|b| format!("{b} (chance {:.0}%)", 100.0 / n))
            .collect();
        let text = format!(
            "eBPF from-container: services map {}/{proto} ({}, rev NAT {}) → a random backend slot: {}",
            front.frontend,
            front.name,
            front.rev_nat_index,
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        );
        Some((text, backends))
    }

    pub fn is_local_endpoint(&self, ip: Ipv4Addr) -> bool {
        self.endpoints.iter().any(|e| e.address == ip)
    }

    /// The longest ipcache prefix holding `ip`: (prefix, its node).
    pub fn tunnel_endpoint(&self, ip: Ipv4Addr) -> Option<(Ipv4Net, Ipv4Addr)> {
        self.ipcache
            .iter()
            .filter(|e| e.prefix.contains(&ip))
            .max_by_key(|e| e.prefix.prefix_len())
            .map(|e| (e.prefix, e.tunnel_endpoint))
    }

    pub fn vni(&self) -> String {
        self.config
            .as_ref()
            .map(|c| c.vni.to_string())
            .unwrap_or_default()
    }

    pub fn native_routing(&self) -> bool {
        self.config.as_ref().is_some_and(|c| c.routing == Routing::Native)
    }

    /// How the programs enter a local pod (the host veth when unknown).
    pub fn delivery(&self) -> PodDelivery {
        self.config.as_ref().map(|c| c.delivery).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(front: &str, slot: u16, count: u16, rev: u16, backend: Option<&str>, name: &str) -> ServiceRow {
        ServiceRow {
            frontend: front.parse().unwrap(),
            proto: IpProto::TCP,
            slot,
            backend_id: u32::from(slot),
            count,
            rev_nat_index: rev,
            backend: backend.map(|b| b.parse().unwrap()),
            name: name.into(),
        }
    }

    fn maps() -> Maps {
        let web = |slot, backend| {
            svc(
                "10.96.0.12:9999",
                slot,
                if slot == 0 { 2 } else { 0 },
                4,
                backend,
                "wrk-2/web:tcp",
            )
        };
        let ipcache = |prefix: &str, node: &str| IpcacheRow {
            prefix: prefix.parse().unwrap(),
            tunnel_endpoint: node.parse().unwrap(),
            identity: 0,
        };
        Maps {
            services: vec![
                web(0, None),
                web(1, Some("10.0.2.5:9999")),
                web(2, Some("10.0.1.7:9999")),
                svc("10.96.0.13:80", 0, 0, 5, None, "wrk-2/empty"),
            ],
            ipcache: vec![
                ipcache("10.0.0.0/16", "10.168.0.9"),
                ipcache("10.0.2.0/24", "10.168.0.4"),
            ],
            endpoints: vec![EndpointRow {
                address: "10.0.1.7".parse().unwrap(),
                ifindex: 12,
                pod_mac: [0; 6],
                node_mac: [0; 6],
            }],
            config: Some(ConfigRow {
                tunnel_ifindex: 3,
                vni: 1,
                node_ip: "10.168.0.3".parse().unwrap(),
                hairpin_ip: "169.254.42.1".parse().unwrap(),
                routing: Routing::Tunnel,
                trace_level: 0,
                delivery: PodDelivery::HostVeth,
            }),
        }
    }

    #[test]
    fn finds_the_frontend_and_its_backends() {
        let (text, be) = maps()
            .service("tcp", "10.96.0.12".parse().unwrap(), 9999)
            .unwrap();
        assert_eq!(be, ["10.0.2.5:9999", "10.0.1.7:9999"]);
        assert!(
            text.contains("services map 10.96.0.12:9999/TCP (wrk-2/web:tcp, rev NAT 4)"),
            "{text}"
        );
        assert!(text.contains("10.0.2.5:9999 (chance 50%)"), "{text}");
        let (_, none) = maps().service("tcp", "10.96.0.13".parse().unwrap(), 80).unwrap();
        assert!(none.is_empty());
        assert!(maps()
            .service("udp", "10.96.0.12".parse().unwrap(), 9999)
            .is_none());
    }

    #[test]
    fn ipcache_takes_the_longest_prefix_and_endpoints_are_local() {
        let m = maps();
        let (net, node) = m.tunnel_endpoint("10.0.2.5".parse().unwrap()).unwrap();
        assert_eq!(
            (net.to_string(), node.to_string()),
            ("10.0.2.0/24".into(), "10.168.0.4".into())
        );
        assert!(m.tunnel_endpoint("10.1.0.1".parse().unwrap()).is_none());
        assert!(m.is_local_endpoint("10.0.1.7".parse().unwrap()));
        assert!(!m.is_local_endpoint("10.0.2.5".parse().unwrap()));
        assert_eq!((m.vni().as_str(), m.native_routing()), ("1", false));
    }
}
