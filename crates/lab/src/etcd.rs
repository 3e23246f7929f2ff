//! etcd for `lab up --store etcd`: one member inside node-0, as kubeadm's
//! stacked etcd on a control node: its data under the node's own /var (gone
//! with the lab), listening on node-0's loopback and address, run as a
//! static pod (`crate::manifests`) next to the API server, which is
//! pointed at it.

use labyrinth_contracts::store::{ETCD_CLIENT_PORT, ETCD_PEER_PORT};
use std::net::Ipv4Addr;

/// Where etcd keeps its data inside node-0 (kubeadm's place for it).
pub const DATA_DIR: &str = "/var/lib/etcd";

/// What the API server's --etcd-servers says: loopback inside node-0.
pub fn client_url() -> String {
    format!("http://127.0.0.1:{ETCD_CLIENT_PORT}")
}

/// The etcd command line for the member on the node at `address`.
pub fn argv(node: &str, address: Ipv4Addr) -> Vec<String> {
    let peer = format!("http://{address}:{ETCD_PEER_PORT}");
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
        &format!("{node}={peer}"),
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
        let a = argv("node-0", Ipv4Addr::new(10, 168, 0, 2));
        let flag = |f: &str| a[a.iter().position(|x| x == f).unwrap() + 1].clone();
        assert_eq!(
            flag("--listen-client-urls"),
            "http://127.0.0.1:2379,http://10.168.0.2:2379"
        );
        assert_eq!(flag("--initial-cluster"), "node-0=http://10.168.0.2:2380");
        assert_eq!(flag("--data-dir"), "/var/lib/etcd");
    }
}
