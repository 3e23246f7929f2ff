//! The service model compiled into kube-proxy's iptables layout, written the
//! way `iptables-save` prints rules so a listing can be compared line by line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::hash::{sep_chain, svc_chain, svl_chain};
use crate::model::{Endpoint, ServiceModel, ServicePort, ServicePortName};

pub use super::syntax::*;

/// The whole compiled model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    pub services: BTreeMap<ServicePortName, ServiceRules>,
}

fn dport_match(sp: &ServicePort) -> String {
    let p = sp.protocol().as_str();
    format!(
        "-d {}/32 -p {p} -m comment --comment {{C}} -m {p} --dport {}",
        sp.cluster_ip, sp.port
    )
}

/// Compile one service port.
pub fn compile_service(sp: &ServicePort, model: &ServiceModel) -> ServiceRules {
    let name = sp.name.to_string();
    let proto = sp.protocol().as_str();
    let svc = svc_chain(&sp.name);
    let eps = sp.ready_endpoints();
    let mut rules = ServiceRules::default();
    super::nodeport::compile_node_port(sp, model, &mut rules);
    if eps.is_empty() {
        let c = quote(&format!("{name} has no endpoints"));
        rules.filter_services.push(format!(
            "-A {KUBE_SERVICES} {} -j REJECT --reject-with icmp-port-unreachable",
            dport_match(sp).replace("{C}", &c)
        ));
        return rules;
    }
    let cip = quote(&format!("{name} cluster IP"));
    let local = sp.local_endpoints(model.node.as_ref());
    let svl = svl_chain(&sp.name);
    // internalTrafficPolicy Local: ClusterIP traffic to KUBE-SVL (this
    // node's endpoints), dropped where there is none.
    if sp.internal_local && local.is_empty() {
        let c = quote(&format!("{name} has no local endpoints"));
        rules.filter_services.push(format!(
            "-A {KUBE_SERVICES} {} -j DROP",
            dport_match(sp).replace("{C}", &c)
        ));
    } else {
        let to = if sp.internal_local { &svl } else { &svc };
        rules.nat_services.push(format!(
            "-A {KUBE_SERVICES} {} -j {to}",
            dport_match(sp).replace("{C}", &cip)
        ));
    }
    let masq = model.cluster_cidr.map(|cidr| {
        move |chain: &str| {
            format!(
                "-A {chain} ! -s {cidr} {} -j {KUBE_MARK_MASQ}",
                dport_match(sp).replace("{C}", &cip)
            )
        }
    });
    let mut svc_rules: Vec<String> = masq.iter().map(|m| m(&svc)).collect();
    svc_rules.extend(super::affinity::recall(&svc, sp, &eps));
    svc_rules.extend(split_rules(&svc, &sp.name, &eps));
    let mut seps = Vec::new();
    for ep in &eps {
        let sep = sep_chain(&sp.name, ep);
        let qn = quote(&name);
        seps.push((
            sep.clone(),
            vec![
                format!(
                    "-A {sep} -s {}/32 -m comment --comment {qn} -j {KUBE_MARK_MASQ}",
                    ep.ip
                ),
                format!(
                    "-A {sep} -p {proto} -m comment --comment {qn}{} -m {proto} -j DNAT --to-destination {}",
                    super::affinity::remember(sp, &sep),
                    ep.addr()
                ),
            ],
        ));
    }
    // KUBE-SVC first, then the KUBE-SEP chains, then KUBE-EXT, KUBE-SVL.
    let external = std::mem::take(&mut rules.chains);
    rules.chains.push((svc, svc_rules));
    rules.chains.extend(seps);
    rules.chains.extend(external);
    if sp.internal_local || sp.node_port.is_some_and(|np| np.local) {
        // Without local endpoints the chain has no jumps: nothing is
        // translated and the filter rules drop the packet.
        let mut svl_rules: Vec<String> = match (&masq, sp.internal_local) {
            (Some(m), true) => vec![m(&svl)],
            _ => vec![],
        };
        svl_rules.extend(super::affinity::recall(&svl, sp, &local));
        svl_rules.extend(split_rules(&svl, &sp.name, &local));
        rules.chains.push((svl, svl_rules));
    }
    rules
}

