//! Compiles records into a [`Snapshot`]: every answer is encoded once here so
//! the query path only copies bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result};

use super::names::{in_zone, parent, to_wire};
use super::record::{rtype, Data, Rec, Source};
use super::snapshot::{Node, RrSet, Snapshot, Zone};
use crate::wire::encode::{ns_rdata, push_rr, rdata, soa_rdata, SoaFields, QNAME_POINTER};

/// The specification's schema version, served as `dns-version.<zone>` TXT.
pub const SCHEMA_VERSION: &str = "1.1.0";
/// Reverse zones answered alongside the cluster zone.
pub const REVERSE_ZONES: [&str; 2] = ["in-addr.arpa", "ip6.arpa"];

/// Zone-wide settings.
#[derive(Debug, Clone)]
pub struct ZoneConfig {
    /// Cluster domain, e.g. `cluster.local`.
    pub domain: String,
    /// TTL of every record (CoreDNS: 5 s).
    pub ttl: u32,
}

impl ZoneConfig {
    pub fn new(domain: &str) -> Self {
        ZoneConfig {
            domain: super::names::normalize(domain),
            ttl: 5,
        }
    }
    /// Primary name server in the SOA.
    pub fn mname(&self) -> String {
        format!("ns.dns.{}", self.domain)
    }
    /// Responsible mailbox in the SOA.
    pub fn rname(&self) -> String {
        format!("hostmaster.{}", self.domain)
    }
    fn soa(&self, serial: u32) -> SoaFields {
        // CoreDNS's kubernetes plugin values; the negative TTL equals the TTL.
        SoaFields {
            mname: self.mname(),
            rname: self.rname(),
            serial,
            refresh: 7200,
            retry: 1800,
            expire: 86400,
            minimum: self.ttl,
        }
    }
}

/// Builds a snapshot from all records currently known.
pub fn compile<'a>(
    recs: impl IntoIterator<Item = &'a Rec>,
    cfg: &ZoneConfig,
    serial: u32,
) -> Result<Snapshot> {
    let zone = cfg.domain.as_str();
    let mut by_name: HashMap<&str, Vec<&Rec>> = HashMap::new();
    for r in recs {
        by_name.entry(r.name.as_str()).or_default().push(r);
    }
    // Synthesised zone records.
    let version = Rec::new(
        format!("dns-version.{zone}"),
        Data::Txt(SCHEMA_VERSION.into()),
        Source::Service,
    );
    let ns_host = Rec::new(cfg.mname(), Data::Exists, Source::Service);
    by_name.entry(version.name.as_str()).or_default().push(&version);
    by_name.entry(ns_host.name.as_str()).or_default().push(&ns_host);

    let mut zone_names = vec![zone.to_string()];
    zone_names.extend(REVERSE_ZONES.iter().map(|z| z.to_string()));
    compile_zones(by_name, &zone_names, cfg, serial)
}

