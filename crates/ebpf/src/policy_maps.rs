//! The pinned policy maps and one sync per change: the rows of
//! `policy_rows` written in an order that never shows a packet a verdict
//! neither the old nor the new policies give. Rows for every protocol
//! first, then the per-protocol rows (each row is replaced whole, by one
//! map update), then the pods' isolation (a newly isolated pod's rows are
//! in place before it is isolated; a pod no longer isolated is opened
//! before its rows go), and last the rows no longer wanted.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{HashMap, Map, MapData};
use labyrinth_contracts::bpf::policy::*;

use crate::maps::ignore_missing;
use crate::policy_rows::{PolicyRows, RuleKey};

pub struct PolicyMaps {
    pub pods: HashMap<MapData, u32, PolicyPod>,
    pub rules: LpmTrie<MapData, PolicyKey, PolicyValue>,
    pub stats: HashMap<MapData, PolicyStatKey, u64>,
}

fn pinned(dir: &Path, name: &str) -> Result<MapData> {
    let path = dir.join(name);
    MapData::from_pin(&path).with_context(|| format!("opening pinned map {}", path.display()))
}

impl PolicyMaps {
    /// The maps the programs pinned under `dir` (they exist once the
    /// datapath has loaded its programs).
    pub fn open(dir: &Path) -> Result<Self> {
        let ctx = |n: &str| format!("map {n} has an unexpected layout (an older version pinned?)");
        Ok(PolicyMaps {
            pods: HashMap::try_from(Map::HashMap(pinned(dir, POLICY_PODS_MAP)?))
                .with_context(|| ctx(POLICY_PODS_MAP))?,
            rules: LpmTrie::try_from(Map::LpmTrie(pinned(dir, POLICY_RULES_MAP)?))
                .with_context(|| ctx(POLICY_RULES_MAP))?,
            stats: HashMap::try_from(Map::HashMap(pinned(dir, POLICY_STATS_MAP)?))
                .with_context(|| ctx(POLICY_STATS_MAP))?,
        })
    }

    /// What the maps hold now.
    pub fn read(&self) -> Result<PolicyRows> {
        let mut out = PolicyRows::default();
        for kv in self.pods.iter() {
            let (k, v) = kv.context("reading the policy pods map")?;
            out.pods.insert(k, v);
        }
        for kv in self.rules.iter() {
            let (k, v): (Key<PolicyKey>, PolicyValue) = kv.context("reading the policy rules map")?;
            out.rules.insert((k.prefix_len(), k.data()), v);
        }
        Ok(out)
    }

    /// Take the maps from what they hold to `new`; returns how many
    /// entries were written or deleted.
    pub fn sync(&mut self, new: &PolicyRows) -> Result<usize> {
        let old = self.read()?;
        self.sync_from(&old, new)
    }

    /// [`PolicyMaps::sync`] from `old`, what the maps are known to hold
    /// (the last sync's rows), without reading them back: only the rows
    /// that differ are written.
    pub fn sync_from(&mut self, old: &PolicyRows, new: &PolicyRows) -> Result<usize> {
        let mut writes = 0;
        let changed = |k: &RuleKey, v: &PolicyValue| old.rules.get(k) != Some(v);
        let (any, specific): (BTreeMap<_, _>, BTreeMap<_, _>) =
            new.rules.iter().partition(|((_, k), _)| k.proto == POL_PROTO_ANY);
        for (k, v) in any.into_iter().chain(specific) {
            if changed(k, v) {
                self.rules
                    .insert(&Key::new(k.0, k.1), v, 0)
                    .with_context(|| format!("writing policy row {k:?}"))?;
                writes += 1;
            }
        }
        for (pod, v) in &new.pods {
            if old.pods.get(pod) != Some(v) {
                self.pods.insert(pod, v, 0).context("writing a policy pod")?;
                writes += 1;
            }
        }
        for pod in old.pods.keys().filter(|p| !new.pods.contains_key(p)) {
            ignore_missing(self.pods.remove(pod)).context("deleting a policy pod")?;
            writes += 1;
        }
        for k in old.rules.keys().filter(|k| !new.rules.contains_key(k)) {
            ignore_missing(self.rules.remove(&Key::new(k.0, k.1)))
                .with_context(|| format!("deleting policy row {k:?}"))?;
            writes += 1;
        }
        Ok(writes)
    }

    /// New connections judged per (pod, direction, verdict).
    pub fn stats(&self) -> Result<BTreeMap<PolicyStatKey, u64>> {
        let mut out = BTreeMap::new();
        for kv in self.stats.iter() {
            let (k, v) = kv.context("reading the policy stats map")?;
            out.insert(k, v);
        }
        Ok(out)
    }
}
