//! The service model compiled into one nftables table owned by Labyrinth:
//! verdict maps keyed on `ip daddr . meta l4proto . th dport`, per-service
//! chains balancing with `numgen random`, per-endpoint chains doing the DNAT.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::hash::{nft_endpoint_chain, nft_service_chain};
use crate::model::{ServiceModel, ServicePort, ServicePortName};

pub const TABLE: &str = "labyrinth";
pub const FAMILY: &str = "ip";
pub const SERVICE_IPS: &str = "service-ips";
pub const NO_ENDPOINTS: &str = "no-endpoint-services";
pub const REJECT_CHAIN: &str = "reject-chain";
pub const MARK_MASQ: &str = "mark-for-masquerade";

/// What one service port owns in the table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceObjects {
    /// Its element in `service-ips` or `no-endpoint-services`: (map, "key : verdict").
    pub element: Option<(&'static str, String)>,
    /// Its endpoint map (`numgen` index → endpoint chain) and the map's
    /// elements, "index : goto endpoint-chain".
    pub endpoint_map: Option<String>,
    pub endpoints: Vec<String>,
    /// Its chains (service chain first) with their rules.
    pub chains: Vec<(String, Vec<String>)>,
}

/// The key part of "key : verdict".
pub fn element_key(el: &str) -> &str {
    el.split(" : ").next().unwrap_or(el)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    pub services: BTreeMap<ServicePortName, ServiceObjects>,
}

pub fn compile_service(sp: &ServicePort, model: &ServiceModel) -> ServiceObjects {
    let proto = sp.protocol().as_str();
    let key = format!("{} . {proto} . {}", sp.cluster_ip, sp.port);
    let eps = sp.ready_endpoints();
    if eps.is_empty() {
        return ServiceObjects {
            element: Some((NO_ENDPOINTS, format!("{key} : goto {REJECT_CHAIN}"))),
            endpoint_map: None,
            endpoints: vec![],
            chains: vec![],
        };
    }
    let svc = nft_service_chain(&sp.name);
    let mut rules = Vec::new();
    if let Some(cidr) = model.cluster_cidr {
        rules.push(format!("ip saddr != {cidr} jump {MARK_MASQ}"));
    }
    let mut chains = Vec::new();
    let mut endpoints = Vec::new();
    for (i, ep) in eps.iter().enumerate() {
        let chain = nft_endpoint_chain(&sp.name, ep);
        endpoints.push(format!("{i} : goto {chain}"));
        chains.push((
            chain,
            vec![
                format!("ip saddr {} jump {MARK_MASQ}", ep.ip),
                format!("meta l4proto {proto} dnat to {}", ep.addr()),
            ],
        ));
    }
    // A named map per service, not an anonymous `vmap { … }`: binding
    // thousands of anonymous sets in one transaction is quadratic in the
    // kernel (each bind walks the whole transaction list), and one global
    // map would be walked whole for every service chain when validating.
    let map = endpoint_map_name(&sp.name);
    rules.push(format!("numgen random mod {} vmap @{map}", eps.len()));
    chains.insert(0, (svc.clone(), rules));
    ServiceObjects {
        element: Some((SERVICE_IPS, format!("{key} : goto {svc}"))),
        endpoint_map: Some(map),
        endpoints,
        chains,
    }
}

/// `endpoints-<hash16>`, the service port's numgen → endpoint map.
pub fn endpoint_map_name(name: &ServicePortName) -> String {
    format!("endpoints-{}", crate::hash::port_proto_hash(name))
}

pub fn compile(model: &ServiceModel) -> Compiled {
    Compiled {
        services: model
            .services
            .iter()
            .map(|(n, sp)| (n.clone(), compile_service(sp, model)))
            .collect(),
    }
}

/// The fixed skeleton: maps, hooks, masquerade and reject chains.
pub fn skeleton() -> Vec<(String, Vec<String>)> {
    let dispatch = |map: &str| format!("ip daddr . meta l4proto . th dport vmap @{map}");
    let c = |name: &str, rules: &[&str]| (name.to_string(), rules.iter().map(|r| r.to_string()).collect());
    vec![
        c(
            "nat-prerouting",
            &[
                "type nat hook prerouting priority dstnat; policy accept;",
                "jump services",
            ],
        ),
        c(
            "nat-output",
            &[
                "type nat hook output priority -100; policy accept;",
                "jump services",
            ],
        ),
        c(
            "nat-postrouting",
            &[
                "type nat hook postrouting priority srcnat; policy accept;",
                "jump masquerading",
            ],
        ),
        c(
            "filter-forward",
            &[
                "type filter hook forward priority -110; policy accept;",
                "ct state new jump service-endpoints-check",
            ],
        ),
        c(
            "filter-output",
            &[
                "type filter hook output priority -110; policy accept;",
                "ct state new jump service-endpoints-check",
            ],
        ),
        ("services".into(), vec![dispatch(SERVICE_IPS)]),
        ("service-endpoints-check".into(), vec![dispatch(NO_ENDPOINTS)]),
        c(REJECT_CHAIN, &["reject"]),
        c(MARK_MASQ, &["meta mark set meta mark | 0x4000"]),
        c(
            "masquerading",
            &[
                "meta mark & 0x4000 == 0 return",
                "meta mark set meta mark ^ 0x4000",
                "masquerade fully-random",
            ],
        ),
    ]
}

fn endpoint_map_decl(name: &str) -> String {
    format!("add map {FAMILY} {TABLE} {name} {{ typeof numgen random mod 1 : verdict ; }}\n")
}

fn map_decl(name: &str) -> String {
    format!("add map {FAMILY} {TABLE} {name} {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}\n")
}

