//! Each [`Rule`] as the kernel's nf_tables expressions, exactly as `nft`
//! 1.0 encodes the same text (checked against `nft --debug=netlink` and by
//! the listing test in tests/nft_netlink.rs), so `nft list` prints our
//! rules back as the text they render to.

use std::net::SocketAddrV4;

use ipnet::Ipv4Net;

use super::msg::Writer;
use crate::nftables::affinity::proto_number;
use crate::nftables::rules::{pick_chain, Rule, HAIRPIN, MARK_MASQ, MASQ_BIT, SERVICE_ENDPOINTS};

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
const REG_2: u32 = 2;
/// 32-bit registers 1–3, for the later fields of a concatenation.
const REG32_01: u32 = 9;
const REG32_02: u32 = 10;
const REG32_03: u32 = 11;

const BASE_NETWORK: u32 = 1;
const BASE_TRANSPORT: u32 = 2;
const META_MARK: u32 = 3;
const META_L4PROTO: u32 = 16;
const CT_STATE: u32 = 0;
const CT_STATUS: u32 = 2;
const CT_STATE_NEW: u32 = 8;
const CT_STATUS_DNAT: u32 = 0x20;
const CMP_EQ: u32 = 0;
const CMP_NEQ: u32 = 1;

pub const VERDICT_JUMP: i32 = -3;
pub const VERDICT_GOTO: i32 = -4;
const VERDICT_RETURN: i32 = -5;
const VERDICT_DROP: i32 = 0;

/// One expression: its name and a closure writing its attributes.
fn expr(w: &mut Writer, name: &str, body: impl FnOnce(&mut Writer)) {
    w.nest(NFTA_LIST_ELEM);
    w.str(NFTA_EXPR_NAME, name);
    w.nest(NFTA_EXPR_DATA);
    body(w);
    w.end_nest();
    w.end_nest();
}

fn value(w: &mut Writer, ty: u16, data: &[u8]) {
    w.nest(ty);
    w.attr(NFTA_DATA_VALUE, data);
    w.end_nest();
}

/// NFTA_DATA_VERDICT nest (also used by map elements).
pub fn verdict(w: &mut Writer, ty: u16, code: i32, chain: Option<&str>) {
    w.nest(ty);
    w.nest(NFTA_DATA_VERDICT);
    w.u32(NFTA_VERDICT_CODE, code as u32);
    if let Some(c) = chain {
        w.str(NFTA_VERDICT_CHAIN, c);
    }
    w.end_nest();
    w.end_nest();
}

fn payload(w: &mut Writer, dreg: u32, base: u32, offset: u32, len: u32) {
    expr(w, "payload", |w| {
        w.u32(1, dreg);
        w.u32(2, base);
        w.u32(3, offset);
        w.u32(4, len);
    });
}

fn meta_load(w: &mut Writer, key: u32, dreg: u32) {
    expr(w, "meta", |w| {
        w.u32(2, key);
        w.u32(1, dreg);
    });
}

fn meta_set_mark(w: &mut Writer) {
    expr(w, "meta", |w| {
        w.u32(2, META_MARK);
        w.u32(3, REG_1);
    });
}

fn ct_load(w: &mut Writer, key: u32) {
    expr(w, "ct", |w| {
        w.u32(2, key);
        w.u32(1, REG_1);
    });
}

fn cmp(w: &mut Writer, op: u32, data: &[u8]) {
    expr(w, "cmp", |w| {
        w.u32(1, REG_1);
        w.u32(2, op);
        value(w, 3, data);
    });
}

/// reg1 = (reg1 & mask) ^ xor, on `mask.len()` bytes.
fn bitwise(w: &mut Writer, mask: &[u8], xor: &[u8]) {
    expr(w, "bitwise", |w| {
        w.u32(1, REG_1);
        w.u32(2, REG_1);
        w.u32(3, mask.len() as u32);
        value(w, 4, mask);
        value(w, 5, xor);
        w.u32(6, 0); // NFT_BITWISE_BOOL
    });
}

