//! MAC addresses as CNI results spell them: six lowercase hex bytes joined
//! by colons (`0a:58:0a:00:01:05`).

/// The text form of a link's MAC.
pub fn format_mac(mac: [u8; 6]) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// Parse `aa:bb:cc:dd:ee:ff` (either case); the error names the text and
/// the part that is wrong.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("MAC {text:?}: expected six hex bytes"));
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(format!("MAC {text:?}: byte {p:?} is not two hex digits"));
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("MAC {text:?}: byte {p:?} is not hex"))?;
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_bad_parts() {
        let mac = [0x0a, 0x58, 0x0a, 0, 1, 0xff];
        assert_eq!(format_mac(mac), "0a:58:0a:00:01:ff");
        assert_eq!(parse_mac("0a:58:0a:00:01:ff"), Ok(mac));
        assert_eq!(parse_mac("0A:58:0A:00:01:FF"), Ok(mac));
        let e = parse_mac("zz:00:00:00:00:00").unwrap_err();
        assert!(e.contains("\"zz\""), "{e}");
        assert!(parse_mac("00:00:00:00:00").unwrap_err().contains("six"));
        assert!(parse_mac("000:00:00:00:00:0").is_err());
        assert!(parse_mac("").is_err());
    }
}
