//! The iptables rendering: one dispatch chain `LABY-POLICY` jumped to from
//! FORWARD, and per isolated pod and direction a chain named after a hash
//! of the pod (`LABY-IN-<hash>` / `LABY-EG-<hash>`) whose rules RETURN what
//! a policy allows, each with a comment naming `ns/policy direction rule N
//! peer M`, and end in a DROP whose comment names the isolating policies,
//! logged just before to the NFLOG group `labyrinth observe` reads.
//! Each sync is one `iptables-restore --noflush`: the first and each
//! resync read our chains back (iptables-save) and rewrite them all; any
//! other change rewrites only the chains whose rules changed, as
//! kube-proxy's partial sync does (a stream of policy writes then costs
//! one pod's chain each, not every chain).

use anyhow::{Context, Result};
use labyrinth_contracts::iptables_save::Save;
use labyrinth_policy::names::{
    drop_comment, log_prefix, pod_chain_prefix, CHAIN_PREFIX, JUMP_COMMENT, LOG_GROUP, POLICY_CHAIN,
};
use labyrinth_policy::{Compiled, Direction, PodRules};

use super::comment::comment_text;
use super::load::Load;
use crate::exec;
use crate::hash::hash16;

/// The jump from FORWARD, as iptables-save prints it back.
pub fn jump() -> String {
    format!("-m comment --comment \"{JUMP_COMMENT}\" -j {POLICY_CHAIN}")
}

/// The chain of one pod in one direction; the comment of its dispatch
/// rule names the pod, the hash keeps the name within iptables' 28.
pub fn pod_chain(r: &PodRules) -> String {
    format!("{}{}", pod_chain_prefix(r.direction), hash16(&r.pod()))
}

/// iptables keeps at most 256 bytes of a comment.
fn comment(text: &str) -> String {
    format!("-m comment --comment \"{}\"", comment_text(text, 255))
}

fn pod_rules(r: &PodRules, out: &mut String) {
    let chain = pod_chain(r);
    let peer_flag = match r.direction {
        Direction::Ingress => "-s",
        Direction::Egress => "-d",
    };
    for a in &r.allows {
        let mut m = String::new();
        if let Some(p) = a.protocol {
            let p = p.lower();
            m.push_str(&format!(" -p {p} -m {p}"));
            if let Some((lo, hi)) = a.ports {
                if lo == hi {
                    m.push_str(&format!(" --dport {lo}"));
                } else {
                    m.push_str(&format!(" --dport {lo}:{hi}"));
                }
            }
        }
        let c = comment(&a.describe(r.direction));
        match &a.nets {
            None => out.push_str(&format!("-A {chain}{m} {c} -j RETURN\n")),
            Some(nets) => {
                for n in nets {
                    out.push_str(&format!("-A {chain} {peer_flag} {n}{m} {c} -j RETURN\n"));
                }
            }
        }
    }
    let by: Vec<String> = r.isolated_by.iter().map(ToString::to_string).collect();
    let why = drop_comment(&r.pod(), r.direction, &by);
    // Logged first (NFLOG, for `labyrinth observe`): a target ends a rule.
    out.push_str(&format!(
        "-A {chain} -j NFLOG --nflog-prefix \"{}\" --nflog-group {LOG_GROUP}\n",
        log_prefix(r.direction)
    ));
    out.push_str(&format!("-A {chain} {} -j DROP\n", comment(&why)));
}

/// Our chains and their rules as restore lines, the dispatch chain first:
/// the one owner of the rendered state, from which the whole restore
/// and the partial one are both written.
pub fn chains(c: &Compiled) -> Vec<(String, String)> {
    let mut dispatch = format!(
        "-A {POLICY_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED {} -j RETURN\n",
        comment("replies and connections already open")
    );
    for r in &c.pods {
        let flag = match r.direction {
            Direction::Ingress => "-d",
            Direction::Egress => "-s",
        };
        dispatch.push_str(&format!(
            "-A {POLICY_CHAIN} {flag} {}/32 {} -j {}\n",
            r.ip,
            comment(&format!("{} {}", r.pod(), r.direction.as_str())),
            pod_chain(r)
        ));
    }
    let mut out = vec![(POLICY_CHAIN.to_string(), dispatch)];
    for r in &c.pods {
        let mut rules = String::new();
        pod_rules(r, &mut rules);
        out.push((pod_chain(r), rules));
    }
    out
}

