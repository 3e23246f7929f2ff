//! Programming the compiled rules with `iptables-restore --noflush` in the
//! current network namespace, and checking them back with `iptables-save`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};

use super::compile::{
    compile, fixed_nat_rules, nodeports_rule, render_full, render_partial, saved_probability, Compiled,
    KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_SERVICES,
};
use crate::datapath::Datapath;
use crate::exec;
use crate::model::{ServiceModel, ServicePortName};

/// Jumps from the built-in chains into ours: (table, chain, rule spec).
const JUMPS: &[(&str, &str, &str)] = &[
    ("nat", "PREROUTING", "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
    ("nat", "OUTPUT", "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
    ("nat", "POSTROUTING", "-m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING"),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
    (
        "filter",
        "INPUT",
        "-m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES",
    ),
];

/// Split a rule spec into argv, honouring the double quotes we write.
fn split_args(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in spec.chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(ch),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The kube-proxy iptables datapath.
#[derive(Default)]
pub struct IptablesDatapath {
    applied: Option<Compiled>,
    /// The last restore input, for `labyrinth proxy --dry-run` and tests.
    pub last_input: String,
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

    /// `iptables -C … || iptables -I …` for each jump, as kube-proxy's
    /// EnsureChain/EnsureRule do (the built-in chains are not ours to flush).
    fn ensure_jumps(&self) -> Result<()> {
        // The target chains must exist before a jump to them can be added.
        self.restore_bare()?;
        for (table, chain, spec) in JUMPS {
            let args = split_args(spec);
            let mut check = vec!["-w", "-t", table, "-C", chain];
            check.extend(args.iter().map(String::as_str));
            if exec::run_status("iptables", &check, None)?.status.success() {
                continue;
            }
            let mut insert = vec!["-w", "-t", table, "-I", chain, "1"];
            insert.extend(args.iter().map(String::as_str));
            exec::run("iptables", &insert, None)
                .with_context(|| format!("adding the jump {table}/{chain} {spec}"))?;
        }
        Ok(())
    }

    /// Create our fixed chains if missing, without flushing anything.
    fn restore_bare(&self) -> Result<()> {
        let save = exec::stdout(&exec::run("iptables-save", &[], None)?);
        let mut nat = String::new();
        let mut filter = String::new();
        let has = |table: &str, chain: &str| section(&save, table).contains(&format!("\n:{chain} "));
        for c in [KUBE_SERVICES, KUBE_POSTROUTING, "KUBE-MARK-MASQ", KUBE_NODEPORTS] {
            if !has("nat", c) {
                nat.push_str(&format!(":{c} - [0:0]\n"));
            }
        }
        for c in [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS] {
            if !has("filter", c) {
                filter.push_str(&format!(":{c} - [0:0]\n"));
            }
        }
        if nat.is_empty() && filter.is_empty() {
            return Ok(());
        }
        let input = format!("*nat\n{nat}COMMIT\n*filter\n{filter}COMMIT\n");
        exec::run("iptables-restore", &["-w", "--noflush"], Some(input.as_bytes()))?;
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
        for r in c.services.values() {
            svcs.extend(r.nat_services.iter().cloned());
            filter.extend(r.filter_services.iter().cloned());
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

/// The `*table` … `COMMIT` part of an iptables-save dump.
fn section<'a>(save: &'a str, table: &str) -> &'a str {
    let start = match save.find(&format!("*{table}\n")) {
        Some(s) => s,
        None => return "",
    };
    let rest = &save[start..];
    &rest[..rest.find("\nCOMMIT").unwrap_or(rest.len())]
}

fn owned(chain: &str) -> bool {
    chain.starts_with("KUBE-SVC-") || chain.starts_with("KUBE-SEP-")
}

impl Datapath for IptablesDatapath {
    fn name(&self) -> &'static str {
        "iptables"
    }

    fn full_sync(&mut self, model: &ServiceModel) -> Result<()> {
        self.ensure_jumps()?;
        let compiled = compile(model);
        // Chains we may have left behind (e.g. from a crashed run) are stale too.
        let mut old = self.applied.clone().unwrap_or_default();
        let save = exec::stdout(&exec::run("iptables-save", &["-t", "nat"], None)?);
        let leftovers: Vec<String> = save
            .lines()
            .filter_map(|l| l.strip_prefix(':'))
            .filter_map(|l| l.split(' ').next())
            .filter(|c| owned(c))
            .map(str::to_string)
            .collect();
        let stale = ServicePortName::new("", "", "leftover", crate::model::Protocol::Tcp);
        old.services
            .entry(stale)
            .or_default()
            .chains
            .extend(leftovers.into_iter().map(|c| (c, vec![])));
        self.restore(render_full(&compiled, Some(&old)))?;
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
        let save = exec::stdout(&exec::run("iptables-save", &[], None)?);
        for (table, chain, spec) in JUMPS {
            let line = format!("-A {chain} {spec}");
            if !section(&save, table).lines().any(|l| l == line) {
                return Ok(Some(format!("{table} {chain}: the jump `{spec}` is missing")));
            }
        }
        let want = self.expected();
        let mut have: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for table in ["nat", "filter"] {
            for line in section(&save, table).lines() {
                if let Some(decl) = line.strip_prefix(':') {
                    let chain = decl.split(' ').next().unwrap_or_default();
                    if owned(chain) || want.contains_key(&format!("{table} {chain}")) {
                        have.entry(format!("{table} {chain}")).or_default();
                    }
                } else if let Some(rule) = line.strip_prefix("-A ") {
                    let chain = rule.split(' ').next().unwrap_or_default();
                    let key = format!("{table} {chain}");
                    if let Some(rules) = have.get_mut(&key) {
                        rules.push(line.to_string());
                    }
                }
            }
        }
        for (key, rules) in have.iter_mut() {
            if key.ends_with(KUBE_SERVICES) {
                rules.sort();
            }
        }
        for (key, rules) in &want {
            match have.get(key) {
                None => return Ok(Some(format!("chain {key} is missing"))),
                Some(h) if h != rules => {
                    let gone = rules.iter().find(|r| !h.contains(r));
                    let extra = h.iter().find(|r| !rules.contains(r));
                    return Ok(Some(format!(
                        "chain {key} differs: missing {gone:?}, unexpected {extra:?}"
                    )));
                }
                _ => {}
            }
        }
        if let Some(extra) = have.keys().find(|k| !want.contains_key(*k)) {
            return Ok(Some(format!("unexpected chain {extra}")));
        }
        Ok(None)
    }

    fn cleanup(&mut self) -> Result<()> {
        for (table, chain, spec) in JUMPS {
            let args = split_args(spec);
            let mut del = vec!["-w", "-t", table, "-D", chain];
            del.extend(args.iter().map(String::as_str));
            while exec::run_status("iptables", &del, None)?.status.success() {}
        }
        let save = exec::stdout(&exec::run("iptables-save", &[], None)?);
        let mut input = String::new();
        for table in ["nat", "filter"] {
            let chains: Vec<&str> = section(&save, table)
                .lines()
                .filter_map(|l| l.strip_prefix(':'))
                .filter_map(|l| l.split(' ').next())
                .filter(|c| c.starts_with("KUBE-"))
                .collect();
            input.push_str(&format!("*{table}\n"));
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
    fn split_args_keeps_quoted_comments_whole() {
        let a = split_args(JUMPS[0].2);
        assert_eq!(
            a,
            vec![
                "-m",
                "comment",
                "--comment",
                "kubernetes service portals",
                "-j",
                "KUBE-SERVICES"
            ]
        );
    }

    #[test]
    fn normalize_rewrites_probability_like_iptables_save() {
        let l = "-A KUBE-SVC-X -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-Y";
        assert_eq!(
            normalize(l),
            "-A KUBE-SVC-X -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-Y"
        );
    }
}
