//! LoadBalancer addresses, the lab's stand-in for a cloud's balancer (as
//! MetalLB does it on bare metal): each Service of type LoadBalancer gets
//! one address of the pool into `status.loadBalancer.ingress[].ip`. An
//! address a Service already shows is kept; `spec.loadBalancerIP` is
//! honoured when it is in the pool and free; otherwise the lowest free
//! address goes to the oldest waiting Service. When none is left the
//! Service stays pending (no ingress, so no datapath programs anything for
//! it) and the controller says why in a Warning event. A Service that is no
//! longer a LoadBalancer loses its address; a deleted one simply stops
//! holding it.
//!
//! Pure decisions from the Services; the watch loop that applies them is
//! `runtime::loadbalancer`.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use labyrinth_contracts::lb_pool::AddressPool;

#[cfg(test)]
mod tests;

/// What to do to one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this address as the Service's only ingress.
    Assign { ns: String, name: String, ip: Ipv4Addr },
    /// Remove the ingress (no longer a LoadBalancer, or an address it may
    /// not keep and no other to give).
    Clear { ns: String, name: String },
    /// No address: stays `<pending>`; the message goes into a Warning event.
    Pending {
        ns: String,
        name: String,
        message: String,
    },
}

/// Services of another implementation (`spec.loadBalancerClass` set) are
/// not ours, as a cloud controller leaves them alone.
fn ours(s: &Service) -> bool {
    s.spec.as_ref().is_some_and(|sp| {
        sp.type_.as_deref() == Some("LoadBalancer")
            && sp.load_balancer_class.as_deref().is_none_or(str::is_empty)
    })
}

fn shown_ips(s: &Service) -> Vec<Ipv4Addr> {
    s.status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref().and_then(|ip| ip.parse().ok()))
        .collect()
}

fn wanted(s: &Service) -> Option<&str> {
    s.spec
        .as_ref()
        .and_then(|sp| sp.load_balancer_ip.as_deref())
        .filter(|w| !w.is_empty())
}

fn key(s: &Service) -> (String, String) {
    (
        s.metadata.namespace.clone().unwrap_or_default(),
        s.metadata.name.clone().unwrap_or_default(),
    )
}

/// Decide every Service's address. Only changes are returned: a Service
/// already showing the address it keeps gets no action.
pub fn decide(services: &[&Service], pool: &AddressPool) -> Vec<Action> {
    let mut used: HashSet<Ipv4Addr> = HashSet::new();
    let mut waiting = Vec::new();
    let mut out = Vec::new();
    let mut lbs: Vec<&Service> = services.iter().copied().filter(|s| ours(s)).collect();
    // Oldest first, so a later Service never takes an older one's turn.
    lbs.sort_by_key(|s| (s.metadata.creation_timestamp.clone().map(|t| t.0), key(s)));
    for s in &lbs {
        let shown = shown_ips(s);
        let keep = shown.first().copied().filter(|ip| {
            shown.len() == 1
                && pool.contains(*ip)
                && !used.contains(ip)
                && wanted(s).is_none_or(|w| w == ip.to_string())
        });
        match keep {
            Some(ip) => {
                used.insert(ip);
            }
            None => waiting.push(*s),
        }
    }
    for s in waiting {
        let (ns, name) = key(s);
        let pick = match wanted(s) {
            Some(w) => match w.parse::<Ipv4Addr>() {
                Ok(ip) if !pool.contains(ip) => Err(format!("{w} is not in the address pool {pool}")),
                Ok(ip) if used.contains(&ip) => Err(format!("{w} is already in use")),
                Ok(ip) => Ok(ip),
                Err(_) => Err(format!("{w:?} is not an IPv4 address")),
            },
            None => pool
                .iter()
                .find(|ip| !used.contains(ip))
                .ok_or_else(|| "no available IPs".to_string()),
        };
        match pick {
            Ok(ip) => {
                used.insert(ip);
                out.push(Action::Assign { ns, name, ip });
            }
            Err(why) => {
                if !shown_ips(s).is_empty() {
                    out.push(Action::Clear {
                        ns: ns.clone(),
                        name: name.clone(),
                    });
                }
                let message = format!("Failed to allocate IP for \"{ns}/{name}\": {why}");
                out.push(Action::Pending { ns, name, message });
            }
        }
    }
    // Clears go first: an address leaves its old Service before it shows
    // up on a new one, never on both.
    let mut clears: Vec<Action> = services
        .iter()
        .filter(|s| s.spec.as_ref().and_then(|sp| sp.type_.as_deref()) != Some("LoadBalancer"))
        .filter(|s| !shown_ips(s).is_empty())
        .map(|s| {
            let (ns, name) = key(s);
            Action::Clear { ns, name }
        })
        .collect();
    clears.extend(out);
    clears
}
