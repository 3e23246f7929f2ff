//! Labyrinth's nftables table, read back from `nft list table ip labyrinth`:
//! the `service-ips` verdict map element for ClusterIP . proto . port, the
//! Service's chain it jumps to, and the rule whose `dnat` chose the backend.

use anyhow::{bail, Result};

use super::translation::Translation;

/// The chains of the listing with their rule lines.
fn chains(ruleset: &str) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut current: Option<usize> = None;
    for line in ruleset.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("chain ").and_then(|l| l.strip_suffix(" {")) {
            out.push((name, Vec::new()));
            current = Some(out.len() - 1);
        } else if line == "}" {
            current = None;
        } else if let Some(i) = current {
            if !line.is_empty() {
                out[i].1.push(line);
            }
        }
    }
    out
}

/// Every map element of the listing, as `key : value` text.
fn elements(ruleset: &str) -> impl Iterator<Item = &str> {
    ruleset
        .split([',', '{', '}', '\n'])
        .map(str::trim)
        .filter(|e| e.contains(" : "))
}

/// The `service-ips` element for `vip . proto . port`, and the
/// `service-endpoints` elements `vip . proto . port . i : ip . port` that
/// `numgen random mod n` picks from (with equal chance).
fn lookup<'a>(
    ruleset: &'a str,
    proto: &str,
    vip: std::net::Ipv4Addr,
    port: u16,
) -> Option<(&'a str, Vec<&'a str>)> {
    let key = format!("{vip} . {proto} . {port}");
    let element = elements(ruleset).find(|e| e.starts_with(&format!("{key} : ")))?;
    let slots = elements(ruleset)
        .filter(|e| e.starts_with(&format!("{key} . ")))
        .collect();
    Some((element, slots))
}

/// The backends (`ip:port`) a Service's endpoint slots hold.
pub fn endpoints(
    ruleset: &str,
    proto: &str,
    vip: std::net::Ipv4Addr,
    port: u16,
) -> Option<(String, Vec<String>)> {
    let (element, slots) = lookup(ruleset, proto, vip, port)?;
    let backends = slots
        .iter()
        .filter_map(|e| {
            let (ip, p) = e.split(" : ").nth(1)?.split_once(" . ")?;
            Some(format!("{}:{}", ip.trim(), p.trim()))
        })
        .collect();
    Some((element.to_string(), backends))
}

/// In words, the traffic policy of the NodePort or LoadBalancer chain a
/// `service-ips` element (`key : goto CHAIN`) jumps to; None for a
/// ClusterIP's chain.
pub fn element_policy(ruleset: &str, element: &str) -> Option<String> {
    let chain = element.rsplit(' ').next()?;
    let all = chains(ruleset);
    let (_, rules) = all.iter().find(|(name, _)| *name == chain)?;
    super::external::nft_policy(chain, rules)
}

