//! kube-proxy's iptables layout, read back from `iptables-save -c -t nat`:
//! KUBE-SERVICES → KUBE-SVC-<hash> → KUBE-SEP-<hash> → DNAT.

use super::translation::Translation;

/// A rule of the save output: `[pkts:bytes] -A CHAIN spec…`.
struct Rule<'a> {
    packets: u64,
    chain: &'a str,
    spec: &'a str,
}

fn rules(save: &str) -> Vec<Rule<'_>> {
    save.lines()
        .filter_map(|l| {
            let (counters, rest) = match l.strip_prefix('[') {
                Some(r) => r.split_once("] ")?,
                None => ("0:0", l),
            };
            let rest = rest.strip_prefix("-A ")?;
            let (chain, spec) = rest.split_once(' ')?;
            let packets = counters.split(':').next()?.parse().ok()?;
            Some(Rule { packets, chain, spec })
        })
        .collect()
}

fn target(spec: &str) -> Option<&str> {
    spec.split(" -j ").nth(1)?.split_whitespace().next()
}

fn comment(spec: &str) -> &str {
    spec.split("--comment \"")
        .nth(1)
        .and_then(|c| c.split('"').next())
        .unwrap_or("")
}

/// The counter of the same rule in the earlier save, if there was one.
fn packets_before(before: Option<&str>, r: &Rule) -> u64 {
    before
        .map(rules)
        .and_then(|b| {
            b.into_iter()
                .find(|x| x.chain == r.chain && x.spec == r.spec)
                .map(|x| x.packets)
        })
        .unwrap_or(0)
}

/// One endpoint a KUBE-SVC chain can pick: (KUBE-SEP chain, backend
/// `ip:port`, chance of a new connection landing there).
pub type Choice = (String, String, f64);

/// What the rules will do with a new connection to `vip:port`: the
/// KUBE-SVC chain and each endpoint with the chance the cascade of
/// `statistic random` rules gives it, or `None` when no rule names it.
pub fn endpoints(
    save: &str,
    proto: &str,
    vip: std::net::Ipv4Addr,
    port: u16,
) -> Option<(String, Vec<Choice>)> {
    let all = rules(save);
    let dst = format!("-d {vip}/32 -p {proto}");
    let svc_rule = all.iter().find(|r| {
        r.chain == "KUBE-SERVICES" && r.spec.starts_with(&dst) && r.spec.contains(&format!("--dport {port}"))
    })?;
    let svc_chain = target(svc_rule.spec)?;
    let mut left = 1.0;
    let mut out = Vec::new();
    for pick in all.iter().filter(|r| r.chain == svc_chain) {
        let Some(sep) = target(pick.spec).filter(|t| t.starts_with("KUBE-SEP-")) else {
            continue;
        };
        let p: f64 = pick
            .spec
            .split("--probability ")
            .nth(1)
            .and_then(|p| p.split_whitespace().next()?.parse().ok())
            .unwrap_or(1.0);
        let backend = all
            .iter()
            .find(|r| r.chain == sep && r.spec.contains("--to-destination"))
            .and_then(|r| r.spec.split("--to-destination ").nth(1))
            .map(|b| b.split_whitespace().next().unwrap_or(b).to_string())?;
        out.push((sep.to_string(), backend, left * p));
        left *= 1.0 - p;
    }
    Some((svc_chain.to_string(), out))
}

