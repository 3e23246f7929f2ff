//! `EbpfDatapath`: the node's eBPF datapath. Opened inside the node's
//! network namespace with a pin directory on a bpffs; everything it
//! attaches and writes is pinned there, so dropping it (an agent exit)
//! leaves packets flowing, and opening it again takes over without a gap.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aya::maps::lpm_trie::Key;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::abi::*;
use crate::attach::{self, AttachMode, Hook};
use crate::ct_gc::{GcStats, Lifetimes};
use crate::lb_compile::{Ids, LbState};
use crate::loader::{self, Programs};
use crate::maps::{ignore_missing, Maps};

/// The default pin directory on a node.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/labyrinth";

/// The cluster's routing mode: VXLAN through a collect_md tunnel device,
/// or the node's FIB (routes to the other nodes' pod CIDRs).
pub use labyrinth_contracts::modes::Routing;

/// How a packet enters a pod on this node: out of its host veth (the
/// default) or by peer redirect past it.
pub use labyrinth_contracts::modes::PodDelivery;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TraceLevel {
    Drops,
    /// Drops, flow openings/closings and translations (the default).
    Flows,
    All,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// The VXLAN device in collect_md ("external") mode; required in tunnel mode.
    pub tunnel_dev: Option<String>,
    pub vni: u32,
    pub routing: Routing,
    /// Native routing: the underlay device, whose ingress gets the
    /// from_overlay program (replies of translated flows arrive there).
    pub native_dev: Option<String>,
    /// The node's uplink to the VPC, whose ingress gets the from_overlay
    /// program in tunnel mode too: connections from outside the cluster
    /// to a NodePort arrive there (bpf/lib/lb_nodeport.h), and the
    /// replies of masqueraded ones from backends on other nodes. In
    /// native routing it is `native_dev`.
    #[serde(default)]
    pub uplink_dev: Option<String>,
    /// This node's underlay address.
    pub node_ip: Ipv4Addr,
    /// Source address for a pod reaching itself through a Service (the
    /// node's gateway address, 10.0.n.1).
    pub hairpin_ip: Ipv4Addr,
    pub attach: AttachMode,
    pub trace: TraceLevel,
    #[serde(default)]
    pub delivery: PodDelivery,
}

/// A pod on this node, as the CNI plugin made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodEndpoint {
    pub ip: Ipv4Addr,
    /// The host-side veth (`lxc…`).
    pub host_ifname: String,
    /// The MAC of the pod's own eth0.
    pub pod_mac: [u8; 6],
}

pub struct EbpfDatapath {
    pub(crate) pin_dir: PathBuf,
    pub(crate) cfg: Config,
    pub(crate) progs: Programs,
    pub(crate) maps: Maps,
    pub(crate) ids: Ids,
    /// What the service maps hold as far as we know (read back at open).
    pub(crate) applied: LbState,
    /// UDP backends drained while terminating, to flush once they stop
    /// serving (`lb_drain`).
    pub(crate) draining: crate::lb_drain::Backends,
}

fn link_of(name: &str) -> Result<labyrinth_netlink::Link> {
    let mut h = labyrinth_netlink::Handle::current("ebpf datapath")?;
    h.link_by_name(name)?
        .with_context(|| format!("no device {name} in this network namespace"))
}

