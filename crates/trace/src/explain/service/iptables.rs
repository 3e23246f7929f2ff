//! kube-proxy's iptables layout, read back from `iptables-save -c -t nat`:
//! KUBE-SERVICES → KUBE-SVC-<hash> → KUBE-SEP-<hash> → DNAT.

use anyhow::{Context, Result};
use labyrinth_contracts::iptables_save::{Rule, Save};

use super::translation::Translation;

/// The nat table's rules (none if the dump has no nat table).
pub(super) fn nat<'a>(save: &'a Save<'a>) -> &'a [Rule<'a>] {
    save.table("nat").map(|t| t.rules.as_slice()).unwrap_or_default()
}

/// kube-proxy's `-A KUBE-SERVICES -d VIP/32 -p PROTO … --dport PORT` rule.
fn names_service(r: &Rule, proto: &str, vip: std::net::Ipv4Addr, port: u16) -> bool {
    r.chain == "KUBE-SERVICES"
        && r.value_of("-d") == Some(format!("{vip}/32"))
        && r.value_of("-p").as_deref() == Some(proto)
        && r.value_of("--dport") == Some(port.to_string())
}

/// The counter of the same rule in the earlier save, if there was one.
fn packets_before(before: &[Rule], r: &Rule) -> u64 {
    before.iter().find(|x| x.line == r.line).map_or(0, Rule::packets)
}

/// One endpoint a KUBE-SVC chain can pick: (KUBE-SEP chain, backend
/// `ip:port`, chance of a new connection landing there).
pub type Choice = (String, String, f64);

/// What the rules will do with a new connection to `vip:port`: the
/// KUBE-SVC chain and each endpoint with the chance the cascade of
/// `statistic random` rules gives it, or `None` when no rule names it (or
/// the dump does not parse).
pub fn endpoints(
    save: &str,
    proto: &str,
    vip: std::net::Ipv4Addr,
    port: u16,
) -> Option<(String, Vec<Choice>)> {
    let save = Save::parse(save).ok()?;
    let all = nat(&save);
    let svc_chain = all
        .iter()
        .find(|r| names_service(r, proto, vip, port))?
        .target()?;
    let out = choices(all, &svc_chain)?;
    Some((svc_chain, out))
}

/// The endpoints a KUBE-SVC (or KUBE-SVL) chain of the nat rules `all`
/// picks from, each with the chance the cascade of `statistic random`
/// rules gives it; None when an endpoint chain has no DNAT.
pub(super) fn choices(all: &[Rule], svc_chain: &str) -> Option<Vec<Choice>> {
    let mut left = 1.0;
    let mut out = Vec::new();
    for pick in all.iter().filter(|r| r.chain == svc_chain) {
        let Some(sep) = pick.target().filter(|t| t.starts_with("KUBE-SEP-")) else {
            continue;
        };
        let p: f64 = pick
            .value_of("--probability")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1.0);
        let backend = all
            .iter()
            .filter(|r| r.chain == sep)
            .find_map(|r| r.value_of("--to-destination"))?;
        out.push((sep, backend, left * p));
        left *= 1.0 - p;
    }
    Some(out)
}

/// kube-proxy's REJECT of a Service without endpoints, in a save of the
/// filter table: the rule's line.
pub fn rejected(save: &str, proto: &str, vip: std::net::Ipv4Addr, port: u16) -> Option<String> {
    let save = Save::parse(save).ok()?;
    let filter = save.table("filter")?;
    filter
        .rules
        .iter()
        .find(|r| names_service(r, proto, vip, port) && r.target().as_deref() == Some("REJECT"))
        .map(|r| r.line.to_string())
}

