//! The `type` label: the query's QTYPE, by name for the types CoreDNS
//! names and `other` for the rest (so the label set stays bounded whatever
//! clients send).

/// Label values; the index is what [`question_type`] returns.
pub const QTYPES: [&str; 13] = [
    "A", "AAAA", "CNAME", "NS", "PTR", "SOA", "SRV", "TXT", "MX", "ANY", "HTTPS", "SVCB", "other",
];

const CODES: [u16; 12] = [1, 28, 5, 2, 12, 6, 33, 16, 15, 255, 65, 64];

/// The index into [`QTYPES`] of the first question's type; `other` when
/// the packet has no readable question (it is still a request).
pub fn question_type(pkt: &[u8]) -> usize {
    let other = QTYPES.len() - 1;
    if pkt.len() < 12 || u16::from_be_bytes([pkt[4], pkt[5]]) == 0 {
        return other;
    }
    // Walk the QNAME's labels (queries carry no compression pointers).
    let mut i = 12;
    loop {
        let Some(&len) = pkt.get(i) else {
            return other;
        };
        if len == 0 {
            i += 1;
            break;
        }
        if len & 0xc0 != 0 {
            return other;
        }
        i += 1 + usize::from(len);
    }
    let Some(t) = pkt.get(i..i + 2) else {
        return other;
    };
    let t = u16::from_be_bytes([t[0], t[1]]);
    CODES.iter().position(|c| *c == t).unwrap_or(other)
}
