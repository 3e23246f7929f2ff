//! An immutable, precompiled view of the catalog. The server swaps whole
//! snapshots (arc-swap), so queries read without locks.

use std::collections::HashMap;

use super::record::rtype;

/// One RRset, ready to splice into a response: answer RRs (owner = pointer
/// to the question name) followed by additional RRs (full owner names).
#[derive(Debug, Clone)]
pub struct RrSet {
    pub rtype: u16,
    pub an_count: u16,
    pub ar_count: u16,
    an_len: u32,
    bytes: Box<[u8]>,
}

impl RrSet {
    pub fn new(rtype: u16, an_count: u16, answers: &[u8], ar_count: u16, additional: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(answers.len() + additional.len());
        bytes.extend_from_slice(answers);
        bytes.extend_from_slice(additional);
        RrSet {
            rtype,
            an_count,
            ar_count,
            an_len: answers.len() as u32,
            bytes: bytes.into_boxed_slice(),
        }
    }
    pub fn answers(&self) -> &[u8] {
        &self.bytes[..self.an_len as usize]
    }
    pub fn additional(&self) -> &[u8] {
        &self.bytes[self.an_len as usize..]
    }
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// A name in the catalog: its RRsets (possibly none: an empty non-terminal
/// or a headless Service without ready endpoints).
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub sets: Box<[RrSet]>,
}

impl Node {
    fn get(&self, t: u16) -> Option<&RrSet> {
        self.sets.iter().find(|s| s.rtype == t)
    }
}

/// A zone we answer authoritatively for.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Lowercase wire form of the apex (with root label).
    pub apex: Box<[u8]>,
    /// Full SOA RR (owner = apex) for the authority section.
    pub soa_rr: Box<[u8]>,
}

/// What a query resolves to.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// Records of the asked type (or a CNAME for another type).
    Answer(&'a RrSet),
    /// qtype ANY: every RRset of the name.
    Any(&'a Node, &'a Zone),
    /// The name exists without that type: NOERROR, empty answer, SOA.
    NoData(&'a Zone),
    /// The name doesn't exist in the zone: NXDOMAIN with SOA.
    NxDomain(&'a Zone),
    /// Not a zone of ours.
    OutOfZone,
}

/// The compiled catalog.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub(crate) names: HashMap<Box<[u8]>, Node>,
    /// Cluster zone first, then the reverse zones.
    pub(crate) zones: Vec<Zone>,
    pub serial: u32,
    /// Number of (deduplicated) records compiled in.
    pub records: usize,
}

impl Snapshot {
    /// Resolves a lowercase wire-format name. `label_starts` are the offsets
    /// of its labels (from the query parser) used to find the zone cheaply.
    pub fn lookup<'a>(&'a self, name: &[u8], label_starts: &[u8], qtype: u16) -> Lookup<'a> {
        let Some(zone) = self.zone_of(name, label_starts) else {
            return Lookup::OutOfZone;
        };
        let Some(node) = self.names.get(name) else {
            return Lookup::NxDomain(zone);
        };
        if qtype == rtype::ANY {
            return if node.sets.is_empty() {
                Lookup::NoData(zone)
            } else {
                Lookup::Any(node, zone)
            };
        }
        if let Some(set) = node.get(qtype) {
            return Lookup::Answer(set);
        }
        if let Some(cname) = node.get(rtype::CNAME) {
            return Lookup::Answer(cname);
        }
        Lookup::NoData(zone)
    }

    fn zone_of(&self, name: &[u8], label_starts: &[u8]) -> Option<&Zone> {
        // Also try the root offset so a query for the apex itself matches.
        for zone in &self.zones {
            let zl = zone.apex.len();
            if name.len() < zl {
                continue;
            }
            let off = name.len() - zl;
            let aligned = off == 0 || label_starts.contains(&(off as u8));
            if aligned && name[off..] == *zone.apex {
                return Some(zone);
            }
        }
        None
    }

    /// Convenience for tests and tools: lookup by text name.
    pub fn lookup_text(&self, name: &str, qtype: u16) -> Lookup<'_> {
        let Ok(wire) = super::names::to_wire(name) else {
            return Lookup::OutOfZone;
        };
        let starts = label_starts(&wire);
        self.lookup(&wire, &starts, qtype)
    }

    /// Names held (including empty non-terminals).
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    /// Approximate heap footprint of the compiled answers.
    pub fn heap_bytes(&self) -> usize {
        let per_entry = std::mem::size_of::<(Box<[u8]>, Node)>() + 8;
        self.names
            .iter()
            .map(|(k, n)| {
                per_entry
                    + k.len()
                    + n.sets.len() * std::mem::size_of::<RrSet>()
                    + n.sets.iter().map(RrSet::heap_bytes).sum::<usize>()
            })
            .sum()
    }
}

/// Label start offsets of an uncompressed wire name (root label excluded).
pub fn label_starts(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < wire.len() && wire[i] != 0 {
        out.push(i as u8);
        i += 1 + wire[i] as usize;
    }
    out
}
