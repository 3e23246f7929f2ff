//! Fast-path framing: EDNS, truncation, error responses.

use hickory_proto::rr::RecordType as T;

use super::query::{parse, Reject};
use super::respond::{respond, Outcome, Transport};
use crate::catalog::testutil::{cluster_ip, decode, headless, query_bytes, slice};
use crate::catalog::{Change, Store, ZoneConfig};

const UDP: Transport = Transport::udp(false);
const TCP: Transport = Transport::tcp(false);

fn big_headless() -> crate::catalog::Snapshot {
    let mut s = Store::new(ZoneConfig::new("cluster.local"));
    s.apply(Change::Apply(headless("default", "big", false)));
    let ips: Vec<String> = (0..60).map(|i| format!("10.244.0.{}", i + 1)).collect();
    let eps: Vec<_> = ips.iter().map(|ip| (ip.as_str(), None, None)).collect();
    s.apply(Change::Apply(slice("default", "big-1", "big", &eps, &[])));
    s.apply(Change::Apply(cluster_ip("default", "web", "10.96.0.9", &[])));
    s.snapshot().unwrap()
}

fn with_edns(mut q: Vec<u8>, size: u16, version: u8) -> Vec<u8> {
    q[11] += 1;
    q.extend_from_slice(&[0, 0, 41]);
    q.extend_from_slice(&size.to_be_bytes());
    q.extend_from_slice(&[0, version, 0, 0, 0, 0]);
    q
}

#[test]
fn truncates_to_512_then_answers_in_full_over_tcp() {
    let snap = big_headless();
    let q = query_bytes("big.default.svc.cluster.local.", T::A);
    let mut out = Vec::new();
    assert_eq!(respond(&snap, &q, UDP, &mut out), Outcome::Reply);
    let r = decode(&out);
    assert!(r.tc && r.answers.is_empty() && out.len() <= 512);
    respond(&snap, &q, TCP, &mut out);
    let r = decode(&out);
    assert!(!r.tc);
    assert_eq!(r.answers.len(), 60);
}

#[test]
fn honours_the_edns_buffer_size() {
    let snap = big_headless();
    let q = with_edns(query_bytes("big.default.svc.cluster.local.", T::A), 4096, 0);
    let mut out = Vec::new();
    respond(&snap, &q, UDP, &mut out);
    let r = decode(&out);
    assert!(!r.tc);
    assert_eq!(r.answers.len(), 60);
    let opt = &out[out.len() - 11..];
    assert_eq!(&opt[..3], &[0, 0, 41], "OPT record echoed last");
    // A small size below 512 still gets 512.
    let q = with_edns(query_bytes("web.default.svc.cluster.local.", T::A), 100, 0);
    respond(&snap, &q, UDP, &mut out);
    assert_eq!(decode(&out).answers.len(), 1);
    // EDNS version 1: BADVERS (extended rcode 1 in the OPT).
    let q = with_edns(query_bytes("web.default.svc.cluster.local.", T::A), 1232, 1);
    respond(&snap, &q, UDP, &mut out);
    assert_eq!(out[out.len() - 6], 1);
    assert_eq!(decode(&out).answers.len(), 0);
}

#[test]
fn parser_rejects_malformed_input() {
    let good = query_bytes("web.default.svc.cluster.local.", T::A);
    let q = parse(&good).unwrap();
    assert_eq!(q.qtype, 1);
    assert_eq!(q.label_starts().len(), 5);
    assert!(matches!(parse(&good[..11]), Err(Reject::Drop)));
    let form = Err(Reject::FormErr {
        id: 0x4242,
        flags: u16::from_be_bytes([good[2], good[3]]),
    });
    let check = |pkt: &[u8]| parse(pkt).map(|_| ());
    assert_eq!(check(&good[..good.len() - 1]), form, "cut qclass");
    let mut ptr = good.clone();
    ptr.truncate(12);
    ptr.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    assert_eq!(check(&ptr), form, "self-pointing compression pointer");
    let mut big_label = good[..12].to_vec();
    big_label.push(64);
    big_label.extend(std::iter::repeat_n(b'a', 64));
    big_label.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert_eq!(check(&big_label), form, "label over 63");
    let mut counts = good.clone();
    counts[11] = 5;
    assert_eq!(check(&counts), form, "arcount beyond the data");
    let mut resp = good.clone();
    resp[2] |= 0x80;
    assert_eq!(check(&resp), Err(Reject::Drop), "responses are never answered");
    let mut op = good.clone();
    op[2] |= 0x10;
    assert!(matches!(parse(&op), Err(Reject::NotImp { .. })));
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(check(&trailing), form);
}

#[test]
fn formerr_and_notimp_responses() {
    let snap = big_headless();
    let mut out = Vec::new();
    let mut bad = query_bytes("web.default.svc.cluster.local.", T::A);
    bad[5] = 2;
    assert_eq!(respond(&snap, &bad, UDP, &mut out), Outcome::Reply);
    assert_eq!((out.len(), out[2] & 0x80, out[3] & 0xF), (12, 0x80, 1));
    assert_eq!(respond(&snap, &[1, 2, 3], UDP, &mut out), Outcome::Drop);
    let mut notify = query_bytes("web.default.svc.cluster.local.", T::SOA);
    notify[2] |= 4 << 3;
    respond(&snap, &notify, UDP, &mut out);
    assert_eq!(out[3] & 0xF, 4);
    // Zone transfers are refused.
    let axfr = query_bytes("cluster.local.", T::AXFR);
    respond(&snap, &axfr, TCP, &mut out);
    assert_eq!(out[3] & 0xF, 5);
}

#[test]
fn forwarding_is_signalled_only_when_enabled() {
    let snap = big_headless();
    let q = query_bytes("example.org.", T::A);
    let mut out = Vec::new();
    let fwd = Transport {
        max_size: None,
        forward: true,
    };
    assert_eq!(respond(&snap, &q, fwd, &mut out), Outcome::Forward);
    assert_eq!(respond(&snap, &q, UDP, &mut out), Outcome::Reply);
    assert_eq!(out[3] & 0xF, 5);
}

#[test]
fn naive_path_gives_the_same_answers() {
    let snap = big_headless();
    for (name, t) in [
        ("web.default.svc.cluster.local.", T::A),
        ("nope.default.svc.cluster.local.", T::A),
        ("web.default.svc.cluster.local.", T::AAAA),
    ] {
        let q = query_bytes(name, t);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        respond(&snap, &q, UDP, &mut a);
        super::naive::respond_naive(&snap, &q, UDP, &mut b);
        let (a, b) = (decode(&a), decode(&b));
        assert_eq!(
            (a.rcode, a.answers, a.authority),
            (b.rcode, b.answers, b.authority)
        );
    }
}
