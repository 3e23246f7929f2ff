/* Shared definitions for every Labyrinth tc program: headers, constants,
 * and the parsed view of one IPv4 packet the other helpers work on. */
#ifndef LBY_COMMON_H
#define LBY_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
/* linux/icmp.h would drag in libc socket headers; the two codes we need: */
#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))

/* TCP flag bits as they sit in byte 13 of the TCP header. */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* One IPv4 packet's 5-tuple and where its headers are. Addresses and
 * ports stay in network byte order, as in the packet and the map keys. */
struct pkt {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;
	__u8 ihl_bytes;
	__u8 has_ports; /* TCP or UDP, first fragment */
	__u32 l4_off;
	__u32 l4_csum_off;
	/* UDP may carry no checksum (0): the csum helpers must leave it 0. */
	__u64 csum_flags;
	__u32 len;
};

/* The IPv4 header and the first bytes after it: for the usual packet (no
 * IP options) the ports and the TCP flags, in one read. */
struct l3_l4_head {
	struct iphdr ip;
	__u8 l4[16];
};

/* Parse Ethernet + IPv4 (+ TCP/UDP ports). Returns 0 for IPv4, -1 for
 * anything else (ARP, IPv6: the programs let those through untouched).
 * One helper call reads everything for a packet without IP options that
 * is long enough; others (options, tiny UDP) read field by field. */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt *p)
{
	struct l3_l4_head h;
	int whole;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return -1;
	whole = bpf_skb_load_bytes(skb, IP_OFF, &h, sizeof(h)) == 0;
	if (!whole && bpf_skb_load_bytes(skb, IP_OFF, &h.ip, sizeof(h.ip)) < 0)
		return -1;
	if (h.ip.version != 4 || h.ip.ihl < 5)
		return -1;
	whole = whole && h.ip.ihl == 5;
	p->saddr = h.ip.saddr;
	p->daddr = h.ip.daddr;
	p->proto = h.ip.protocol;
	p->ihl_bytes = h.ip.ihl * 4;
	p->l4_off = ETH_HLEN + p->ihl_bytes;
	p->len = skb->len;
	p->sport = 0;
	p->dport = 0;
	p->tcp_flags = 0;
	p->has_ports = 0;
	p->csum_flags = 0;
	p->l4_csum_off = 0;
	/* Non-first fragments carry no L4 header: no ports to translate. */
	if (h.ip.frag_off & bpf_htons(0x1fff))
		return 0;
	if (p->proto == IPPROTO_TCP) {
		__u8 flags = h.l4[13];

		if (!whole && bpf_skb_load_bytes(skb, p->l4_off + 13, &flags, 1) < 0)
			return -1;
		p->tcp_flags = flags;
		p->l4_csum_off = p->l4_off + offsetof(struct tcphdr, check);
	} else if (p->proto == IPPROTO_UDP) {
		p->l4_csum_off = p->l4_off + offsetof(struct udphdr, check);
		p->csum_flags = BPF_F_MARK_MANGLED_0;
	} else {
		return 0;
	}
	if (whole) {
		__builtin_memcpy(&p->sport, &h.l4[0], 2);
		__builtin_memcpy(&p->dport, &h.l4[2], 2);
	} else if (bpf_skb_load_bytes(skb, p->l4_off, &p->sport, 2) < 0 ||
		   bpf_skb_load_bytes(skb, p->l4_off + 2, &p->dport, 2) < 0) {
		return -1;
	}
	p->has_ports = 1;
	return 0;
}

#endif