fn add_chain(out: &mut String, name: &str, rules: &[String]) {
    // The hook spec of a base chain goes in the chain declaration.
    let (hook, rules) = match rules.first() {
        Some(h) if h.starts_with("type ") => (format!(" {{ {h} }}"), &rules[1..]),
        _ => (String::new(), rules),
    };
    let _ = writeln!(out, "add chain {FAMILY} {TABLE} {name}{hook}");
    for r in rules {
        let _ = writeln!(out, "add rule {FAMILY} {TABLE} {name} {r}");
    }
}

/// One `nft -f` transaction that recreates the whole table (the table is
/// added then deleted first so the script works whether it exists or not).
pub fn render_full(c: &Compiled) -> String {
    let mut out =
        format!("add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\nadd table {FAMILY} {TABLE}\n");
    out.push_str(&map_decl(SERVICE_IPS));
    out.push_str(&map_decl(NO_ENDPOINTS));
    let sk = skeleton();
    // Chains referenced by others must exist first: declare all, then fill.
    for (name, rules) in sk
        .iter()
        .filter(|(_, r)| !r.first().is_some_and(|h| h.starts_with("type ")))
    {
        add_chain(&mut out, name, rules);
    }
    let mut elements: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in c.services.values() {
        for (name, _) in s.chains.iter().skip(1) {
            let _ = writeln!(out, "add chain {FAMILY} {TABLE} {name}");
        }
        if let Some(map) = &s.endpoint_map {
            out.push_str(&endpoint_map_decl(map));
            let _ = writeln!(
                out,
                "add element {FAMILY} {TABLE} {map} {{ {} }}",
                s.endpoints.join(", ")
            );
        }
        for (i, (name, rules)) in s.chains.iter().enumerate() {
            if i == 0 {
                add_chain(&mut out, name, rules);
            } else {
                for r in rules {
                    let _ = writeln!(out, "add rule {FAMILY} {TABLE} {name} {r}");
                }
            }
        }
        if let Some((map, el)) = &s.element {
            elements.entry(map).or_default().push(el);
        }
    }
    for (map, els) in elements {
        for chunk in els.chunks(4096) {
            let _ = writeln!(
                out,
                "add element {FAMILY} {TABLE} {map} {{ {} }}",
                chunk.join(", ")
            );
        }
    }
    // Hooks last, so no packet sees a half-filled table (it is one
    // transaction anyway, but this keeps the listing readable).
    for (name, rules) in sk
        .iter()
        .filter(|(_, r)| r.first().is_some_and(|h| h.starts_with("type ")))
    {
        add_chain(&mut out, name, rules);
    }
    out
}

/// One transaction touching only the `changed` service ports: their map
/// elements and their chains.
pub fn render_partial(old: &Compiled, new: &Compiled, changed: &BTreeSet<ServicePortName>) -> String {
    let empty = ServiceObjects::default();
    let mut del_elements = String::new();
    let mut adds = String::new();
    let mut deletes = String::new();
    for name in changed {
        let o = old.services.get(name).unwrap_or(&empty);
        let n = new.services.get(name).unwrap_or(&empty);
        if o.element != n.element {
            if let Some((map, el)) = &o.element {
                let _ = writeln!(
                    del_elements,
                    "delete element {FAMILY} {TABLE} {map} {{ {} }}",
                    element_key(el)
                );
            }
        }

        let new_names: BTreeSet<&str> = n.chains.iter().map(|(c, _)| c.as_str()).collect();
        for (i, (chain, rules)) in n.chains.iter().enumerate() {
            let before = o.chains.iter().find(|(c, _)| c == chain);
            if i > 0 && before.is_some_and(|(_, r)| r == rules) {
                continue; // an endpoint chain depends only on its endpoint
            }
            let _ = writeln!(adds, "add chain {FAMILY} {TABLE} {chain}");
            if before.is_some() {
                let _ = writeln!(adds, "flush chain {FAMILY} {TABLE} {chain}");
            }
        }
        if let Some(map) = &n.endpoint_map {
            if o.endpoint_map.is_none() {
                adds.push_str(&endpoint_map_decl(map));
            } else if o.endpoints != n.endpoints {
                let _ = writeln!(adds, "flush map {FAMILY} {TABLE} {map}");
            }
            if o.endpoints != n.endpoints || o.endpoint_map.is_none() {
                let _ = writeln!(
                    adds,
                    "add element {FAMILY} {TABLE} {map} {{ {} }}",
                    n.endpoints.join(", ")
                );
            }
        }
        if let (Some(map), None) = (&o.endpoint_map, &n.endpoint_map) {
            let _ = writeln!(deletes, "delete map {FAMILY} {TABLE} {map}");
        }
        for (chain, rules) in n.chains.iter().rev() {
            let before = o.chains.iter().find(|(c, _)| c == chain);
            if chain != &n.chains[0].0 && before.is_some_and(|(_, r)| r == rules) {
                continue;
            }
            for r in rules {
                let _ = writeln!(adds, "add rule {FAMILY} {TABLE} {chain} {r}");
            }
        }
        if o.element != n.element {
            if let Some((map, el)) = &n.element {
                let _ = writeln!(adds, "add element {FAMILY} {TABLE} {map} {{ {el} }}");
            }
        }
        let stale: Vec<&str> = o
            .chains
            .iter()
            .map(|(c, _)| c.as_str())
            .filter(|c| !new_names.contains(c))
            .collect();
        for c in &stale {
            let _ = writeln!(del_elements, "flush chain {FAMILY} {TABLE} {c}");
        }
        for c in &stale {
            let _ = writeln!(deletes, "delete chain {FAMILY} {TABLE} {c}");
        }
    }
    format!("{del_elements}{adds}{deletes}")
}
