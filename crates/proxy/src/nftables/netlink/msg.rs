//! Building nfnetlink messages: a header, the nfgenmsg, then attributes
//! (4-byte aligned TLVs, integers in network byte order as nf_tables wants).

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_APPEND: u16 = 0x800;
pub const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_HDRLEN: usize = 16;

/// An attribute's length field is 16 bits.
pub const MAX_ATTR: usize = u16::MAX as usize;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A batch of messages in one buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
    msg_start: usize,
    nests: Vec<usize>,
    next_seq: u32,
}

impl Writer {
    /// Number messages from `seq` on.
    pub fn starting_at(seq: u32) -> Self {
        Writer {
            buf: Vec::with_capacity(1 << 16),
            next_seq: seq,
            ..Default::default()
        }
    }

    /// Start a message; returns its sequence number.
    pub fn begin(&mut self, ty: u16, flags: u16, family: u8, res_id: u16) -> u32 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.msg_start = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]); // length, patched by end()
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        self.buf.push(family);
        self.buf.push(0); // NFNETLINK_V0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        seq
    }

    pub fn end(&mut self) {
        let len = (self.buf.len() - self.msg_start) as u32;
        self.buf[self.msg_start..self.msg_start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    pub fn last_seq(&self) -> u32 {
        self.next_seq.wrapping_sub(1)
    }

    /// Set NLM_F_ACK on the message being built.
    pub fn request_ack(&mut self) {
        let at = self.msg_start + 6;
        let flags = u16::from_ne_bytes([self.buf[at], self.buf[at + 1]]) | NLM_F_ACK;
        self.buf[at..at + 2].copy_from_slice(&flags.to_ne_bytes());
    }

    pub fn attr(&mut self, ty: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(self.buf.len() + align(len) - len, 0);
    }

    pub fn u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }

    pub fn u8(&mut self, ty: u16, v: u8) {
        self.attr(ty, &[v]);
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, ty: u16, s: &str) {
        let len = 4 + s.len() + 1;
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.buf.resize(self.buf.len() + align(len) - len, 0);
    }

    pub fn nest(&mut self, ty: u16) {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    }

    /// Close the innermost nest; its size must fit the 16-bit length.
    pub fn end_nest(&mut self) {
        let start = self.nests.pop().expect("end_nest without nest");
        let len = self.buf.len() - start;
        assert!(len <= MAX_ATTR, "netlink attribute of {len} bytes");
        self.buf[start..start + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    }

    /// Bytes in the innermost open nest so far.
    pub fn nest_len(&self) -> usize {
        self.nests.last().map_or(0, |s| self.buf.len() - s)
    }
}

/// Split a buffer of messages into (type, flags, seq, payload after the
/// 16-byte header).
pub fn messages(buf: &[u8]) -> Vec<(u16, u16, u32, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let flags = u16::from_ne_bytes([buf[at + 6], buf[at + 7]]);
        let seq = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().expect("4 bytes"));
        out.push((ty, flags, seq, &buf[at + NLMSG_HDRLEN..at + len]));
        at += align(len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nests_sized() {
        let mut w = Writer::starting_at(0);
        let seq = w.begin(0x0a00, NLM_F_CREATE, 2, 0);
        w.str(1, "labyrinth");
        w.nest(4);
        w.u32(1, 3);
        w.end_nest();
        w.end();
        assert_eq!(seq, 0);
        // header 16 + nfgenmsg 4 + "labyrinth\0" attr 14→16 + nest 4+8
        assert_eq!(w.buf.len(), 16 + 4 + 16 + 12);
        assert_eq!(&w.buf[20..22], &14u16.to_ne_bytes());
        assert_eq!(&w.buf[36..40], &[12, 0, 4, 0x80]);
        assert_eq!(&w.buf[44..48], &[0, 0, 0, 3]);
        let msgs = messages(&w.buf);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].1, NLM_F_CREATE | NLM_F_REQUEST);
    }
}
