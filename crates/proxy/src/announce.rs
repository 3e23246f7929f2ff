//! LoadBalancer addresses on the VPC: the lab plays the cloud, and its
//! network must deliver a Service's address to a node. Each node makes
//! the addresses it can serve its own with a `local` route in table
//! local (no address on a device), so it answers ARP for them on the VPC
//! and the datapath takes the packets (iptables and nftables DNAT them in
//! prerouting; the eBPF program on the uplink before the stack).
//!
//! Every node announces a Cluster-policy address: any node can serve it,
//! so whichever answers the gateway's ARP last is as good as another and
//! no leader election is needed (MetalLB's L2 mode elects one per address
//! to avoid the ARP race; here the race is harmless). A Local-policy
//! address is announced only by nodes with a local endpoint, so the VPC
//! never sends it where it would be dropped.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use anyhow::{Context, Result};

use crate::exec;
use crate::model::ServiceModel;

/// Our routes carry this protocol number, so a sync removes only them.
pub const ROUTE_PROTO: &str = "199";

/// The addresses this node should answer for.
pub fn wanted(model: &ServiceModel) -> BTreeSet<Ipv4Addr> {
    let Some(node) = model.node.as_ref() else {
        return BTreeSet::new();
    };
    model
        .services
        .values()
        .filter(|sp| match sp.node_port {
            Some(np) => !np.local || !sp.local_endpoints(Some(node)).is_empty(),
            None => false,
        })
        .flat_map(|sp| sp.load_balancer_ips.iter().copied())
        .collect()
}

/// The addresses our routes make local now.
pub fn announced() -> Result<BTreeSet<Ipv4Addr>> {
    let out = exec::run(
        "ip",
        &["-j", "route", "show", "table", "local", "proto", ROUTE_PROTO],
        None,
    )?;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing `ip -j route show table local`")?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["dst"].as_str()?.trim_end_matches("/32").parse().ok())
        .collect())
}

/// Make the announced addresses `want`; `have` is what they were. One
/// `ip -batch` for all of them: a process per address took 44–56 s for
/// 10,000 LoadBalancer addresses.
pub fn apply(have: &BTreeSet<Ipv4Addr>, want: &BTreeSet<Ipv4Addr>) -> Result<()> {
    let script = batch(have, want);
    if script.is_empty() {
        return Ok(());
    }
    exec::run("ip", &["-batch", "-"], Some(script.as_bytes()))
        .context("announcing LoadBalancer addresses")?;
    Ok(())
}

/// The `ip -batch` lines that take the routes from `have` to `want`.
fn batch(have: &BTreeSet<Ipv4Addr>, want: &BTreeSet<Ipv4Addr>) -> String {
    let mut script = String::new();
    for (verb, ips) in [("replace", want - have), ("del", have - want)] {
        for ip in ips {
            script.push_str(&format!(
                "route {verb} local {ip}/32 dev lo table local proto {ROUTE_PROTO}\n"
            ));
        }
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::node_port;

    #[test]
    fn cluster_addresses_everywhere_local_ones_where_an_endpoint_is() {
        let lb = Ipv4Addr::new(10, 168, 0, 240);
        for (local, node, announced) in [
            (false, "node-0", true),
            (true, "node-0", false),
            (true, "node-2", true),
        ] {
            let (mut m, name) = node_port(local, node);
            m.services.get_mut(&name).unwrap().load_balancer_ips = vec![lb];
            assert_eq!(wanted(&m).contains(&lb), announced, "local {local} on {node}");
        }
        let (m, _) = node_port(false, "node-0");
        assert!(wanted(&m).is_empty(), "no LoadBalancer address, nothing");
    }

    #[test]
    fn one_batch_adds_the_new_and_removes_the_gone() {
        let ip = |d| Ipv4Addr::new(10, 168, 0, d);
        let have = BTreeSet::from([ip(1), ip(2)]);
        let want = BTreeSet::from([ip(2), ip(3)]);
        assert_eq!(
            batch(&have, &want),
            "route replace local 10.168.0.3/32 dev lo table local proto 199\n\
             route del local 10.168.0.1/32 dev lo table local proto 199\n"
        );
        assert_eq!(batch(&want, &want), "", "nothing to do, no process");
    }
}
