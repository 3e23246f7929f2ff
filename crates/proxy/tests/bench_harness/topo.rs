//! A three-namespace scratch topology for the connection benchmark: a
//! "node" routing between a client and a server "pod", each behind a veth
//! with /32 routes (as the agent wires pods), and a TCP server that accepts
//! and closes. Everything goes away on drop.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};

use crate::common::Netns;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 250, 10);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 251, 10);
pub const SERVER_PORT: u16 = 8080;
/// The node's address on the client's side (its NodePorts answer there).
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 250, 1);

pub struct Topology {
    pub node: Netns,
    pub client: Netns,
    server: Netns,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<Result<()>>>,
}

impl Topology {
    pub fn new() -> Self {
        let node = Netns::unshared("bench-node", &[]);
        let client = Netns::unshared("bench-client", &[]);
        let server = Netns::unshared("bench-server", &[]);
        node.sh(
            "echo 1 > /proc/sys/net/ipv4/ip_forward; echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter; \
             echo 0 > /proc/sys/net/ipv4/conf/default/rp_filter; ip link set lo up",
        );
        for (i, (pod, ip)) in [(&client, CLIENT), (&server, SERVER)].into_iter().enumerate() {
            node.sh(&format!(
                "ip link add h{i} type veth peer name eth0 netns {pid} && ip addr add {GATEWAY}/32 dev h{i} && \
                 ip link set h{i} up && ip route add {ip}/32 dev h{i}",
                pid = pod.pid()
            ));
            pod.sh(&format!(
                "ip link set lo up && ip addr add {ip}/32 dev eth0 && ip link set eth0 up && \
                 ip route add {GATEWAY} dev eth0 scope link && ip route add default via {GATEWAY}"
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let accept = server.spawn(move || -> Result<()> {
            let l = TcpListener::bind(("0.0.0.0", SERVER_PORT)).context("binding the server")?;
            let _ = tx.send(());
            for s in l.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                drop(s); // accept and close: the client reads EOF
            }
            Ok(())
        });
        rx.recv().expect("the server never started");
        Topology {
            node,
            client,
            server,
            stop,
            accept: Some(accept),
        }
    }

    /// Flush the node's conntrack table, so every round starts alike.
    pub fn flush_conntrack(&self) {
        let _ = self.node.try_sh("conntrack -F 2>/dev/null");
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept from inside the server's namespace.
        let _ = self
            .server
            .run(|| TcpStream::connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, SERVER_PORT)));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}
