//! Derives DNS records from Kubernetes objects, following the Kubernetes
//! DNS-Based Service Discovery specification (schema 1.1.0).

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::names::{dashed, normalize, reverse, MAX_LABEL};
use super::record::{Data, Rec, Source};

/// Label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// SRV priority/weight: the specification leaves them open; CoreDNS uses
/// priority 0 and spreads weight 100 over the targets.
const SRV_PRIORITY: u16 = 0;

/// Records for one Service given the EndpointSlices that belong to it.
pub fn service_records(svc: &Service, slices: &[&EndpointSlice], zone: &str) -> Vec<Rec> {
    let (Some(ns), Some(name)) = (svc.metadata.namespace.as_deref(), svc.metadata.name.as_deref()) else {
        return Vec::new();
    };
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    if !valid_label(name) || !valid_label(ns) {
        return Vec::new();
    }
    let fqdn = format!("{}.{}.svc.{zone}", normalize(name), normalize(ns));
    let mut out = Vec::new();

    if spec.type_.as_deref() == Some("ExternalName") {
        if let Some(target) = spec.external_name.as_deref().filter(|t| !t.is_empty()) {
            out.push(Rec::new(&fqdn, Data::Cname(normalize(target)), Source::Service));
        }
        return out;
    }

    let cluster_ips = cluster_ips(svc);
    if cluster_ips.is_empty() && !is_headless(svc) {
        // A Service still being allocated: its name must not appear yet.
        return out;
    }
    if !cluster_ips.is_empty() {
        for ip in &cluster_ips {
            out.push(Rec::new(&fqdn, addr_data(*ip), Source::Service));
            out.push(Rec::new(reverse(*ip), Data::Ptr(fqdn.clone()), Source::Service));
        }
        for port in spec.ports.iter().flatten() {
            let Some(pname) = port.name.as_deref().filter(|n| valid_label(n)) else {
                continue;
            };
            let proto = port.protocol.as_deref().unwrap_or("TCP");
            out.push(Rec::new(
                format!("_{}._{}.{fqdn}", normalize(pname), proto.to_ascii_lowercase()),
                Data::Srv {
                    priority: SRV_PRIORITY,
                    weight: 100,
                    port: port.port as u16,
                    target: fqdn.clone(),
                },
                Source::Service,
            ));
        }
        return out;
    }

    // Headless: every ready endpoint gets the service name, its own
    // hostname record, a PTR and an SRV per named port.
    let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
    let mut endpoints: BTreeSet<(String, IpAddr)> = BTreeSet::new();
    let mut ports: BTreeSet<(String, String, u16)> = BTreeSet::new();
    for slice in slices {
        if slice.address_type == "FQDN" {
            continue;
        }
        for ep in slice.endpoints.iter().flatten() {
            let ready = ep.conditions.as_ref().and_then(|c| c.ready) != Some(false);
            if !ready && !publish_not_ready {
                continue;
            }
            for addr in &ep.addresses {
                let Ok(ip) = addr.parse::<IpAddr>() else {
                    continue;
                };
                let host = ep
                    .hostname
                    .as_deref()
                    .filter(|h| valid_label(h))
                    .map(normalize)
                    .unwrap_or_else(|| dashed(ip));
                endpoints.insert((host, ip));
            }
        }
        for p in slice.ports.iter().flatten() {
            let (Some(pname), Some(num)) = (p.name.as_deref(), p.port) else {
                continue;
            };
            if !valid_label(pname) {
                continue;
            }
            let proto = p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
            ports.insert((normalize(pname), proto, num as u16));
        }
    }
    let weight = if endpoints.is_empty() {
        0
    } else {
        (100 / endpoints.len()).max(1) as u16
    };
    for (host, ip) in &endpoints {
        let ep_name = format!("{host}.{fqdn}");
        out.push(Rec::new(&fqdn, addr_data(*ip), Source::Endpoint));
        out.push(Rec::new(&ep_name, addr_data(*ip), Source::Endpoint));
        out.push(Rec::new(
            reverse(*ip),
            Data::Ptr(ep_name.clone()),
            Source::Endpoint,
        ));
        for (pname, proto, num) in &ports {
            out.push(Rec::new(
                format!("_{pname}._{proto}.{fqdn}"),
                Data::Srv {
                    priority: SRV_PRIORITY,
                    weight,
                    port: *num,
                    target: ep_name.clone(),
                },
                Source::Endpoint,
            ));
        }
    }
    if endpoints.is_empty() {
        // The Service exists, so its name must answer NODATA, not NXDOMAIN.
        out.push(Rec::new(&fqdn, Data::Exists, Source::Service));
    }
    out
}

/// Records for one Pod: `a-b-c-d.<ns>.pod.<zone>` A/AAAA and a PTR.
pub fn pod_records(pod: &Pod, zone: &str) -> Vec<Rec> {
    let Some(ns) = pod.metadata.namespace.as_deref().filter(|n| valid_label(n)) else {
        return Vec::new();
    };
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return Vec::new();
    }
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
    let mut ips: BTreeSet<IpAddr> = BTreeSet::new();
    for ip in status.pod_ips.iter().flatten() {
        if let Ok(ip) = ip.ip.parse() {
            ips.insert(ip);
        }
    }
    if let Some(Ok(ip)) = status.pod_ip.as_deref().map(str::parse) {
        ips.insert(ip);
    }
    let mut out = Vec::new();
    for ip in ips {
        let name = format!("{}.{}.pod.{zone}", dashed(ip), normalize(ns));
        out.push(Rec::new(&name, addr_data(ip), Source::Pod));
        // Host-network pods share the node's address; a PTR for each would
        // be noise, so only pod-network addresses get one.
        if !host_network {
            out.push(Rec::new(reverse(ip), Data::Ptr(name), Source::Pod));
        }
    }
    out
}

/// The Service an EndpointSlice belongs to (its namespace and name).
pub fn slice_owner(slice: &EndpointSlice) -> Option<(String, String)> {
    let ns = slice.metadata.namespace.clone()?;
    let svc = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?.clone();
    Some((ns, svc))
}

fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

fn cluster_ips(svc: &Service) -> Vec<IpAddr> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for s in spec.cluster_ips.iter().flatten().chain(spec.cluster_ip.iter()) {
        if let Ok(ip) = s.parse::<IpAddr>() {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    ips
}

fn addr_data(ip: IpAddr) -> Data {
    match ip {
        IpAddr::V4(v4) => Data::A(v4),
        IpAddr::V6(v6) => Data::Aaaa(v6),
    }
}

fn valid_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LABEL && !s.contains('.')
}
