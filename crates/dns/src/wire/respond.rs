//! The fast path: one parsed query plus one snapshot lookup, answered by
//! copying precompiled bytes into a reused buffer.

use super::encode::push_opt;
use super::query::{parse, Query, Reject};
use crate::catalog::record::rtype;
use crate::catalog::{Lookup, Snapshot};

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;

/// The UDP payload size we advertise in our OPT record.
pub const OUR_UDP_SIZE: u16 = 1232;

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `out` holds the response.
    Reply,
    /// Out of our zones and an upstream is configured: relay the query.
    Forward,
    /// Send nothing.
    Drop,
}

/// Per-transport settings.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    /// Response size limit; None = the client's UDP limit (EDNS or 512).
    pub max_size: Option<usize>,
    /// Whether out-of-zone queries may be forwarded.
    pub forward: bool,
}

impl Transport {
    /// Over UDP: the client's size limit (EDNS, or 512 without it).
    pub const fn udp(forward: bool) -> Transport {
        Transport {
            max_size: None,
            forward,
        }
    }

    /// Over TCP: a message's two-byte length prefix is the only limit.
    pub const fn tcp(forward: bool) -> Transport {
        Transport {
            max_size: Some(65535),
            forward,
        }
    }
}

fn header(out: &mut Vec<u8>, id: u16, qflags: u16, flags: u16, rcode: u8, counts: [u16; 4]) {
    out.clear();
    let f = QR | (qflags & (0x7800 | RD)) | flags | u16::from(rcode & 0xF);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&f.to_be_bytes());
    for c in counts {
        out.extend_from_slice(&c.to_be_bytes());
    }
}

fn set_count(out: &mut [u8], idx: usize, v: u16) {
    out[4 + idx * 2..6 + idx * 2].copy_from_slice(&v.to_be_bytes());
}

/// Answers `pkt` into `out`.
pub fn respond(snap: &Snapshot, pkt: &[u8], tr: Transport, out: &mut Vec<u8>) -> Outcome {
    let q = match parse(pkt) {
        Ok(q) => q,
        Err(Reject::Drop) => return Outcome::Drop,
        Err(Reject::FormErr { id, flags }) => {
            header(out, id, flags, 0, RCODE_FORMERR, [0; 4]);
            return Outcome::Reply;
        }
        Err(Reject::NotImp { id, flags }) => {
            header(out, id, flags, 0, RCODE_NOTIMP, [0; 4]);
            return Outcome::Reply;
        }
    };
    let ra = if tr.forward { RA } else { 0 };
    let question = &pkt[12..q.question_end];
    let refused = |out: &mut Vec<u8>| {
        header(out, q.id, q.flags, ra, RCODE_REFUSED, [1, 0, 0, 0]);
        out.extend_from_slice(question);
        finish(&q, out, tr, 0);
        Outcome::Reply
    };
    if let Some(e) = q.edns {
        if e.version > 0 {
            // BADVERS (16): upper bits in the OPT record, lower in the header.
            header(out, q.id, q.flags, ra, 0, [1, 0, 0, 0]);
            out.extend_from_slice(question);
            finish(&q, out, tr, 1);
            return Outcome::Reply;
        }
    }
    if !(q.qclass == 1 || q.qclass == 255) || q.qtype == rtype::AXFR || q.qtype == rtype::IXFR {
        return refused(out);
    }
    match snap.lookup(q.name(), q.label_starts(), q.qtype) {
        Lookup::OutOfZone if tr.forward => Outcome::Forward,
        Lookup::OutOfZone => refused(out),
        Lookup::Answer(set) => {
            header(
                out,
                q.id,
                q.flags,
                AA | ra,
                RCODE_NOERROR,
                [1, set.an_count, 0, set.ar_count],
            );
            out.extend_from_slice(question);
            out.extend_from_slice(set.answers());
            out.extend_from_slice(set.additional());
            finish(&q, out, tr, 0);
            Outcome::Reply
        }
        Lookup::Any(node, _) => {
            let an: u16 = node.sets.iter().map(|s| s.an_count).sum();
            header(out, q.id, q.flags, AA | ra, RCODE_NOERROR, [1, an, 0, 0]);
            out.extend_from_slice(question);
            for s in node.sets.iter() {
                out.extend_from_slice(s.answers());
            }
            finish(&q, out, tr, 0);
            Outcome::Reply
        }
        Lookup::NoData(zone) => negative(&q, question, zone, RCODE_NOERROR, ra, tr, out),
        Lookup::NxDomain(zone) => negative(&q, question, zone, RCODE_NXDOMAIN, ra, tr, out),
    }
}

/// NODATA or NXDOMAIN: empty answer, the zone's SOA in the authority section.
fn negative(
    q: &Query,
    question: &[u8],
    zone: &crate::catalog::snapshot::Zone,
    rcode: u8,
    ra: u16,
    tr: Transport,
    out: &mut Vec<u8>,
) -> Outcome {
    header(out, q.id, q.flags, AA | ra, rcode, [1, 0, 1, 0]);
    out.extend_from_slice(question);
    out.extend_from_slice(&zone.soa_rr);
    finish(q, out, tr, 0);
    Outcome::Reply
}

/// Appends the OPT record when the client sent one, then truncates to the
/// transport's limit (header + question + OPT, with TC set).
fn finish(q: &Query, out: &mut Vec<u8>, tr: Transport, ext_rcode: u8) {
    let limit = tr.max_size.unwrap_or_else(|| q.udp_limit());
    let opt_len = if q.edns.is_some() { 11 } else { 0 };
    if out.len() + opt_len > limit {
        out.truncate(q.question_end);
        set_count(out, 1, 0);
        set_count(out, 2, 0);
        set_count(out, 3, 0);
        out[2] |= (TC >> 8) as u8;
    }
    if q.edns.is_some() {
        push_opt(out, OUR_UDP_SIZE, ext_rcode);
        let ar = u16::from_be_bytes([out[10], out[11]]) + 1;
        set_count(out, 3, ar);
    }
}
