/* ICMP errors about translated flows. A backend that cannot take a
 * datagram (no listener: port unreachable) or a router on the way (frag
 * needed) answers with an ICMP error quoting the packet it got, which was
 * addressed to the backend. The client knows the flow only by the
 * ClusterIP, so its kernel would match the error to no socket: UDP would
 * time out instead of failing with "connection refused", and TCP would
 * miss path-MTU news. As netfilter does for kube-proxy's NAT, rewrite the
 * error to come from the ClusterIP and to quote the ClusterIP:port. */
#ifndef LBY_ICMP_ERR_H
#define LBY_ICMP_ERR_H

#include "maps.h"
#include "csum_nat.h"
#include "trace.h"

#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

static __always_inline int icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
}

/* Replace `size` (2 or 4) bytes at `off` inside the ICMP payload, keeping
 * the ICMP checksum (which covers the payload, with no pseudo-header)
 * right. */
static __always_inline int icmp_payload_replace(struct __sk_buff *skb, __u32 icmp_csum_off,
						__u32 off, __be32 from, __be32 to, __u32 size)
{
	if (bpf_l4_csum_replace(skb, icmp_csum_off, from, to, size) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, size, 0);
}

/* 1 = the error was about a translated flow and now names the ClusterIP,
 * 0 = not ours (left alone), -1 = a rewrite failed. */
static __always_inline int ct_reverse_icmp(struct __sk_buff *skb, struct pkt *p, struct xlate *x)
{
	__u32 icmp_csum_off = p->l4_off + 2;
	__u32 in_ip = p->l4_off + 8; /* the quoted IPv4 header */
	__u32 in_l4 = in_ip + sizeof(struct iphdr);
	struct lb4_reverse_nat *rn;
	struct ct4_entry *e;
	struct ct4_key k = {};
	struct iphdr in;
	__be16 ports[2];
	__u16 old_csum, new_csum;
	__u8 type;

	if (p->proto != IPPROTO_ICMP)
		return 0;
	if (bpf_skb_load_bytes(skb, p->l4_off, &type, 1) < 0 || !icmp_is_error(type))
		return 0;
	if (bpf_skb_load_bytes(skb, in_ip, &in, sizeof(in)) < 0 || in.ihl != 5 ||
	    (in.protocol != IPPROTO_TCP && in.protocol != IPPROTO_UDP))
		return 0;
	if (bpf_skb_load_bytes(skb, in_l4, ports, sizeof(ports)) < 0)
		return 0;
	/* The quoted packet went client -> backend: its reply direction is
	 * the conntrack entry to find. */
	k.saddr = in.daddr;
	k.daddr = in.saddr;
	k.sport = ports[1];
	k.dport = ports[0];
	k.proto = in.protocol;
	k.dir = CT_DIR_REPLY;
	e = bpf_map_lookup_elem(&lby_ct4_v1, &k);
	/* Hairpin errors (the client is its own backend) stay as they are. */
	if (!e || (e->flags & CT_F_HAIRPIN))
		return 0;
	rn = bpf_map_lookup_elem(&lby_lb4_reverse_nat_v1, &e->rev_nat_index);
	if (!rn)
		return 0;
	x->kind = XLATE_REVNAT;
	x->orig_daddr = p->saddr;
	x->orig_dport = ports[1];
	x->rev_nat_index = e->rev_nat_index;

	/* Inside: the quoted destination, its header checksum, its port. */
	old_csum = in.check;
	if (bpf_l3_csum_replace(skb, in_ip + offsetof(struct iphdr, check), in.daddr, rn->address,
				sizeof(rn->address)) < 0 ||
	    bpf_skb_load_bytes(skb, in_ip + offsetof(struct iphdr, check), &new_csum, 2) < 0)
		return -1;
	if (bpf_l4_csum_replace(skb, icmp_csum_off, old_csum, new_csum, 2) < 0)
		return -1;
	if (icmp_payload_replace(skb, icmp_csum_off, in_ip + offsetof(struct iphdr, daddr), in.daddr,
				 rn->address, 4) < 0)
		return -1;
	if (icmp_payload_replace(skb, icmp_csum_off, in_l4 + 2, ports[1], rn->port, 2) < 0)
		return -1;
	/* Outside: the error now comes from the ClusterIP. */
	if (p->saddr == in.daddr && nat_addr(skb, p, 0, rn->address) < 0)
		return -1;
	return 1;
}

#endif
