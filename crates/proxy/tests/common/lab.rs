//! A mini node: a "node" namespace with a routed veth to each "pod"
//! namespace (Cilium-style /32s, gateway 10.0.1.1 on the node side), three
//! pods running a TCP+UDP echo-my-name server, and one client pod.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use labyrinth_proxy::{Datapath, Proxier};

use super::Netns;

pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
pub const SERVER_PORT: u16 = 8080;

pub fn pod_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, 10 + i as u8)
}

pub struct Lab {
    pub node: Netns,
    /// pods[0..3] run servers; pods[3] is the client.
    pub pods: Vec<Netns>,
    pub proxier: Arc<Mutex<Proxier>>,
    stop: Arc<AtomicBool>,
    servers: Vec<std::thread::JoinHandle<()>>,
}

impl Lab {
    pub fn new(tag: &str, datapath: Box<dyn Datapath>) -> Lab {
        let node = Netns::new(&format!("{tag}-node"));
        node.sh(
            "echo 1 > /proc/sys/net/ipv4/ip_forward; echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter; \
             echo 0 > /proc/sys/net/ipv4/conf/default/rp_filter; \
             ip link add svc0 type veth peer name svc1 && ip link set svc1 up && ip link set svc0 up && ip route add 10.96.0.0/12 dev svc0",
        );
        let mut pods = Vec::new();
        for i in 0..4 {
            let pod = Netns::new(&format!("{tag}-pod{i}"));
            let ip = pod_ip(i);
            node.sh(&format!(
                "ip link add h{i} type veth peer name eth0 netns {pid} && ip addr add {GATEWAY}/32 dev h{i} && \
                 ip link set h{i} up && ip route add {ip}/32 dev h{i}",
                pid = pod.pid()
            ));
            pod.sh(&format!(
                "ip addr add {ip}/32 dev eth0 && ip link set eth0 up && ip route add {GATEWAY} dev eth0 scope link && \
                 ip route add default via {GATEWAY}"
            ));
            pods.push(pod);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut servers = Vec::new();
        for (i, pod) in pods.iter().enumerate().take(3) {
            servers.extend(serve(pod, format!("p{i}"), stop.clone()));
        }
        Lab {
            node,
            pods,
            proxier: Arc::new(Mutex::new(Proxier::new(datapath))),
            stop,
            servers,
        }
    }

    /// Run `f` with the proxier, on a thread inside the node namespace.
    pub fn proxy<T: Send + 'static>(&self, f: impl FnOnce(&mut Proxier) -> T + Send + 'static) -> T {
        let p = self.proxier.clone();
        self.node.run(move || f(&mut p.lock().unwrap()))
    }

    pub fn client(&self) -> &Netns {
        &self.pods[3]
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.servers.drain(..) {
            let _ = h.join();
        }
    }
}

/// TCP and UDP servers on :8080 in `pod` answering "<name> <peer ip>".
fn serve(pod: &Netns, name: String, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    let (n2, s2) = (name.clone(), stop.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    let tcp = pod.spawn(move || {
        let l = TcpListener::bind(("0.0.0.0", SERVER_PORT)).expect("bind tcp");
        l.set_nonblocking(true).unwrap();
        tx.send(()).unwrap();
        while !stop.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((mut s, peer)) => {
                    let _ = s.write_all(format!("{name} {}\n", peer.ip()).as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    });
    let udp = pod.spawn(move || {
        let s = UdpSocket::bind(("0.0.0.0", SERVER_PORT)).expect("bind udp");
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        tx2.send(()).unwrap();
        let mut buf = [0u8; 64];
        while !s2.load(Ordering::SeqCst) {
            if let Ok((_, peer)) = s.recv_from(&mut buf) {
                let _ = s.send_to(format!("{n2} {}", peer.ip()).as_bytes(), peer);
            }
        }
    });
    rx.recv().unwrap();
    rx.recv().unwrap();
    vec![tcp, udp]
}

/// One TCP connection: the reply line ("p1 10.0.1.13") or the error.
pub fn tcp_once(vip: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&vip, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.trim().to_string())
}

/// One UDP exchange from `sock` (already connected): the reply or the error.
pub fn udp_exchange(sock: &UdpSocket) -> std::io::Result<String> {
    sock.send(b"hello")?;
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A new UDP flow (fresh source port) to `vip`.
pub fn udp_once(vip: SocketAddr) -> std::io::Result<String> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.connect(vip)?;
    udp_exchange(&s)
}
