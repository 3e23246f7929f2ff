//! A node's network devices and tunnel parameters, in the roles Cilium's
//! devices play. The agent creates them; the tracer captures on them and
//! names them; the eBPF loader attaches to them.

/// Holds the node's gateway address (the first of its pod CIDR), the next
/// hop of every pod's default route (cilium_host).
pub const HOST_DEV: &str = "lby_host";
/// `HOST_DEV`'s veth peer (cilium_net).
pub const NET_DEV: &str = "lby_net";
/// Both gateway devices, in the order the tracer lists them.
pub const GATEWAY_DEVS: [&str; 2] = [HOST_DEV, NET_DEV];
/// The VXLAN device in tunnel mode (cilium_vxlan).
pub const VXLAN_DEV: &str = "lby_vxlan";
/// The node's underlay interface, named as on the articles' cloud VMs.
pub const UPLINK_DEV: &str = "ens4";
/// The UDP port Cilium and flannel use (Linux's VXLAN default is 4789).
pub const VXLAN_PORT: u16 = 8472;
/// The VXLAN network identifier when none is configured.
pub const DEFAULT_VNI: u32 = 1;
/// VXLAN header + UDP + outer IPv4 + inner Ethernet.
pub const VXLAN_OVERHEAD: u32 = 50;
/// The route protocol number our routes carry (`ip route` shows "proto 76"),
/// so a sync touches only routes the agent made.
pub const ROUTE_PROTO: u8 = 76;
/// Prefix of a pod's host-side veth (`lxc<hash>`), as Cilium names them.
pub const POD_VETH_PREFIX: &str = "lxc";
/// Prefix of a retired pod veth awaiting deletion (`lxd<ifindex>`).
pub const RETIRED_VETH_PREFIX: &str = "lxd";
/// The CNI config the agent writes in the node's CNI config folder,
/// the network it names (host-local keeps its leases in a folder of that
/// name), and the plugin program it installs in the CNI program folder:
/// `labyrinth uninstall` removes the same.
pub const CNI_CONFLIST: &str = "10-labyrinth.conflist";
pub const CNI_NETWORK: &str = "labyrinth";
pub const CNI_PROGRAM: &str = "labyrinth-cni";
/// The PATH a process on a node starts from when nothing set one (the
/// usual Debian default): containers, CNI plugins and `lab ssh`.
pub const STANDARD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The directories a node has copy-on-write over the host's (lab/src/sandbox.rs
/// mounts them): separate mounts, so a container's root (agent's
/// native/pause.c) layers each of them on its own.
pub const MACHINE_DIRS: [&str; 4] = ["etc", "opt", "var", "root"];
/// Where a node keeps what is its own and no container's: the kubelet
/// role's pods, credentials and the API server's data (/var/lib/labyrinth),
/// the address leases, etcd's data, the pods' logs and the agent's, the
/// node's kubeconfigs (/etc/labyrinth, and /etc/kubernetes with the cluster
/// admin's on a control node). A container's root is the node's
/// filesystem, copy-on-write (agent's native/pause.c, which names each of
/// these itself): an empty folder of the container's own covers each, as a
/// container of a real image has none of them, unless its manifest mounts
/// one as a hostPath (on top). On a lab's node and on a real one alike.
pub const NODE_PRIVATE_DIRS: [&str; 7] = [
    "var/lib/labyrinth",
    "var/lib/cni",
    "var/lib/etcd",
    "var/log/pods",
    "var/log/labyrinth",
    "etc/labyrinth",
    "etc/kubernetes",
];
/// Those of `NODE_PRIVATE_DIRS` that a pod start writes into: on a lab's
/// node each is a tmpfs of its own (lab/src/sandbox.rs), not part of the
/// node's copy-on-write /var, as a real node keeps them on its own disk.
pub const NODE_STATE_FILESYSTEMS: [&str; 3] = ["var/lib/labyrinth", "var/lib/cni", "var/log/pods"];
/// The node's other mounts of its own (lab/src/sandbox.rs: a private /run
/// and /tmp, its own bpffs): with `MACHINE_DIRS`, what a hostPath volume
/// may write (agent's runtime/host_path.rs); the rest of a node's
/// filesystem is the host's.
pub const NODE_OWN_MOUNTS: [&str; 3] = ["run", "tmp", "sys/fs/bpf"];

/// Where a node keeps the lab's own binary (`labyrinth`), on the PATH of
/// `lab ssh` and of every container: the lab puts it there when the node
/// boots, the agent again when it starts (addon pods run `labyrinth dns`).
pub const BIN_DIR: &str = "/opt/labyrinth/bin";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_filesystems_are_private_dirs_holding_the_pods_state() {
        for dir in NODE_STATE_FILESYSTEMS {
            assert!(NODE_PRIVATE_DIRS.contains(&dir), "{dir} is not a private dir");
        }
        let pods = crate::sandbox::PODS_DIR.trim_start_matches('/');
        assert!(
            NODE_STATE_FILESYSTEMS.iter().any(|d| pods.starts_with(d)),
            "{pods}"
        );
    }
}
