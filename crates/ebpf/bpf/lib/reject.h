/* Refusing a connection to a service without backends, in the program
 * itself, as the kernel's reject rules would: a TCP SYN is answered with
 * RST|ACK, a UDP datagram with ICMP port unreachable. The packet is turned
 * into the answer in place and sent back out of the veth it came from, so
 * the client sees "connection refused" at once instead of a timeout, and
 * no iptables/nftables rule is needed in the eBPF datapath.
 *
 * Checksums are computed whole here. A packet from a pod may be
 * CHECKSUM_PARTIAL (offloaded); the receiving pod's stack then does not
 * verify it, and when it is not, the full checksum is the right one. */
#ifndef LBY_REJECT_H
#define LBY_REJECT_H

#include "common.h"

#define AF_INET 2

static __always_inline __u16 csum_fold(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline void reply_iphdr(struct iphdr *ip, const struct iphdr *orig, __u8 proto,
					__u16 tot_len)
{
	__builtin_memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = proto;
	ip->tot_len = bpf_htons(tot_len);
	/* The answer comes from where the client sent to (the ClusterIP). */
	ip->saddr = orig->daddr;
	ip->daddr = orig->saddr;
	ip->check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0));
}

/* Swap the MACs and send the answer back into the pod it came from. */
static __always_inline int reply_to_sender(struct __sk_buff *skb)
{
	__u8 macs[2 * ETH_ALEN], swapped[2 * ETH_ALEN];
	int i;

	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)) < 0)
		return TC_ACT_SHOT;
	for (i = 0; i < ETH_ALEN; i++) {
		swapped[i] = macs[ETH_ALEN + i];
		swapped[ETH_ALEN + i] = macs[i];
	}
	if (bpf_skb_store_bytes(skb, 0, swapped, sizeof(swapped), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

struct rst_csum_buf {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
	struct tcphdr th;
};

static __always_inline int reject_tcp(struct __sk_buff *skb, const struct pkt *p)
{
	struct iphdr orig, ip;
	struct tcphdr th;
	struct rst_csum_buf b = {};

	/* Only a SYN opens a connection; anything else is just dropped. */
	if (!(p->tcp_flags & TCP_SYN) || (p->tcp_flags & TCP_ACK))
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, IP_OFF, &orig, sizeof(orig)) < 0 ||
	    bpf_skb_load_bytes(skb, p->l4_off, &th, sizeof(th)) < 0 || orig.ihl != 5)
		return TC_ACT_SHOT;
	if (bpf_skb_change_tail(skb, ETH_HLEN + sizeof(ip) + sizeof(th), 0) < 0)
		return TC_ACT_SHOT;
	reply_iphdr(&ip, &orig, IPPROTO_TCP, sizeof(ip) + sizeof(th));

	b.saddr = ip.saddr;
	b.daddr = ip.daddr;
	b.proto = IPPROTO_TCP;
	b.len = bpf_htons(sizeof(th));
	b.th.source = th.dest;
	b.th.dest = th.source;
	b.th.ack_seq = bpf_htonl(bpf_ntohl(th.seq) + 1);
	b.th.doff = 5;
	b.th.rst = 1;
	b.th.ack = 1;
	b.th.check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)&b, sizeof(b), 0));
	if (bpf_skb_store_bytes(skb, IP_OFF, &ip, sizeof(ip), 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP_OFF + sizeof(ip), &b.th, sizeof(b.th), 0) < 0)
		return TC_ACT_SHOT;
	return reply_to_sender(skb);
}

/* ICMP header + the offending IP header + the first 8 bytes after it. */
struct icmp_unreach {
	__u8 type;
	__u8 code;
	__u16 check;
	__u32 unused;
	struct iphdr orig;
	__u8 l4[8];
};

static __always_inline int reject_udp(struct __sk_buff *skb, const struct pkt *p)
{
	struct iphdr ip;
	struct icmp_unreach m = {};

	if (bpf_skb_load_bytes(skb, IP_OFF, &m.orig, sizeof(m.orig)) < 0 ||
	    bpf_skb_load_bytes(skb, p->l4_off, m.l4, sizeof(m.l4)) < 0 || m.orig.ihl != 5)
		return TC_ACT_SHOT;
	if (bpf_skb_change_tail(skb, ETH_HLEN + sizeof(ip) + sizeof(m), 0) < 0)
		return TC_ACT_SHOT;
	reply_iphdr(&ip, &m.orig, IPPROTO_ICMP, sizeof(ip) + sizeof(m));
	m.type = ICMP_DEST_UNREACH;
	m.code = ICMP_PORT_UNREACH;
	m.check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)&m, sizeof(m), 0));
	if (bpf_skb_store_bytes(skb, IP_OFF, &ip, sizeof(ip), 0) < 0 ||
	    bpf_skb_store_bytes(skb, IP_OFF + sizeof(ip), &m, sizeof(m), 0) < 0)
		return TC_ACT_SHOT;
	return reply_to_sender(skb);
}

static __always_inline int reject(struct __sk_buff *skb, const struct pkt *p)
{
	if (p->proto == IPPROTO_TCP)
		return reject_tcp(skb, p);
	if (p->proto == IPPROTO_UDP)
		return reject_udp(skb, p);
	return TC_ACT_SHOT;
}

#endif
