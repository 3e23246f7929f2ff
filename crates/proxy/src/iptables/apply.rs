//! Programming the compiled rules with `iptables-restore --noflush` in the
//! current network namespace, and checking them back with `iptables-save`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use labyrinth_contracts::iptables_save::{split_args, Save};

use super::compile::{
    compile, fixed_nat_rules, nodeports_rule, render_full, render_partial, saved_probability, Compiled,
    KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_SERVICES, NAME_ALL_CHAINS,
};
use super::jumps::{self, JUMPS};
use crate::datapath::Datapath;
use crate::exec;
use crate::model::{ServiceModel, ServicePortName};

/// The kube-proxy iptables datapath.
#[derive(Default)]
pub struct IptablesDatapath {
    applied: Option<Compiled>,
    /// The last restore input, for `labyrinth proxy --dry-run` and tests.
    pub last_input: String,
    /// The jumps into our chains were in place after our last full sync
    /// and no drift check has found anything since: the next full sync
    /// need not dump the tables to check them.
    verified: bool,
}

impl IptablesDatapath {
    pub fn new() -> Self {
        Self::default()
    }

    /// What was last programmed.
    pub fn applied(&self) -> Option<&Compiled> {
        self.applied.as_ref()
    }

    fn restore(&mut self, input: String) -> Result<()> {
        exec::run("iptables-restore", &["-w", "--noflush"], Some(input.as_bytes()))
            .context("iptables-restore rejected the rules (nothing was applied)")?;
        self.last_input = input;
        Ok(())
    }

    /// What `iptables-save` should show for our chains: chain → rules.
    fn expected(&self) -> BTreeMap<String, Vec<String>> {
        let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let Some(c) = &self.applied else { return want };
        for (chain, rules) in fixed_nat_rules() {
            want.insert(format!("nat {chain}"), rules);
        }
        let mut svcs = Vec::new();
        let mut filter = Vec::new();
        let mut nodeports = Vec::new();
        let mut external = Vec::new();
        for r in c.services.values() {
            svcs.extend(r.nat_services.iter().cloned());
            filter.extend(r.filter_services.iter().cloned());
            nodeports.extend(r.nat_nodeports.iter().cloned());
            external.extend(r.filter_external.iter().cloned());
            for (chain, rules) in &r.chains {
                want.insert(
                    format!("nat {chain}"),
                    rules.iter().map(|l| normalize(l)).collect(),
                );
            }
        }
        svcs.push(nodeports_rule());
        svcs.sort();
        filter.sort();
        want.insert(format!("nat {KUBE_SERVICES}"), svcs);
        want.insert(format!("filter {KUBE_SERVICES}"), filter);
        nodeports.sort();
        external.sort();
        want.insert(format!("nat {KUBE_NODEPORTS}"), nodeports);
        want.insert(format!("filter {KUBE_EXTERNAL_SERVICES}"), external);
        want
    }
}

/// Rewrite a rule as iptables-save will print it back (probabilities).
fn normalize(line: &str) -> String {
    match line.split_once("--probability ") {
        Some((head, tail)) => {
            let (p, rest) = tail.split_once(' ').unwrap_or((tail, ""));
            format!("{head}--probability {} {rest}", saved_probability(p))
        }
        None => line.to_string(),
    }
}

fn owned(chain: &str) -> bool {
    ["KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-SVL-"]
        .iter()
        .any(|p| chain.starts_with(p))
}

/// Chains whose rule order is ours to choose (compared sorted).
fn unordered(key: &str) -> bool {
    [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_EXTERNAL_SERVICES]
        .iter()
        .any(|c| key.ends_with(c))
}