fn immediate_verdict(w: &mut Writer, code: i32, chain: Option<&str>) {
    expr(w, "immediate", |w| {
        w.u32(1, REG_VERDICT);
        verdict(w, 2, code, chain);
    });
}

fn lookup(w: &mut Writer, set: &str, dreg: Option<u32>) {
    expr(w, "lookup", |w| {
        w.u32(2, REG_1);
        if let Some(d) = dreg {
            w.u32(3, d);
        }
        w.str(1, set);
    });
}

/// `ct <key> & bit != 0`
fn ct_has(w: &mut Writer, key: u32, bit: u32) {
    ct_load(w, key);
    bitwise(w, &bit.to_ne_bytes(), &0u32.to_ne_bytes());
    cmp(w, CMP_NEQ, &0u32.to_ne_bytes());
}

/// `ip saddr != cidr`, with nft's shortcut for byte-aligned prefixes.
fn saddr_outside(w: &mut Writer, cidr: &Ipv4Net) {
    let net = cidr.network().octets();
    let bits = cidr.prefix_len();
    if bits.is_multiple_of(8) && bits > 0 {
        let n = usize::from(bits / 8);
        payload(w, REG_1, BASE_NETWORK, 12, n as u32);
        cmp(w, CMP_NEQ, &net[..n]);
    } else {
        payload(w, REG_1, BASE_NETWORK, 12, 4);
        bitwise(w, &cidr.netmask().octets(), &[0; 4]);
        cmp(w, CMP_NEQ, &net);
    }
}

/// `numgen random mod <k> == 0 goto <chain>`
fn goto_one_in(w: &mut Writer, k: u32, chain: &str) {
    expr(w, "numgen", |w| {
        w.u32(1, REG_1);
        w.u32(2, k);
        w.u32(3, 1); // NFT_NG_RANDOM
        w.u32(4, 0);
    });
    cmp(w, CMP_EQ, &0u32.to_ne_bytes());
    immediate_verdict(w, VERDICT_GOTO, Some(chain));
}

/// `update @<set> { ip saddr }`
fn remember_saddr(w: &mut Writer, set: &str) {
    payload(w, REG_1, BASE_NETWORK, 12, 4);
    expr(w, "dynset", |w| {
        w.str(1, set); // NFTA_DYNSET_SET_NAME
        w.u32(3, 1); // NFTA_DYNSET_OP: NFT_DYNSET_OP_UPDATE
        w.u32(4, REG_1); // NFTA_DYNSET_SREG_KEY
    });
}

/// `meta l4proto <p> dnat ip to <ip>:<port>`
fn dnat_to(w: &mut Writer, proto: u8, ep: &SocketAddrV4) {
    meta_load(w, META_L4PROTO, REG_1);
    cmp(w, CMP_EQ, &[proto]);
    expr(w, "immediate", |w| {
        w.u32(1, REG_1);
        value(w, 2, &ep.ip().octets());
    });
    expr(w, "immediate", |w| {
        w.u32(1, REG_2);
        value(w, 2, &ep.port().to_be_bytes());
    });
    expr(w, "nat", |w| {
        w.u32(1, 1); // NFT_NAT_DNAT
        w.u32(2, 2); // NFPROTO_IPV4
        w.u32(3, REG_1);
        w.u32(5, REG_2);
    });
}

