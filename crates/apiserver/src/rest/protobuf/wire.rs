//! The protobuf wire format, as far as the Kubernetes messages use it: varint
//! and length-delimited fields (fixed-width ones are skipped by length).

/// One field of a message, in the order it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed32/fixed64 field: no Kubernetes type the server decodes has one.
    Fixed,
}

impl Wire<'_> {
    /// Whether the field holds its type's zero value. gogo-protobuf writes
    /// non-pointer scalars and structs even when empty; such a field carries
    /// nothing a client meant to send.
    pub fn is_zero(&self) -> bool {
        match self {
            Wire::Varint(v) => *v == 0,
            Wire::Bytes(b) => b.is_empty(),
            Wire::Fixed => false,
        }
    }
}

pub fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*i)?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// (field number, value) of every field of a message; None when the bytes
/// are not a well-formed message (a length past the end, a bad wire type).
pub fn fields(b: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let tag = varint(b, &mut i)?;
        let len = match tag & 7 {
            0 => {
                out.push((tag >> 3, Wire::Varint(varint(b, &mut i)?)));
                continue;
            }
            1 => 8,
            5 => 4,
            2 => usize::try_from(varint(b, &mut i)?).ok()?,
            _ => return None,
        };
        let end = i.checked_add(len).filter(|&end| end <= b.len())?;
        out.push((
            tag >> 3,
            if tag & 7 == 2 {
                Wire::Bytes(&b[i..end])
            } else {
                Wire::Fixed
            },
        ));
        i = end;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_bytes_and_fixed_fields() {
        // 1: varint 300; 2: "hi"; 3: fixed32; 4: varint -1 as int64.
        let mut b = vec![0x08, 0xac, 0x02, 0x12, 2, b'h', b'i', 0x1d, 1, 2, 3, 4, 0x20];
        b.extend([0xff; 9]);
        b.push(0x01);
        let f = fields(&b).unwrap();
        assert_eq!(
            f,
            [
                (1, Wire::Varint(300)),
                (2, Wire::Bytes(b"hi")),
                (3, Wire::Fixed),
                (4, Wire::Varint(u64::MAX))
            ]
        );
        assert_eq!(f[3].1, Wire::Varint((-1i64) as u64));
    }

    #[test]
    fn malformed_messages_are_none() {
        assert_eq!(fields(&[0x12, 5, b'a']), None, "length past the end");
        assert_eq!(fields(&[0x0b]), None, "group wire type");
        assert_eq!(fields(&[0x08]), None, "varint cut short");
        assert_eq!(fields(&[0x09, 1, 2]), None, "fixed64 cut short");
        assert_eq!(fields(&[]), Some(vec![]));
    }
}
