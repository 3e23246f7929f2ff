//! Allocation-free parsing of an incoming query: header, the single
//! question (lowercased into a fixed buffer) and the EDNS0 OPT record.
//! Everything is bounds-checked and no compression pointer is followed, so
//! hostile input can neither crash nor loop.

use crate::catalog::record::rtype;

/// Smallest UDP payload every client accepts (RFC 1035).
pub const MIN_UDP: u16 = 512;

/// EDNS0 data from the client's OPT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    pub version: u8,
}

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Query {
    pub id: u16,
    /// Raw header flags word.
    pub flags: u16,
    pub qtype: u16,
    pub qclass: u16,
    /// End offset of the question in the packet.
    pub question_end: usize,
    name: [u8; 256],
    name_len: usize,
    starts: [u8; 128],
    n_labels: usize,
    pub edns: Option<Edns>,
}

impl Query {
    /// Lowercase wire name with the root label.
    pub fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }
    /// Offsets of the labels within [`Query::name`].
    pub fn label_starts(&self) -> &[u8] {
        &self.starts[..self.n_labels]
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
    /// Largest response the client accepts over UDP.
    pub fn udp_limit(&self) -> usize {
        self.edns.map_or(MIN_UDP, |e| e.udp_size.max(MIN_UDP)) as usize
    }
}

/// Why a packet can't be answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Not worth an answer (too short for a header, or itself a response).
    Drop,
    /// Malformed: answer FORMERR with the given id and flags.
    FormErr { id: u16, flags: u16 },
    /// Valid header but an opcode we don't implement.
    NotImp { id: u16, flags: u16 },
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Parses a query packet.
pub fn parse(pkt: &[u8]) -> Result<Query, Reject> {
    if pkt.len() < 12 {
        return Err(Reject::Drop);
    }
    let id = u16::from_be_bytes([pkt[0], pkt[1]]);
    let flags = u16::from_be_bytes([pkt[2], pkt[3]]);
    if flags & 0x8000 != 0 {
        return Err(Reject::Drop);
    }
    let form = Reject::FormErr { id, flags };
    if (flags >> 11) & 0xF != 0 {
        return Err(Reject::NotImp { id, flags });
    }
    let qd = u16::from_be_bytes([pkt[4], pkt[5]]);
    let an = u16::from_be_bytes([pkt[6], pkt[7]]);
    let ns = u16::from_be_bytes([pkt[8], pkt[9]]);
    let ar = u16::from_be_bytes([pkt[10], pkt[11]]);
    if qd != 1 || an != 0 || ns != 0 {
        return Err(form);
    }
    let mut q = Query {
        id,
        flags,
        qtype: 0,
        qclass: 0,
        question_end: 0,
        name: [0; 256],
        name_len: 0,
        starts: [0; 128],
        n_labels: 0,
        edns: None,
    };
    let mut i = 12usize;
    loop {
        let len = *pkt.get(i).ok_or(form)? as usize;
        if len == 0 {
            q.name[q.name_len] = 0;
            q.name_len += 1;
            i += 1;
            break;
        }
        // Pointers (and the reserved 0x40/0x80 label types) never appear in
        // a question a resolver sends; refusing them rules out loops.
        if len > 63 {
            return Err(form);
        }
        let label = pkt.get(i + 1..i + 1 + len).ok_or(form)?;
        if q.name_len + 1 + len + 1 > 255 || q.n_labels >= q.starts.len() {
            return Err(form);
        }
        q.starts[q.n_labels] = q.name_len as u8;
        q.n_labels += 1;
        q.name[q.name_len] = len as u8;
        for (d, s) in q.name[q.name_len + 1..q.name_len + 1 + len].iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        q.name_len += 1 + len;
        i += 1 + len;
    }
    q.qtype = u16_at(pkt, i).ok_or(form)?;
    q.qclass = u16_at(pkt, i + 2).ok_or(form)?;
    i += 4;
    q.question_end = i;
    for _ in 0..ar {
        // Owner name: labels until root or a pointer (not followed).
        loop {
            let len = *pkt.get(i).ok_or(form)? as usize;
            if len == 0 {
                i += 1;
                break;
            }
            if len & 0xC0 == 0xC0 {
                pkt.get(i + 1).ok_or(form)?;
                i += 2;
                break;
            }
            if len > 63 {
                return Err(form);
            }
            i += 1 + len;
        }
        let t = u16_at(pkt, i).ok_or(form)?;
        let class = u16_at(pkt, i + 2).ok_or(form)?;
        let ttl_hi = u16_at(pkt, i + 4).ok_or(form)?;
        let rdlen = u16_at(pkt, i + 8).ok_or(form)? as usize;
        i += 10;
        if pkt.len() < i + rdlen {
            return Err(form);
        }
        i += rdlen;
        if t == rtype::OPT {
            if q.edns.is_some() {
                return Err(form);
            }
            q.edns = Some(Edns {
                udp_size: class,
                version: (ttl_hi & 0xFF) as u8,
            });
        }
    }
    if i != pkt.len() {
        // Trailing garbage: a count smaller than the data is malformed too.
        return Err(form);
    }
    Ok(q)
}
