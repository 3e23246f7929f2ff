//! Programming the table with `nft -f -` (one transaction per sync) in the
//! current network namespace, and checking it back with `nft -j list`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};

use super::compile::{
    compile, render_full, render_partial, skeleton, Compiled, FAMILY, NO_ENDPOINTS, SERVICE_IPS, TABLE,
};
use crate::datapath::Datapath;
use crate::exec;
use crate::model::{ServiceModel, ServicePortName};

/// The nftables datapath.
#[derive(Default)]
pub struct NftablesDatapath {
    applied: Option<Compiled>,
    /// The last transaction, for dry runs and tests.
    pub last_input: String,
}

/// What a listing is compared on: chain → rule count, map → element count.
#[derive(Debug, Default, PartialEq, Eq)]
struct Shape {
    chains: BTreeMap<String, usize>,
    elements: BTreeMap<String, usize>,
}

impl NftablesDatapath {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn applied(&self) -> Option<&Compiled> {
        self.applied.as_ref()
    }

    fn transact(&mut self, script: String) -> Result<()> {
        exec::run("nft", &["-f", "-"], Some(script.as_bytes()))
            .context("nft rejected the transaction (nothing was applied)")?;
        self.last_input = script;
        Ok(())
    }

    fn expected(c: &Compiled) -> Shape {
        let mut s = Shape::default();
        for (name, rules) in skeleton() {
            let n = rules.iter().filter(|r| !r.starts_with("type ")).count();
            s.chains.insert(name, n);
        }
        s.elements.insert(SERVICE_IPS.into(), 0);
        s.elements.insert(NO_ENDPOINTS.into(), 0);
        for o in c.services.values() {
            for (name, rules) in &o.chains {
                s.chains.insert(name.clone(), rules.len());
            }
            if let Some((map, _)) = &o.element {
                *s.elements.entry(map.to_string()).or_default() += 1;
            }
            if let Some(map) = &o.endpoint_map {
                s.elements.insert(map.clone(), o.endpoints.len());
            }
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
            } else if let Some(m) = obj.get("map") {
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
        "nftables"
    }

    fn full_sync(&mut self, model: &ServiceModel) -> Result<()> {
        let compiled = compile(model);
        self.transact(render_full(&compiled))?;
        self.applied = Some(compiled);
        Ok(())
    }

    fn partial_sync(&mut self, model: &ServiceModel, changed: &BTreeSet<ServicePortName>) -> Result<()> {
        let Some(old) = self.applied.clone() else {
            return self.full_sync(model);
        };
        let compiled = compile(model);
        let script = render_partial(&old, &compiled, changed);
        if !script.is_empty() {
            self.transact(script)?;
        }
        self.applied = Some(compiled);
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
        for (map, n) in &want.elements {
            let h = have.elements.get(map).copied();
            if h != Some(*n) {
                return Ok(Some(format!("map {map} has {h:?} elements, expected {n}")));
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