pub fn explain(t: &Translation, before: Option<&str>, save: &str) -> Option<String> {
    let all = rules(save);
    let dst = format!("-d {}/32 -p {}", t.vip, t.proto);
    let svc_rule = all.iter().find(|r| {
        r.chain == "KUBE-SERVICES"
            && r.spec.starts_with(&dst)
            && r.spec.contains(&format!("--dport {}", t.vport))
    })?;
    let svc_chain = target(svc_rule.spec)?;
    let to = format!("--to-destination {}:{}", t.backend, t.bport);
    // The endpoint chain this Service port can jump to that DNATs to the
    // backend (the same backend can serve several ports and protocols).
    let (pick, sep_rule) = all.iter().filter(|r| r.chain == svc_chain).find_map(|pick| {
        let sep = target(pick.spec)?;
        let dnat = all.iter().find(|r| r.chain == sep && r.spec.contains(&to))?;
        Some((pick, dnat))
    })?;
    let how = pick
        .spec
        .split("--probability ")
        .nth(1)
        .map(|p| format!("with probability {}", p.split_whitespace().next().unwrap_or(p)))
        .unwrap_or_else(|| "as the last (or only) endpoint".into());
    let rose = |r: &Rule| {
        let b = packets_before(before, r);
        format!("{} → {} packets", b, r.packets)
    };
    Some(format!(
        "{node}: iptables nat PREROUTING → KUBE-SERVICES `-A KUBE-SERVICES {svc}` [{c1}] jumped to {svc_chain} (\"{cm}\"), which chose {sep} {how} [{c2}]; {sep} `-A {sep} {dnat}` [{c3}] {rewrite}",
        node = t.node,
        svc = svc_rule.spec,
        c1 = rose(svc_rule),
        cm = comment(svc_rule.spec),
        sep = sep_rule.chain,
        c2 = rose(pick),
        dnat = sep_rule.spec,
        c3 = rose(sep_rule),
        rewrite = t.rewrite(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = r#"*nat
[5:300] -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
[1:60] -A KUBE-SERVICES -d 10.96.0.12/32 -p tcp -m comment --comment "wrk-2/web:tcp-9999 cluster IP" -m tcp --dport 9999 -j KUBE-SVC-IWPXKGE4TAJJE4GD
[0:0] -A KUBE-SVC-IWPXKGE4TAJJE4GD -m comment --comment "wrk-2/web:tcp-9999 -> 10.0.2.2:9999" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-AAAA
[1:60] -A KUBE-SVC-IWPXKGE4TAJJE4GD -m comment --comment "wrk-2/web:tcp-9999 -> 10.0.2.3:9999" -j KUBE-SEP-BBBB
[0:0] -A KUBE-SVC-UDPUDPUDPUDPUDPU -m comment --comment "wrk-2/web:udp-9999 -> 10.0.2.3:9999" -j KUBE-SEP-CCCC
[1:60] -A KUBE-SEP-BBBB -p tcp -m comment --comment "wrk-2/web:tcp-9999" -m tcp -j DNAT --to-destination 10.0.2.3:9999
[0:0] -A KUBE-SEP-AAAA -p tcp -m comment --comment "wrk-2/web:tcp-9999" -m tcp -j DNAT --to-destination 10.0.2.2:9999
[0:0] -A KUBE-SEP-CCCC -p udp -m comment --comment "wrk-2/web:udp-9999" -m udp -j DNAT --to-destination 10.0.2.3:9999
COMMIT
"#;

    #[test]
    fn names_the_chains_rule_and_counters_that_translated() {
        let t = Translation::example("10.0.2.3");
        let text = explain(&t, None, SAVE).unwrap();
        assert!(text.contains("jumped to KUBE-SVC-IWPXKGE4TAJJE4GD"), "{text}");
        assert!(text.contains("chose KUBE-SEP-BBBB as the last"), "{text}");
        assert!(text.contains("--to-destination 10.0.2.3:9999"), "{text}");
        assert!(text.contains("[0 → 1 packets]"), "{text}");
        let other = Translation {
            backend: "10.0.2.2".parse().unwrap(),
            ..t.clone()
        };
        assert!(explain(&other, None, SAVE)
            .unwrap()
            .contains("with probability 0.50000000000"));
        let unknown = Translation { vport: 80, ..t };
        assert!(explain(&unknown, None, SAVE).is_none());
    }
}
