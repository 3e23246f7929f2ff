//! Programming the table in the current network namespace, one
//! transaction per sync (through netlink, or `nft -f -` for comparison),
//! and checking it back with `nft -j list`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};

use super::affinity::compile_affinity;
use super::compile::{
    compile, pick_chain, skeleton, Compiled, FAMILY, HAIRPIN, NO_ENDPOINTS, SERVICE_ENDPOINTS, SERVICE_IPS,
    TABLE,
};
use super::plan::{self, Op};
use super::{netlink, text};
use crate::datapath::Datapath;
use crate::exec;
use crate::model::{ServiceModel, ServicePortName};

/// How transactions reach the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Loader {
    /// Our own nfnetlink batch (the default: no text to parse).
    #[default]
    Netlink,
    /// The `nft` tool reading the rendered script. Full syncs only: nft
    /// 1.0 cannot parse a rule that uses `service-endpoints` once that map
    /// is in the kernel ("conflicting protocols specified: ip vs. th", from
    /// the map's typeof), so its partial syncs rewrite the whole table.
    NftTool,
}

/// The nftables datapath.
#[derive(Default)]
pub struct NftablesDatapath {
    applied: Option<Compiled>,
    loader: Loader,
    session: netlink::Session,
    /// The last script (NftTool loader only), for tests.
    pub last_input: String,
}

/// What a listing is compared on: chain → rule count, set → element count.
#[derive(Debug, Default, PartialEq, Eq)]
struct Shape {
    chains: BTreeMap<String, usize>,
    elements: BTreeMap<String, usize>,
}

impl NftablesDatapath {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_loader(loader: Loader) -> Self {
        NftablesDatapath {
            loader,
            ..Self::default()
        }
    }

    pub fn applied(&self) -> Option<&Compiled> {
        self.applied.as_ref()
    }

    fn load(&mut self, ops: &[Op<'_>]) -> Result<()> {
        match self.loader {
            Loader::Netlink => netlink::apply_in(&mut self.session, ops),
            Loader::NftTool => {
                let script = text::render(ops);
                exec::run("nft", &["-f", "-"], Some(script.as_bytes()))
                    .context("nft rejected the transaction (nothing was applied)")?;
                self.last_input = script;
                Ok(())
            }
        }
    }

    fn expected(c: &Compiled) -> Shape {
        let mut s = Shape::default();
        for ch in skeleton() {
            s.chains.insert(ch.name, ch.rules.len());
        }
        for set in [SERVICE_IPS, NO_ENDPOINTS] {
            s.elements.insert(set.into(), 0);
        }
        s.elements.insert(HAIRPIN.into(), c.hairpin.len());
        s.elements.insert(SERVICE_ENDPOINTS.into(), 0);
        for n in c.pickers.keys() {
            s.chains.insert(pick_chain(*n), 1);
        }
        for a in c.services.values().flat_map(|o| &o.affinity) {
            s.chains.insert(a.chain.name.clone(), a.chain.rules.len());
        }
        for o in c.services.values().flat_map(|o| o.frontends()) {
            if let Some(ch) = &o.chain {
                s.chains.insert(ch.name.clone(), ch.rules.len());
            }
            *s.elements.entry(o.map.to_string()).or_default() += 1;
            *s.elements.entry(SERVICE_ENDPOINTS.into()).or_default() += o.endpoints.len();
        }
        s
    }

    fn listed() -> Result<Option<Shape>> {
        let out = exec::run_status("nft", &["-j", "list", "table", FAMILY, TABLE], None)?;
        if !out.status.success() {
            return Ok(None);
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("parsing `nft -j list table`")?;
        let mut s = Shape::default();
        for obj in v["nftables"].as_array().into_iter().flatten() {
            if let Some(c) = obj.get("chain") {
                s.chains
                    .entry(c["name"].as_str().unwrap_or_default().to_string())
                    .or_default();
            } else if let Some(r) = obj.get("rule") {
                *s.chains
                    .entry(r["chain"].as_str().unwrap_or_default().to_string())
                    .or_default() += 1;
            } else if let Some(m) = obj.get("map").or_else(|| obj.get("set")) {
                let n = m.get("elem").and_then(|e| e.as_array()).map_or(0, |a| a.len());
                s.elements
                    .insert(m["name"].as_str().unwrap_or_default().to_string(), n);
            }
        }
        Ok(Some(s))
    }
}

impl Datapath for NftablesDatapath {
    fn name(&self) -> &'static str {
        labyrinth_contracts::modes::Datapath::Nftables.as_str()
    }

    fn full_sync(&mut self, model: &ServiceModel) -> Result<()> {
        let compiled = compile(model);
        let skel = skeleton();
        self.load(&plan::full(&compiled, &skel))?;
        self.applied = Some(compiled);
        Ok(())
    }

    fn partial_sync(&mut self, model: &ServiceModel, changed: &BTreeSet<ServicePortName>) -> Result<()> {
        let Some(mut c) = self.applied.take().filter(|_| self.loader == Loader::Netlink) else {
            return self.full_sync(model);
        };
        // Affinity sets and endpoint chains come and go with a full sync
        // (a set's timeout cannot change in place; such changes are rare).
        let affinity_changed = changed.iter().any(|n| {
            let before = c.services.get(n).map(|o| &o.affinity);
            let after = model.services.get(n).map(compile_affinity);
            before.map(Vec::as_slice).unwrap_or_default() != after.as_deref().unwrap_or_default()
        });
        if affinity_changed {
            return self.full_sync(model);
        }
        let (old, hairpin) = c.update(model, changed);
        let ops = plan::partial(&old, &c, changed, &hairpin);
        // On error `applied` stays None: the kernel kept the previous
        // table (one transaction), and the caller's full sync rewrites it.
        self.load(&ops)?;
        self.applied = Some(c);
        Ok(())
    }

    fn check_drift(&mut self) -> Result<Option<String>> {
        let Some(c) = &self.applied else { return Ok(None) };
        let want = Self::expected(c);
        let Some(have) = Self::listed()? else {
            return Ok(Some(format!("table {FAMILY} {TABLE} is missing")));
        };
        for (chain, n) in &want.chains {
            match have.chains.get(chain) {
                None => return Ok(Some(format!("chain {chain} is missing"))),
                Some(h) if h != n => return Ok(Some(format!("chain {chain} has {h} rules, expected {n}"))),
                _ => {}
            }
        }
        if let Some(extra) = have.chains.keys().find(|k| !want.chains.contains_key(*k)) {
            return Ok(Some(format!("unexpected chain {extra}")));
        }
        for (set, n) in &want.elements {
            let h = have.elements.get(set).copied();
            if h != Some(*n) {
                return Ok(Some(format!("set {set} has {h:?} elements, expected {n}")));
            }
        }
        Ok(None)
    }

    fn cleanup(&mut self) -> Result<()> {
        let script = format!("add table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n");
        exec::run("nft", &["-f", "-"], Some(script.as_bytes()))?;
        self.applied = None;
        Ok(())
    }
}
