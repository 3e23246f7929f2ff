//! A plan (src/nftables/plan.rs) as one nfnetlink batch: what `nft -f`
//! would send for the same script, without parsing any text.

use super::expr::{self, VERDICT_GOTO};
use super::msg::{Writer, MAX_ATTR, NLM_F_APPEND, NLM_F_CREATE};
use crate::nftables::compile::{ServiceKey, FAMILY, TABLE};
use crate::nftables::plan::{Elements, Op, SetKind};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const AF_INET: u8 = 2;

const NEWTABLE: u16 = 0;
const DELTABLE: u16 = 2;
const NEWCHAIN: u16 = 3;
const DELCHAIN: u16 = 5;
const NEWRULE: u16 = 6;
const DELRULE: u16 = 8;
const NEWSET: u16 = 9;
const NEWSETELEM: u16 = 12;
const DELSETELEM: u16 = 14;

const NFT_SET_MAP: u32 = 0x8;
const NFT_SET_TIMEOUT: u32 = 0x10;
/// "dynamic": rules may add elements (dynset).
const NFT_SET_EVAL: u32 = 0x20;
const TYPE_IPV4_ADDR: u32 = 7;
/// The key byte order record nft writes first for the hairpin set.
const UDATA_IP: &[u8] = &[0, 4, 0, 0, 0, 0];
const NFT_DATA_VERDICT: u32 = 0xffff_ff00;
/// nft's datatype numbers: ipv4_addr 7, inet_proto 12, inet_service 13;
/// a concatenation packs them 6 bits apart.
const TYPE_SERVICE_KEY: u32 = (7 << 12) | (12 << 6) | 13;
const TYPE_IP_PAIR: u32 = (7 << 6) | 7;
/// nft's set user data (key/data byte order and "typeof" hints), byte for
/// byte as nft 1.0 writes it for these `type` declarations.
const UDATA_SERVICE_MAP: &[u8] = &[
    0, 4, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0, 6, 4, 0, 0, 0, 0,
];
const UDATA_IP_PAIR: &[u8] = &[0, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0];
/// `typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip
/// daddr . th dport`, as nft 1.0 encodes it.
const TYPE_ENDPOINT_KEY: u32 = 0x001c_c344;
const TYPE_ENDPOINT_DATA: u32 = (7 << 6) | 13;
const UDATA_ENDPOINT_MAP: &[u8] = &[
    0, 4, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 3, 96, 0, 4, 13, 0, 0, 0, 1, 88, 0, 20, 0, 4, 7, 0, 0, 0, 1, 12, 0,
    4, 12, 0, 0, 0, 1, 4, 12, 0, 0, 0, 1, 14, 0, 4, 9, 0, 0, 0, 1, 6, 0, 4, 16, 0, 0, 0, 2, 20, 0, 4, 7, 0,
    0, 0, 1, 12, 0, 4, 11, 0, 0, 0, 1, 4, 2, 0, 0, 0, 3, 26, 0, 4, 23, 0, 0, 0, 1, 18, 0, 4, 1, 0, 0, 0, 1,
    4, 1, 0, 0, 0, 2, 4, 0, 0, 0, 0, 4, 52, 0, 4, 13, 0, 0, 0, 1, 44, 0, 20, 0, 4, 7, 0, 0, 0, 1, 12, 0, 4,
    12, 0, 0, 0, 1, 4, 12, 0, 0, 0, 1, 20, 0, 4, 7, 0, 0, 0, 1, 12, 0, 4, 11, 0, 0, 0, 1, 4, 2, 0, 0, 0, 6,
    4, 0, 0, 0, 0,
];

/// Leave room below the 64 KiB nest limit for one more element.
const ELEMENTS_PER_NEST: usize = MAX_ATTR - 1024;

/// One batch, and which plan step each message came from (for errors).
pub struct Batch {
    pub bytes: Vec<u8>,
    pub first_seq: u32,
    pub last_seq: u32,
    /// message i (seq first_seq + i) → (op index, rule or chunk index)
    pub origin: Vec<(usize, usize)>,
}

struct Enc {
    w: Writer,
    origin: Vec<(usize, usize)>,
}

impl Enc {
    fn begin(&mut self, msg: u16, flags: u16, origin: (usize, usize)) {
        self.w.begin((NFNL_SUBSYS_NFTABLES << 8) | msg, flags, AF_INET, 0);
        self.origin.push(origin);
        self.w.str(1, TABLE);
    }

    fn table(&mut self, msg: u16, at: usize) {
        self.begin(msg, 0, (at, 0));
        if msg == NEWTABLE {
            self.w.u32(2, 0);
        }
        self.w.end();
    }

    fn elements(&mut self, msg: u16, set: &str, els: &Elements<'_>, at: usize) {
        let n = els.len();
        let mut chunk = 0;
        let mut i = 0;
        while i < n {
            self.begin(msg, if msg == NEWSETELEM { NLM_F_CREATE } else { 0 }, (at, chunk));
            self.w.str(2, set);
            self.w.nest(3);
            while i < n && self.w.nest_len() < ELEMENTS_PER_NEST {
                self.w.nest(1);
                self.w.nest(1); // key
                match els {
                    Elements::Services(v) => {
                        let (key, chain) = v[i];
                        self.w.attr(1, &service_key(&key));
                        self.w.end_nest();
                        if msg == NEWSETELEM {
                            expr::verdict(&mut self.w, 2, VERDICT_GOTO, Some(chain));
                        }
                    }
                    Elements::Endpoints(v) => {
                        let (key, index, ep) = v[i];
                        let mut k = [0u8; 16];
                        k[..12].copy_from_slice(&service_key(&key));
                        k[12..].copy_from_slice(&index.to_ne_bytes());
                        self.w.attr(1, &k);
                        self.w.end_nest();
                        if msg == NEWSETELEM {
                            let mut d = [0u8; 8];
                            d[..4].copy_from_slice(&ep.ip().octets());
                            d[4..6].copy_from_slice(&ep.port().to_be_bytes());
                            self.w.nest(2);
                            self.w.attr(1, &d);
                            self.w.end_nest();
                        }
                    }
                    Elements::Hairpin(v) => {
                        let ip = v[i].octets();
                        self.w.attr(1, &[ip, ip].concat());
                        self.w.end_nest();
                    }
                }
                self.w.end_nest();
                i += 1;
            }
            self.w.end_nest();
            self.w.end();
            chunk += 1;
        }
    }
}