/// Write the NFTA_RULE_EXPRESSIONS contents for `rule`.
pub fn encode(w: &mut Writer, rule: &Rule) {
    match rule {
        Rule::Dispatch(map) => {
            payload(w, REG_1, BASE_NETWORK, 16, 4);
            meta_load(w, META_L4PROTO, REG32_01);
            payload(w, REG32_02, BASE_TRANSPORT, 2, 2);
            lookup(w, map, Some(REG_VERDICT));
        }
        Rule::Jump(c) => immediate_verdict(w, VERDICT_JUMP, Some(c)),
        Rule::NewJump(c) => {
            ct_has(w, CT_STATE, CT_STATE_NEW);
            immediate_verdict(w, VERDICT_JUMP, Some(c));
        }
        Rule::Reject => expr(w, "reject", |w| {
            w.u32(1, 0); // NFT_REJECT_ICMP_UNREACH
            w.u8(2, 3); // port unreachable
        }),
        Rule::Drop => immediate_verdict(w, VERDICT_DROP, None),
        Rule::SetMasqMark => {
            meta_load(w, META_MARK, REG_1);
            bitwise(w, &(!MASQ_BIT).to_ne_bytes(), &MASQ_BIT.to_ne_bytes());
            meta_set_mark(w);
        }
        Rule::ReturnUnlessMarked => {
            meta_load(w, META_MARK, REG_1);
            bitwise(w, &MASQ_BIT.to_ne_bytes(), &0u32.to_ne_bytes());
            cmp(w, CMP_EQ, &0u32.to_ne_bytes());
            immediate_verdict(w, VERDICT_RETURN, None);
        }
        Rule::ClearMasqMark => {
            meta_load(w, META_MARK, REG_1);
            bitwise(w, &u32::MAX.to_ne_bytes(), &MASQ_BIT.to_ne_bytes());
            meta_set_mark(w);
        }
        Rule::Masquerade => expr(w, "masq", |w| w.u32(1, 0x10)), // fully-random
        Rule::Hairpin => {
            ct_has(w, CT_STATUS, CT_STATUS_DNAT);
            payload(w, REG_1, BASE_NETWORK, 12, 4);
            payload(w, REG32_01, BASE_NETWORK, 16, 4);
            lookup(w, HAIRPIN, None);
            immediate_verdict(w, VERDICT_JUMP, Some(MARK_MASQ));
        }
        Rule::MarkOutside(cidr) => {
            saddr_outside(w, cidr);
            immediate_verdict(w, VERDICT_JUMP, Some(MARK_MASQ));
        }
        Rule::PickOneOf(n) => immediate_verdict(w, VERDICT_GOTO, Some(&pick_chain(*n))),
        Rule::Goto(c) => immediate_verdict(w, VERDICT_GOTO, Some(c)),
        Rule::GotoOneIn(k, c) => goto_one_in(w, *k, c),
        Rule::AffinityRecall(set, c) => {
            payload(w, REG_1, BASE_NETWORK, 12, 4);
            lookup(w, set, None);
            immediate_verdict(w, VERDICT_GOTO, Some(c));
        }
        Rule::AffinityRemember(set) => remember_saddr(w, set),
        Rule::DnatTo(p, ep) => dnat_to(w, proto_number(*p), ep),
        Rule::DnatOneOf(n) => {
            // key: daddr (reg32 0) . l4proto (1) . dport (2) . index (3)
            payload(w, REG_1, BASE_NETWORK, 16, 4);
            meta_load(w, META_L4PROTO, REG32_01);
            payload(w, REG32_02, BASE_TRANSPORT, 2, 2);
            expr(w, "numgen", |w| {
                w.u32(1, REG32_03);
                w.u32(2, *n);
                w.u32(3, 1); // NFT_NG_RANDOM
                w.u32(4, 0);
            });
            // value: ip (reg32 0) . port (reg32 1)
            expr(w, "lookup", |w| {
                w.u32(2, REG_1);
                w.u32(3, REG_1);
                w.str(1, SERVICE_ENDPOINTS);
            });
            expr(w, "nat", |w| {
                w.u32(1, 1); // NFT_NAT_DNAT
                w.u32(2, 2); // NFPROTO_IPV4
                w.u32(3, REG_1);
                w.u32(5, REG32_01);
            });
        }
    }
}