impl EbpfDatapath {
    /// Load the programs (the verifier runs here), create or reopen the
    /// pinned maps, write the node config, and attach (or re-attach, with
    /// the freshly loaded code) the tunnel device's programs and every
    /// endpoint program a previous run left pinned.
    pub fn open(pin_dir: impl AsRef<Path>, cfg: Config) -> Result<Self> {
        let pin_dir = pin_dir.as_ref().to_path_buf();
        if cfg.routing == Routing::Tunnel && cfg.tunnel_dev.is_none() {
            bail!("routing mode tunnel needs a tunnel device (config field tunnel_dev)");
        }
        if cfg.vni >= 1 << 24 {
            bail!("vni {} does not fit VXLAN's 24 bits", cfg.vni);
        }
        let progs = loader::load_all(&pin_dir)?;
        let mut maps = Maps::open(&pin_dir)?;
        crate::retired::carry_over(&mut maps)?;
        let applied = maps.read_lb()?;
        let ids = Ids::recover(&applied);
        let mut dp = EbpfDatapath {
            pin_dir,
            cfg,
            progs,
            maps,
            ids,
            applied,
            draining: Default::default(),
        };
        dp.write_config()?;
        dp.attach_tunnel()?;
        dp.reattach_endpoints()?;
        Ok(dp)
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn write_config(&mut self) -> Result<()> {
        let tunnel_ifindex = match (&self.cfg.routing, &self.cfg.tunnel_dev) {
            (Routing::Tunnel, Some(dev)) => link_of(dev)?.index,
            _ => 0,
        };
        let c = LbyConfig {
            tunnel_ifindex,
            vni: self.cfg.vni,
            node_ip: be_addr(self.cfg.node_ip),
            hairpin_ip: be_addr(self.cfg.hairpin_ip),
            routing: match self.cfg.routing {
                Routing::Tunnel => ROUTING_TUNNEL,
                Routing::Native => ROUTING_NATIVE,
            },
            trace_level: self.cfg.trace as u8,
            delivery: match self.cfg.delivery {
                PodDelivery::HostVeth => DELIVERY_HOST_VETH,
                PodDelivery::PeerRedirect => DELIVERY_PEER_REDIRECT,
            },
            pad: 0,
        };
        self.maps
            .config
            .set(0, c, 0)
            .context("writing the node config map")
    }

    /// Change what the programs report to `observe`.
    pub fn set_trace_level(&mut self, level: TraceLevel) -> Result<()> {
        self.cfg.trace = level;
        self.write_config()
    }

    /// Change how packets enter local pods; the programs read the config
    /// per packet, so the next packet goes the new way.
    pub fn set_delivery(&mut self, delivery: PodDelivery) -> Result<()> {
        self.cfg.delivery = delivery;
        self.write_config()
    }

    /// The programs on the tunnel device (both ways), or in native
    /// routing on the underlay device's ingress.
    fn attach_tunnel(&mut self) -> Result<()> {
        let (mode, dir) = (self.cfg.attach, self.pin_dir.clone());
        let (dev, both_ways) = match self.cfg.routing {
            Routing::Tunnel => (self.cfg.tunnel_dev.clone(), true),
            Routing::Native => (self.cfg.native_dev.clone(), false),
        };
        let Some(dev) = dev else { return Ok(()) };
        let idx = link_of(&dev)?.index;
        attach::attach(
            self.progs.from_overlay.prog(),
            mode,
            &dir,
            &dev,
            idx,
            Hook::Ingress,
        )?;
        if both_ways {
            attach::attach(self.progs.to_overlay.prog(), mode, &dir, &dev, idx, Hook::Egress)?;
        }
        if let Some(up) = self.cfg.uplink_dev.clone().filter(|u| *u != dev) {
            let idx = link_of(&up)?.index;
            attach::attach(
                self.progs.from_overlay.prog(),
                mode,
                &dir,
                &up,
                idx,
                Hook::Ingress,
            )?;
        }
        Ok(())
    }

    /// Endpoints a previous run attached: swap in our freshly loaded code
    /// (atomically), and forget those whose device is gone.
    fn reattach_endpoints(&mut self) -> Result<()> {
        let dir = self.pin_dir.clone();
        for (ip, ep) in self.maps.endpoint_entries()? {
            match ifname_of(ep.ifindex) {
                Some(name) => {
                    attach::attach(
                        self.progs.from_container.prog(),
                        self.cfg.attach,
                        &dir,
                        &name,
                        ep.ifindex,
                        Hook::Ingress,
                    )?;
                    attach::attach(
                        self.progs.to_container.prog(),
                        self.cfg.attach,
                        &dir,
                        &name,
                        ep.ifindex,
                        Hook::Egress,
                    )?;
                }
                None => {
                    ignore_missing(self.maps.endpoints.remove(&ip)).context("forgetting a gone endpoint")?
                }
            }
        }
        for (ifname, idx, hook) in attach::pinned_links(&dir) {
            if ifname_of(idx).as_deref() != Some(ifname.as_str()) {
                let hook = if hook == "egress" {
                    Hook::Egress
                } else {
                    Hook::Ingress
                };
                attach::detach(AttachMode::Tcx, &dir, &ifname, hook)?;
            }
        }
        Ok(())
    }

    /// A pod came up (after CNI ADD): make it reachable by redirect, then
    /// put the programs on its host veth (`from_container` on its ingress,
    /// `to_container` on its egress). Rolls back what it did if an attach
    /// fails.
    pub fn attach_endpoint(&mut self, ep: &PodEndpoint) -> Result<()> {
        let link = link_of(&ep.host_ifname)?;
        let node_mac = link
            .mac
            .with_context(|| format!("{} has no MAC address", ep.host_ifname))?;
        let value = EndpointValue {
            ifindex: link.index,
            pod_mac: ep.pod_mac,
            node_mac,
            flags: 0,
        };
        let key = be_addr(ep.ip);
        self.maps
            .endpoints
            .insert(key, value, 0)
            .with_context(|| format!("adding endpoint {}", ep.ip))?;
        let dir = self.pin_dir.clone();
        let attached = attach::attach(
            self.progs.from_container.prog(),
            self.cfg.attach,
            &dir,
            &ep.host_ifname,
            link.index,
            Hook::Ingress,
        )
        .and_then(|()| {
            attach::attach(
                self.progs.to_container.prog(),
                self.cfg.attach,
                &dir,
                &ep.host_ifname,
                link.index,
                Hook::Egress,
            )
        });
        if let Err(e) = attached {
            let _ = attach::detach(self.cfg.attach, &dir, &ep.host_ifname, Hook::Ingress);
            let _ = self.maps.endpoints.remove(&key);
            return Err(e);
        }
        Ok(())
    }

    /// The node's own way into Services: packets the node routes into
    /// `dev` (the agent routes the Service range out lby_host, so they
    /// arrive on its peer lby_net) get the same translation as a pod's.
    /// No endpoints entry: nothing is ever redirected into `dev`.
    pub fn attach_host_dev(&mut self, dev: &str) -> Result<()> {
        let idx = link_of(dev)?.index;
        let dir = self.pin_dir.clone();
        attach::attach(
            self.progs.from_container.prog(),
            self.cfg.attach,
            &dir,
            dev,
            idx,
            Hook::Ingress,
        )
    }

    /// A pod went away (CNI DEL): detach and forget it.
    pub fn detach_endpoint(&mut self, ip: Ipv4Addr, host_ifname: &str) -> Result<()> {
        attach::detach(self.cfg.attach, &self.pin_dir, host_ifname, Hook::Ingress)?;
        attach::detach(self.cfg.attach, &self.pin_dir, host_ifname, Hook::Egress)?;
        ignore_missing(self.maps.endpoints.remove(&be_addr(ip)))
            .with_context(|| format!("removing endpoint {ip}"))
    }

    /// Pods in `cidr` live on the node with underlay address `node_ip`
    /// (another node's pod CIDR, from its Node object).
    pub fn set_ipcache(&mut self, cidr: Ipv4Net, node_ip: Ipv4Addr, identity: u32) -> Result<()> {
        let v = IpcacheValue {
            tunnel_endpoint: be_addr(node_ip),
            identity,
            flags: 0,
            pad: [0; 3],
        };
        let key = Key::new(u32::from(cidr.prefix_len()), be_addr(cidr.network()));
        self.maps
            .ipcache
            .insert(&key, v, 0)
            .with_context(|| format!("ipcache {cidr} -> {node_ip}"))
    }

    pub fn remove_ipcache(&mut self, cidr: Ipv4Net) -> Result<()> {
        let key = Key::new(u32::from(cidr.prefix_len()), be_addr(cidr.network()));
        ignore_missing(self.maps.ipcache.remove(&key)).with_context(|| format!("removing ipcache {cidr}"))
    }

    /// Make the ipcache exactly `entries` (cidr → node), e.g. from the
    /// Node objects' podCIDRs: adds and changes first, then removals.
    pub fn sync_ipcache(&mut self, entries: &[(Ipv4Net, Ipv4Addr)]) -> Result<()> {
        for (cidr, node) in entries {
            self.set_ipcache(*cidr, *node, 0)?;
        }
        for (len, addr, _) in self.maps.ipcache_entries()? {
            let net = Ipv4Net::new(addr_of(addr), len as u8)?;
            if !entries.iter().any(|(c, _)| *c == net) {
                self.remove_ipcache(net)?;
            }
        }
        Ok(())
    }

    /// One conntrack collection with the default lifetimes; the agent
    /// calls it every few seconds.
    pub fn gc_conntrack(&mut self) -> Result<GcStats> {
        self.gc_conntrack_at(crate::dump::monotonic_ns(), &Lifetimes::default())
    }

    /// The same at a given CLOCK_MONOTONIC time (tests move the clock).
    pub fn gc_conntrack_at(&mut self, now_ns: u64, l: &Lifetimes) -> Result<GcStats> {
        self.maps
            .gc_ct(now_ns, crate::abi::be_addr(self.cfg.hairpin_ip), l)
    }

    /// Detach everything and remove every pin (the datapath is switched off).
    pub fn teardown(self) -> Result<()> {
        for (ifname, _, hook) in attach::pinned_links(&self.pin_dir) {
            let hook = if hook == "egress" {
                Hook::Egress
            } else {
                Hook::Ingress
            };
            attach::detach(self.cfg.attach, &self.pin_dir, &ifname, hook)?;
        }
        let devs = [&self.cfg.tunnel_dev, &self.cfg.native_dev, &self.cfg.uplink_dev];
        for dev in devs.into_iter().flatten() {
            attach::detach(self.cfg.attach, &self.pin_dir, dev, Hook::Ingress)?;
            attach::detach(self.cfg.attach, &self.pin_dir, dev, Hook::Egress)?;
        }
        for ep in self.maps.endpoint_entries()?.values() {
            if let Some(name) = ifname_of(ep.ifindex) {
                attach::detach(self.cfg.attach, &self.pin_dir, &name, Hook::Ingress)?;
            }
        }
        drop(self.maps);
        drop(self.progs);
        std::fs::remove_dir_all(&self.pin_dir).with_context(|| format!("removing {}", self.pin_dir.display()))
    }
}

pub(crate) fn ifname_of(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf is IF_NAMESIZE bytes as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    Some(
        unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}
