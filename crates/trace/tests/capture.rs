//! The capture layer against a real kernel: a fresh network namespace (a
//! thread's own, gone with the thread), a filtered AF_PACKET socket opened
//! in it from outside, and real datagrams on its loopback.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::sync::mpsc;

use labyrinth_trace::capture::{Capture, CapturePoint, Role};

fn own_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A thread in its own network namespace with lo up; runs the closures it
/// is sent, and ends (freeing the namespace) when the sender is dropped.
type Job = Box<dyn FnOnce() + Send>;

fn namespace_thread() -> (PathBuf, mpsc::Sender<Job>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Job>();
    let (path_tx, path_rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let mut h = labyrinth_netlink::Handle::current("test netns").unwrap();
        h.set_up(1).unwrap();
        let tid = nix::unistd::gettid();
        path_tx
            .send(PathBuf::from(format!(
                "/proc/{}/task/{tid}/ns/net",
                std::process::id()
            )))
            .unwrap();
        for job in rx {
            job();
        }
    });
    (path_rx.recv().unwrap(), tx, t)
}

/// Ethernet + IPv4 + UDP frame from `src` to `dst`, as a VXLAN payload.
fn inner_frame(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([2; 6], [2; 6])
        .ipv4(src.octets(), dst.octets(), 64)
        .udp(1000, 9999)
        .write(&mut out, b"inner")
        .unwrap();
    out
}

#[test]
fn captures_only_the_pods_packets_in_another_namespace() {
    if !labyrinth_testkit::root::require("captures_only_the_pods_packets_in_another_namespace") {
        return;
    }
    let fds = own_fds();
    let (ns, jobs, thread) = namespace_thread();
    let point = CapturePoint {
        node: "test".into(),
        netns: "test".into(),
        pod: None,
        peer_pod: None,
        device: "lo".into(),
        role: Role::Uplink,
        ns_path: ns.clone(),
    };
    let missing = CapturePoint {
        device: "lby_vxlan".into(),
        role: Role::Tunnel,
        ..point.clone()
    };
    let pod = Ipv4Addr::new(127, 0, 0, 2);
    let capture = Capture::start(vec![point, missing], pod).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    jobs.send(Box::new(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(b"flow", "127.0.0.2:9999").unwrap();
        s.send_to(b"other", "127.0.0.3:9999").unwrap();
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend(inner_frame(Ipv4Addr::new(10, 0, 1, 7), pod));
        s.send_to(&vx, "127.0.0.1:8472").unwrap();
        let mut vx_other = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx_other.extend(inner_frame(
            Ipv4Addr::new(10, 0, 1, 7),
            Ipv4Addr::new(10, 0, 2, 9),
        ));
        s.send_to(&vx_other, "127.0.0.1:8472").unwrap();
        done_tx.send(()).unwrap();
    }))
    .unwrap();
    done_rx.recv().unwrap();
    capture.settle(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(5),
    );
    let got = capture.stop();
    drop(jobs);
    thread.join().unwrap();

    assert_eq!(got.points.len(), 1, "lo opened");
    assert_eq!(got.absent.len(), 1, "no lby_vxlan in this namespace");
    let decoded: Vec<_> = got
        .frames
        .iter()
        .map(|f| labyrinth_trace::decode::decode(&f.data))
        .collect();
    let to_pod = decoded
        .iter()
        .filter(|d| d.vxlan.is_none() && d.packet.as_ref().is_some_and(|p| p.ip.dst == pod))
        .count();
    let in_vxlan = decoded
        .iter()
        .filter(|d| {
            d.vxlan.as_ref().is_some_and(|v| v.vni == 1) && d.packet.as_ref().is_some_and(|p| p.ip.dst == pod)
        })
        .count();
    // Nothing listens on 127.0.0.2:9999: the kernel's port unreachable
    // comes from the pod's address, so it belongs to the flow too.
    let from_pod = decoded
        .iter()
        .filter(|d| d.packet.as_ref().is_some_and(|p| p.ip.src == pod))
        .count();
    assert!(to_pod >= 1, "the datagram to the pod: {decoded:#?}");
    assert!(in_vxlan >= 1, "the VXLAN frame around it: {decoded:#?}");
    assert_eq!(
        decoded.len(),
        to_pod + in_vxlan + from_pod,
        "nothing else was copied: {decoded:#?}"
    );
    assert!(got.frames.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert_eq!(got.drops, vec![0]);
    assert_eq!(own_fds(), fds, "every capture socket is closed");
}
