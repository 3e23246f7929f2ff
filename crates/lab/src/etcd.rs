//! etcd for `lab up --store etcd`: one member inside each control-plane
//! node, as kubeadm's stacked etcd: its data under the node's own /var (gone
//! with the lab), listening on the node's loopback and address, run as a
//! static pod (`crate::manifests`) next to the API server, which is
//! pointed at it first and at the other members after it.

use labyrinth_contracts::store::{ETCD_CLIENT_PORT, ETCD_PEER_PORT};
use std::net::Ipv4Addr;

/// Where etcd keeps its data inside node-0 (kubeadm's place for it).
pub const DATA_DIR: &str = "/var/lib/etcd";

/// What the API server's --etcd-servers says: loopback inside node-0.
pub fn client_url() -> String {
    format!("http://127.0.0.1:{ETCD_CLIENT_PORT}")
}

/// One member: its node's name and address.
pub type Member<'a> = (&'a str, Ipv4Addr);

fn peer_url(address: Ipv4Addr) -> String {
    format!("http://{address}:{ETCD_PEER_PORT}")
}

/// The API server's --etcd-servers on the member `own` of `members`: its
/// own member on loopback first, then the others by address.
pub fn client_urls(members: &[Member<'_>], own: &str) -> String {
    let mut urls = vec![client_url()];
    for (name, address) in members {
        if *name != own {
            urls.push(format!("http://{address}:{ETCD_CLIENT_PORT}"));
        }
    }
    urls.join(",")
}

/// The etcd command line for the member `node` at `address`, one of the
/// cluster's `members` (all of them, itself included), started together.
/// Heartbeat and election timeout are twice etcd's defaults (100 / 1000
/// ms): the lab shares a few busy cores, where the defaults make members
/// call elections for a late heartbeat.
pub fn argv(node: &str, address: Ipv4Addr, members: &[Member<'_>]) -> Vec<String> {
    let initial: Vec<String> = members
        .iter()
        .map(|(name, a)| format!("{name}={}", peer_url(*a)))
        .collect();
    command(node, address, &initial.join(","), "new")
}

/// The command line of a member `join --control-plane` added to a running
/// cluster (`member add`), with the --initial-cluster built from its answer.
pub fn argv_joining(node: &str, address: Ipv4Addr, initial_cluster: &str) -> Vec<String> {
    command(node, address, initial_cluster, "existing")
}

/// The peer URL a member at `address` listens on (what `member add` gets).
pub fn peer_url_of(address: Ipv4Addr) -> String {
    peer_url(address)
}

/// The client URL other nodes reach the member at `address` on.
pub fn client_url_of(address: Ipv4Addr) -> String {
    format!("http://{address}:{ETCD_CLIENT_PORT}")
}

fn command(node: &str, address: Ipv4Addr, initial: &str, state: &str) -> Vec<String> {
    let peer = peer_url(address);
    let clients = format!("{},http://{address}:{ETCD_CLIENT_PORT}", client_url());
    [
        "etcd",
        "--name",
        node,
        "--data-dir",
        DATA_DIR,
        "--listen-client-urls",
        &clients,
        "--advertise-client-urls",
        &format!("http://{address}:{ETCD_CLIENT_PORT}"),
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        initial,
        "--initial-cluster-state",
        state,
        "--heartbeat-interval",
        "200",
        "--election-timeout",
        "2000",
        "--logger",
        "zap",
        "--log-outputs",
        "stderr",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The check `up` repeats until etcd answers.
pub fn health_argv() -> Vec<String> {
    [
        "etcdctl",
        "--endpoints",
        &client_url(),
        "--command-timeout=2s",
        "endpoint",
        "health",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_member_on_node_0s_loopback_and_address() {
        let a = argv(
            "node-0",
            Ipv4Addr::new(10, 168, 0, 2),
            &[("node-0", Ipv4Addr::new(10, 168, 0, 2))],
        );
        let flag = |f: &str| a[a.iter().position(|x| x == f).unwrap() + 1].clone();
        assert_eq!(
            flag("--listen-client-urls"),
            "http://127.0.0.1:2379,http://10.168.0.2:2379"
        );
        assert_eq!(flag("--initial-cluster"), "node-0=http://10.168.0.2:2380");
        assert_eq!(flag("--data-dir"), "/var/lib/etcd");
        assert_eq!(flag("--initial-cluster-state"), "new");
        let j = argv_joining(
            "node-1",
            Ipv4Addr::new(10, 168, 0, 3),
            "node-0=http://10.168.0.2:2380,node-1=http://10.168.0.3:2380",
        );
        let flag = |f: &str| j[j.iter().position(|x| x == f).unwrap() + 1].clone();
        assert_eq!(flag("--initial-cluster-state"), "existing");
        assert_eq!(
            flag("--initial-advertise-peer-urls"),
            peer_url_of(Ipv4Addr::new(10, 168, 0, 3))
        );
        assert_eq!(
            flag("--initial-cluster"),
            "node-0=http://10.168.0.2:2380,node-1=http://10.168.0.3:2380"
        );
    }

    #[test]
    fn three_stacked_members_know_each_other_and_api_servers_ask_their_own_first() {
        let members = [
            ("node-0", Ipv4Addr::new(10, 168, 0, 2)),
            ("node-1", Ipv4Addr::new(10, 168, 0, 3)),
            ("node-2", Ipv4Addr::new(10, 168, 0, 4)),
        ];
        let a = argv("node-1", members[1].1, &members);
        let flag = |f: &str| a[a.iter().position(|x| x == f).unwrap() + 1].clone();
        assert_eq!(
            flag("--initial-cluster"),
            "node-0=http://10.168.0.2:2380,node-1=http://10.168.0.3:2380,node-2=http://10.168.0.4:2380"
        );
        assert_eq!(flag("--initial-advertise-peer-urls"), "http://10.168.0.3:2380");
        assert_eq!(
            flag("--listen-client-urls"),
            "http://127.0.0.1:2379,http://10.168.0.3:2379"
        );
        assert_eq!(flag("--name"), "node-1");
        assert_eq!(
            client_urls(&members, "node-1"),
            "http://127.0.0.1:2379,http://10.168.0.2:2379,http://10.168.0.4:2379"
        );
        assert_eq!(client_urls(&members[..1], "node-0"), "http://127.0.0.1:2379");
    }
}