/// `chain`'s rules sending one of `eps` to its KUBE-SEP chain: 1/n, then
/// 1/(n-1) of the rest, …, the last one unconditionally (kube-proxy's way).
pub fn split_rules(chain: &str, name: &ServicePortName, eps: &[&Endpoint]) -> Vec<String> {
    let n = eps.len();
    eps.iter()
        .enumerate()
        .map(|(i, ep)| {
            let sep = sep_chain(name, ep);
            let c = quote(&format!("{name} -> {}", ep.addr()));
            let left = n - i;
            if left > 1 {
                format!(
                    "-A {chain} -m comment --comment {c} -m statistic --mode random --probability {} -j {sep}",
                    probability(left)
                )
            } else {
                format!("-A {chain} -m comment --comment {c} -j {sep}")
            }
        })
        .collect()
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

/// Rules of the fixed nat chains, in save format.
pub fn fixed_nat_rules() -> Vec<(&'static str, Vec<String>)> {
    vec![
        (
            KUBE_POSTROUTING,
            vec![
                format!("-A {KUBE_POSTROUTING} -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN"),
                format!("-A {KUBE_POSTROUTING} -j MARK --set-xmark {MASQ_MARK}/0x0"),
                format!(
                    "-A {KUBE_POSTROUTING} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully"
                ),
            ],
        ),
        (KUBE_MARK_MASQ, vec![format!("-A {KUBE_MARK_MASQ} -j MARK --set-xmark {MASQ_MARK}/{MASQ_MARK}")]),
        (KUBE_NODEPORTS, vec![]),
    ]
}

/// The last rule of nat KUBE-SERVICES, as in kube-proxy.
pub fn nodeports_rule() -> String {
    format!("-A {KUBE_SERVICES} -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j {KUBE_NODEPORTS}")
}

fn declare(out: &mut String, chain: &str) {
    let _ = writeln!(out, ":{chain} - [0:0]");
}

/// The first command of a nat section that names every chain we own.
///
/// iptables-nft (1.8.x) keeps, while it reads a restore, a list of the
/// chains the commands name, sorted and searched from its head for each
/// command: with 10k Services (70k chains) that is billions of string
/// compares, minutes of CPU (measured: 10k NodePort Services took 322 s to
/// re-sync at load 10, 22 s with this line). A command that names no
/// chain makes it fetch all chains at once instead and stop keeping the
/// list. `-Z` (zero the table's counters) is such a command and harmless
/// here: the rewrite resets our chains' counters anyway; other rules in
/// the nat table (the built-in chains' jumps) lose theirs once per full
/// sync. iptables-legacy just zeroes the counters.
pub const NAME_ALL_CHAINS: &str = "-Z";

/// The whole `iptables-restore --noflush` input: every chain we own is
/// declared (which flushes it) and rewritten; stale chains in `old` are
/// deleted.
pub fn render_full(c: &Compiled, old: Option<&Compiled>) -> String {
    let mut out = format!("*nat\n{NAME_ALL_CHAINS}\n");
    let fixed = fixed_nat_rules();
    declare(&mut out, KUBE_SERVICES);
    for (chain, _) in &fixed {
        declare(&mut out, chain);
    }
    let ours: BTreeSet<&str> = c
        .services
        .values()
        .flat_map(|r| r.chains.iter().map(|(n, _)| n.as_str()))
        .collect();
    for chain in &ours {
        declare(&mut out, chain);
    }
    let stale: Vec<&str> = old
        .map(|o| {
            o.services
                .values()
                .flat_map(|r| r.chains.iter().map(|(n, _)| n.as_str()))
                .filter(|n| !ours.contains(n))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default();
    for chain in &stale {
        declare(&mut out, chain);
    }
    for (_, rules) in &fixed {
        for r in rules {
            out.push_str(r);
            out.push('\n');
        }
    }
    for r in c.services.values() {
        for line in r.nat_services.iter().chain(&r.nat_nodeports) {
            out.push_str(line);
            out.push('\n');
        }
        for (_, rules) in &r.chains {
            for line in rules {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str(&nodeports_rule());
    out.push('\n');
    for chain in &stale {
        let _ = writeln!(out, "-X {chain}");
    }
    out.push_str("COMMIT\n*filter\n");
    declare(&mut out, KUBE_SERVICES);
    declare(&mut out, KUBE_EXTERNAL_SERVICES);
    declare(&mut out, KUBE_NODEPORTS);
    for r in c.services.values() {
        for line in r.filter_services.iter().chain(&r.filter_external) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("COMMIT\n");
    out
}

/// Input that rewrites only the `changed` service ports: their KUBE-SVC/SEP
/// chains are redeclared (flushed) and refilled, their KUBE-SERVICES rules
/// deleted or inserted one by one, and chains they no longer need deleted.
/// Everything else is left untouched.
pub fn render_partial(old: &Compiled, new: &Compiled, changed: &BTreeSet<ServicePortName>) -> String {
    let empty = ServiceRules::default();
    let mut nat = String::new();
    let mut nat_rules = String::new();
    let mut nat_delete = String::new();
    let mut filter = String::new();
    for name in changed {
        let o = old.services.get(name).unwrap_or(&empty);
        let n = new.services.get(name).unwrap_or(&empty);
        edit_chain(&mut nat_rules, KUBE_SERVICES, &o.nat_services, &n.nat_services);
        edit_chain(&mut nat_rules, KUBE_NODEPORTS, &o.nat_nodeports, &n.nat_nodeports);
        edit_chain(&mut filter, KUBE_SERVICES, &o.filter_services, &n.filter_services);
        edit_chain(
            &mut filter,
            KUBE_EXTERNAL_SERVICES,
            &o.filter_external,
            &n.filter_external,
        );
        let new_chains: BTreeSet<&str> = n.chains.iter().map(|(c, _)| c.as_str()).collect();
        for (chain, rules) in &n.chains {
            let unchanged = o.chains.iter().any(|(c, r)| c == chain && r == rules);
            // A KUBE-SEP chain depends only on its own endpoint: keep it.
            if unchanged && chain.starts_with("KUBE-SEP-") {
                continue;
            }
            declare(&mut nat, chain);
            for line in rules {
                nat_rules.push_str(line);
                nat_rules.push('\n');
            }
        }
        for (chain, _) in &o.chains {
            if !new_chains.contains(chain.as_str()) {
                declare(&mut nat, chain);
                let _ = writeln!(nat_delete, "-X {chain}");
            }
        }
    }
    format!("*nat\n{nat}{nat_rules}{nat_delete}COMMIT\n*filter\n{filter}COMMIT\n")
}

/// Delete rules of `chain` that went away and insert new ones at its top
/// (order among one service's rules in these chains does not matter; the
/// nodeports rule of KUBE-SERVICES stays last).
fn edit_chain(out: &mut String, chain: &str, old: &[String], new: &[String]) {
    for r in old.iter().filter(|r| !new.contains(r)) {
        let _ = writeln!(out, "-D{}", &r[2..]);
    }
    for r in new.iter().filter(|r| !old.contains(r)) {
        let rest = r.strip_prefix(&format!("-A {chain} ")).unwrap_or(r);
        let _ = writeln!(out, "-I {chain} 1 {rest}");
    }
}
