//! Gratuitous ARP: the new holder of an address tells the segment its MAC,
//! so neighbours that cached the previous holder's MAC switch at once
//! instead of after their entry goes stale (what kube-vip and keepalived
//! send on a takeover). An ARP request for the address from the address.

use std::net::Ipv4Addr;

/// The Ethernet frame: broadcast, ARP, sender = target = `ip` at `mac`.
pub fn frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    // Ethernet hardware (1), IPv4 (0x0800), 6- and 4-byte addresses, request (1).
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    // Target hardware address left zero, as in a request.
    f[38..42].copy_from_slice(&ip.octets());
    f
}

const ETH_P_ARP: u16 = 0x0806;

/// Send one gratuitous ARP for `ip` out of link `index` (MAC `mac`).
pub fn send(index: u32, mac: [u8; 6], ip: Ipv4Addr) -> std::io::Result<()> {
    let frame = frame(mac, ip);
    // SAFETY: plain socket calls on a descriptor we own and close; the
    // sockaddr_ll is fully initialised and its size passed.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(ETH_P_ARP.to_be()));
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ARP.to_be();
        sll.sll_ifindex = index as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        let n = libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if n < 0 {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_is_a_broadcast_arp_request_for_the_address_from_itself() {
        let mac = [0x42, 0x01, 10, 168, 0, 3];
        let f = frame(mac, Ipv4Addr::new(10, 168, 0, 9));
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &mac);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1], "opcode request");
        assert_eq!(&f[22..28], &mac, "sender MAC");
        assert_eq!(&f[28..32], &[10, 168, 0, 9], "sender IP");
        assert_eq!(&f[32..38], &[0; 6], "target MAC");
        assert_eq!(&f[38..42], &[10, 168, 0, 9], "target IP");
    }
}
