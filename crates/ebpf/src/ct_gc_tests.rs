use super::*;
use crate::abi::{PROTO_UDP, TCP_ACK, TCP_FIN, TCP_SYN};

const S: u64 = 1_000_000_000;
const CLIENT: u32 = 0x0a00_010a;
const VIP: u32 = 0x0a60_0032;
const BACKEND: u32 = 0x0a00_020b;
const HAIRPIN: u32 = 0x0a00_0101;

fn service(sport: u16, proto: u8, seen: u8, last: u64) -> (Ct4Key, Ct4Entry) {
    let k = Ct4Key {
        saddr: CLIENT,
        daddr: VIP,
        sport,
        dport: 80,
        proto,
        dir: CT_DIR_SERVICE,
        pad: 0,
    };
    let v = Ct4Entry {
        backend_addr: BACKEND,
        backend_port: 8080,
        rev_nat_index: 1,
        tcp_seen: seen,
        last_seen_ns: last,
        ..Default::default()
    };
    (k, v)
}

fn with_reply(e: (Ct4Key, Ct4Entry), seen: u8, last: u64) -> Vec<(Ct4Key, Ct4Entry)> {
    let rk = reply_key(&e.0, &e.1, HAIRPIN);
    let rv = Ct4Entry {
        tcp_seen: seen,
        last_seen_ns: last,
        ..e.1
    };
    vec![e, (rk, rv)]
}

#[test]
fn reply_key_mirrors_the_service_entry_and_hairpin() {
    let (k, mut v) = service(40000, 6, TCP_SYN, 0);
    let r = reply_key(&k, &v, HAIRPIN);
    assert_eq!(
        (r.saddr, r.daddr, r.sport, r.dport, r.dir),
        (BACKEND, CLIENT, 8080, 40000, CT_DIR_REPLY)
    );
    v.flags = CT_F_HAIRPIN;
    assert_eq!(reply_key(&k, &v, HAIRPIN).daddr, HAIRPIN);
    // A masqueraded NodePort flow: the reply comes back to the source
    // address the service entry gave the flow.
    v.flags = crate::abi::CT_F_SNAT;
    v.orig_addr = 0x0400_a80a;
    assert_eq!(reply_key(&k, &v, HAIRPIN).daddr, 0x0400_a80a);
}

#[test]
fn a_flow_is_judged_by_both_directions() {
    // The client's side saw only SYN/ACK; the backend's FIN closes it.
    let e = with_reply(
        service(40000, 6, TCP_SYN | TCP_ACK, 100 * S),
        TCP_ACK | TCP_FIN,
        105 * S,
    );
    let f = flows(&e, HAIRPIN);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].state, FlowState::Closing);
    assert_eq!(f[0].last_seen_ns, 105 * S);
    let l = Lifetimes::default();
    assert!(
        expired(&e, 114 * S, HAIRPIN, &l).1.is_empty(),
        "10 s after the last packet, not before"
    );
    let (n, keys) = expired(&e, 116 * S, HAIRPIN, &l);
    assert_eq!((n, keys.len()), (1, 2), "both entries go together");
}

#[test]
fn lifetimes_by_state() {
    let l = Lifetimes::default();
    let mut e = with_reply(service(1, 6, TCP_SYN | TCP_ACK, 0), TCP_SYN | TCP_ACK, 0);
    e.extend(with_reply(service(2, 17, 0, 0), 0, 0));
    e.push(service(3, 6, TCP_SYN, 0)); // never answered
    let gone = |now: u64| {
        let mut ports: Vec<u16> = expired(&e, now, HAIRPIN, &l)
            .1
            .iter()
            .filter(|k| k.dir == CT_DIR_SERVICE)
            .map(|k| k.sport)
            .collect();
        ports.sort();
        ports
    };
    assert_eq!(gone(59 * S), Vec::<u16>::new());
    assert_eq!(gone(61 * S), vec![2, 3]);
    assert_eq!(gone(6 * 3600 * S + S), vec![1, 2, 3]);
}

#[test]
fn an_orphan_reply_entry_expires_on_its_own() {
    let e = with_reply(service(7, 17, 0, 0), 0, 30 * S);
    let orphan = vec![e[1]];
    let (n, keys) = expired(&orphan, 91 * S, HAIRPIN, &Lifetimes::default());
    assert_eq!((n, keys), (1, vec![e[1].0]));
}

#[test]
fn policy_entries_expire_alone_and_leave_service_flows() {
    use labyrinth_contracts::bpf::policy::{CT_DIR_POL_EGRESS, CT_DIR_POL_INGRESS};
    let l = Lifetimes::default();
    let (mut k, v) = service(5000, PROTO_UDP, 0, 10 * S);
    k.daddr = BACKEND;
    let mut e = Vec::new();
    for (dir, last) in [(CT_DIR_POL_EGRESS, 10 * S), (CT_DIR_POL_INGRESS, 50 * S)] {
        let pk = Ct4Key { dir, ..k };
        e.push((
            pk,
            Ct4Entry {
                last_seen_ns: last,
                rev_nat_index: 0,
                ..v
            },
        ));
    }
    e.extend(with_reply(service(6000, PROTO_UDP, 0, 10 * S), 0, 10 * S));
    let (n, keys) = expired(&e, 80 * S, HAIRPIN, &l);
    // The service flow (two entries, one flow) and each policy entry.
    assert_eq!(n, 3);
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().any(|k| k.dir == CT_DIR_POL_EGRESS));
    assert!(
        !keys.iter().any(|k| k.dir == CT_DIR_POL_INGRESS),
        "seen 30 s ago, UDP lives 60 s"
    );
}
