//! Two "nodes" as our agent and CNI build them, in scratch namespaces:
//! an underlay veth between the nodes (10.168.0.3 / .4), a VXLAN device
//! lby_vxlan (collect_md for eBPF, or the classic fdb/neighbour kind the
//! kernel datapaths use), a gateway 10.0.n.1/32 on lby_host, and pods with
//! eth0 /32, a link route to the gateway and a default route via it, their
//! host veth `lxc…` with proxy-ARP and a /32 route.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::Netns;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vxlan {
    /// `external`: the eBPF programs give every packet its tunnel key.
    CollectMd,
    /// VNI 1 with fdb and permanent neighbour entries per peer.
    Classic,
    /// No tunnel: native routing, the other node's pod CIDR via its
    /// underlay address.
    Native,
}

pub struct Node {
    pub ns: Netns,
    /// 1-based, as in 10.0.<n>.0/24.
    pub n: u8,
}

impl Node {
    pub fn underlay_ip(&self) -> Ipv4Addr {
        underlay_ip(self.n)
    }
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, self.n, 1)
    }
    pub fn pod_cidr(&self) -> Ipv4Net {
        pod_cidr(self.n)
    }
}

pub struct Pod {
    pub ns: Netns,
    /// Index into Topology::nodes.
    pub node: usize,
    pub ip: Ipv4Addr,
    pub host_if: String,
    pub mac: [u8; 6],
}

pub struct Topology {
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
}

pub fn underlay_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 168, 0, 2 + n)
}

pub fn pod_cidr(n: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(10, 0, n, 0), 24).unwrap()
}

fn vtep_mac(n: u8) -> String {
    format!("0e:4c:0a:a8:00:{:02x}", 2 + n)
}

pub const POD_MTU: u32 = 1450;

impl Topology {
    /// `pods_per_node[i]` pods on node i+1.
    pub fn new(tag: &str, pods_per_node: &[usize], vxlan: Vxlan) -> Topology {
        let nodes: Vec<Node> = (0..pods_per_node.len())
            .map(|i| Node {
                ns: Netns::new(&format!("{tag}-node{}", i + 1)),
                n: i as u8 + 1,
            })
            .collect();
        for node in &nodes {
            node.ns.sh(&format!(
                "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 && \
                 ip link add lby_host type veth peer name lby_net && ip addr add {gw}/32 dev lby_host && \
                 ip link set lby_net up && ip link set lby_host up",
                gw = node.gateway()
            ));
        }
        if nodes.len() == 2 {
            link_nodes(&nodes, vxlan);
        }
        let mut pods = Vec::new();
        for (ni, count) in pods_per_node.iter().enumerate() {
            for i in 0..*count {
                pods.push(add_pod(tag, &nodes[ni], ni, i));
            }
        }
        Topology { nodes, pods }
    }

    pub fn pods_on(&self, node: usize) -> Vec<usize> {
        (0..self.pods.len())
            .filter(|&i| self.pods[i].node == node)
            .collect()
    }
}

fn link_nodes(nodes: &[Node], vxlan: Vxlan) {
    let (a, b) = (&nodes[0], &nodes[1]);
    a.ns.sh(&format!(
        "ip link add eth1 type veth peer name eth1 netns {}",
        b.ns.pid()
    ));
    for (me, peer) in [(a, b), (b, a)] {
        let ul = me.underlay_ip();
        if vxlan == Vxlan::Native {
            me.ns.sh(&format!(
                "ip addr add {ul}/24 dev eth1 && ip link set eth1 up && ip route add {} via {} dev eth1 src {}",
                peer.pod_cidr(),
                peer.underlay_ip(),
                me.gateway()
            ));
            continue;
        }
        let dev = match vxlan {
            Vxlan::CollectMd => "ip link add lby_vxlan type vxlan external dstport 8472".to_string(),
            _ => {
                format!("ip link add lby_vxlan type vxlan id 1 dstport 8472 local {ul} dev eth1 nolearning")
            }
        };
        let vtep = peer.pod_cidr().network();
        me.ns.sh(&format!(
            "ip addr add {ul}/24 dev eth1 && ip link set eth1 up && {dev} && \
             ip link set lby_vxlan address {mac} mtu {POD_MTU} up && \
             ip neigh add {vtep} lladdr {pmac} dev lby_vxlan nud permanent && \
             ip route add {cidr} via {vtep} dev lby_vxlan onlink src {gw}",
            mac = vtep_mac(me.n),
            pmac = vtep_mac(peer.n),
            cidr = peer.pod_cidr(),
            gw = me.gateway(),
        ));
        if vxlan == Vxlan::Classic {
            me.ns.sh(&format!(
                "bridge fdb append {} dev lby_vxlan dst {}",
                vtep_mac(peer.n),
                peer.underlay_ip()
            ));
        }
    }
}

fn add_pod(tag: &str, node: &Node, ni: usize, i: usize) -> Pod {
    let ns = Netns::new(&format!("{tag}-n{}p{i}", node.n));
    let ip = Ipv4Addr::new(10, 0, node.n, 10 + i as u8);
    let host_if = format!("lxc{}{}{}", node.n, i, std::process::id() % 10000);
    node.ns.sh(&format!(
        "ip link add {host_if} type veth peer name eth0 netns {pid} && ip link set {host_if} mtu {POD_MTU} up && \
         sysctl -qw net.ipv4.conf.{host_if}.proxy_arp=1 net.ipv4.conf.{host_if}.rp_filter=0 && \
         ip route add {ip}/32 dev {host_if}",
        pid = ns.pid()
    ));
    let gw = node.gateway();
    ns.sh(&format!(
        "ip addr add {ip}/32 dev eth0 && ip link set eth0 mtu {POD_MTU} up && \
         ip route add {gw} dev eth0 scope link && ip route add default via {gw}"
    ));
    let mac = parse_mac(&ns.sh("ip -o link show eth0"));
    Pod {
        ns,
        node: ni,
        ip,
        host_if,
        mac,
    }
}

fn parse_mac(ip_link: &str) -> [u8; 6] {
    let word = ip_link
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC in {ip_link}"));
    let mut mac = [0u8; 6];
    for (m, h) in mac.iter_mut().zip(word.split(':')) {
        *m = u8::from_str_radix(h, 16).unwrap();
    }
    mac
}