/// The restore input rewriting `write` (each chain declared, which
/// empties it under --noflush, then its rules) and deleting `gone`
/// (emptied first, and no longer jumped to by a rewritten dispatch
/// chain); `add_jump` adds the jump from FORWARD.
fn restore<'a>(
    write: impl Iterator<Item = &'a (String, String)> + Clone,
    gone: &[&String],
    add_jump: bool,
) -> String {
    let mut out = String::from("*filter\n");
    for ch in write.clone().map(|(c, _)| c).chain(gone.iter().copied()) {
        out.push_str(&format!(":{ch} - [0:0]\n"));
    }
    for (_, rules) in write {
        out.push_str(rules);
    }
    for g in gone {
        out.push_str(&format!("-X {g}\n"));
    }
    if add_jump {
        out.push_str(&format!("-I FORWARD 1 {}\n", jump()));
    }
    out.push_str("COMMIT\n");
    out
}

/// The restore input taking the filter table from `stale` (our chains
/// there now) to `c`, every chain rewritten; `add_jump` adds the jump
/// from FORWARD.
pub fn render(c: &Compiled, stale: &[String], add_jump: bool) -> String {
    let chains = chains(c);
    let gone: Vec<&String> = stale
        .iter()
        .filter(|s| !chains.iter().any(|(c, _)| c == *s))
        .collect();
    restore(chains.iter(), &gone, add_jump)
}

/// The partial restore from `held` (what our chains hold) to `want`: only
/// the chains whose rules changed, and the deletes of those gone, as
/// kube-proxy's partial sync; empty when nothing changed.
pub fn render_changes(held: &[(String, String)], want: &[(String, String)]) -> String {
    let changed: Vec<&(String, String)> = want.iter().filter(|c| !held.contains(c)).collect();
    let gone: Vec<&String> = held
        .iter()
        .map(|(c, _)| c)
        .filter(|c| !want.iter().any(|(w, _)| w == *c))
        .collect();
    if changed.is_empty() && gone.is_empty() {
        return String::new();
    }
    restore(changed.into_iter(), &gone, false)
}

/// Programs the rules in the calling thread's network namespace.
#[derive(Default)]
pub struct PolicyIptables {
    /// The last restore input (tests and `--dry-run` views).
    pub last_input: String,
    /// Our chains as the last restore that succeeded left them; None
    /// before the first and after a failure (the whole state next).
    held: Option<Vec<(String, String)>>,
}

impl PolicyIptables {
    /// Take our chains to `c`: only the chains that changed, unless
    /// `full` (first sync, resync: read back with iptables-save, every
    /// chain rewritten) or the partial restore is refused (then in full).
    pub fn sync(&mut self, c: &Compiled, full: bool) -> Result<Load> {
        let want = chains(c);
        if let (Some(held), false) = (self.held.take(), full) {
            let change = render_changes(&held, &want);
            if change.is_empty() {
                self.held = Some(want);
                return Ok(Load::Unchanged);
            }
            match exec::run("iptables-restore", &["-w", "--noflush"], Some(change.as_bytes())) {
                Ok(_) => {
                    self.last_input = change;
                    self.held = Some(want);
                    return Ok(Load::Incremental);
                }
                Err(e) => tracing::warn!(
                    "network policy: iptables-restore refused the changed chains, rewriting them all: {e:#}"
                ),
            }
        }
        let text = exec::stdout(&exec::run("iptables-save", &["-t", "filter"], None)?);
        let save = Save::parse(&text)?;
        let stale: Vec<String> = save
            .table("filter")
            .map(|t| t.chains.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|c| c.name.starts_with(CHAIN_PREFIX))
            .map(|c| c.name.to_string())
            .collect();
        let add_jump = !save
            .table("filter")
            .is_some_and(|t| t.rules_of("FORWARD").any(|r| r.spec == jump()));
        let input = render(c, &stale, add_jump);
        exec::run("iptables-restore", &["-w", "--noflush"], Some(input.as_bytes()))
            .context("iptables-restore rejected the policy rules (nothing was applied)")?;
        self.last_input = input;
        self.held = Some(want);
        Ok(Load::Full)
    }