impl Datapath for IptablesDatapath {
    fn name(&self) -> &'static str {
        labyrinth_contracts::modes::Datapath::Iptables.as_str()
    }

    fn full_sync(&mut self, model: &ServiceModel) -> Result<()> {
        let compiled = compile(model);
        let mut missing = Vec::new();
        let mut leftovers = Compiled::default();
        if !self.verified || self.applied.is_none() {
            // One dump: which jumps are missing, and chains we may have
            // left behind (e.g. a crashed run), which are stale too.
            let text = exec::stdout(&exec::run("iptables-save", &[], None)?);
            let save = Save::parse(&text)?;
            missing = jumps::missing(&save);
            let stale = ServicePortName::new("", "", "leftover", crate::model::Protocol::Tcp);
            leftovers.services.entry(stale).or_default().chains = save
                .table("nat")
                .map(|t| t.chains.as_slice())
                .unwrap_or_default()
                .iter()
                .filter(|c| owned(c.name))
                .map(|c| (c.name.to_string(), vec![]))
                .collect();
        }
        let mut old = self.applied.take().unwrap_or_default();
        old.services.extend(leftovers.services);
        let input = jumps::splice(&render_full(&compiled, Some(&old)), &missing);
        self.verified = false;
        self.restore(input)?;
        self.verified = true;
        self.applied = Some(compiled);
        Ok(())
    }

    fn partial_sync(&mut self, model: &ServiceModel, changed: &BTreeSet<ServicePortName>) -> Result<()> {
        let Some(old) = self.applied.clone() else {
            return self.full_sync(model);
        };
        let compiled = compile(model);
        self.restore(render_partial(&old, &compiled, changed))?;
        self.applied = Some(compiled);
        Ok(())
    }

    fn check_drift(&mut self) -> Result<Option<String>> {
        if self.applied.is_none() {
            return Ok(None);
        }
        let text = exec::stdout(&exec::run("iptables-save", &[], None)?);
        let drift = self.drift_in(&Save::parse(&text)?);
        // Whatever was found, the next full sync re-checks the jumps.
        self.verified &= drift.is_none();
        Ok(drift)
    }

    fn cleanup(&mut self) -> Result<()> {
        self.verified = false;
        self.remove_all()
    }
}

impl IptablesDatapath {
    /// Compare one iptables-save dump with what we last programmed.
    fn drift_in(&self, save: &Save) -> Option<String> {
        if let Some((table, chain, spec)) = jumps::missing(save).first() {
            return Some(format!("{table} {chain}: the jump `{spec}` is missing"));
        }
        let want = self.expected();
        let mut have: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for table in ["nat", "filter"].iter().filter_map(|t| save.table(t)) {
            for c in &table.chains {
                if owned(c.name) || want.contains_key(&format!("{} {}", table.name, c.name)) {
                    have.entry(format!("{} {}", table.name, c.name)).or_default();
                }
            }
            for r in &table.rules {
                if let Some(rules) = have.get_mut(&format!("{} {}", table.name, r.chain)) {
                    rules.push(r.line.to_string());
                }
            }
        }
        for (key, rules) in have.iter_mut() {
            if unordered(key) {
                rules.sort();
            }
        }
        for (key, rules) in &want {
            match have.get(key) {
                None => return Some(format!("chain {key} is missing")),
                Some(h) if h != rules => {
                    let gone = rules.iter().find(|r| !h.contains(r));
                    let extra = h.iter().find(|r| !rules.contains(r));
                    return Some(format!(
                        "chain {key} differs: missing {gone:?}, unexpected {extra:?}"
                    ));
                }
                _ => {}
            }
        }
        if let Some(extra) = have.keys().find(|k| !want.contains_key(*k)) {
            return Some(format!("unexpected chain {extra}"));
        }
        None
    }

    /// Delete our jumps, then our chains.
    fn remove_all(&mut self) -> Result<()> {
        for (table, chain, spec) in JUMPS {
            let args = split_args(spec);
            let mut del = vec!["-w", "-t", table, "-D", chain];
            del.extend(args.iter().map(String::as_str));
            while exec::run_status("iptables", &del, None)?.status.success() {}
        }
        let text = exec::stdout(&exec::run("iptables-save", &[], None)?);
        let save = Save::parse(&text)?;
        let mut input = String::new();
        for table in ["nat", "filter"] {
            let chains: Vec<&str> = save
                .table(table)
                .map(|t| t.chains.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|c| c.name)
                .filter(|c| c.starts_with("KUBE-"))
                .collect();
            input.push_str(&format!("*{table}\n"));
            if table == "nat" {
                input.push_str(&format!("{NAME_ALL_CHAINS}\n"));
            }
            for c in &chains {
                input.push_str(&format!(":{c} - [0:0]\n"));
            }
            for c in &chains {
                input.push_str(&format!("-X {c}\n"));
            }
            input.push_str("COMMIT\n");
        }
        exec::run("iptables-restore", &["-w", "--noflush"], Some(input.as_bytes()))?;
        self.applied = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rewrites_probability_like_iptables_save() {
        let l = "-A KUBE-SVC-X -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-Y";
        assert_eq!(
            normalize(l),
            "-A KUBE-SVC-X -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-Y"
        );
    }
}
