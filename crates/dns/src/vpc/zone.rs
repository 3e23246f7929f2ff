//! A VPC zone ([`VpcZone`]) compiled into a [`Snapshot`], so the VPC's
//! resolver answers through the same wire code as the cluster DNS.
//!
//! Zones served: the search domain (`node-1.<lab>.internal`), each host's
//! bare name as a zone of its own (`dig node-1` asks `node-1.` with no
//! search domain), and the reverse zones covering the lab's ranges. A
//! question outside all of them is REFUSED: there is no internet to ask.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;
use labyrinth_contracts::vpc_dns::VpcZone;

use crate::catalog::compile::compile_zones;
use crate::catalog::names::{normalize, reverse, to_wire};
use crate::catalog::record::{Data, Rec, Source};
use crate::catalog::{Snapshot, ZoneConfig};

/// The reverse zones (`<octets>.in-addr.arpa`) that together hold exactly
/// the reverse names of `net`: a range not on an octet boundary is split
/// into the zones of the next boundary (10.96.0.0/12 → 96…111.10).
pub fn reverse_zones(net: &Ipv4Net) -> Vec<String> {
    let bits = net.prefix_len().div_ceil(8) * 8;
    let subnets: Vec<Ipv4Net> = match net.subnets(bits) {
        Ok(s) => s.collect(),
        Err(_) => vec![*net],
    };
    subnets
        .iter()
        .map(|s| {
            let octets = s.network().octets();
            let mut labels: Vec<String> = octets[..usize::from(bits / 8)]
                .iter()
                .rev()
                .map(u8::to_string)
                .collect();
            labels.push("in-addr.arpa".into());
            labels.join(".")
        })
        .collect()
}

/// Compiles the zone; a host whose name or address does not fit is an error
/// naming it.
pub fn compile(zone: &VpcZone) -> Result<Snapshot> {
    let domain = normalize(&zone.domain);
    to_wire(&domain)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("domain {:?}", zone.domain))?;
    let mut zone_names = vec![domain.clone()];
    let mut recs = Vec::new();
    for (i, host) in zone.hosts.iter().enumerate() {
        let name = normalize(&host.name);
        if name.is_empty() || name.contains('.') {
            bail!(
                "hosts[{i}].name {:?}: one label, as a machine's hostname",
                host.name
            );
        }
        to_wire(&name)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("hosts[{i}].name {:?}", host.name))?;
        if !zone.reverse.iter().any(|r| r.contains(&host.address)) {
            bail!(
                "hosts[{i}].address {}: outside every reverse range ({})",
                host.address,
                zone.reverse
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let fqdn = format!("{name}.{domain}");
        recs.push(Rec::new(fqdn.clone(), Data::A(host.address), Source::Service));
        recs.push(Rec::new(name.clone(), Data::A(host.address), Source::Service));
        recs.push(Rec::new(
            reverse(host.address.into()),
            Data::Ptr(fqdn),
            Source::Service,
        ));
        zone_names.push(name);
    }
    for net in &zone.reverse {
        zone_names.extend(reverse_zones(net));
    }
    let mut by_name: HashMap<&str, Vec<&Rec>> = HashMap::new();
    for r in &recs {
        by_name.entry(r.name.as_str()).or_default().push(r);
    }
    // The VPC's names change only with the lab; a minute of caching is as a
    // cloud resolver's (GCE: 60 s… a few minutes).
    let cfg = ZoneConfig {
        domain: domain.clone(),
        ttl: 60,
    };
    compile_zones(by_name, &zone_names, &cfg, 1)
}
