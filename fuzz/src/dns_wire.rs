//! The DNS server's wire path: a packet as it arrives over UDP or TCP (the
//! TCP length prefix already taken off) → `labyrinth_dns::wire::respond`
//! against a real catalog.
//!
//! Input: an optional header line (`udp`, `tcp`, `udp forward`, each
//! optionally followed by ` naive` for the hickory-based baseline path),
//! then the packet. Input without a known header line is a UDP packet whole.
//!
//! Properties: no panic; a packet is dropped only when it is too short for
//! a header or is itself a response; forwarding only where it is enabled;
//! every reply parses as a DNS response (hickory-proto's decoder) with the
//! query's id and opcode, fits the transport's size limit, echoes the
//! question when the query was well-formed and carries an OPT record
//! exactly when the query did; the naive path gives the same outcome and
//! response code as the fast one.

use std::sync::{Arc, OnceLock};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use labyrinth_dns::catalog::{Snapshot, ZoneConfig};
use labyrinth_dns::wire::{self, naive, query, Outcome, Transport};

/// A small cluster: a ClusterIP Service with named ports, a headless one
/// with hostnames, not-ready endpoints and 60 addresses (its answer needs
/// truncation over UDP), an ExternalName and a running Pod.
const RECORDS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.9, clusterIPs: [10.96.0.9], ports: [{name: http, port: 80, protocol: TCP}, {name: dns, port: 53, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {clusterIP: 10.96.0.10, ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-x1, namespace: default, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: pg, port: 5432, protocol: TCP}]
endpoints:
- {addresses: [10.244.1.5], hostname: db-0, conditions: {ready: true}}
- {addresses: [10.244.2.6], hostname: db-1, conditions: {ready: true}}
- {addresses: [10.244.2.7], hostname: db-2, conditions: {ready: false}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: wrk-1}
status: {podIP: 10.244.1.9, phase: Running}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: upstream.example}
---
apiVersion: v1
kind: Service
metadata: {name: big, namespace: default}
spec: {clusterIP: None}
"#;

fn snapshot() -> &'static Arc<Snapshot> {
    static SNAP: OnceLock<Arc<Snapshot>> = OnceLock::new();
    SNAP.get_or_init(|| {
        let mut text = RECORDS.to_string();
        text.push_str(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {name: big-1, namespace: default, labels: {kubernetes.io/service-name: big}}\n\
             addressType: IPv4\nendpoints:\n",
        );
        for i in 1..=60 {
            text.push_str(&format!("- {{addresses: [10.245.0.{i}]}}\n"));
        }
        let objs = labyrinth_dns::records_file::parse(&text).expect("the fixture parses");
        let (_, shared) = labyrinth_dns::catalog_from_objects(ZoneConfig::new("cluster.local"), objs)
            .expect("the fixture makes a catalog");
        shared.load_full()
    })
}

const UDP: Transport = Transport::udp(false);
const TCP: Transport = Transport::tcp(false);
const UDP_FORWARD: Transport = Transport::udp(true);

/// (transport, naive path?, packet)
fn select(data: &[u8]) -> (Transport, bool, &[u8]) {
    if let Some((head, pkt)) = crate::split_header(data) {
        let naive = head.ends_with(" naive");
        let tr = match head.trim_end_matches(" naive") {
            "udp" => Some(UDP),
            "tcp" => Some(TCP),
            "udp forward" => Some(UDP_FORWARD),
            _ => None,
        };
        if let Some(tr) = tr {
            return (tr, naive, pkt);
        }
    }
    (UDP, false, data)
}

pub fn check(data: &[u8]) {
    let (tr, use_naive, pkt) = select(data);
    let snap = snapshot();
    let mut out = Vec::new();
    let outcome = if use_naive {
        naive::respond_naive(snap, pkt, tr, &mut out)
    } else {
        wire::respond(snap, pkt, tr, &mut out)
    };
    let parsed = query::parse(pkt);
    match outcome {
        Outcome::Drop => assert!(
            pkt.len() < 12 || pkt[2] & 0x80 != 0,
            "dropped a query with a full header: {pkt:02x?}"
        ),
        Outcome::Forward => {
            assert!(tr.forward, "forwarded without an upstream: {pkt:02x?}");
            assert!(parsed.is_ok(), "forwarded a query it could not parse: {pkt:02x?}");
        }
        Outcome::Reply => check_reply(pkt, &parsed, tr, &out),
    }
    if !use_naive {
        // The baseline path must agree on what to do and on the rcode.
        let mut base = Vec::new();
        let base_outcome = naive::respond_naive(snap, pkt, tr, &mut base);
        assert_eq!(outcome, base_outcome, "naive path disagrees on {pkt:02x?}");
        if outcome == Outcome::Reply {
            assert_eq!(
                rcode(&out),
                rcode(&base),
                "naive path's rcode differs for {pkt:02x?}"
            );
        }
    }
}

/// The full (extended) response code; hickory merges the OPT's high bits.
fn rcode(resp: &[u8]) -> ResponseCode {
    Message::from_vec(resp)
        .unwrap_or_else(|e| panic!("the response does not parse ({e}): {resp:02x?}"))
        .metadata
        .response_code
}

fn check_reply(pkt: &[u8], parsed: &Result<query::Query, query::Reject>, tr: Transport, out: &[u8]) {
    let m = Message::from_vec(out).unwrap_or_else(|e| {
        panic!("the response does not parse ({e}): query {pkt:02x?}, response {out:02x?}")
    });
    let id = u16::from_be_bytes([pkt[0], pkt[1]]);
    assert_eq!(m.metadata.id, id, "response id");
    assert_eq!(m.metadata.message_type, MessageType::Response, "QR bit");
    assert_eq!(u8::from(m.metadata.op_code), (pkt[2] >> 3) & 0xF, "opcode echoed");
    match parsed {
        Ok(q) => {
            let limit = tr.max_size.unwrap_or_else(|| q.udp_limit());
            assert!(
                out.len() <= limit,
                "response of {} bytes over the limit {limit}: query {pkt:02x?}",
                out.len()
            );
            assert_eq!(m.queries.len(), 1, "question count: query {pkt:02x?}");
            assert_eq!(
                &out[12..q.question_end],
                &pkt[12..q.question_end],
                "question echoed as sent"
            );
            assert_eq!(
                m.edns.is_some(),
                q.edns.is_some(),
                "OPT record in the response exactly when the query had one: {pkt:02x?}"
            );
        }
        Err(_) => {
            // FORMERR or NOTIMP: a bare header.
            assert_eq!(out.len(), 12, "error response is a header: {out:02x?}");
            let rc = m.metadata.response_code;
            assert!(
                matches!(rc, ResponseCode::FormErr | ResponseCode::NotImp),
                "error rcode {rc:?} for {pkt:02x?}"
            );
        }
    }
}