    /// Remove the jump and every chain of ours (another datapath enforces
    /// policy now); nothing to do is one iptables-save.
    pub fn remove() -> Result<()> {
        let text = exec::stdout(&exec::run("iptables-save", &["-t", "filter"], None)?);
        let save = Save::parse(&text)?;
        let Some(t) = save.table("filter") else {
            return Ok(());
        };
        let ours: Vec<&str> = t
            .chains
            .iter()
            .map(|c| c.name)
            .filter(|n| n.starts_with(CHAIN_PREFIX))
            .collect();
        let jumps = t.rules_of("FORWARD").filter(|r| r.spec == jump()).count();
        if ours.is_empty() && jumps == 0 {
            return Ok(());
        }
        // Declaring a chain in a --noflush restore empties it, so the
        // deletes find no references left.
        let mut input = String::from("*filter\n");
        for ch in &ours {
            input.push_str(&format!(":{ch} - [0:0]\n"));
        }
        for _ in 0..jumps {
            input.push_str(&format!("-D FORWARD {}\n", jump()));
        }
        for ch in &ours {
            input.push_str(&format!("-X {ch}\n"));
        }
        input.push_str("COMMIT\n");
        exec::run("iptables-restore", &["-w", "--noflush"], Some(input.as_bytes()))
            .context("removing the iptables policy chains")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netpol::fixtures::{allow, server};
    use labyrinth_policy::Protocol;

    #[test]
    fn renders_dispatch_allows_and_a_named_drop() {
        let r = server(
            Direction::Ingress,
            vec![allow(
                Some(1),
                Some("10.0.1.3/32"),
                Some(Protocol::Tcp),
                Some((9000, 9999)),
            )],
        );
        let chain = pod_chain(&r);
        assert!(chain.starts_with("LABY-IN-") && chain.len() <= 28, "{chain}");
        let c = Compiled { pods: vec![r] };
        let text = render(&c, &["LABY-EG-OLD".into(), POLICY_CHAIN.into()], true);
        let want = format!(
            "*filter\n:LABY-POLICY - [0:0]\n:{chain} - [0:0]\n:LABY-EG-OLD - [0:0]\n\
-A LABY-POLICY -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"replies and connections already open\" -j RETURN\n\
-A LABY-POLICY -d 10.0.2.5/32 -m comment --comment \"wrk-2/server ingress\" -j {chain}\n\
-A {chain} -s 10.0.1.3/32 -p tcp -m tcp --dport 9000:9999 -m comment --comment \"wrk-2/allow-frontend ingress rule 0 peer 1\" -j RETURN\n\
-A {chain} -j NFLOG --nflog-prefix \"LABY-POLICY ingress\" --nflog-group 1818\n\
-A {chain} -m comment --comment \"wrk-2/server: isolated for ingress by wrk-2/allow-frontend, wrk-2/deny-all; no rule allows\" -j DROP\n\
-X LABY-EG-OLD\n-I FORWARD 1 {}\nCOMMIT\n",
            jump()
        );
        assert_eq!(text, want);
        // Nothing isolated: the dispatch chain keeps only the state rule.
        let empty = render(&Compiled::default(), std::slice::from_ref(&chain), false);
        assert!(empty.contains(&format!("-X {chain}\n")), "{empty}");
        assert!(!empty.contains("FORWARD"), "{empty}");
    }
}
