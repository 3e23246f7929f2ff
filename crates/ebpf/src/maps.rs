//! Typed handles on the pinned maps, opened by path so any process (the
//! agent, `labyrinth bpf map get`, a restarted agent) sees the same ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, Map, MapData};

use crate::abi::*;
use crate::ct_gc::{expired, flows, GcStats, Lifetimes};
use crate::lb_compile::LbState;
use crate::lb_plan::Op;
use labyrinth_proxy::conntrack::Stale;

pub struct Maps {
    pub services: HashMap<MapData, Lb4Key, Lb4Service>,
    pub backends: HashMap<MapData, u32, Lb4Backend>,
    pub revnat: HashMap<MapData, u16, Lb4ReverseNat>,
    pub names: HashMap<MapData, u16, Lb4Name>,
    pub ct: HashMap<MapData, Ct4Key, Ct4Entry>,
    pub ipcache: LpmTrie<MapData, IpcacheAddr, IpcacheValue>,
    pub endpoints: HashMap<MapData, u32, EndpointValue>,
    pub config: Array<MapData, LbyConfig>,
    pub nodeports: HashMap<MapData, Lb4NodePortKey, Lb4NodePort>,
    /// Where they are pinned (the policy maps beside them open from here).
    pub dir: std::path::PathBuf,
}

fn pinned(dir: &Path, name: &str) -> Result<MapData> {
    let path = dir.join(name);
    MapData::from_pin(&path).with_context(|| format!("opening pinned map {}", path.display()))
}

impl Maps {
    pub fn open(dir: &Path) -> Result<Maps> {
        let hash = |n| -> Result<Map> { Ok(Map::HashMap(pinned(dir, n)?)) };
        let ctx = |n: &str| format!("map {n} has an unexpected layout (an older version pinned?)");
        Ok(Maps {
            services: HashMap::try_from(hash(SERVICES_MAP)?).with_context(|| ctx(SERVICES_MAP))?,
            backends: HashMap::try_from(hash(BACKENDS_MAP)?).with_context(|| ctx(BACKENDS_MAP))?,
            revnat: HashMap::try_from(hash(REVNAT_MAP)?).with_context(|| ctx(REVNAT_MAP))?,
            names: HashMap::try_from(hash(NAMES_MAP)?).with_context(|| ctx(NAMES_MAP))?,
            ct: HashMap::try_from(Map::LruHashMap(pinned(dir, CT_MAP)?)).with_context(|| ctx(CT_MAP))?,
            ipcache: LpmTrie::try_from(Map::LpmTrie(pinned(dir, IPCACHE_MAP)?))
                .with_context(|| ctx(IPCACHE_MAP))?,
            endpoints: HashMap::try_from(hash(ENDPOINTS_MAP)?).with_context(|| ctx(ENDPOINTS_MAP))?,
            config: Array::try_from(Map::Array(pinned(dir, CONFIG_MAP)?)).with_context(|| ctx(CONFIG_MAP))?,
            nodeports: HashMap::try_from(hash(NODEPORT_MAP)?).with_context(|| ctx(NODEPORT_MAP))?,
            dir: dir.to_path_buf(),
        })
    }

    /// Everything the service maps hold now.
    pub fn read_lb(&self) -> Result<LbState> {
        let mut st = LbState::default();
        for kv in self.services.iter() {
            let (k, v) = kv.context("reading the services map")?;
            st.services.insert(k, v);
        }
        for kv in self.backends.iter() {
            let (k, v) = kv.context("reading the backends map")?;
            st.backends.insert(k, v);
        }
        for kv in self.revnat.iter() {
            let (k, v) = kv.context("reading the reverse NAT map")?;
            st.revnat.insert(k, v);
        }
        for kv in self.names.iter() {
            let (k, v) = kv.context("reading the names map")?;
            st.names.insert(k, v.as_str());
        }
        for kv in self.nodeports.iter() {
            let (k, v) = kv.context("reading the NodePort map")?;
            st.nodeports.insert(k, v);
        }
        Ok(st)
    }

    pub fn apply(&mut self, op: &Op) -> Result<()> {
        match op {
            Op::PutBackend(id, b) => self.backends.insert(id, b, 0),
            Op::PutRevNat(id, r) => self.revnat.insert(id, r, 0),
            Op::PutName(id, n) => self.names.insert(id, Lb4Name::new(n), 0),
            Op::PutSlot(k, v) | Op::PutFrontend(k, v) => self.services.insert(k, v, 0),
            Op::DelFrontend(k) | Op::DelSlot(k) => ignore_missing(self.services.remove(k)),
            Op::PutNodePort(k, v) => self.nodeports.insert(k, v, 0),
            Op::DelNodePort(k) => ignore_missing(self.nodeports.remove(k)),
            Op::DelName(id) => ignore_missing(self.names.remove(id)),
            Op::DelRevNat(id) => ignore_missing(self.revnat.remove(id)),
            Op::DelBackend(id) => ignore_missing(self.backends.remove(id)),
        }
        .with_context(|| format!("map write {op:?}"))
    }

