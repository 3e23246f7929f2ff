//! The policy drop log against a real kernel: in a fresh network namespace
//! (the host's is never touched), a drop chain rendered as the iptables
//! datapath renders it (NFLOG, then a DROP naming the isolating policy),
//! reached from OUTPUT here since the namespace's own datagrams are the
//! traffic; the nflog socket must receive the dropped datagram and the
//! node's rules must name the pod and policy that refused it.

use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime};

use labyrinth_netlink::nflog::NflogGroup;
use labyrinth_policy::names::{log_prefix, LOG_GROUP};
use labyrinth_policy::Direction;
use labyrinth_testkit::netns::Netns;
use labyrinth_testkit::root;
use labyrinth_trace::policy_log::PolicyDrop;

#[test]
fn a_dropped_datagram_is_logged_and_named() {
    if !root::require("a_dropped_datagram_is_logged_and_named") {
        return;
    }
    let Some(_) = root::tool("a_dropped_datagram_is_logged_and_named", "iptables-restore") else {
        return;
    };
    let ns = Netns::new("policy-log");
    let rules = format!(
        "*filter\n:LABY-POLICY - [0:0]\n:LABY-IN-TEST - [0:0]\n\
-A OUTPUT -j LABY-POLICY\n\
-A LABY-POLICY -d 127.0.0.2/32 -m comment --comment \"x/b ingress\" -j LABY-IN-TEST\n\
-A LABY-IN-TEST -j NFLOG --nflog-prefix \"{}\" --nflog-group {LOG_GROUP}\n\
-A LABY-IN-TEST -m comment --comment \"x/b: isolated for ingress by x/deny-all; no rule allows\" -j DROP\n\
COMMIT\n",
        log_prefix(Direction::Ingress)
    );
    ns.sh(&format!("printf '%s' '{rules}' | iptables-restore --noflush"));
    let logged = ns.run(|| {
        let mut group = NflogGroup::bind(LOG_GROUP).expect("binding the log group");
        // A second reader of the group is refused, with a clear error.
        let second = NflogGroup::bind(LOG_GROUP)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(second.contains("nflog group 1818"), "{second}");
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Dropped: send() still succeeds for UDP, or says EPERM.
            let _ = sock.send_to(b"hello", "127.0.0.2:80");
            let got = group.recv(Duration::from_millis(500)).unwrap();
            if let Some(p) = got.into_iter().next() {
                return p;
            }
            assert!(Instant::now() < deadline, "nothing logged to the group");
        }
    });
    assert_eq!(logged.prefix, "LABY-POLICY ingress");
    let save = ns.sh("iptables-save -t filter");
    let d = PolicyDrop::of(SystemTime::now(), Direction::Ingress, &logged.payload, &save, "")
        .expect("an IPv4 UDP packet");
    assert_eq!(d.dst.to_string(), "127.0.0.2:80");
    assert_eq!(
        (d.pod.as_str(), d.isolated_by.clone()),
        ("x/b", vec!["x/deny-all".to_string()])
    );
    assert!(
        d.to_string()
            .ends_with("udp DROPPED policy: x/b isolated for ingress by x/deny-all, no rule allows (default deny) [iptables LABY-IN-TEST]"),
        "{d}"
    );
}