/// Builds a snapshot answering authoritatively for `zone_names` (each with
/// the SOA of `cfg`) from records grouped by owner name; a record outside
/// every zone is skipped. `compile` serves the cluster zones with it, the
/// VPC resolver its own.
pub fn compile_zones(
    by_name: HashMap<&str, Vec<&Rec>>,
    zone_names: &[String],
    cfg: &ZoneConfig,
    serial: u32,
) -> Result<Snapshot> {
    let soa_rdata = soa_rdata(&cfg.soa(serial))?;
    let mut zones = Vec::new();
    for z in zone_names {
        let apex = to_wire(z)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("zone {z:?}"))?;
        let mut soa_rr = Vec::new();
        push_rr(&mut soa_rr, &apex, rtype::SOA, cfg.ttl, &soa_rdata);
        zones.push(Zone {
            apex: apex.into_boxed_slice(),
            soa_rr: soa_rr.into_boxed_slice(),
        });
    }

    let mut snap = Snapshot {
        serial,
        ..Snapshot::default()
    };
    let mut owners: Vec<&str> = by_name.keys().copied().collect();
    owners.sort_unstable();
    for name in owners {
        if !zone_names.iter().any(|z| in_zone(name, z)) {
            tracing::warn!(name, "record outside the served zones skipped");
            continue;
        }
        let Ok(key) = to_wire(name) else {
            tracing::warn!(name, "record with an invalid name skipped");
            continue;
        };
        let node = compile_node(&by_name[name], &by_name, cfg.ttl, &mut snap.records)
            .with_context(|| format!("compiling records of {name}"))?;
        snap.names.insert(key.into_boxed_slice(), node);
        // Ancestors exist too (they answer NODATA, never NXDOMAIN).
        let mut up = parent(name);
        while let Some(p) = up {
            if !zone_names.iter().any(|z| in_zone(p, z)) {
                break;
            }
            let k = to_wire(p).map_err(anyhow::Error::msg)?.into_boxed_slice();
            snap.names.entry(k).or_default();
            up = parent(p);
        }
    }
    // Apex: SOA and NS answers (owner = the question name).
    for z in &zones {
        let node = snap.names.entry(z.apex.clone()).or_default();
        let mut sets: Vec<RrSet> = node.sets.to_vec();
        let mut an = Vec::new();
        push_rr(&mut an, &QNAME_POINTER, rtype::SOA, cfg.ttl, &soa_rdata);
        sets.push(RrSet::new(rtype::SOA, 1, &an, 0, &[]));
        let mut an = Vec::new();
        push_rr(
            &mut an,
            &QNAME_POINTER,
            rtype::NS,
            cfg.ttl,
            &ns_rdata(&cfg.mname())?,
        );
        sets.push(RrSet::new(rtype::NS, 1, &an, 0, &[]));
        node.sets = sets.into_boxed_slice();
    }
    snap.zones = zones;
    Ok(snap)
}

fn compile_node(
    recs: &[&Rec],
    by_name: &HashMap<&str, Vec<&Rec>>,
    ttl: u32,
    count: &mut usize,
) -> Result<Node> {
    // A reverse name claimed by several sources keeps the most specific.
    let best_ptr = recs
        .iter()
        .filter(|r| r.data.rtype() == rtype::PTR)
        .map(|r| r.source)
        .min();
    let mut by_type: BTreeMap<u16, BTreeSet<&Data>> = BTreeMap::new();
    for r in recs {
        let t = r.data.rtype();
        if t == 0 || (t == rtype::PTR && Some(r.source) != best_ptr) {
            continue;
        }
        by_type.entry(t).or_default().insert(&r.data);
    }
    // A CNAME owner holds nothing else (RFC 1034 §3.6.2).
    if by_type.contains_key(&rtype::CNAME) {
        by_type.retain(|t, _| *t == rtype::CNAME);
    }
    let mut sets = Vec::with_capacity(by_type.len());
    for (t, datas) in by_type {
        let mut an = Vec::new();
        let mut ar = Vec::new();
        let mut ar_count = 0u16;
        let mut seen_targets = BTreeSet::new();
        for d in &datas {
            push_rr(&mut an, &QNAME_POINTER, t, ttl, &rdata(d)?);
            *count += 1;
            if let Data::Srv { target, .. } = d {
                if !seen_targets.insert(target.as_str()) {
                    continue;
                }
                let owner = to_wire(target).map_err(anyhow::Error::msg)?;
                let addrs: BTreeSet<&Data> = by_name
                    .get(target.as_str())
                    .into_iter()
                    .flatten()
                    .map(|r| &r.data)
                    .filter(|d| matches!(d, Data::A(_) | Data::Aaaa(_)))
                    .collect();
                for a in addrs {
                    push_rr(&mut ar, &owner, a.rtype(), ttl, &rdata(a)?);
                    ar_count += 1;
                }
            }
        }
        sets.push(RrSet::new(t, datas.len() as u16, &an, ar_count, &ar));
    }
    Ok(Node {
        sets: sets.into_boxed_slice(),
    })
}