/// Which rules translated `t`, with how their counters rose since `before`
/// (`iptables-save -c -t nat` of the node before the capture). Ok(None)
/// when no rule names the translation; an error when a dump does not parse.
pub fn explain(t: &Translation, before: Option<&str>, save: &str) -> Result<Option<String>> {
    let save = Save::parse(save).with_context(|| format!("{}: reading iptables-save", t.node))?;
    let before = before
        .map(Save::parse)
        .transpose()
        .with_context(|| format!("{}: reading the iptables-save taken before the capture", t.node))?;
    let before = before.as_ref().map(nat).unwrap_or_default();
    let all = nat(&save);
    let Some(svc_rule) = all.iter().find(|r| names_service(r, t.proto, t.vip, t.vport)) else {
        return Ok(None);
    };
    let Some(svc_chain) = svc_rule.target() else {
        return Ok(None);
    };
    let to = format!("{}:{}", t.backend, t.bport);
    // The endpoint chain this Service port can jump to that DNATs to the
    // backend (the same backend can serve several ports and protocols).
    let found = all.iter().filter(|r| r.chain == svc_chain).find_map(|pick| {
        let sep = pick.target()?;
        let dnat = all
            .iter()
            .find(|r| r.chain == sep && r.value_of("--to-destination").as_deref() == Some(to.as_str()))?;
        Some((pick, dnat))
    });
    let Some((pick, sep_rule)) = found else {
        return Ok(None);
    };
    let how = pick
        .value_of("--probability")
        .map(|p| format!("with probability {p}"))
        .unwrap_or_else(|| "as the last (or only) endpoint".into());
    let rose = |r: &Rule| format!("{} → {} packets", packets_before(before, r), r.packets());
    Ok(Some(format!(
        "{node}: iptables nat PREROUTING → KUBE-SERVICES `{svc}` [{c1}] jumped to {svc_chain} (\"{cm}\"), which chose {sep} {how} [{c2}]; {sep} `{dnat}` [{c3}] {rewrite}",
        node = t.node,
        svc = svc_rule.line,
        c1 = rose(svc_rule),
        cm = svc_rule.comment().unwrap_or_default(),
        sep = sep_rule.chain,
        c2 = rose(pick),
        dnat = sep_rule.line,
        c3 = rose(sep_rule),
        rewrite = t.rewrite(),
    )))
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
        let text = explain(&t, None, SAVE).unwrap().unwrap();
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
            .unwrap()
            .contains("with probability 0.50000000000"));
        let unknown = Translation {
            vport: 80,
            ..t.clone()
        };
        assert_eq!(explain(&unknown, None, SAVE).unwrap(), None);
        let e = explain(&t, None, "*nat\n").unwrap_err();
        assert!(format!("{e:#}").contains("no COMMIT"), "{e:#}");
    }

    #[test]
    fn counters_rise_from_the_save_before() {
        let before = SAVE.replace("[1:60]", "[0:0]");
        let now = SAVE.replace("[1:60]", "[3:180]");
        let text = explain(&Translation::example("10.0.2.3"), Some(&before), &now)
            .unwrap()
            .unwrap();
        assert!(text.contains("[0 → 3 packets]"), "{text}");
        let e = explain(&Translation::example("10.0.2.3"), Some("-A X"), SAVE).unwrap_err();
        assert!(format!("{e:#}").contains("taken before the capture"), "{e:#}");
    }

    #[test]
    fn endpoints_with_their_chances_and_the_reject_of_an_empty_service() {
        let vip = "10.96.0.12".parse().unwrap();
        let (chain, eps) = endpoints(SAVE, "tcp", vip, 9999).unwrap();
        assert_eq!(chain, "KUBE-SVC-IWPXKGE4TAJJE4GD");
        let got: Vec<(&str, &str, f64)> = eps.iter().map(|(s, b, p)| (s.as_str(), b.as_str(), *p)).collect();
        assert_eq!(
            got,
            [
                ("KUBE-SEP-AAAA", "10.0.2.2:9999", 0.5),
                ("KUBE-SEP-BBBB", "10.0.2.3:9999", 0.5)
            ]
        );
        assert!(endpoints(SAVE, "udp", vip, 9999).is_none());
        let filter = "*filter\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -d 10.96.0.13/32 -p tcp -m comment \
                      --comment \"wrk-2/empty has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n";
        let rule = rejected(filter, "tcp", "10.96.0.13".parse().unwrap(), 80).unwrap();
        assert!(
            rule.starts_with("-A KUBE-SERVICES -d 10.96.0.13/32") && rule.ends_with("icmp-port-unreachable")
        );
        assert_eq!(rejected(filter, "tcp", vip, 80), None);
    }
}
