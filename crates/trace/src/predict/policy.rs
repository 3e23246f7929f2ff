//! NetworkPolicy in the prediction: the virtual packet walked through the
//! policy chains the node has programmed (iptables-save of its filter
//! table), as the kernel would for a new connection: the dispatch chain
//! finds the judged pod's chain, whose first matching rule RETURNs (allowed,
//! its comment names the policy, rule and peer) or DROPs (its comment names
//! the isolating policies). No chain for the pod: nothing isolates it.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use labyrinth_contracts::iptables_save::{Rule, Save};
use labyrinth_policy::names::{dropped_pod, isolated_by, pod_chain_prefix, POLICY_CHAIN};
use labyrinth_policy::Direction;

#[derive(Debug, PartialEq, Eq)]
pub enum Judgement {
    /// The allowing rule's comment ("ns/policy ingress rule 0 peer 1").
    Allowed { chain: String, by: String },
    /// The judged pod ("ns/pod") and the isolating policies, from the
    /// drop rule's comment.
    Dropped {
        chain: String,
        pod: String,
        isolated_by: Vec<String>,
    },
}

fn net_has(r: &Rule, opt: &str, ip: Ipv4Addr) -> bool {
    match r.value_of(opt) {
        None => true,
        Some(n) => n
            .parse::<Ipv4Net>()
            .or_else(|_| n.parse::<Ipv4Addr>().map(Ipv4Net::from))
            .is_ok_and(|n| n.contains(&ip)),
    }
}

fn port_has(r: &Rule, proto: &str, port: u16) -> bool {
    if r.value_of("-p").is_some_and(|p| p != proto) {
        return false;
    }
    match r.value_of("--dport") {
        None => true,
        Some(d) => {
            let (lo, hi) = d.split_once(':').unwrap_or((&d, &d));
            matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if (lo..=hi).contains(&port))
        }
    }
}

/// How the rules in `filter` (iptables-save text) judge a new connection
/// in direction `dir` of the pod at `me` with `peer`; None if no chain of
/// the pod is there (it is not isolated, or this is no iptables node).
pub fn judge(
    filter: &str,
    dir: Direction,
    me: Ipv4Addr,
    peer: Ipv4Addr,
    proto: &str,
    port: u16,
) -> Option<Judgement> {
    let save = Save::parse(filter).ok()?;
    let t = save.table("filter")?;
    let (me_opt, peer_opt) = match dir {
        Direction::Ingress => ("-d", "-s"),
        Direction::Egress => ("-s", "-d"),
    };
    let chain = t.rules_of(POLICY_CHAIN).find_map(|r| {
        let target = r.target()?;
        (target.starts_with(pod_chain_prefix(dir)) && r.value_of(me_opt).is_some() && net_has(r, me_opt, me))
            .then_some(target)
    })?;
    let hit = t
        .rules_of(&chain)
        .filter(|r| net_has(r, peer_opt, peer) && port_has(r, proto, port))
        .filter_map(|r| Some((r.target()?, r.comment().unwrap_or_default())))
        // The NFLOG rule before the DROP only logs.
        .find(|(t, _)| t == "RETURN" || t == "DROP");
    let (target, comment) = hit?;
    Some(if target == "RETURN" {
        Judgement::Allowed { chain, by: comment }
    } else {
        Judgement::Dropped {
            chain,
            pod: dropped_pod(&comment).unwrap_or_default().to_string(),
            isolated_by: isolated_by(&comment).unwrap_or_else(|| vec![comment]),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = "*filter\n:LABY-POLICY - [0:0]\n:LABY-IN-AAAA - [0:0]\n\
-A LABY-POLICY -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"replies\" -j RETURN\n\
-A LABY-POLICY -d 10.0.2.5/32 -m comment --comment \"s/server ingress\" -j LABY-IN-AAAA\n\
-A LABY-IN-AAAA -s 10.0.1.3/32 -p tcp -m tcp --dport 8000:8080 -m comment --comment \"s/allow-friend ingress rule 0 peer 0\" -j RETURN\n\
-A LABY-IN-AAAA -j NFLOG --nflog-prefix \"LABY-POLICY ingress\" --nflog-group 1818\n\
-A LABY-IN-AAAA -m comment --comment \"s/server: isolated for ingress by s/allow-friend, s/deny-all; no rule allows\" -j DROP\n\
COMMIT\n";

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn walks_the_pod_chain() {
        let server = ip("10.0.2.5");
        assert_eq!(
            judge(SAVE, Direction::Ingress, server, ip("10.0.1.3"), "tcp", 8080),
            Some(Judgement::Allowed {
                chain: "LABY-IN-AAAA".into(),
                by: "s/allow-friend ingress rule 0 peer 0".into()
            })
        );
        let dropped = Judgement::Dropped {
            chain: "LABY-IN-AAAA".into(),
            pod: "s/server".into(),
            isolated_by: vec!["s/allow-friend".into(), "s/deny-all".into()],
        };
        assert_eq!(
            judge(SAVE, Direction::Ingress, server, ip("10.0.1.4"), "tcp", 8080).as_ref(),
            Some(&dropped)
        );
        assert_eq!(
            judge(SAVE, Direction::Ingress, server, ip("10.0.1.3"), "udp", 8080).as_ref(),
            Some(&dropped)
        );
        assert_eq!(
            judge(SAVE, Direction::Ingress, server, ip("10.0.1.3"), "tcp", 9000).as_ref(),
            Some(&dropped)
        );
        assert_eq!(
            judge(
                SAVE,
                Direction::Ingress,
                ip("10.0.2.6"),
                ip("10.0.1.3"),
                "tcp",
                80
            ),
            None
        );
        assert_eq!(
            judge(SAVE, Direction::Egress, server, ip("10.0.1.3"), "tcp", 80),
            None
        );
    }
}