/// ip(4) . proto(1, padded to 4) . port(2, big endian, padded to 4)
fn service_key(k: &ServiceKey) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&k.ip.octets());
    b[4] = match k.proto {
        crate::model::Protocol::Tcp => 6,
        crate::model::Protocol::Udp => 17,
    };
    b[8..10].copy_from_slice(&k.port.to_be_bytes());
    b
}

/// Messages are numbered from `first_seq`.
pub fn encode(ops: &[Op<'_>], first_seq: u32) -> Batch {
    debug_assert_eq!(FAMILY, "ip");
    let mut e = Enc {
        w: Writer::starting_at(first_seq),
        origin: Vec::new(),
    };
    let first_seq = e.w.begin(NFNL_MSG_BATCH_BEGIN, 0, 0, NFNL_SUBSYS_NFTABLES);
    e.w.end();
    e.origin.push((usize::MAX, 0));
    let mut set_id = 0;
    for (at, op) in ops.iter().enumerate() {
        match op {
            Op::ResetTable => {
                e.table(NEWTABLE, at);
                e.table(DELTABLE, at);
                e.table(NEWTABLE, at);
            }
            Op::AddSet(name, kind) => {
                set_id += 1;
                e.begin(NEWSET, NLM_F_CREATE, (at, 0));
                e.w.str(2, name);
                let mut timeout = None;
                // (flags, key type, key length, data type and length, user data)
                let (flags, key_type, key_len, data, udata) = match kind {
                    SetKind::ServiceMap => (
                        NFT_SET_MAP,
                        TYPE_SERVICE_KEY,
                        12,
                        Some((NFT_DATA_VERDICT, 0)),
                        UDATA_SERVICE_MAP,
                    ),
                    SetKind::EndpointMap => (
                        NFT_SET_MAP,
                        TYPE_ENDPOINT_KEY,
                        16,
                        Some((TYPE_ENDPOINT_DATA, 8)),
                        UDATA_ENDPOINT_MAP,
                    ),
                    SetKind::Hairpin => (0, TYPE_IP_PAIR, 8, None, UDATA_IP_PAIR),
                    SetKind::Affinity(s) => {
                        timeout = Some(u64::from(*s) * 1000);
                        (NFT_SET_TIMEOUT | NFT_SET_EVAL, TYPE_IPV4_ADDR, 4, None, UDATA_IP)
                    }
                };
                e.w.u32(3, flags);
                e.w.u32(4, key_type);
                e.w.u32(5, key_len);
                if let Some((data_type, data_len)) = data {
                    e.w.u32(6, data_type);
                    e.w.u32(7, data_len);
                }
                e.w.u32(0xa, set_id);
                if let Some(ms) = timeout {
                    e.w.attr(0xb, &ms.to_be_bytes()); // NFTA_SET_TIMEOUT
                }
                e.w.attr(0xd, udata);
                e.w.end();
            }
            Op::AddChain(c) => {
                e.begin(NEWCHAIN, NLM_F_CREATE, (at, 0));
                e.w.str(3, &c.name);
                if let Some(h) = &c.hook {
                    e.w.str(7, h.kind);
                    e.w.u32(5, 1); // policy accept
                    e.w.nest(4);
                    e.w.u32(1, h.number());
                    e.w.u32(2, h.priority as u32);
                    e.w.end_nest();
                }
                e.w.end();
            }
            Op::AddRules(c) => {
                for (i, r) in c.rules.iter().enumerate() {
                    e.begin(NEWRULE, NLM_F_CREATE | NLM_F_APPEND, (at, i));
                    e.w.str(2, &c.name);
                    e.w.nest(4);
                    expr::encode(&mut e.w, r);
                    e.w.end_nest();
                    e.w.end();
                }
            }
            Op::FlushChain(c) => {
                e.begin(DELRULE, 0, (at, 0));
                e.w.str(2, c);
                e.w.end();
            }
            Op::DeleteChain(c) => {
                e.begin(DELCHAIN, 0, (at, 0));
                e.w.str(3, c);
                e.w.end();
            }
            Op::AddElements(set, els) => e.elements(NEWSETELEM, set, els, at),
            Op::DeleteElements(set, els) => e.elements(DELSETELEM, set, els, at),
        }
    }
    // The last real message asks for an ACK: when it arrives, the whole
    // batch has been processed (errors, if any, come before it).
    e.w.request_ack();
    let last_seq = e.w.last_seq();
    e.w.begin(NFNL_MSG_BATCH_END, 0, 0, NFNL_SUBSYS_NFTABLES);
    e.w.end();
    e.origin.push((usize::MAX, 0));
    Batch {
        bytes: e.w.buf,
        first_seq,
        last_seq,
        origin: e.origin,
    }
}