    /// Delete the conntrack entries (both directions) of `proto` flows of
    /// service `id` that went to one of `backends` (address, port, network
    /// order): every such flow, or for `Stale::Draining` only those an
    /// answer came back through (`CT_F_ANSWERED`). Returns how many flows
    /// were dropped.
    pub fn flush_ct(
        &mut self,
        id: u16,
        proto: u8,
        backends: &BTreeSet<(u32, u16)>,
        stale: Stale,
        hairpin_addr: u32,
    ) -> Result<u64> {
        let mine: Vec<(Ct4Key, Ct4Entry)> = self
            .ct_entries()?
            .into_iter()
            .filter(|(k, v)| {
                k.proto == proto
                    && v.rev_nat_index == id
                    && backends.contains(&(v.backend_addr, v.backend_port))
            })
            .collect();
        let answered: std::collections::HashSet<Ct4Key> = mine
            .iter()
            .filter(|(k, v)| k.dir == CT_DIR_REPLY && v.flags & CT_F_ANSWERED != 0)
            .map(|(k, _)| *k)
            .collect();
        let mut dropped = 0;
        for f in flows(&mine, hairpin_addr) {
            if stale == Stale::Draining && !f.keys.iter().any(|k| answered.contains(k)) {
                continue; // still waiting for its answer
            }
            if f.keys.iter().any(|k| k.dir == CT_DIR_SERVICE) {
                dropped += 1;
            }
            for k in &f.keys {
                ignore_missing(self.ct.remove(k))?;
            }
        }
        Ok(dropped)
    }

    /// Delete the flows idle past their lifetime at `now_ns`. An entry a
    /// packet refreshed since it was read is spared (the walk is not
    /// atomic with the programs).
    pub fn gc_ct(&mut self, now_ns: u64, hairpin_addr: u32, l: &Lifetimes) -> Result<GcStats> {
        let entries = self.ct_entries()?;
        let read: BTreeMap<(u32, u32, u16, u16, u8, u8), u64> =
            entries.iter().map(|(k, v)| (ct_id(k), v.last_seen_ns)).collect();
        let (flows, doomed) = expired(&entries, now_ns, hairpin_addr, l);
        let mut deleted = 0;
        for k in doomed {
            match self.ct.get(&k, 0) {
                Ok(v) if Some(&v.last_seen_ns) == read.get(&ct_id(&k)) => {
                    ignore_missing(self.ct.remove(&k)).context("deleting a conntrack entry")?;
                    deleted += 1;
                }
                _ => {} // refreshed or already gone
            }
        }
        Ok(GcStats {
            flows,
            entries_deleted: deleted,
        })
    }

    pub fn ct_entries(&self) -> Result<Vec<(Ct4Key, Ct4Entry)>> {
        // Entries the LRU evicts while we walk just fail to read: skip them.
        Ok(self.ct.iter().flatten().collect())
    }

    pub fn ipcache_entries(&self) -> Result<Vec<(u32, u32, IpcacheValue)>> {
        let mut out = Vec::new();
        for kv in self.ipcache.iter() {
            let (k, v): (Key<u32>, IpcacheValue) = kv.context("reading the ipcache")?;
            out.push((k.prefix_len(), k.data(), v));
        }
        Ok(out)
    }

    pub fn endpoint_entries(&self) -> Result<BTreeMap<u32, EndpointValue>> {
        entries_of(&self.endpoints)
    }
}

/// The endpoints map alone, for removing a datapath whose other maps may
/// be of another version (a node an older agent left).
pub fn pinned_endpoints(dir: &Path) -> Result<BTreeMap<u32, EndpointValue>> {
    let m: HashMap<MapData, u32, EndpointValue> =
        HashMap::try_from(Map::HashMap(pinned(dir, ENDPOINTS_MAP)?)).context(ENDPOINTS_MAP)?;
    entries_of(&m)
}

fn entries_of(m: &HashMap<MapData, u32, EndpointValue>) -> Result<BTreeMap<u32, EndpointValue>> {
    let mut out = BTreeMap::new();
    for kv in m.iter() {
        let (k, v) = kv.context("reading the endpoints map")?;
        out.insert(k, v);
    }
    Ok(out)
}

fn ct_id(k: &Ct4Key) -> (u32, u32, u16, u16, u8, u8) {
    (k.saddr, k.daddr, k.sport, k.dport, k.proto, k.dir)
}

/// Deleting what is already gone is success (idempotent cleanup).
pub fn ignore_missing(r: Result<(), aya::maps::MapError>) -> Result<(), aya::maps::MapError> {
    match r {
        Err(aya::maps::MapError::KeyNotFound) => Ok(()),
        Err(aya::maps::MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
            Ok(())
        }
        other => other,
    }
}
