use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::decode::decode;
use crate::decode::summary::{frame_line, SeqBase};
use crate::testutil::*;

const NAME: &str = "node-wrk-2-ubuntu24.wrk-2.svc.cluster.local.";

fn dns_line(payload: &[u8]) -> String {
    let d = decode(&udp((CLIENT, 5353), (DNS_VIP, 53), 1, payload));
    frame_line(&d, SeqBase::default())
}

#[test]
fn summarises_queries_nxdomain_nodata_and_answers() {
    let query = dns_query(0x1c2a, NAME, RecordType::A);
    let len = udp((CLIENT, 5353), (DNS_VIP, 53), 1, &query).len();
    assert_eq!(
        dns_line(&query),
        format!("10.0.1.7 → 10.96.0.10 DNS {len} Standard query 0x1c2a A node-wrk-2-ubuntu24.wrk-2.svc.cluster.local")
    );
    let nx = dns_line(&dns_response(
        7,
        NAME,
        RecordType::AAAA,
        ResponseCode::NXDomain,
        None,
    ));
    assert!(
        nx.ends_with("Standard query response 0x0007 No such name AAAA node-wrk-2-ubuntu24.wrk-2.svc.cluster.local SOA ns.dns.cluster.local"),
        "{nx}"
    );
    let nodata = dns_line(&dns_response(
        8,
        NAME,
        RecordType::AAAA,
        ResponseCode::NoError,
        None,
    ));
    assert!(
        nodata.ends_with("Standard query response 0x0008 AAAA node-wrk-2-ubuntu24.wrk-2.svc.cluster.local SOA ns.dns.cluster.local"),
        "{nodata}"
    );
    let a = dns_line(&dns_response(
        9,
        NAME,
        RecordType::A,
        ResponseCode::NoError,
        Some(VIP),
    ));
    assert!(
        a.ends_with("A node-wrk-2-ubuntu24.wrk-2.svc.cluster.local A 10.96.0.20"),
        "{a}"
    );

    let info = |p: Vec<u8>| {
        decode(&udp((DNS_POD, 53), (CLIENT, 1), 1, &p))
            .packet
            .unwrap()
            .dns
            .unwrap()
    };
    assert_eq!(
        info(dns_response(1, NAME, RecordType::A, ResponseCode::NXDomain, None)).outcome(),
        "NXDOMAIN"
    );
    assert_eq!(
        info(dns_response(
            1,
            NAME,
            RecordType::AAAA,
            ResponseCode::NoError,
            None
        ))
        .outcome(),
        "NODATA"
    );
    assert_eq!(
        info(dns_response(
            1,
            NAME,
            RecordType::A,
            ResponseCode::NoError,
            Some(VIP)
        ))
        .outcome(),
        "A 10.96.0.20"
    );
}

#[test]
fn vxlan_frames_show_envelope_vni_and_inner_packet() {
    let inner = tcp(&Tcp::syn((CLIENT, 44312), (SERVER, 9999), 3, 77), b"");
    let d = decode(&vxlan(NODE1, NODE2, 1, &inner));
    let v = d.vxlan.as_ref().unwrap();
    assert_eq!((v.src, v.dst, v.dport, v.vni), (NODE1, NODE2, 8472, 1));
    let line = frame_line(
        &d,
        SeqBase {
            seq: Some(77),
            ack: None,
        },
    );
    assert_eq!(
        line,
        "10.168.0.3 → 10.168.0.4 UDP 8472 VXLAN VNI 1 [10.0.1.7 → 10.0.2.9 TCP 54 44312 → 9999 [SYN] Seq=0 Win=64240 Len=0]"
    );
    assert_eq!(decode(&inner).packet.unwrap().ident(), d.packet.unwrap().ident());
}
