//! The prediction on a node running the eBPF datapath: its maps (read with
//! `labyrinth bpf map get … --json` inside the node) decide where a packet
//! goes, not the node's routes or rules. A local pod is reached by a
//! redirect into its eth0 (past its host veth), a remote one through the
//! tunnel device with the ipcache's node in the tunnel key (or, in native
//! routing, out of the device the FIB names), and the far node's
//! from-overlay program redirects it into the pod.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::explain::service::in_node;

/// A node's eBPF maps, as JSON dumps.
pub struct Maps {
    services: Value,
    ipcache: Value,
    endpoints: Value,
    config: Value,
}

fn entries(v: &Value) -> impl Iterator<Item = &Value> {
    v["entries"].as_array().into_iter().flatten()
}

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or_default()
}

impl Maps {
    /// None when the node runs no eBPF datapath (nothing pinned).
    pub fn read(lab: &str, node: &str) -> Option<Maps> {
        let exe = std::env::current_exe().ok()?;
        let exe = exe.to_string_lossy();
        let get = |map: &str| -> Option<Value> {
            let out = in_node(lab, node, &[&exe, "bpf", "map", "get", map, "--json"]).ok()?;
            serde_json::from_str(&out).ok()
        };
        Some(Maps {
            services: get("services")?,
            ipcache: get("ipcache")?,
            endpoints: get("endpoints")?,
            config: get("config")?,
        })
    }

    #[cfg(test)]
    pub fn from_json(services: Value, ipcache: Value, endpoints: Value, config: Value) -> Maps {
        Maps {
            services,
            ipcache,
            endpoints,
            config,
        }
    }

    /// As the program looks a Service up: the frontend slot of
    /// `vip:port/PROTO`, then its backend slots. `(text, backends)`; no
    /// backends means the program refuses the flow.
    pub fn service(&self, proto: &str, vip: Ipv4Addr, port: u16) -> Option<(String, Vec<String>)> {
        let key = format!("{vip}:{port}/{}", proto.to_uppercase());
        let of: Vec<&Value> = entries(&self.services)
            .filter(|e| field(e, "service") == key)
            .collect();
        let front = of.iter().find(|e| field(e, "slot") == "0")?;
        let backends: Vec<String> = of
            .iter()
            .filter(|e| field(e, "slot") != "0")
            .map(|e| field(e, "backend").to_string())
            .collect();
        let n = backends.len().max(1) as f64;
        let list: Vec<String> = backends
            .iter()
            .map(|b| format!("{b} (chance {:.0}%)", 100.0 / n))
            .collect();
        let text = format!(
            "eBPF from-container: services map {key} ({}, rev NAT {}) → a random backend slot: {}",
            field(front, "name"),
            field(front, "rev_nat_id"),
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        );
        Some((text, backends))
    }

    pub fn is_local_endpoint(&self, ip: Ipv4Addr) -> bool {
        entries(&self.endpoints).any(|e| field(e, "address") == ip.to_string())
    }

    /// The longest ipcache prefix holding `ip`: (prefix, its node).
    pub fn tunnel_endpoint(&self, ip: Ipv4Addr) -> Option<(Ipv4Net, String)> {
        entries(&self.ipcache)
            .filter_map(|e| {
                let net: Ipv4Net = field(e, "prefix").parse().ok()?;
                net.contains(&ip)
                    .then(|| (net, field(e, "tunnel_endpoint").to_string()))
            })
            .max_by_key(|(net, _)| net.prefix_len())
    }

    fn config(&self, key: &str) -> String {
        entries(&self.config)
            .next()
            .map(|e| field(e, key).to_string())
            .unwrap_or_default()
    }

    pub fn vni(&self) -> String {
        self.config("vni")
    }

    pub fn native_routing(&self) -> bool {
        self.config("routing") == "native"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn maps() -> Maps {
        let svc = |slot: &str, backend: &str| {
            json!({"service": "10.96.0.12:9999/TCP", "slot": slot, "backend_id": "1", "count": "2",
                   "rev_nat_id": "4", "backend": backend, "name": "wrk-2/web:tcp"})
        };
        Maps::from_json(
            json!({"entries": [svc("0", ""), svc("1", "10.0.2.5:9999"), svc("2", "10.0.1.7:9999"),
                   {"service": "10.96.0.13:80/TCP", "slot": "0", "count": "0", "rev_nat_id": "5",
                    "backend": "", "name": "wrk-2/empty"}]}),
            json!({"entries": [{"prefix": "10.0.0.0/16", "tunnel_endpoint": "10.168.0.9"},
                               {"prefix": "10.0.2.0/24", "tunnel_endpoint": "10.168.0.4"}]}),
            json!({"entries": [{"address": "10.0.1.7", "ifindex": "12"}]}),
            json!({"entries": [{"vni": "1", "routing": "tunnel"}]}),
        )
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
            (net.to_string(), node.as_str()),
            ("10.0.2.0/24".into(), "10.168.0.4")
        );
        assert!(m.tunnel_endpoint("10.1.0.1".parse().unwrap()).is_none());
        assert!(m.is_local_endpoint("10.0.1.7".parse().unwrap()));
        assert!(!m.is_local_endpoint("10.0.2.5".parse().unwrap()));
        assert_eq!((m.vni().as_str(), m.native_routing()), ("1", false));
    }
}