pub fn explain(t: &Translation, ruleset: &str) -> Result<String> {
    let Some((element, slots)) = lookup(ruleset, t.proto, t.vip, t.vport) else {
        bail!(
            "no element {} . {} . {} in the service-ips map",
            t.vip,
            t.proto,
            t.vport
        );
    };
    let service_chain = element.rsplit(' ').next().unwrap_or("");
    let target = format!(": {} . {}", t.backend, t.bport);
    let Some(slot) = slots.iter().find(|e| e.ends_with(&target)) else {
        bail!(
            "no service-endpoints element for {}:{} in table ip labyrinth",
            t.backend,
            t.bport
        );
    };
    let all = chains(ruleset);
    let rules = all
        .iter()
        .find(|(name, _)| *name == service_chain)
        .map(|(_, rules)| rules.as_slice())
        .unwrap_or_default();
    let pick = rules
        .iter()
        .find(|r| r.starts_with("goto "))
        .copied()
        .unwrap_or_default();
    let policy = super::external::nft_policy(service_chain, rules)
        .map(|p| format!("; {p}"))
        .unwrap_or_default();
    Ok(format!(
        "{node}: nftables table ip labyrinth, chain nat-prerouting → services: map service-ips element `{element}`; chain {service_chain} `{pick}`: numgen picked 1 of {n}, map service-endpoints element `{slot}`; {rewrite}{policy}",
        node = t.node,
        n = slots.len(),
        rewrite = t.rewrite(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULESET: &str = "table ip labyrinth {\n\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n\
        \t\telements = { 10.96.0.10 . udp . 53 : goto service-TCOU7JCQ-kube-system/kube-dns/udp/dns,\n\
        \t\t\t     10.96.0.12 . tcp . 9999 : goto service-IWPXKGE4-wrk-2/web/tcp/tcp-9999 }\n\t}\n\
        \tmap service-endpoints {\n\t\telements = { 10.96.0.12 . tcp . 9999 . 0 : 10.0.2.2 . 9999,\n\
        \t\t\t     10.96.0.12 . tcp . 9999 . 1 : 10.0.2.3 . 9999 }\n\t}\n\
        \tchain service-IWPXKGE4-wrk-2/web/tcp/tcp-9999 {\n\t\tip saddr != 10.0.0.0/16 jump mark-for-masquerade\n\t\tgoto dnat-1-of-2\n\t}\n\
        \tchain dnat-1-of-2 {\n\t\tdnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @service-endpoints\n\t}\n}\n";

    #[test]
    fn names_the_map_elements_that_chose_the_backend() {
        let t = Translation::example("10.0.2.3");
        let text = explain(&t, RULESET).unwrap();
        assert!(
            text.contains("`10.96.0.12 . tcp . 9999 : goto service-IWPXKGE4-wrk-2/web/tcp/tcp-9999`"),
            "{text}"
        );
        assert!(
            text.contains("`goto dnat-1-of-2`: numgen picked 1 of 2"),
            "{text}"
        );
        assert!(
            text.contains("`10.96.0.12 . tcp . 9999 . 1 : 10.0.2.3 . 9999`"),
            "{text}"
        );
        let (_, backends) = endpoints(RULESET, "tcp", "10.96.0.12".parse().unwrap(), 9999).unwrap();
        assert_eq!(backends, vec!["10.0.2.2:9999", "10.0.2.3:9999"]);
        let other = Translation { vport: 80, ..t };
        assert!(explain(&other, RULESET).is_err());
        assert!(
            !text.contains("externalTrafficPolicy"),
            "a ClusterIP has no external policy: {text}"
        );
    }

    /// A NodePort is an element keyed by the node's address; its chain
    /// `external-…` masquerades (Cluster) or not (Local).
    #[test]
    fn a_node_port_names_its_external_chain_and_policy() {
        let ruleset = |masq: &str| {
            format!(
                "table ip labyrinth {{\n\tmap service-ips {{\n\t\telements = {{ 10.168.0.4 . tcp . 30080 : goto external-QOCG5YNH-default/np/tcp/ }}\n\t}}\n\
                 \tmap service-endpoints {{\n\t\telements = {{ 10.168.0.4 . tcp . 30080 . 0 : 10.0.2.5 . 8080 }}\n\t}}\n\
                 \tchain external-QOCG5YNH-default/np/tcp/ {{\n{masq}\t\tgoto dnat-1-of-1\n\t}}\n}}\n"
            )
        };
        let t = Translation {
            vip: "10.168.0.4".parse().unwrap(),
            vport: 30080,
            bport: 8080,
            ..Translation::example("10.0.2.5")
        };
        let text = explain(&t, &ruleset("\t\tjump mark-for-masquerade\n")).unwrap();
        assert!(
            text.contains("`10.168.0.4 . tcp . 30080 : goto external-QOCG5YNH-default/np/tcp/`"),
            "{text}"
        );
        assert!(
            text.contains("`10.168.0.4 . tcp . 30080 . 0 : 10.0.2.5 . 8080`"),
            "{text}"
        );
        assert!(
            text.contains("starts with `jump mark-for-masquerade`: externalTrafficPolicy Cluster"),
            "{text}"
        );
        let text = explain(&t, &ruleset("")).unwrap();
        assert!(
            text.contains("no masquerade: externalTrafficPolicy Local"),
            "{text}"
        );
    }
}
