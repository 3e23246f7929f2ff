use crate::model::Kind;
use crate::testutil::*;

#[test]
fn follows_one_packet_across_nat_and_vxlan() {
    let t = journey_trace();
    let flow: Vec<_> = t.flow().collect();
    assert_eq!(flow.len(), 2, "SYN and SYN-ACK: {:#?}", t.packets);
    let syn = flow[0];
    let points: Vec<usize> = syn.hops.iter().map(|h| h.point).collect();
    assert_eq!(points, vec![0, 1, 2, 3, 4, 5, 6, 7]);
    // Before translation to the ClusterIP, after it to the pod.
    assert!(
        syn.hops[0].summary.starts_with("10.0.1.7 → 10.96.0.20 TCP"),
        "{}",
        syn.hops[0].summary
    );
    assert!(syn.hops[2].summary.starts_with("10.0.1.7 → 10.0.2.9 TCP"));
    assert!(syn.hops[3]
        .summary
        .starts_with("10.168.0.3 → 10.168.0.4 UDP 8472 VXLAN VNI 1 [10.0.1.7 → 10.0.2.9 TCP"));
    assert!(
        syn.hops[0].summary.contains("[SYN] Seq=0"),
        "relative seq: {}",
        syn.hops[0].summary
    );
    let synack = flow[1];
    assert_eq!(synack.hops.len(), 8);
    assert!(
        synack.hops[7].summary.starts_with("10.96.0.20 → 10.0.1.7 TCP"),
        "{}",
        synack.hops[7].summary
    );
    assert!(
        synack.hops[7].summary.contains("[SYN, ACK] Seq=0 Ack=1"),
        "{}",
        synack.hops[7].summary
    );
}

#[test]
fn dns_query_and_answer_are_separate_packets_across_translation() {
    let t = journey_trace();
    let dns: Vec<_> = t.packets.iter().filter(|p| p.kind == Kind::Dns).collect();
    assert_eq!(dns.len(), 2);
    assert_eq!(dns[0].hops.len(), 2);
    assert!(dns[0].hops[0].summary.contains("10.0.1.7 → 10.96.0.10 DNS"));
    assert!(dns[0].hops[1].summary.contains("10.0.1.7 → 10.0.2.5 DNS"));
    assert!(dns[1].hops[0]
        .summary
        .contains("No such name A x.wrk-2.wrk-1.svc.cluster.local SOA ns.dns.cluster.local"));
}

#[test]
fn same_ip_id_different_packets_stay_apart() {
    // Two pure ACKs with IP ID 0 from different connections are two packets.
    let mut frames = Vec::new();
    for (sport, seq) in [(1000u16, 1u32), (2000, 2)] {
        let f = Tcp {
            src: (CLIENT, sport),
            dst: (SERVER, 9999),
            id: 0,
            seq,
            ack: 9,
            flags: crate::decode::ACK,
        };
        across(&mut frames, sport as u64, &[0, 1], &|_| tcp(&f, b""));
    }
    frames.sort_by_key(|f| f.ts);
    let packets = crate::correlate::correlate(&frames, 9999);
    assert_eq!(packets.len(), 2);
    assert!(packets.iter().all(|p| p.hops.len() == 2));
}

#[test]
fn other_traffic_of_the_pod_is_left_out() {
    let mut frames = Vec::new();
    across(&mut frames, 0, &[0], &|_| {
        udp((CLIENT, 1), (SERVER, 7777), 5, b"noise")
    });
    assert!(crate::correlate::correlate(&frames, 9999).is_empty());
}
