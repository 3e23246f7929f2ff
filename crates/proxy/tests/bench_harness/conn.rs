//! New TCP connections per second through one ClusterIP, through one
//! NodePort on the node's address (every service then has a NodePort, as
//! issue 19's benchmark asks), or through one LoadBalancer address (every
//! service then has a NodePort and an address of its own), with few and
//! with many services programmed on the node (iptables too, at 10,000,
//! since its full sync names all chains at once; `Plan::iptables_conn_many`
//! can bound it). The two topologies exist side by side and rounds
//! alternate between them, so load from other work on the machine falls on
//! both alike; each round pair's ratio is reported, to show the noise.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::topo::{Topology, GATEWAY, SERVER, SERVER_PORT};
use super::{datapath, measure, secs, synthetic_model, Plan, DATAPATHS};
use labyrinth_proxy::external::{NodePort, ThisNode};
use labyrinth_proxy::{Endpoint, Protocol, Proxier, ServiceModel, ServicePort, ServicePortName};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 1);
const ROUNDS: usize = 5;
/// The target's NodePort; the others take 40000 on (the bench has more
/// Services than the API's NodePort range holds, so it widens it, as
/// --service-node-port-range can).
const TARGET_NODE_PORT: u16 = 30080;
/// The target's LoadBalancer address; the client's default route (the
/// node) leads there, as the VPC's route to an announced address does.
const TARGET_LB: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);

/// Through a ClusterIP, or a NodePort on the node's address.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Via {
    ClusterIp,
    NodePort,
    LoadBalancer,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::ClusterIp => "ClusterIP",
            Via::NodePort => "NodePort",
            Via::LoadBalancer => "LoadBalancer",
        }
    }
}

/// `services` services in all, one of them the target behind VIP:80.
/// Returns the model and the target's position among the services.
pub fn model(services: usize, endpoints: usize, via: Via) -> (ServiceModel, usize) {
    let mut m = synthetic_model(services.saturating_sub(1), endpoints);
    let target = ServicePortName::new("ns-25", "target", "http", Protocol::Tcp);
    m.insert(ServicePort::new(
        target.clone(),
        VIP,
        80,
        vec![Endpoint::new(SERVER, SERVER_PORT)],
    ));
    if via != Via::ClusterIp {
        // The client reaches the node at its gateway address.
        m.node = Some(ThisNode {
            name: "bench-node".into(),
            ip: GATEWAY,
            zone: None,
        });
        for (i, sp) in m.services.values_mut().enumerate() {
            let port = if sp.name == target {
                TARGET_NODE_PORT
            } else {
                40000 + i as u16
            };
            sp.node_port = Some(NodePort {
                port,
                local: false,
                health_check: None,
            });
            if via == Via::LoadBalancer {
                let lb = if sp.name == target {
                    TARGET_LB
                } else {
                    Ipv4Addr::new(10, 201, (i / 250) as u8, (i % 250) as u8 + 1)
                };
                sp.load_balancer_ips = vec![lb];
            }
        }
    }
    let at = m.services.keys().position(|k| *k == target).unwrap_or(0);
    (m, at)
}

/// `n` sequential connect / read-EOF / close from the client: conn/s.
fn round(topo: &Topology, n: usize, via: Via) -> Result<f64> {
    topo.flush_conntrack();
    let to = match via {
        Via::ClusterIp => SocketAddrV4::new(VIP, 80),
        Via::NodePort => SocketAddrV4::new(GATEWAY, TARGET_NODE_PORT),
        Via::LoadBalancer => SocketAddrV4::new(TARGET_LB, 80),
    };
    topo.client.run(move || -> Result<f64> {
        let to = SocketAddr::V4(to);
        let start = Instant::now();
        for i in 0..n {
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))
                .with_context(|| format!("connection {i} to {to}"))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut b = [0u8; 1];
            let _ = s.read(&mut b)?;
            abort(&s);
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    })
}

/// Close with a reset (SO_LINGER 0): the server, which closed first,
/// then keeps no TIME_WAIT for the client's port. Without it, rounds of
/// thousands of connections measured the client's port search against
/// TIME_WAIT and conntrack leftovers (one set of rounds fell from 12,000
/// to 140 conn/s), not the datapath.
fn abort(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a linger struct of the size given.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(s),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn one_datapath(dp: &'static str, plan: &Plan, via: Via) -> Result<Value> {
    let (few, mut many) = plan.conn_sizes;
    let bound = plan.iptables_conn_many.filter(|b| *b < many);
    let bounded = dp == "iptables" && via != Via::ClusterIp && bound.is_some();
    if let Some(b) = bound.filter(|_| bounded) {
        many = b;
    }
    let mut topos = Vec::new();
    let mut loads = Vec::new();
    for size in [few, many] {
        let topo = Topology::new();
        let (m, at) = model(size, plan.endpoints, via);
        let (_, took, user, sys) = topo.node.run(move || {
            measure(|| {
                let mut p = Proxier::new(datapath(dp));
                p.flush_conntrack = false;
                p.set_model(m, None);
                p.full_sync()?;
                // The rules stay after the proxier goes: nothing cleans up
                // but the namespace's end.
                Ok(())
            })
        })?;
        loads.push(json!({
            "services": size,
            "target_position": at,
            "load_seconds": secs(took),
            "load_cpu_user_s": user,
            "load_cpu_system_s": sys,
        }));
        topos.push(topo);
    }
    let mut rates = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (i, topo) in topos.iter().enumerate() {
            rates[i].push(round(topo, plan.connections, via)?);
        }
    }
    let (a, b) = (median(rates[0].clone()), median(rates[1].clone()));
    let ratio = b / a;
    let mut r = json!({
        "datapath": dp,
        "via": via.name(),
        "connections_per_round": plan.connections,
        "rounds": ROUNDS,
        "programmed": loads,
        "baseline": format!("{few} services programmed"),
        "baseline_conn_per_s": a.round(),
        "baseline_rounds": rates[0].iter().map(|x| x.round()).collect::<Vec<_>>(),
        "many_services": many,
        "conn_per_s": b.round(),
        "rounds_conn_per_s": rates[1].iter().map(|x| x.round()).collect::<Vec<_>>(),
        "round_ratios": rates[1].iter().zip(&rates[0]).map(|(m, f)| (m / f * 1e3).round() / 1e3).collect::<Vec<_>>(),
        "ratio_vs_baseline": (ratio * 1e3).round() / 1e3,
        "decline_percent": ((1.0 - ratio) * 1e3).round() / 10.0,
    });
    if dp == "nftables" {
        r["goal_within_10_percent"] = json!(ratio >= 0.9);
    }
    if bounded {
        r["bounded"] = json!(format!(
            "iptables measured at {many}, not {}, Services (PROXY_BENCH_IPTABLES_MANY)",
            plan.conn_sizes.1
        ));
    }
    eprintln!("{r}");
    Ok(r)
}

pub fn connections(plan: &Plan, via: Via) -> Result<Value> {
    let mut out = Vec::new();
    // PROXY_BENCH_CONN_DATAPATHS=nftables: leave out iptables, whose load
    // of 10k Services takes minutes on a busy machine.
    let only = std::env::var("PROXY_BENCH_CONN_DATAPATHS").ok();
    let wanted = |dp: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == dp));
    for dp in DATAPATHS.into_iter().filter(|dp| wanted(dp)) {
        out.push(one_datapath(dp, plan, via).with_context(|| format!("{dp} connection benchmark"))?);
    }
    Ok(json!(out))
}
