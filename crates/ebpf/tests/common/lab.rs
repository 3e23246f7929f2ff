//! The eBPF datapath on a Topology: one EbpfDatapath per node (pinned in
//! the test's private bpffs), every pod attached, the ipcache naming the
//! other node, and a Proxier per node driving the service maps.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use labyrinth_ebpf::{
    AttachMode, Config, EbpfDatapath, PodDelivery, PodEndpoint, Routing, SharedDatapath, TraceLevel,
};
use labyrinth_proxy::{Endpoint, Protocol, Proxier, ServiceModel, ServicePort, ServicePortName};

use super::topo::{Node, Topology, Vxlan};
use super::traffic::{Servers, PORT};

pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 50);
pub const EMPTY_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 51);
pub const HAIRPIN_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 52);

pub fn vip(ip: Ipv4Addr) -> SocketAddr {
    SocketAddr::from((ip, 80))
}

pub fn pin_dir(n: u8) -> String {
    format!("/sys/fs/bpf/lby-node{n}")
}

pub fn config(node: &Node, attach: AttachMode, routing: Routing) -> Config {
    Config {
        tunnel_dev: (routing == Routing::Tunnel).then(|| "lby_vxlan".into()),
        native_dev: (routing == Routing::Native).then(|| "eth1".into()),
        uplink_dev: None,
        vni: 1,
        routing,
        node_ip: node.underlay_ip(),
        hairpin_ip: node.gateway(),
        attach,
        trace: TraceLevel::Flows,
        delivery: PodDelivery::default(),
    }
}

/// wrk-2/web (TCP and UDP) over `backends`, wrk-2/empty with none, and
/// wrk-1/self whose only backend is `hairpin`.
pub fn model(backends: &[Ipv4Addr], hairpin: Ipv4Addr) -> ServiceModel {
    model_on_port(backends, hairpin, PORT)
}

/// The same with the backends' port (targetPort) `to`.
pub fn model_on_port(backends: &[Ipv4Addr], hairpin: Ipv4Addr, to: u16) -> ServiceModel {
    let mut m = ServiceModel::new(Some("10.0.0.0/16".parse().unwrap()));
    let mut add = |ns: &str, name: &str, port: &str, p: Protocol, vip: Ipv4Addr, ips: &[Ipv4Addr]| {
        let eps = ips.iter().map(|ip| Endpoint::new(*ip, to)).collect();
        m.insert(ServicePort::new(
            ServicePortName::new(ns, name, port, p),
            vip,
            80,
            eps,
        ));
    };
    add("wrk-2", "web", "http", Protocol::Tcp, VIP, backends);
    add("wrk-2", "web", "dgram", Protocol::Udp, VIP, backends);
    add("wrk-2", "empty", "", Protocol::Tcp, EMPTY_VIP, &[]);
    add("wrk-2", "empty", "", Protocol::Udp, EMPTY_VIP, &[]);
    add("wrk-1", "self", "", Protocol::Tcp, HAIRPIN_VIP, &[hairpin]);
    m
}

pub type Shared = Arc<Mutex<Option<Proxier>>>;

pub struct Lab {
    pub topo: Topology,
    pub proxiers: Vec<Shared>,
    /// The same datapaths, for pod and ipcache work (as the agent holds them).
    pub datapaths: Vec<Mutex<Option<SharedDatapath>>>,
    pub servers: Option<Servers>,
    pub attach: AttachMode,
    pub routing: Routing,
}

impl Lab {
    /// Pods named p0, p1, … in `server_pods` run servers.
    pub fn new(tag: &str, pods_per_node: &[usize], server_pods: &[usize], attach: AttachMode) -> Lab {
        Lab::with_routing(tag, pods_per_node, server_pods, attach, Routing::Tunnel)
    }

