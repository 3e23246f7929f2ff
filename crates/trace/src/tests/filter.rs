use crate::capture::filter::host_filter;
use crate::capture::filter::tests::run;
use crate::testutil::*;

#[test]
fn passes_the_pods_packets_plain_or_in_vxlan_and_nothing_else() {
    let prog = host_filter(CLIENT);
    let to_client = udp((DNS_POD, 53), (CLIENT, 5353), 1, b"x");
    let from_client = udp((CLIENT, 5353), (DNS_POD, 53), 1, b"x");
    let other = udp((SERVER, 1), (DNS_POD, 2), 1, b"x");
    assert!(run(&prog, &to_client) > 0);
    assert!(run(&prog, &from_client) > 0);
    assert_eq!(run(&prog, &other), 0);
    assert!(run(&prog, &vxlan(NODE1, NODE2, 1, &from_client)) > 0);
    assert!(run(&prog, &vxlan(NODE2, NODE1, 1, &to_client)) > 0);
    assert_eq!(run(&prog, &vxlan(NODE1, NODE2, 1, &other)), 0);
    // The API server's traffic on the uplink is not copied.
    let api = tcp(&Tcp::syn((NODE1, 40000), (NODE2, 6443), 1, 1), b"");
    assert_eq!(run(&prog, &api), 0);
    // Not IPv4 (ARP): dropped; a truncated frame: dropped, not read past.
    let mut arp = to_client.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(run(&prog, &arp), 0);
    assert_eq!(run(&prog, &other[..20]), 0);
}
