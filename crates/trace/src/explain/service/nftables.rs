//! Labyrinth's nftables table, read back from `nft list table ip labyrinth`:
//! the `service-ips` verdict map element for ClusterIP . proto . port, the
//! Service's chain it jumps to, and the rule whose `dnat` chose the backend.

use anyhow::{bail, Result};

use super::Translation;

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

/// The `service-ips` element for `vip . proto . port` and the backends the
/// Service's chains can DNAT to (numgen picks them with equal chance).
pub fn endpoints(
    ruleset: &str,
    proto: &str,
    vip: std::net::Ipv4Addr,
    port: u16,
) -> Option<(String, Vec<String>)> {
    let key = format!("{vip} . {proto} . {port}");
    let element = ruleset
        .split([',', '{', '}', '\n'])
        .map(str::trim)
        .find(|e| e.starts_with(&key) && e.contains(" : "))?;
    let chain = element.rsplit(' ').next()?;
    // `service-<hash>-<ns>/<svc>/<proto>/<port>`: endpoint chains carry the
    // same Service port name.
    let port_name = chain.splitn(3, '-').nth(2).unwrap_or(chain);
    let mut backends = Vec::new();
    for (name, rules) in chains(ruleset) {
        if !name.contains(port_name) {
            continue;
        }
        for r in rules {
            if let Some(to) = r.split(" to ").nth(1).filter(|_| r.contains("dnat")) {
                let to = to.split_whitespace().next().unwrap_or(to).to_string();
                if !backends.contains(&to) {
                    backends.push(to);
                }
            }
        }
    }
    Some((element.to_string(), backends))
}

pub fn explain(t: &Translation, ruleset: &str) -> Result<String> {
    let key = format!("{} . {} . {}", t.vip, t.proto, t.vport);
    let Some(element) = ruleset
        .split([',', '{', '}', '\n'])
        .map(str::trim)
        .find(|e| e.starts_with(&key) && e.contains(" : "))
    else {
        bail!("no element {key} in the service-ips map");
    };
    let service_chain = element.rsplit(' ').next().unwrap_or("");
    let dnat = format!("{}:{}", t.backend, t.bport);
    let dnat_dot = format!("{} . {}", t.backend, t.bport);
    let all = chains(ruleset);
    let rule = all.iter().find_map(|(chain, rules)| {
        rules
            .iter()
            .find(|r| r.contains("dnat") && (r.contains(&dnat) || r.contains(&dnat_dot)))
            .map(|r| (*chain, *r))
    });
    let Some((chain, rule)) = rule else {
        bail!("no dnat to {dnat} in table ip labyrinth");
    };
    Ok(format!(
        "{node}: nftables table ip labyrinth, chain nat-prerouting → services: map service-ips element `{element}`; chain {service_chain} chose the endpoint; chain {chain} `{rule}` {rewrite}",
        node = t.node,
        rewrite = t.rewrite(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_map_element_and_the_dnat_rule() {
        let ruleset = "table ip labyrinth {\n\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n\
            \t\telements = { 10.96.0.10 . udp . 53 : goto service-TCOU7JCQ-kube-system/kube-dns/udp/dns,\n\
            \t\t\t     10.96.0.12 . tcp . 9999 : goto service-IWPXKGE4-wrk-2/web/tcp/tcp-9999 }\n\t}\n\
            \tchain service-IWPXKGE4-wrk-2/web/tcp/tcp-9999 {\n\t\tnumgen random mod 1 vmap @endpoints-IWPXKGE4\n\t}\n\
            \tchain endpoint-X-wrk-2/web/tcp/tcp-9999__10.0.2.3/9999 {\n\t\tmeta l4proto tcp dnat to 10.0.2.3:9999\n\t}\n}\n";
        let t = Translation::example("10.0.2.3");
        let text = explain(&t, ruleset).unwrap();
        assert!(
            text.contains("`10.96.0.12 . tcp . 9999 : goto service-IWPXKGE4-wrk-2/web/tcp/tcp-9999`"),
            "{text}"
        );
        assert!(text.contains("chain endpoint-X-wrk-2/web/tcp/tcp-9999__10.0.2.3/9999 `meta l4proto tcp dnat to 10.0.2.3:9999`"), "{text}");
        let other = Translation { vport: 80, ..t };
        assert!(explain(&other, ruleset).is_err());
    }
}