    pub fn with_routing(
        tag: &str,
        pods_per_node: &[usize],
        server_pods: &[usize],
        attach: AttachMode,
        routing: Routing,
    ) -> Lab {
        let underlay = match routing {
            Routing::Tunnel => Vxlan::CollectMd,
            Routing::Native => Vxlan::Native,
        };
        let topo = Topology::new(tag, pods_per_node, underlay);
        let named: Vec<_> = server_pods
            .iter()
            .enumerate()
            .map(|(i, &p)| (&topo.pods[p].ns, format!("p{i}")))
            .collect();
        let servers = Some(Servers::start(&named));
        let lab = Lab {
            proxiers: (0..topo.nodes.len()).map(|_| Shared::default()).collect(),
            datapaths: (0..topo.nodes.len()).map(|_| Mutex::default()).collect(),
            topo,
            servers,
            attach,
            routing,
        };
        for n in 0..lab.topo.nodes.len() {
            lab.open(n);
        }
        lab
    }

    /// (Re)open node `n`'s datapath, as an agent start does: attach its
    /// pods, fill the ipcache, and hand it to a fresh Proxier.
    pub fn open(&self, n: usize) {
        let node = &self.topo.nodes[n];
        let cfg = config(node, self.attach, self.routing);
        let dir = pin_dir(node.n);
        let pods: Vec<PodEndpoint> = self
            .topo
            .pods_on(n)
            .iter()
            .map(|&i| {
                let p = &self.topo.pods[i];
                PodEndpoint {
                    ip: p.ip,
                    host_ifname: p.host_if.clone(),
                    pod_mac: p.mac,
                }
            })
            .collect();
        let peers: Vec<_> = self
            .topo
            .nodes
            .iter()
            .filter(|o| o.n != node.n)
            .map(|o| (o.pod_cidr(), o.underlay_ip()))
            .collect();
        let dp = node.ns.run(move || {
            let mut dp = EbpfDatapath::open(&dir, cfg).expect("opening the datapath");
            for p in &pods {
                dp.attach_endpoint(p).expect("attaching a pod");
            }
            dp.sync_ipcache(&peers).expect("ipcache");
            dp
        });
        let shared = SharedDatapath::new(dp);
        let mut proxier = Proxier::new(Box::new(shared.clone()));
        *self.datapaths[n].lock().unwrap() = Some(shared);
        // The programs keep their own conntrack; there is no kernel NAT state.
        proxier.flush_conntrack = false;
        *self.proxiers[n].lock().unwrap() = Some(proxier);
    }

    /// Drop node `n`'s datapath (an agent exit): pins keep everything.
    pub fn close(&self, n: usize) {
        self.proxiers[n].lock().unwrap().take();
        self.datapaths[n].lock().unwrap().take();
    }

    pub fn proxy<T>(&self, n: usize, f: impl FnOnce(&mut Proxier) -> T) -> T {
        let mut g = self.proxiers[n].lock().unwrap();
        f(g.as_mut().expect("node datapath is open"))
    }

    /// The same model on every node.
    pub fn sync_all(&self, m: &ServiceModel) {
        for n in 0..self.proxiers.len() {
            self.proxy(n, |p| {
                p.set_model(m.clone(), None);
                p.sync().expect("sync");
            });
        }
    }

    /// Every node's programs deliver to local pods this way from now on.
    /// (Written in the node's namespace: the config names its tunnel
    /// device by ifindex, looked up there.)
    pub fn set_delivery(&self, d: PodDelivery) {
        for (n, dp) in self.datapaths.iter().enumerate() {
            let dp = dp.lock().unwrap().clone().expect("node datapath is open");
            self.topo.nodes[n]
                .ns
                .run(move || dp.lock().set_delivery(d).expect("writing the config"));
        }
    }

    pub fn node_sh(&self, n: usize, cmd: &str) -> String {
        self.topo.nodes[n].ns.sh(cmd)
    }

    /// A bpftool listing in node `n`, run again when a link being attached
    /// elsewhere on the machine cut it short (`labyrinth_testkit::bpftool`).
    pub fn node_bpftool(&self, n: usize, cmd: &str) -> String {
        let ns = &self.topo.nodes[n].ns;
        let (ok, out) = labyrinth_testkit::bpftool::listing(|| ns.try_sh(cmd));
        assert!(ok, "[node {n}] `{cmd}` failed: {out}");
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.servers.take();
        // Never panic here (a failed test may have poisoned a lock).
        for p in &self.proxiers {
            if let Ok(mut g) = p.lock() {
                g.take();
            }
        }
        for d in &self.datapaths {
            if let Ok(mut g) = d.lock() {
                g.take();
            }
        }
    }
}
